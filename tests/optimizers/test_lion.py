"""
Lion against `lion_pytorch.Lion` (PyPI `lion-pytorch`), the reference implementation, and its
central claim: every element of the step is exactly plus or minus the learning rate.
"""

import lion_pytorch
import pytest
import torch

from labml_opt import Lion
from tests.optimizers.parity import max_param_difference
from tests.optimizers.references import arguments

TOLERANCE = {torch.float32: 1e-6, torch.float64: 1e-12}


def test_lion_has_the_reference_arguments_and_defaults():
    assert arguments(Lion) == arguments(lion_pytorch.Lion)


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
@pytest.mark.parametrize('options', [dict(), dict(weight_decay=0.5),
                                     dict(weight_decay=0.5, decoupled_weight_decay=True)],
                         ids=['plain', 'decay', 'decoupled_decay'])
def test_lion_matches_lion_pytorch_after_200_steps(dtype, options):
    kwargs = dict(lr=1e-2, betas=(0.8, 0.95), **options)
    difference = max_param_difference(lambda groups: Lion(groups, **kwargs),
                                      lambda groups: lion_pytorch.Lion(groups, **kwargs),
                                      dtype=dtype, second_group=dict(lr=3e-3, betas=(0.9, 0.99), weight_decay=0.1))
    assert difference <= TOLERANCE[dtype]


def test_lion_defaults_match_lion_pytorch():
    assert max_param_difference(Lion, lion_pytorch.Lion, second_group=dict(lr=3e-4)) <= 1e-6


def test_every_element_of_the_step_is_exactly_plus_or_minus_lr():
    # Weights on a grid of 2^-10, and lr = 2^-10: every step lands on the grid again, so the
    # difference of two iterates is computed without rounding and must be exactly +-lr.
    lr = 2. ** -10
    generator = torch.Generator().manual_seed(0)
    param = (torch.randint(-1000, 1000, (50, 20), generator=generator) * lr).requires_grad_()
    optimizer = Lion([param], lr=lr)
    for scale in [1e-6, 1., 1e6] * 20:
        before = param.detach().clone()
        param.grad = scale * torch.randn(param.shape, generator=generator)
        optimizer.step()
        assert torch.equal((param.detach() - before).abs(), torch.full(param.shape, lr))


def test_the_step_does_not_depend_on_the_size_of_the_gradient():
    # Ours with gradients a million times larger than the reference's ends where the reference does.
    generator = torch.Generator().manual_seed(0)
    ours_param = torch.randn(30, generator=generator).requires_grad_()
    theirs_param = ours_param.detach().clone().requires_grad_()
    ours, theirs = Lion([ours_param], lr=1e-2), lion_pytorch.Lion([theirs_param], lr=1e-2)
    for _ in range(50):
        noise = torch.randn(30, generator=generator)
        ours_param.grad, theirs_param.grad = 1e6 * noise, noise
        ours.step()
        theirs.step()
    assert torch.equal(ours_param.detach(), theirs_param.detach())


def test_triton_is_refused_by_name():
    with pytest.raises(ValueError, match='Invalid use_triton True for Lion'):
        Lion([torch.zeros(1, requires_grad=True)], use_triton=True)


def test_decoupled_decay_needs_a_positive_lr():
    with pytest.raises(ValueError, match='Invalid lr 0.0 for Lion'):
        Lion([torch.zeros(1, requires_grad=True)], lr=0., weight_decay=0.1, decoupled_weight_decay=True)
