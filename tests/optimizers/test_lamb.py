"""
LAMB against `pytorch_optimizer.Lamb` (PyPI `pytorch-optimizer`) with every option, LAMBPaper
against Algorithm 2 of the paper (`references.LAMBReference`), and the page's central claim: every
layer's step is the learning rate times its trust ratio times its direction, so it moves each
layer by the same fraction of its weights.
"""

import pytest
import pytorch_optimizer
import torch

from labml_opt import LAMB, LAMBPaper, Numbers
from tests.optimizers.parity import TOLERANCE, large_group_difference, max_param_difference
from tests.optimizers.references import LAMBReference, arguments

SECOND_GROUP = dict(lr=3e-3, betas=(0.9, 0.95), eps=1e-8)


def test_lamb_has_the_reference_arguments_and_defaults():
    assert arguments(LAMB) == arguments(pytorch_optimizer.Lamb)


OPTIONS = {
    'defaults': dict(),
    # The reference's default decay: decoupled, outside the trust ratio
    'decoupled_decay': dict(weight_decay=0.1),
    'fixed_decay': dict(weight_decay=0.01, fixed_decay=True),
    # The paper's decay: lambda theta inside the direction
    'paper_decay': dict(weight_decay=0.1, weight_decouple=False),
    'no_grad_averaging': dict(grad_averaging=False),
    'adam': dict(adam=True, weight_decay=0.1),
    'maximize': dict(maximize=True),
    # No step until rho_t reaches the threshold, then the rectified one with the reference's ratio
    'rectify': dict(rectify=True),
    'rectify_sgd_first': dict(rectify=True, degenerated_to_sgd=True, n_sma_threshold=8, weight_decay=0.1),
    'rectify_paper_decay': dict(rectify=True, weight_decay=0.1, weight_decouple=False),
    # The reference's for-loop, which the rectified step always takes
    'no_foreach': dict(foreach=False, weight_decay=0.1, weight_decouple=False),
}


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
@pytest.mark.parametrize('options', OPTIONS.values(), ids=OPTIONS.keys())
def test_lamb_matches_pytorch_optimizer_after_200_steps(dtype, options):
    kwargs = dict(lr=1e-2, betas=(0.8, 0.99), **options)
    difference = max_param_difference(lambda groups: LAMB(groups, **kwargs),
                                      lambda groups: pytorch_optimizer.Lamb(groups, **kwargs),
                                      dtype=dtype, second_group=SECOND_GROUP)
    assert difference <= TOLERANCE[dtype]


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
@pytest.mark.parametrize('max_grad_norm', [1.0, 0.5, 0.])
def test_pre_norm_matches_pytorch_optimizer(dtype, max_grad_norm):
    # The reference computes the global gradient norm in float32 even for float64 parameters, so
    # in float64 the two agree to float32's rounding of that one number, not to float64's.
    kwargs = dict(lr=1e-2, pre_norm=True, max_grad_norm=max_grad_norm)
    difference = max_param_difference(lambda groups: LAMB(groups, **kwargs),
                                      lambda groups: pytorch_optimizer.Lamb(groups, **kwargs),
                                      dtype=dtype, second_group=SECOND_GROUP, grad_scale=3.)
    assert difference <= (TOLERANCE[dtype] if dtype == torch.float32 or max_grad_norm == 0 else 1e-6)


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
@pytest.mark.parametrize('options', [dict(), dict(weight_decay=0.1), dict(maximize=True, weight_decay=0.01)],
                         ids=['plain', 'decay', 'maximize'])
def test_lamb_paper_is_algorithm_2(dtype, options):
    kwargs = dict(lr=1e-2, betas=(0.8, 0.99), **options)
    difference = max_param_difference(lambda groups: LAMBPaper(groups, **kwargs),
                                      lambda groups: LAMBReference(groups, **kwargs),
                                      dtype=dtype, second_group=dict(SECOND_GROUP, weight_decay=0.3))
    assert difference <= TOLERANCE[dtype]


def layers(dtype=torch.float64):
    """Layers whose weights differ in norm by six orders of magnitude, one above phi's cap of 10."""
    generator = torch.Generator().manual_seed(0)
    shapes_and_scales = [((30, 20), 1e-3), ((50,), 1.), ((8, 4, 3), 0.1), ((200,), 3.)]
    return [(scale * torch.randn(shape, generator=generator, dtype=dtype)).requires_grad_()
            for shape, scale in shapes_and_scales]


@pytest.mark.parametrize('cls', [LAMBPaper, LAMB])
def test_every_layers_step_is_lr_times_its_trust_ratio(cls):
    # Gradients of wildly different sizes per layer, and an lr that changes every step: each
    # layer's step, divided by phi(||theta||), is the same number for all layers, that step's lr
    # (times the reference's bias correction 1 / (1 - beta1^t) for LAMB).
    params = layers()
    optimizer = cls([{'params': params[:2]}, {'params': params[2:]}], lr=1e-2, eps=1e-12)
    generator = torch.Generator().manual_seed(1)
    grad_scales = [1e4, 1e-5, 1., 1e2]
    for t in range(1, 51):
        lr = 1e-2 * (1 + t % 7)
        for group in optimizer.param_groups:
            group['lr'] = lr
        before = [p.detach().clone() for p in params]
        for p, scale in zip(params, grad_scales):
            p.grad = scale * torch.randn(p.shape, generator=generator, dtype=p.dtype)
        optimizer.step()
        correction = 1 / (1 - 0.9 ** t) if cls is LAMB else 1.
        for p, old in zip(params, before):
            phi = min(old.norm().item(), LAMB.clamp)
            step_norm = (p.detach() - old).norm().item()
            assert step_norm == pytest.approx(lr * correction * phi, rel=1e-9)


def test_the_trust_ratio_hook_is_phi_of_the_weights_over_the_direction():
    optimizer = LAMB([torch.zeros(1, requires_grad=True)], eps=0.)
    numbers = Numbers(ratio_eps=0.)
    weights, direction = torch.full((3, 4), 2.0), torch.full((3, 4), 0.5)
    assert optimizer.trust_ratio(numbers, weights, direction).item() == pytest.approx(4.0)
    # phi caps the weights' norm at 10
    assert optimizer.trust_ratio(numbers, 100 * weights, direction).item() == pytest.approx(10 / 1.7320508, rel=1e-6)
    # A zero norm on either side gives a ratio of one
    assert optimizer.trust_ratio(numbers, torch.zeros(3), direction[0, :3]).item() == 1.
    assert optimizer.trust_ratio(numbers, weights, torch.zeros(3, 4)).item() == 1.


@pytest.mark.parametrize('cls', [LAMB, LAMBPaper])
def test_a_large_group_takes_the_fast_path_with_the_results_of_the_code_as_written(cls):
    # Above MIN_NUMEL elements the norms are part of the compiled step; they must not change it.
    assert large_group_difference(lambda groups: cls(groups, lr=1e-2, weight_decay=0.1)) <= 1e-6


@pytest.mark.parametrize('name, value, message', [
    ('max_grad_norm', -1.0, 'Invalid max_grad_norm -1.0 for LAMB'),
    ('n_sma_threshold', -1, 'Invalid n_sma_threshold -1 for LAMB'),
    ('fixed_decay', True, 'Invalid fixed_decay True for LAMB'),
])
def test_bad_values_are_refused_by_name(name, value, message):
    kwargs = {name: value, **(dict(weight_decouple=False) if name == 'fixed_decay' else {})}
    with pytest.raises(ValueError, match=message):
        LAMB([torch.zeros(1, requires_grad=True)], **kwargs)


def test_the_state_is_adams_8_bytes_per_parameter():
    params = [torch.randn(300, 200, requires_grad=True), torch.randn(77, requires_grad=True)]
    optimizer = LAMB(params)
    for p in params:
        p.grad = torch.randn_like(p)
    optimizer.step()
    state_bytes = sum(value.numel() * value.element_size() for state in optimizer.state.values()
                      for value in state.values() if isinstance(value, torch.Tensor))
    assert state_bytes == 8 * sum(p.numel() for p in params)
