import pytest
import torch

from labml_opt import AdamWarmup


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
