import math

import pytest
import torch

from labml_opt.experiments.schedules import (combine_scheds, constant, cosine, exponential, linear, one_cycle,
                                             warmup_cosine)


@pytest.mark.parametrize('total_steps,pct_start,max_lr', [(100, 0.3, 0.1), (37, 0.25, 3e-3), (1000, 0.5, 1.0)])
def test_two_phase_cosine_matches_torch_one_cycle_lr_to_1e9(total_steps, pct_start, max_lr):
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=1., momentum=0.9)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=max_lr, total_steps=total_steps,
                                                    pct_start=pct_start)
    lrs, momenta = [], []
    for step in range(total_steps):
        lrs.append(optimizer.param_groups[0]['lr'])
        momenta.append(optimizer.param_groups[0]['momentum'])
        optimizer.step()
        if step < total_steps - 1:
            scheduler.step()
    # OneCycleLR's first phase ends at step pct_start * total - 1 of total - 1 steps.
    boundary = (pct_start * total_steps - 1) / (total_steps - 1)
    lr = one_cycle(max_lr / 25, max_lr, max_lr / 25 / 1e4, boundary)
    momentum = one_cycle(0.95, 0.85, 0.95, boundary)
    for step in range(total_steps):
        position = step / (total_steps - 1)
        assert abs(lr(position) - lrs[step]) < 1e-9
        assert abs(momentum(position) - momenta[step]) < 1e-9


def test_annealers_start_and_end_where_asked():
    for make in (linear, cosine, exponential):
        schedule = make(2., 0.5)
        assert schedule(0.) == pytest.approx(2.) and schedule(1.) == pytest.approx(0.5)
    assert linear(0., 1.)(0.25) == pytest.approx(0.25)
    assert cosine(0., 1.)(0.5) == pytest.approx(0.5)
    assert exponential(1e-4, 1.)(0.5) == pytest.approx(1e-2)
    assert constant(3.)(0.7) == 3.
    with pytest.raises(ValueError, match='> 0'):
        exponential(0., 1.)


def test_combine_scheds_handles_position_one_and_phase_boundaries():
    schedule = combine_scheds([0.3, 0.7], [linear(0., 1.), linear(1., 0.)])
    assert schedule(0.) == 0. and schedule(1.) == pytest.approx(0.)
    assert schedule(0.15) == pytest.approx(0.5) and schedule(0.3) == pytest.approx(1.)
    assert schedule(0.65) == pytest.approx(0.5)
    # Fractions that add up to one only up to rounding still reach the last phase's end.
    thirds = combine_scheds([1 / 3] * 3, [constant(1.), constant(2.), linear(3., 4.)])
    assert thirds(1.) == pytest.approx(4.)
    warm = warmup_cosine(1., 0.1)
    assert warm(0.05) == pytest.approx(0.5) and warm(1.) == pytest.approx(0.)
    assert not math.isnan(warm(0.1))


def test_combine_scheds_rejects_bad_fractions_and_positions():
    with pytest.raises(ValueError, match='add up to 1'):
        combine_scheds([0.5, 0.6], [constant(1.), constant(2.)])
    with pytest.raises(ValueError, match='one fraction per schedule'):
        combine_scheds([1.], [constant(1.), constant(2.)])
    with pytest.raises(ValueError, match='Invalid position 1.5'):
        combine_scheds([1.], [constant(1.)])(1.5)
