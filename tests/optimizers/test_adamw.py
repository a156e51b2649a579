import pytest
import torch

from labml_opt import AdamW, WeightDecay
from tests.optimizers.parity import max_param_difference

TOLERANCE = {torch.float32: 1e-6, torch.float64: 1e-12}


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
@pytest.mark.parametrize('optimized_update', [True, False])
@pytest.mark.parametrize('maximize', [False, True])
def test_adamw_matches_torch_after_200_steps(dtype, optimized_update, maximize):
    difference = max_param_difference(
        lambda groups: AdamW(groups, lr=1e-2, betas=(0.8, 0.99), weight_decay=0.1,
                             optimized_update=optimized_update, maximize=maximize),
        lambda groups: torch.optim.AdamW(groups, lr=1e-2, betas=(0.8, 0.99), weight_decay=0.1,
                                         maximize=maximize),
        dtype=dtype, second_group=dict(lr=3e-3, weight_decay=0.3))
    assert difference <= TOLERANCE[dtype]


def test_adamw_defaults_are_torchs_including_decoupled_decay_of_1e_2():
    difference = max_param_difference(AdamW, torch.optim.AdamW, second_group=dict(lr=3e-3))
    assert difference <= 1e-6
    assert AdamW([torch.zeros(1, requires_grad=True)]).defaults['weight_decay'] == 1e-2


def test_adamw_decay_is_not_divided_by_the_second_moment():
    # With a zero gradient, Adam's step is zero and only the decay moves the weight:
    # theta (1 - lr lambda), the same for every weight whatever its gradient history.
    param = torch.tensor([1.0, 1.0], requires_grad=True)
    optimizer = AdamW([param], lr=0.1, weight_decay=0.5)
    param.grad = torch.zeros(2)
    optimizer.step()
    assert torch.equal(param.detach(), torch.tensor([0.95, 0.95]))


def test_a_weight_decay_object_overrides_the_decoupled_default():
    difference = max_param_difference(
        lambda groups: AdamW(groups, lr=1e-2, weight_decay=WeightDecay(0.1, weight_decouple=False)),
        lambda groups: torch.optim.Adam(groups, lr=1e-2, weight_decay=0.1),
        second_group=dict(weight_decay=0.3))
    assert difference <= 1e-6
