"""
Schedule-Free SGD and AdamW against `schedulefree.SGDScheduleFree` and `AdamWScheduleFree`, and
the paper's form of AdamW against `AdamWScheduleFreePaper`, in train mode (the parameters hold y) and eval mode (they hold x), and the central claim: x is the
average of the z iterates, with the weights the paper gives, computed here from the recorded z's.
"""

import pytest
import schedulefree
import torch

from labml_opt import ScheduleFreeAdamW, ScheduleFreeAdamWPaper, ScheduleFreeSGD
from tests.optimizers.parity import clone_params, gradients, make_params, max_difference, param_groups
from tests.optimizers.references import arguments

TOLERANCE = {torch.float32: 1e-6, torch.float64: 1e-12}
PAIRS = {'SGD': (ScheduleFreeSGD, schedulefree.SGDScheduleFree),
         'AdamW': (ScheduleFreeAdamW, schedulefree.AdamWScheduleFree),
         'AdamWPaper': (ScheduleFreeAdamWPaper, schedulefree.AdamWScheduleFreePaper)}


@pytest.mark.parametrize('ours, reference', PAIRS.values(), ids=PAIRS.keys())
def test_schedule_free_has_the_reference_arguments_and_defaults(ours, reference):
    assert arguments(ours) == arguments(reference)


def run_both(ours, reference, *, dtype, steps=200, change_lr_at=100, second_group=None, **kwargs):
    """
    Step ours and the reference on the same gradients (noise plus a pull to zero, evaluated at each
    one's own y), halving every lr at `change_lr_at`; return the largest difference of y at the
    end, and of x after `eval()`.
    """
    initial = make_params(dtype)
    params = clone_params(initial), clone_params(initial)
    optimizers = [cls(param_groups(p, second_group or {}), **kwargs) for cls, p in zip((ours, reference), params)]
    for optimizer in optimizers:
        optimizer.train()
    for step, noise in enumerate(gradients(initial, steps)):
        for p, optimizer in zip(params, optimizers):
            if step == change_lr_at:
                for group in optimizer.param_groups:
                    group['lr'] *= 0.5
            for param, n in zip(p, noise):
                param.grad = n + 0.1 * param.detach()
            optimizer.step()
    y = max_difference(*params)
    assert max_difference(params[0], initial) > 1e-3
    for optimizer in optimizers:
        optimizer.eval()
    return y, max_difference(*params)


OPTIONS = {
    'SGD': (ScheduleFreeSGD, schedulefree.SGDScheduleFree, [
        dict(lr=0.1),
        dict(lr=0.1, momentum=0.8, weight_decay=0.1, warmup_steps=20, r=1.0),
        dict(lr=0.05, weight_lr_power=0.0, foreach=False),
    ]),
    'AdamW': (ScheduleFreeAdamW, schedulefree.AdamWScheduleFree, [
        dict(lr=1e-2),
        dict(lr=1e-2, betas=(0.8, 0.99), weight_decay=0.1, warmup_steps=20, r=1.0),
        dict(lr=1e-2, eps=1e-3, weight_lr_power=1.0, foreach=False),
    ]),
    # The paper's form of the bias correction, which the package keeps as AdamWScheduleFreePaper
    'AdamWPaper': (ScheduleFreeAdamWPaper, schedulefree.AdamWScheduleFreePaper, [
        dict(lr=1e-2),
        dict(lr=1e-2, betas=(0.8, 0.99), weight_decay=0.1, warmup_steps=20, r=1.0, eps=1e-3),
    ]),
}
CASES = [(ours, reference, kwargs) for ours, reference, options in OPTIONS.values() for kwargs in options]


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
@pytest.mark.parametrize('ours, reference, kwargs', CASES,
                         ids=lambda item: getattr(item, '__name__', None) or '-'.join(f'{k}={v}' for k, v in item.items()))
def test_schedule_free_matches_the_reference_in_train_and_eval_mode(ours, reference, kwargs, dtype):
    second_group = dict(lr=kwargs['lr'] / 3, weight_decay=0.05)
    y, x = run_both(ours, reference, dtype=dtype, second_group=second_group, **kwargs)
    assert y <= TOLERANCE[dtype] and x <= TOLERANCE[dtype]


def test_the_papers_bias_correction_is_a_different_step():
    # The two forms differ (in epsilon and in the early weights), so the parity above tells them apart
    y, x = run_both(ScheduleFreeAdamWPaper, schedulefree.AdamWScheduleFree, dtype=torch.float64, lr=1e-2, eps=1e-3)
    assert y > 1e-4 and x > 1e-4


@pytest.mark.parametrize('r, warmup_steps', [(0.0, 0), (1.0, 0), (0.0, 10), (2.0, 15)])
def test_x_is_the_weighted_average_of_the_z_iterates_on_a_quadratic(r, warmup_steps):
    # f(theta) = 1/2 theta^T A theta - b^T theta, gradients taken at y
    generator = torch.Generator().manual_seed(0)
    matrix = torch.randn(6, 6, generator=generator, dtype=torch.float64)
    a = matrix @ matrix.T / 6 + torch.eye(6, dtype=torch.float64)
    b = torch.randn(6, generator=generator, dtype=torch.float64)
    param = torch.randn(6, generator=generator, dtype=torch.float64).requires_grad_()
    lr, steps = 0.1, 60
    optimizer = ScheduleFreeSGD([param], lr=lr, r=r, warmup_steps=warmup_steps)
    optimizer.train()
    zs = []
    for _ in range(steps):
        param.grad = a @ param.detach() - b
        optimizer.step()
        zs.append(optimizer.state[param]['z'].clone())
    optimizer.eval()
    # The paper's weights: step t counts t^r (max_{i <= t} lr_i)^2, where lr_t rises linearly during warm-up
    lrs = [lr * min(1., t / warmup_steps) if warmup_steps else lr for t in range(1, steps + 1)]
    weights = torch.tensor([t ** r * max(lrs[:t]) ** 2 for t in range(1, steps + 1)], dtype=torch.float64)
    average = (weights[:, None] * torch.stack(zs)).sum(0) / weights.sum()
    assert (param.detach() - average).abs().max() <= 1e-12
    # ... and it is not the last iterate: the claim is not vacuous
    assert (param.detach() - zs[-1]).abs().max() > 1e-3


@pytest.mark.parametrize('cls', [ScheduleFreeSGD, ScheduleFreeAdamW])
def test_stepping_in_eval_mode_is_an_error_naming_the_optimizer(cls):
    param = torch.zeros(3, requires_grad=True)
    param.grad = torch.ones(3)
    optimizer = cls([param])
    with pytest.raises(RuntimeError, match=f'{cls.__name__} was not in train mode'):
        optimizer.step()
    optimizer.train()
    optimizer.step()
    optimizer.eval()
    with pytest.raises(RuntimeError, match='call optimizer.train()'):
        optimizer.step()


def test_a_group_added_while_training_steps_with_the_others():
    first, second = torch.zeros(3, requires_grad=True), torch.zeros(2, requires_grad=True)
    optimizer = ScheduleFreeSGD([first])
    optimizer.train()
    optimizer.add_param_group({'params': [second]})
    first.grad, second.grad = torch.ones(3), torch.ones(2)
    optimizer.step()
    assert second.detach().lt(0).all()


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_eval_then_train_returns_to_y(dtype):
    param = torch.randn(10, dtype=dtype, requires_grad=True)
    optimizer = ScheduleFreeAdamW([param], lr=0.1)
    optimizer.train()
    for _ in range(5):
        param.grad = torch.randn(10, dtype=dtype)
        optimizer.step()
    y = param.detach().clone()
    optimizer.eval()
    assert (param.detach() - y).abs().max() > 1e-3
    optimizer.eval()
    optimizer.train()
    optimizer.train()
    assert (param.detach() - y).abs().max() <= 10 * TOLERANCE[dtype]


def test_the_users_gradient_is_left_alone():
    param = torch.ones(3, requires_grad=True)
    param.grad = torch.full((3,), 2.)
    optimizer = ScheduleFreeAdamW([param], weight_decay=0.1)
    optimizer.train()
    optimizer.step()
    assert torch.equal(param.grad, torch.full((3,), 2.))


@pytest.mark.parametrize('cls, name, value, message', [
    (ScheduleFreeSGD, 'momentum', 0.0, 'Invalid momentum 0.0 for ScheduleFreeSGD'),
    (ScheduleFreeSGD, 'momentum', 1.0, 'Invalid momentum 1.0 for ScheduleFreeSGD'),
    (ScheduleFreeSGD, 'warmup_steps', -1, 'Invalid warmup_steps -1 for ScheduleFreeSGD'),
    (ScheduleFreeAdamW, 'betas', (0.0, 0.999), 'Invalid beta1 0.0 for ScheduleFreeAdamW'),
    (ScheduleFreeAdamW, 'r', -1.0, 'Invalid r -1.0 for ScheduleFreeAdamW'),
    (ScheduleFreeAdamW, 'weight_lr_power', float('nan'), 'Invalid weight_lr_power nan for ScheduleFreeAdamW'),
])
def test_bad_values_are_refused_by_name(cls, name, value, message):
    with pytest.raises(ValueError, match=message):
        cls([torch.zeros(1, requires_grad=True)], **{name: value})


@pytest.mark.parametrize('cls', [ScheduleFreeSGD, ScheduleFreeAdamW, ScheduleFreeAdamWPaper])
def test_switching_modes_before_the_first_step_creates_no_state(cls):
    # torch.distributed.checkpoint takes an optimizer with state entries for one that has stepped,
    # and would load nothing into it (test_distributed's FSDP2 resume)
    optimizer = cls([torch.zeros(3, requires_grad=True)])
    optimizer.train()
    optimizer.eval()
    assert not optimizer.state
