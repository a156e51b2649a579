import pytest
import torch

from labml_opt import SGD
from tests.optimizers.parity import TOLERANCE, max_param_difference


def test_momentum_in_one_group_and_none_in_the_other_matches_torch():
    difference = max_param_difference(lambda groups: SGD(groups, lr=1e-2, momentum=0.9),
                                      lambda groups: torch.optim.SGD(groups, lr=1e-2, momentum=0.9),
                                      second_group=dict(momentum=0.))
    assert difference <= TOLERANCE[torch.float32]


def test_without_momentum_sgd_keeps_no_state():
    param = torch.ones(3, requires_grad=True)
    optimizer = SGD([param], lr=0.1)
    param.grad = torch.ones(3)
    optimizer.step()
    assert all(len(state) == 0 for state in optimizer.state.values())
    assert torch.allclose(param.detach(), torch.full((3,), 0.9))


def test_first_velocity_is_the_gradient_without_dampening():
    # v_1 = g_1 as in torch; a zero-initialized buffer would give (1 - dampening) g_1.
    param = torch.zeros(2, requires_grad=True)
    optimizer = SGD([param], lr=1., momentum=0.9, dampening=0.5)
    param.grad = torch.tensor([1., -2.])
    optimizer.step()
    assert torch.equal(param.detach(), torch.tensor([-1., 2.]))
    assert torch.equal(optimizer.state[param]['momentum_buffer'], torch.tensor([1., -2.]))


def textbook_momentum(params, lrs, noise, momentum):
    r"""$u_t \leftarrow \mu u_{t-1} + \eta_t g_t$, $\theta_t \leftarrow \theta_{t-1} - u_t$, the page's other form."""
    velocities = [torch.zeros_like(p) for p in params]
    for lr, step_noise in zip(lrs, noise):
        for p, u, n in zip(params, velocities, step_noise):
            u.mul_(momentum).add_(n + 0.1 * p, alpha=lr)
            p.sub_(u)


def pytorch_momentum(params, lrs, noise, momentum):
    params = [p.clone().requires_grad_() for p in params]
    optimizer = SGD(params, lr=lrs[0], momentum=momentum)
    for lr, step_noise in zip(lrs, noise):
        optimizer.param_groups[0]['lr'] = lr
        for p, n in zip(params, step_noise):
            p.grad = n + 0.1 * p.detach()
        optimizer.step()
    return [p.detach() for p in params]


@pytest.mark.parametrize('lr_changes', [False, True])
def test_textbook_and_pytorch_momentum_differ_only_when_the_lr_changes(lr_changes):
    generator = torch.Generator().manual_seed(0)
    initial = [torch.randn(5, generator=generator, dtype=torch.float64)]
    noise = [[torch.randn(5, generator=generator, dtype=torch.float64)] for _ in range(40)]
    lrs = [0.1] * 20 + [0.1 if not lr_changes else 0.02] * 20
    textbook = [p.clone() for p in initial]
    textbook_momentum(textbook, lrs, noise, momentum=0.9)
    ours = pytorch_momentum(initial, lrs, noise, momentum=0.9)
    difference = (textbook[0] - ours[0]).abs().max().item()
    if lr_changes:
        assert difference > 1e-2
    else:
        assert difference <= 1e-12
