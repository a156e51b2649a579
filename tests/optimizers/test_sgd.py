import itertools

import pytest
import torch

from labml_opt import SGD
from tests.optimizers.parity import max_param_difference
from tests.optimizers.resume import assert_resume_is_bit_identical, max_resume_difference

# float32: torch steps with `add_(g, alpha=-lr)`, one fused multiply-add; our `sub_(lr * g)` rounds
# twice, which compounds to a few 1e-6 over 200 steps with momentum (float64 shows the math agrees)
TOLERANCE = {torch.float32: 5e-6, torch.float64: 1e-12}


def flag_combinations():
    """Every valid combination of the flags torch.optim.SGD has; Nesterov needs momentum and no dampening."""
    for momentum, dampening, nesterov, weight_decay, maximize in itertools.product(
            [0., 0.9], [0., 0.3], [False, True], [0., 1e-2], [False, True]):
        if nesterov and (momentum == 0 or dampening != 0):
            continue
        yield dict(momentum=momentum, dampening=dampening, nesterov=nesterov, weight_decay=weight_decay,
                   maximize=maximize)


def second_group(flags):
    """Other hyper-parameters in the second group; with momentum, also a smaller momentum there."""
    group = dict(lr=3e-2, weight_decay=0.05 - flags['weight_decay'])
    if flags['momentum'] > 0:
        group['momentum'] = 0.5
    return group


@pytest.mark.parametrize('flags', list(flag_combinations()), ids=str)
def test_sgd_matches_torch_after_200_steps(flags):
    difference = max_param_difference(lambda groups: SGD(groups, lr=1e-2, **flags),
                                      lambda groups: torch.optim.SGD(groups, lr=1e-2, **flags),
                                      second_group=second_group(flags))
    assert difference <= TOLERANCE[torch.float32]


@pytest.mark.parametrize('nesterov', [False, True])
def test_sgd_matches_torch_in_float64(nesterov):
    flags = dict(momentum=0.9, nesterov=nesterov, weight_decay=1e-2)
    difference = max_param_difference(lambda groups: SGD(groups, lr=1e-2, **flags),
                                      lambda groups: torch.optim.SGD(groups, lr=1e-2, **flags),
                                      dtype=torch.float64, second_group=dict(lr=3e-2, momentum=0.5))
    assert difference <= TOLERANCE[torch.float64]


def test_momentum_in_one_group_and_none_in_the_other_matches_torch():
    difference = max_param_difference(lambda groups: SGD(groups, lr=1e-2, momentum=0.9),
                                      lambda groups: torch.optim.SGD(groups, lr=1e-2, momentum=0.9),
                                      second_group=dict(momentum=0.))
    assert difference <= TOLERANCE[torch.float32]


def test_sgd_defaults_are_torchs():
    ours = SGD([torch.zeros(1, requires_grad=True)]).defaults
    theirs = torch.optim.SGD([torch.zeros(1, requires_grad=True)]).defaults
    assert {name: theirs[name] for name in ours} == ours


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


@pytest.mark.parametrize('flags', [dict(), dict(momentum=0.9), dict(momentum=0.9, dampening=0.3),
                                   dict(momentum=0.9, nesterov=True, weight_decay=1e-2, maximize=True)], ids=str)
def test_sgd_resumes_from_state_dict_bit_identically(flags):
    assert_resume_is_bit_identical(lambda groups: SGD(groups, lr=1e-2, **flags), second_group=dict(lr=3e-2))


@pytest.mark.parametrize('flags', [dict(momentum=0.9), dict(momentum=0.9, nesterov=True)], ids=str)
def test_torch_sgd_state_dict_loads_into_ours_and_back(flags):
    def ours(groups):
        return SGD(groups, lr=1e-2, **flags)

    def theirs(groups):
        return torch.optim.SGD(groups, lr=1e-2, **flags)

    assert max_resume_difference(theirs, ours, second_group=dict(lr=3e-2)) <= 1e-6
    assert max_resume_difference(ours, theirs, second_group=dict(lr=3e-2)) <= 1e-6


@pytest.mark.parametrize('name, value, kwargs', [
    ('lr', -1e-3, {}),
    ('momentum', -0.5, {}),
    ('momentum', float('nan'), {}),
    ('dampening', 1.5, {}),
    ('weight_decay', -1e-2, {}),
    ('nesterov', True, {}),
    ('nesterov', True, dict(momentum=0.9, dampening=0.1)),
])
def test_invalid_sgd_hyperparameters_name_optimizer_parameter_and_value(name, value, kwargs):
    with pytest.raises(ValueError) as error:
        SGD([torch.zeros(1, requires_grad=True)], **{name: value}, **kwargs)
    message = str(error.value)
    assert 'SGD' in message and name in message and repr(value) in message
