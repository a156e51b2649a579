import copy

import pytest
import torch

from labml_opt import Adamax
from tests.optimizers.parity import clone_params, make_params, max_param_difference
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
    params = make_params()
    theirs, ours = clone_params(params), clone_params(params)
    torch_optimizer = torch.optim.Adamax(theirs, lr=1e-2)
    generator = torch.Generator().manual_seed(0)

    def set_gradients(tensors, noise):
        for p, n in zip(tensors, noise):
            p.grad = n.clone()

    for _ in range(30):
        set_gradients(theirs, [torch.randn(p.shape, generator=generator) for p in theirs])
        torch_optimizer.step()
    with torch.no_grad():
        for a, b in zip(ours, theirs):
            a.copy_(b)
    optimizer = Adamax(ours, lr=1e-2)
    # A live state_dict holds the optimizer's own tensors; copy it as saving to disk would.
    optimizer.load_state_dict(copy.deepcopy(torch_optimizer.state_dict()))
    for _ in range(30):
        noise = [torch.randn(p.shape, generator=generator) for p in theirs]
        set_gradients(theirs, noise)
        set_gradients(ours, noise)
        torch_optimizer.step()
        optimizer.step()
    assert max((a - b).abs().max().item() for a, b in zip(ours, theirs)) <= 1e-6
