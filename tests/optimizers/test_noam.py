import pytest
import torch

from labml_opt import Noam, WeightDecay
from tests.optimizers.scheduled import max_difference_from_adam_with_closed_form_lr

TOLERANCE = {torch.float32: 1e-6, torch.float64: 1e-12}


def noam_lr(t, group):
    """factor * d_model^-0.5 * min(t^-0.5, t * w^-1.5), from section 5.3 of the Transformer paper."""
    return group['lr'] * group['d_model'] ** -0.5 * min(t ** -0.5, t * group['warmup'] ** -1.5)


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
@pytest.mark.parametrize('optimized_update', [True, False])
def test_noam_applies_the_closed_form_lr_at_every_one_of_200_steps(dtype, optimized_update):
    difference = max_difference_from_adam_with_closed_form_lr(
        lambda groups: Noam(groups, lr=0.5, weight_decay=1e-2, warmup=40, d_model=16,
                            optimized_update=optimized_update),
        noam_lr, dtype=dtype, change_lr_at=120, second_group=dict(lr=0.2, warmup=10, d_model=64, weight_decay=0.))
    assert difference <= TOLERANCE[dtype]


def test_noam_peaks_at_warmup_with_the_papers_value():
    param = torch.zeros(1, requires_grad=True)
    optimizer = Noam([param])
    group, lrs = optimizer.param_groups[0], []
    for _ in range(4010):
        param.grad = torch.ones(1)
        optimizer.step()
        lrs.append(optimizer.get_lr(optimizer.state[param], group))
    peak = max(range(len(lrs)), key=lrs.__getitem__)
    assert peak + 1 == 4000
    assert lrs[peak] == pytest.approx((512 * 4000) ** -0.5)
    assert lrs[0] == pytest.approx(512 ** -0.5 * 4000 ** -1.5)


def test_noam_uses_the_papers_adam_settings():
    group = Noam([torch.zeros(1, requires_grad=True)]).param_groups[0]
    assert (group['betas'], group['eps'], group['lr']) == ((0.9, 0.98), 1e-9, 1.)


def test_absolute_decoupled_decay_is_allowed():
    param = torch.ones(3, requires_grad=True)
    optimizer = Noam([param], lr=0., weight_decay=WeightDecay(0.25, weight_decouple=True, absolute=True))
    param.grad = torch.ones(3)
    optimizer.step()
    assert torch.equal(param.detach(), torch.full((3,), 0.75))


def test_decay_relative_to_the_lr_factor_is_rejected():
    with pytest.raises(ValueError, match='Invalid weight_decay .* for Noam: .*lr is a factor'):
        Noam([torch.zeros(2, requires_grad=True)], weight_decay=WeightDecay(0.1, weight_decouple=True))


@pytest.mark.parametrize('name, value, requirement', [
    ('warmup', 0, 'an integer >= 1'), ('warmup', -5, 'an integer >= 1'), ('warmup', 10.5, 'an integer >= 1'),
    ('d_model', 0, 'an integer >= 1'), ('d_model', 64.0, 'an integer >= 1'), ('lr', -1., '>= 0'),
    ('eps', float('nan'), 'a number, not NaN'),
])
def test_bad_hyperparameters_are_rejected_naming_optimizer_parameter_and_value(name, value, requirement):
    with pytest.raises(ValueError, match=f'Invalid {name} {value!r} for Noam: must be {requirement}'):
        Noam([torch.zeros(2, requires_grad=True)], **{name: value})
