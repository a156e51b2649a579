import math

import pytest
import torch

from labml_opt import Adam, AdamWarmupCosineDecay
from tests.optimizers.parity import max_param_difference
from tests.optimizers.scheduled import max_difference_from_adam_with_closed_form_lr

TOLERANCE = {torch.float32: 1e-6, torch.float64: 1e-12}


def cosine_lr(t, group):
    """Linear warm-up to alpha over w steps, half a cosine down to r * alpha at T, then r * alpha."""
    lr, w, total, r = group['lr'], group['warmup'], group['total_steps'], group['final_lr_ratio']
    if t <= w:
        return lr * t / w
    if t >= total:
        return lr * r
    return lr * (r + (1 - r) * (1 + math.cos(math.pi * (t - w) / (total - w))) / 2)


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
@pytest.mark.parametrize('optimized_update', [True, False])
def test_cosine_decay_applies_the_closed_form_lr_at_every_one_of_200_steps(dtype, optimized_update):
    # Group one decays to its floor at step 150 and stays there; group two is still decaying at 200.
    difference = max_difference_from_adam_with_closed_form_lr(
        lambda groups: AdamWarmupCosineDecay(groups, lr=1e-2, betas=(0.8, 0.99), weight_decay=1e-2, warmup=20,
                                             total_steps=150, final_lr_ratio=0.1,
                                             optimized_update=optimized_update),
        cosine_lr, dtype=dtype, change_lr_at=80,
        second_group=dict(lr=3e-3, warmup=5, total_steps=300, final_lr_ratio=0., weight_decay=0.))
    assert difference <= TOLERANCE[dtype]


def test_schedule_is_continuous_peaks_at_warmup_and_ends_at_the_floor():
    param = torch.zeros(1, requires_grad=True)
    optimizer = AdamWarmupCosineDecay([param], lr=1., warmup=10, total_steps=110, final_lr_ratio=0.2)
    group, lrs = optimizer.param_groups[0], []
    for _ in range(130):
        param.grad = torch.ones(1)
        optimizer.step()
        lrs.append(optimizer.get_lr(optimizer.state[param], group))
    assert max(lrs) == lrs[9] == 1.
    assert lrs[59] == pytest.approx(0.6)  # half way through the decay: r + (1 - r) / 2
    assert lrs[109:] == pytest.approx([0.2] * 21)
    steps = [abs(b - a) for a, b in zip(lrs, lrs[1:])]
    assert max(steps) <= 0.1 + 1e-12  # no jump larger than one warm-up increment anywhere


def test_no_warmup_and_a_floor_of_one_is_exactly_adam():
    difference = max_param_difference(
        lambda groups: AdamWarmupCosineDecay(groups, lr=1e-2, warmup=0, total_steps=50, final_lr_ratio=1.),
        lambda groups: Adam(groups, lr=1e-2), dtype=torch.float64, second_group=dict(lr=3e-3))
    assert difference == 0.


@pytest.mark.parametrize('name, value, kwargs, requirement', [
    ('total_steps', 100, dict(warmup=100), r'an integer > warmup \(100\)'),
    ('total_steps', 50, dict(warmup=100), r'an integer > warmup \(100\)'),
    ('total_steps', 200.5, dict(warmup=100), r'an integer > warmup \(100\)'),
    ('final_lr_ratio', -0.1, dict(total_steps=10, warmup=0), r'in \[0, 1\]'),
    ('final_lr_ratio', 1.5, dict(total_steps=10, warmup=0), r'in \[0, 1\]'),
    ('final_lr_ratio', float('nan'), dict(total_steps=10, warmup=0), 'a number, not NaN'),
    ('warmup', -1, dict(total_steps=10), 'an integer >= 0'),
])
def test_bad_schedule_is_rejected_naming_optimizer_parameter_and_value(name, value, kwargs, requirement):
    with pytest.raises(ValueError, match=f'Invalid {name} {value!r} for AdamWarmupCosineDecay: must be {requirement}'):
        AdamWarmupCosineDecay([torch.zeros(2, requires_grad=True)], **{**kwargs, name: value})


def test_total_steps_must_be_given():
    with pytest.raises(TypeError, match='total_steps'):
        AdamWarmupCosineDecay([torch.zeros(2, requires_grad=True)])
