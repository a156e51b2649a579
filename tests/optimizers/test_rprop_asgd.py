"""
Rprop and ASGD against `torch.optim.Rprop` and `torch.optim.ASGD`: 200 steps on parameters of mixed
shapes in two param groups, an lr change mid-run, and state dicts in both directions.
"""

from typing import Any, Callable, Dict, List

import pytest
import torch

from labml_opt import ASGD, Rprop

TOLERANCE = {torch.float32: 1e-6, torch.float64: 1e-12}


def make_params(dtype: torch.dtype) -> List[torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    params = [torch.randn(shape, generator=generator, dtype=dtype) for shape in [(5, 3), (), (4, 6), (7,)]]
    params[2] = params[2].t()
    return params


def run(make: Callable, params: List[torch.Tensor], steps: int = 200, second_group: Dict[str, Any] = None,
        change_lr_at: int = 100, seed: int = 1, optimizer=None):
    """Step `make`'s optimizer on gradient noise plus a pull to zero; returns the parameters and optimizer."""
    copies = [p.clone().requires_grad_() for p in params] if optimizer is None else params
    if optimizer is None:
        optimizer = make([{'params': copies[:2]}, {'params': copies[2:], **(second_group or {})}])
    generator = torch.Generator().manual_seed(seed)
    for step in range(steps):
        for p in copies:
            p.grad = torch.randn(p.shape, generator=generator, dtype=p.dtype) + 0.5 * p.detach()
        if step == change_lr_at:
            for group in optimizer.param_groups:
                group['lr'] *= 0.5
        optimizer.step()
    return copies, optimizer


def max_difference(a, b) -> float:
    """The largest difference, relative to the size of the parameter where it is above one (maximizing grows it)."""
    return max(((x.detach() - y.detach()).abs() / y.detach().abs().clamp(min=1)).max().item() for x, y in zip(a, b))


CASES = [
    (Rprop, torch.optim.Rprop, {}, dict(etas=(0.3, 1.5), step_sizes=(1e-4, 0.1))),
    (Rprop, torch.optim.Rprop, dict(lr=0.05, maximize=True), {}),
    (ASGD, torch.optim.ASGD, dict(t0=50), dict(weight_decay=0.1, lambd=1e-2)),
    (ASGD, torch.optim.ASGD, dict(lr=0.05, alpha=0.5, maximize=True), dict(t0=10)),
]


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
@pytest.mark.parametrize('ours, theirs, kwargs, second_group', CASES)
def test_matches_torch_after_200_steps(ours, theirs, kwargs, second_group, dtype):
    params = make_params(dtype)
    mine, _ = run(lambda groups: ours(groups, **kwargs), params, second_group=second_group)
    reference, _ = run(lambda groups: theirs(groups, **kwargs), params, second_group=second_group)
    assert max_difference(mine, params) > 1e-2
    assert max_difference(mine, reference) <= TOLERANCE[dtype]


@pytest.mark.parametrize('ours, theirs, kwargs, second_group', CASES)
def test_state_dicts_load_both_ways_and_continue_identically(ours, theirs, kwargs, second_group):
    params = make_params(torch.float64)
    for first, second in ((ours, theirs), (theirs, ours)):
        make_first = lambda groups: first(groups, **kwargs)  # noqa: E731
        # 30 steps, then 30 more on another gradient stream, by one optimizer...
        expected, optimizer = run(make_first, params, steps=30, second_group=second_group, change_lr_at=-1)
        run(None, expected, steps=30, change_lr_at=-1, seed=2, optimizer=optimizer)
        # ...and by the other class, from the first one's state dict
        half, optimizer = run(make_first, params, steps=30, second_group=second_group, change_lr_at=-1)
        resumed = second([{'params': half[:2]}, {'params': half[2:], **second_group}], **kwargs)
        resumed.load_state_dict(optimizer.state_dict())
        run(None, half, steps=30, change_lr_at=-1, seed=2, optimizer=resumed)
        assert max_difference(half, expected) <= TOLERANCE[torch.float64]


def test_rprop_step_is_the_sign_of_the_gradient_times_its_own_step_size():
    # The page's claim: the size of the gradient plays no part. Two gradients of the same signs and
    # very different sizes give the same step, and a flip halves the step size and takes no step.
    param = torch.zeros(3, requires_grad=True)
    optimizer = Rprop([param], lr=0.1)
    for grad, expected in [([1e-9, 5., -2.], [-0.1, -0.1, 0.1]), ([1e3, 1e-6, -1.], [-0.22, -0.22, 0.22]),
                           ([-1., 1., -1.], [-0.22, -0.364, 0.364])]:
        param.grad = torch.tensor(grad)
        optimizer.step()
        assert torch.allclose(param.detach(), torch.tensor(expected), atol=1e-7)
    assert torch.allclose(optimizer.state[param]['step_size'], torch.tensor([0.06, 0.144, 0.144]))


def test_asgd_average_is_the_mean_of_the_iterates_after_t0():
    # The page's closed form: after t0, ax is the plain mean of the iterates since t0
    torch.manual_seed(0)
    param = torch.randn(4, dtype=torch.float64, requires_grad=True)
    optimizer = ASGD([param], lr=0.1, t0=5, lambd=0.)
    iterates = []
    for _ in range(40):
        param.grad = torch.randn(4, dtype=torch.float64) + param.detach()
        optimizer.step()
        iterates.append(param.detach().clone())
    # omega_t = 1 / max(1, t - 1 - t0) is 1 up to step t0 + 2, then 1/2, 1/3, ...: the mean of the iterates
    # from step t0 + 2 on (index t0 + 1). torch keeps mu in float32, and so do we: 1/3 is not exact.
    expected = torch.stack(iterates[6:]).mean(0)
    assert torch.allclose(optimizer.state[param]['ax'], expected, atol=1e-7)
    assert not torch.allclose(optimizer.state[param]['ax'], torch.stack(iterates[5:]).mean(0), atol=1e-3)


@pytest.mark.parametrize('make, match', [
    (lambda p: Rprop(p, etas=(1.5, 1.2)), 'Invalid etas'),
    (lambda p: Rprop(p, step_sizes=(1., 0.1)), 'Invalid step_sizes'),
    (lambda p: Rprop(p, capturable=True), 'Invalid capturable'),
    (lambda p: ASGD(p, lr=-1.), 'Invalid lr'),
    (lambda p: ASGD(p, weight_decay=-1.), 'Invalid weight_decay'),
    (lambda p: ASGD(p, differentiable=True), 'Invalid differentiable'),
])
def test_bad_hyperparameters_are_refused(make, match):
    with pytest.raises(ValueError, match=match):
        make([torch.zeros(2, requires_grad=True)])
