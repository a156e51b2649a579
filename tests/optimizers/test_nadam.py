import copy

import pytest
import torch

from labml_opt import NAdam
from labml_opt.figures import nadam_average
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


def dozat_momentum(t: int, beta1: float = 0.9, kappa: float = 4e-3) -> float:
    r"""$\mu_t = \beta_1 (1 - \frac{1}{2} \cdot 0.96^{t \kappa})$, the paper's schedule."""
    return beta1 * (1 - 0.5 * 0.96 ** (t * kappa))


def test_nadam_average_of_a_constant_gradient_is_biased_for_the_first_dozens_of_steps():
    # The page's claim: $m_t$ is averaged with $\beta_1$ but corrected with $1 - \prod \mu_i$.
    measured = nadam_average(60)
    product = 1.
    for t in range(1, 61):
        mu, mu_next = dozat_momentum(t), dozat_momentum(t + 1)
        product *= mu
        # $\bar{m}_t / g = \frac{1 - \mu_t}{1 - \prod_{i \le t} \mu_i}
        #   + \frac{\mu_{t+1} (1 - \beta_1^t)}{1 - \prod_{i \le t+1} \mu_i}$
        expected = (1 - mu) / (1 - product) + mu_next * (1 - 0.9 ** t) / (1 - product * mu_next)
        assert measured[t - 1] == pytest.approx(expected, rel=1e-9)
    # The page's numbers
    assert [round(measured[t - 1], 2) for t in (1, 3, 4, 10, 20)] == [1.06, 0.73, 0.73, 0.84, 0.95]
    assert min(measured) == pytest.approx(0.731, abs=1e-3) and measured.index(min(measured)) == 3
    assert abs(measured[35] - 1) > 0.01 and all(abs(m - 1) < 0.01 for m in measured[36:])


def test_dozats_average_with_the_schedule_is_closer_to_the_gradient():
    # The page's numbers for the paper's form, $m_t = (1 - \prod_{i \le t} \mu_i) g$ for a constant $g$
    product, averages = 1., []
    for t in range(1, 11):
        mu, mu_next = dozat_momentum(t), dozat_momentum(t + 1)
        product *= mu
        averages.append((1 - mu) / (1 - product) + mu_next * (1 - product) / (1 - product * mu_next))
    assert [round(averages[t - 1], 2) for t in (1, 3)] == [1.31, 1.03]
    assert abs(averages[3] - 1) > 0.01 and all(abs(a - 1) < 0.01 for a in averages[4:])
