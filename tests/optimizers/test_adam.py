import pytest
import torch

from labml_opt import Adam, Numbers, WeightDecay
from tests.optimizers.parity import max_param_difference

TOLERANCE = {torch.float32: 1e-6, torch.float64: 1e-12}


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
@pytest.mark.parametrize('optimized_update', [True, False])
@pytest.mark.parametrize('maximize', [False, True])
def test_adam_matches_torch_after_200_steps(dtype, optimized_update, maximize):
    difference = max_param_difference(
        lambda groups: Adam(groups, lr=1e-2, betas=(0.8, 0.99), weight_decay=1e-2,
                            optimized_update=optimized_update, maximize=maximize),
        lambda groups: torch.optim.Adam(groups, lr=1e-2, betas=(0.8, 0.99), weight_decay=1e-2,
                                        maximize=maximize),
        dtype=dtype, second_group=dict(lr=3e-3, weight_decay=0.))
    assert difference <= TOLERANCE[dtype]


@pytest.mark.parametrize('optimized_update', [True, False])
def test_adam_matches_torch_with_tiny_gradients(optimized_update):
    # With gradients near eps, using eps instead of eps * sqrt(1 - beta2^t) in the optimized
    # update would drift by about 1e-3; the rescaled eps must not.
    difference = max_param_difference(
        lambda groups: Adam(groups, lr=1e-2, eps=1e-6, optimized_update=optimized_update),
        lambda groups: torch.optim.Adam(groups, lr=1e-2, eps=1e-6),
        grad_scale=1e-7, second_group=dict(eps=1e-5))
    assert difference <= 1e-6


def test_adam_with_decoupled_weight_decay_object_matches_adamw():
    difference = max_param_difference(
        lambda groups: Adam(groups, lr=1e-2, weight_decay=WeightDecay(0.1, weight_decouple=True)),
        lambda groups: torch.optim.AdamW(groups, lr=1e-2, weight_decay=0.1),
        second_group=dict(weight_decay=0.3))
    assert difference <= 1e-6


def test_absolute_weight_decay_shrinks_by_lambda_regardless_of_lr():
    param = torch.ones(3, requires_grad=True)
    optimizer = Adam([param], lr=0., weight_decay=WeightDecay(0.25, weight_decouple=True, absolute=True))
    param.grad = torch.ones(3)
    optimizer.step()
    assert torch.equal(param.detach(), torch.full((3,), 0.75))


@pytest.mark.parametrize('decoupled', [False, True])
def test_zero_weight_decay_never_touches_the_parameter_or_gradient(decoupled):
    # In-place operations bump a tensor's version counter; with lambda = 0 there must be none.
    param, grad = torch.ones(3), torch.ones(3)
    rule = WeightDecay(0., weight_decouple=decoupled)
    result = rule(param, grad, Numbers(rule.numbers({'weight_decay': 0., 'lr': 1.})))
    assert result is grad
    assert param._version == 0 and grad._version == 0


def test_absolute_decay_without_decoupling_is_rejected():
    with pytest.raises(ValueError, match='absolute'):
        WeightDecay(0.1, weight_decouple=False, absolute=True)
