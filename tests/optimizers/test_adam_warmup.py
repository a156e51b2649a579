import pytest
import torch

from labml_opt import Adam, AdamWarmup
from tests.optimizers.parity import max_param_difference
from tests.optimizers.scheduled import max_difference_from_adam_with_closed_form_lr

TOLERANCE = {torch.float32: 1e-6, torch.float64: 1e-12}


def warmup_lr(t, group):
    """alpha * min(1, t / w), written independently of the optimizer."""
    if group['warmup'] == 0:
        return group['lr']
    return group['lr'] * min(1., t / group['warmup'])


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
@pytest.mark.parametrize('optimized_update', [True, False])
def test_adam_warmup_applies_the_closed_form_lr_at_every_one_of_200_steps(dtype, optimized_update):
    difference = max_difference_from_adam_with_closed_form_lr(
        lambda groups: AdamWarmup(groups, lr=1e-2, betas=(0.8, 0.99), weight_decay=1e-2, warmup=30,
                                  optimized_update=optimized_update),
        warmup_lr, dtype=dtype, second_group=dict(lr=3e-3, warmup=120, weight_decay=0.), change_lr_at=60)
    assert difference <= TOLERANCE[dtype]


def test_the_closed_form_check_notices_an_off_by_one_step():
    # The harness must be able to fail: a warm-up that lags by one step is caught.
    with pytest.raises(AssertionError, match='get_lr gives'):
        max_difference_from_adam_with_closed_form_lr(
            lambda groups: AdamWarmup(groups, lr=1e-2, warmup=30),
            lambda t, group: warmup_lr(t - 1, group), steps=5)


def test_first_step_uses_lr_over_warmup_and_step_warmup_the_full_lr():
    param = torch.zeros(3, requires_grad=True)
    optimizer = AdamWarmup([param], lr=0.1, warmup=4)
    moves = []
    for _ in range(6):
        before = param.detach().clone()
        param.grad = torch.ones(3)
        optimizer.step()
        moves.append((before - param.detach()).abs().max().item())
    # With a constant gradient, Adam's bias-corrected step is the learning rate itself.
    assert moves == pytest.approx([0.025, 0.05, 0.075, 0.1, 0.1, 0.1], rel=1e-6)


def test_zero_warmup_is_exactly_adam():
    difference = max_param_difference(lambda groups: AdamWarmup(groups, lr=1e-2, warmup=0),
                                      lambda groups: Adam(groups, lr=1e-2), dtype=torch.float64,
                                      second_group=dict(lr=3e-3))
    assert difference == 0.


def test_a_parameter_that_joins_late_starts_its_own_warmup():
    early = torch.zeros(2, requires_grad=True)
    late = torch.zeros(2, requires_grad=True)
    optimizer = AdamWarmup([early, late], lr=0.1, warmup=10)
    for step in range(1, 8):
        early.grad = torch.ones(2)
        late.grad = torch.ones(2) if step >= 5 else None
        optimizer.step()
    group = optimizer.param_groups[0]
    assert optimizer.get_lr(optimizer.state[early], group) == pytest.approx(0.1 * 7 / 10)
    assert optimizer.get_lr(optimizer.state[late], group) == pytest.approx(0.1 * 3 / 10)
    # and that is the step it took: three Adam steps of 0.01, 0.02, 0.03 with a constant gradient
    assert late.detach() == pytest.approx(torch.full((2,), -0.06), rel=1e-6)


def test_warmup_is_saved_with_each_param_group():
    param = torch.zeros(2, requires_grad=True)
    optimizer = AdamWarmup([{'params': [param], 'warmup': 7}], warmup=3)
    assert optimizer.state_dict()['param_groups'][0]['warmup'] == 7


@pytest.mark.parametrize('warmup, requirement', [(-1, 'an integer >= 0'), (2.5, 'an integer >= 0'),
                                                 (float('nan'), 'an integer >= 0')])
def test_bad_warmup_is_rejected_naming_optimizer_parameter_and_value(warmup, requirement):
    with pytest.raises(ValueError, match=f'Invalid warmup {warmup!r} for AdamWarmup: must be {requirement}'):
        AdamWarmup([torch.zeros(2, requires_grad=True)], warmup=warmup)


def test_bad_adam_hyperparameters_are_still_rejected():
    with pytest.raises(ValueError, match='Invalid lr -0.1 for AdamWarmup'):
        AdamWarmup([torch.zeros(2, requires_grad=True)], lr=-0.1)
