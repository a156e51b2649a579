import copy

import pytest
import torch

from labml_opt import NAdam
from tests.optimizers.parity import max_param_difference


def test_a_groups_momentum_decay_changes_the_trajectory_on_the_parity_problem():
    # Otherwise the contract's parity test could not tell whether the second group's momentum_decay is read.
    def without_momentum_decay(groups):
        return [{key: value for key, value in group.items() if key != 'momentum_decay'} for group in groups]

    difference = max_param_difference(
        lambda groups: NAdam(groups, lr=1e-2),
        lambda groups: torch.optim.NAdam(without_momentum_decay(groups), lr=1e-2),
        second_group=dict(momentum_decay=0.05))
    assert difference > 1e-4


def test_mu_product_is_the_product_of_the_momentum_schedule():
    param = torch.ones(2, requires_grad=True)
    optimizer = NAdam([param], betas=(0.9, 0.999), momentum_decay=0.1)
    expected = 1.
    for t in range(1, 6):
        param.grad = torch.ones(2)
        optimizer.step()
        expected *= 0.9 * (1 - 0.5 * 0.96 ** (t * 0.1))
        assert optimizer.state[param]['mu_product'] == pytest.approx(expected, rel=1e-15)


def test_numbers_torch_saves_as_tensors_load_as_python_numbers():
    param = torch.nn.Parameter(torch.ones(3))
    theirs = torch.optim.NAdam([param])
    param.grad = torch.ones(3)
    theirs.step()
    ours = NAdam([torch.nn.Parameter(torch.ones(3))])
    ours.load_state_dict(copy.deepcopy(theirs.state_dict()))
    state = next(iter(ours.state.values()))
    assert type(state['step']) is int and state['step'] == 1
    assert type(state['mu_product']) is float
    assert state['mu_product'] == pytest.approx(theirs.state[param]['mu_product'].item(), rel=1e-7)
