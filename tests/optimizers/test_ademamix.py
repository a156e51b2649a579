"""
AdEMAMix against `pytorch_optimizer.AdEMAMix` (PyPI `pytorch-optimizer`), in the reference's
default L2 decay and in the paper's decoupled decay, and its central claim: with alpha = 0 it is
Adam (and, with the paper's decay, AdamW), compared with `torch.optim`.
"""

import pytest
import pytorch_optimizer
import torch

from labml_opt import AdEMAMix
from tests.optimizers.parity import max_param_difference
from tests.optimizers.references import arguments

TOLERANCE = {torch.float32: 1e-6, torch.float64: 1e-12}
SECOND_GROUP = dict(lr=3e-3, betas=(0.8, 0.99, 0.999), alpha=2.0)


def test_ademamix_has_the_reference_arguments_and_defaults():
    assert arguments(AdEMAMix) == arguments(pytorch_optimizer.AdEMAMix)


OPTIONS = {
    'defaults': dict(),
    # The reference's default decay: lambda theta added to the gradient
    'l2_decay': dict(weight_decay=0.1),
    # The paper's decay: eta lambda theta, outside the adaptive step
    'paper_decay': dict(weight_decay=0.1, weight_decouple=True),
    'fixed_decay': dict(weight_decay=0.01, weight_decouple=True, fixed_decay=True),
    'warmup': dict(t_alpha_beta3=60, betas=(0.9, 0.99, 0.999)),
    'maximize': dict(maximize=True, alpha=8.0),
    'no_foreach': dict(foreach=False, t_alpha_beta3=150),
}


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
@pytest.mark.parametrize('options', OPTIONS.values(), ids=OPTIONS.keys())
def test_ademamix_matches_pytorch_optimizer_after_200_steps(dtype, options):
    kwargs = dict(dict(lr=1e-2), **options)
    difference = max_param_difference(lambda groups: AdEMAMix(groups, **kwargs),
                                      lambda groups: pytorch_optimizer.AdEMAMix(groups, **kwargs),
                                      dtype=dtype, second_group=SECOND_GROUP)
    assert difference <= TOLERANCE[dtype]


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_with_alpha_zero_it_is_torch_adam(dtype):
    difference = max_param_difference(
        lambda groups: AdEMAMix(groups, lr=1e-2, betas=(0.8, 0.99, 0.9999), alpha=0., weight_decay=0.1),
        lambda groups: torch.optim.Adam(groups, lr=1e-2, betas=(0.8, 0.99), weight_decay=0.1),
        dtype=dtype, second_group=dict(lr=3e-3))
    assert difference <= TOLERANCE[dtype]


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_with_alpha_zero_and_the_papers_decay_it_is_torch_adamw(dtype):
    difference = max_param_difference(
        lambda groups: AdEMAMix(groups, lr=1e-2, alpha=0., weight_decay=0.1, weight_decouple=True, t_alpha_beta3=50),
        lambda groups: torch.optim.AdamW(groups, lr=1e-2, weight_decay=0.1),
        dtype=dtype, second_group=dict(lr=3e-3, weight_decay=0.3))
    assert difference <= TOLERANCE[dtype]


def test_the_slow_average_changes_the_step():
    # The claim above is not vacuous: with the default alpha the trajectory is not Adam's.
    difference = max_param_difference(lambda groups: AdEMAMix(groups, lr=1e-2),
                                      lambda groups: torch.optim.Adam(groups, lr=1e-2))
    assert difference > 1e-2


@pytest.mark.parametrize('name, value, message', [
    ('betas', (0.9, 0.999), r'Invalid betas \(0.9, 0.999\) for AdEMAMix: must be a triple'),
    ('betas', (0.9, 0.999, 1.5), 'Invalid beta3 1.5 for AdEMAMix'),
    ('betas', (0.9, 1.0, 0.9999), 'Invalid beta2 1.0 for AdEMAMix'),
    ('alpha', -1.0, 'Invalid alpha -1.0 for AdEMAMix'),
    ('alpha', float('nan'), 'Invalid alpha nan for AdEMAMix'),
    ('t_alpha_beta3', 0, 'Invalid t_alpha_beta3 0 for AdEMAMix'),
    ('fixed_decay', True, 'Invalid fixed_decay True for AdEMAMix'),
])
def test_bad_values_are_refused_by_name(name, value, message):
    with pytest.raises(ValueError, match=message):
        AdEMAMix([torch.zeros(1, requires_grad=True)], **{name: value})
