import pytest
import torch

from labml_opt import Adamax
from tests.optimizers.parity import max_param_difference
from tests.optimizers.resume import max_resume_difference
from tests.optimizers.tiny_gradients import max_param_difference_with_tiny_gradients

TOLERANCE = {torch.float32: 1e-6, torch.float64: 1e-12}


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
@pytest.mark.parametrize('maximize', [False, True])
def test_adamax_matches_torch_after_200_steps(dtype, maximize):
    difference = max_param_difference(
        lambda groups: Adamax(groups, lr=1e-2, betas=(0.8, 0.99), weight_decay=1e-2, maximize=maximize),
        lambda groups: torch.optim.Adamax(groups, lr=1e-2, betas=(0.8, 0.99), weight_decay=1e-2,
                                          maximize=maximize),
        dtype=dtype, second_group=dict(lr=3e-3, weight_decay=0.1))
    assert difference <= TOLERANCE[dtype]


def test_adamax_matches_torch_where_eps_inside_the_maximum_matters():
    # Gradients of about eps: adding eps to |g_t| inside the max, rather than to u_t in the
    # denominator, changes every step.
    difference = max_param_difference_with_tiny_gradients(
        lambda groups: Adamax(groups, lr=1e-2, eps=1e-6),
        lambda groups: torch.optim.Adamax(groups, lr=1e-2, eps=1e-6),
        grad_scale=1e-6, second_group=dict(eps=1e-5))
    assert difference <= 1e-6


def test_u_is_a_decaying_maximum_of_the_gradient_magnitude():
    param = torch.zeros(2, requires_grad=True)
    optimizer = Adamax([param], betas=(0.9, 0.5), eps=0.)
    u = torch.zeros(2)
    for grad in ([4.0, -1.0], [1.0, -3.0], [-1.0, 0.5]):
        param.grad = torch.tensor(grad)
        optimizer.step()
        u = torch.maximum(0.5 * u, param.grad.abs())
        assert torch.equal(optimizer.state[param]['exp_inf'], u)
    assert set(optimizer.state[param]) == {'step', 'exp_avg', 'exp_inf'}


def test_torch_adamax_state_dict_loads_and_continues_identically():
    # Half way through, the state moves between torch and us through a saved state_dict.
    theirs = lambda groups: torch.optim.Adamax(groups, lr=1e-2)
    ours = lambda groups: Adamax(groups, lr=1e-2)
    assert max_resume_difference(theirs, ours, second_group=dict(lr=3e-2)) <= 1e-6
    assert max_resume_difference(ours, theirs, second_group=dict(lr=3e-2)) <= 1e-6