import pytest
import torch

from labml_opt import AdamWarmupCosineDecay


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


def test_total_steps_must_be_given():
    with pytest.raises(TypeError, match='total_steps'):
        AdamWarmupCosineDecay([torch.zeros(2, requires_grad=True)])
