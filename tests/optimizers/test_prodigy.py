"""
Prodigy against `prodigyopt.Prodigy` (PyPI `prodigyopt`), the authors' implementation, with every
option, and the page's central claim: on a convex problem whose solution is known, the estimate d
never exceeds the distance D to it, and rises from d0 to within a small factor of it.
"""

import prodigyopt
import pytest
import torch

from labml_opt import Prodigy
from tests.optimizers.parity import (TOLERANCE, clone_params, gradients, large_group_difference, make_params,
                                     max_param_difference, train)
from tests.optimizers.references import arguments

# Every group has the same lr; the second has its own eps, d0, slice_p and weight decay.
SECOND_GROUP = dict(eps=1e-6, d0=1e-5, slice_p=2, weight_decay=0.05)


def test_prodigy_has_the_reference_arguments_and_defaults():
    assert arguments(Prodigy) == arguments(prodigyopt.Prodigy)


OPTIONS = {
    'defaults': dict(),
    'decoupled_decay': dict(weight_decay=0.1),
    'coupled_decay': dict(weight_decay=0.1, decouple=False),
    'bias_correction': dict(use_bias_correction=True),
    'safeguard_warmup': dict(safeguard_warmup=True),
    # Without momentum the step is the gradient's, with the new estimate
    'no_momentum': dict(betas=(0.0, 0.99), weight_decay=0.1, decouple=False),
    'growth_rate': dict(growth_rate=1.05),
    'beta3_d_coef': dict(d_coef=0.5, beta3=0.9),
    'slice_p': dict(slice_p=3, d0=1e-3, eps=1e-6),
    'small_lr': dict(lr=0.3),
}


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
@pytest.mark.parametrize('options', OPTIONS.values(), ids=OPTIONS.keys())
def test_prodigy_matches_prodigyopt_after_200_steps(dtype, options):
    difference = max_param_difference(lambda groups: Prodigy(groups, **options),
                                      lambda groups: prodigyopt.Prodigy(groups, **options),
                                      dtype=dtype, second_group=SECOND_GROUP)
    assert difference <= TOLERANCE[dtype]


def test_the_estimate_is_the_references():
    # The estimate and its sums, kept in every group, are the reference's after every step.
    initial = make_params(torch.float64)
    groups = {}
    for cls in (Prodigy, prodigyopt.Prodigy):
        params = clone_params(initial)
        optimizer = cls([{'params': params[:2]}, {'params': params[2:], **SECOND_GROUP}])
        train(params, optimizer, list(gradients(initial, 50)))
        groups[cls] = optimizer.param_groups
    for ours, theirs in zip(groups[Prodigy], groups[prodigyopt.Prodigy]):
        for key in ('d', 'd_max', 'd_hat', 'd_numerator', 'd_denom', 'k'):
            assert ours[key] == pytest.approx(theirs[key], rel=1e-12), key


def test_a_group_with_lr_zero_is_as_in_the_reference():
    # A group with lr = 0 adds nothing to the estimate and its averages stand still.
    for dtype in (torch.float32, torch.float64):
        difference = max_param_difference(lambda groups: Prodigy(groups), lambda groups: prodigyopt.Prodigy(groups),
                                          dtype=dtype, second_group=dict(lr=0.))
        assert difference <= TOLERANCE[dtype]


def test_groups_with_different_learning_rates_are_refused():
    a, b = torch.ones(2, requires_grad=True), torch.ones(3, requires_grad=True)
    optimizer = Prodigy([{'params': [a]}, {'params': [b], 'lr': 0.5}])
    a.grad, b.grad = torch.ones(2), torch.ones(3)
    with pytest.raises(ValueError, match=r'Invalid lr 0.5 for Prodigy: must be 1.0 \(the largest of any group\) or 0'):
        optimizer.step()


def test_coupled_decay_leaves_the_users_gradient_alone():
    param = torch.ones(4, requires_grad=True)
    optimizer = Prodigy([param], weight_decay=0.5, decouple=False)
    param.grad = torch.full((4,), 0.25)
    optimizer.step()
    assert torch.equal(param.grad, torch.full((4,), 0.25))


def convex_problem(distance: float, seed: int):
    r"""
    $f(\theta) = \frac{1}{2} \sum_i a_i (\theta_i - \theta_{*,i})^2$ with curvatures $a_i$ in [1, 10],
    and $\theta_*$ placed so that $\lVert \theta_0 - \theta_* \rVert_\infty$ is `distance`.
    """
    generator = torch.Generator().manual_seed(seed)
    theta0 = torch.randn(40, generator=generator, dtype=torch.float64)
    direction = 2 * torch.rand(40, generator=generator, dtype=torch.float64) - 1
    direction[0] = 1.
    curvature = 1 + 9 * torch.rand(40, generator=generator, dtype=torch.float64)
    return theta0, theta0 + distance * direction, curvature


@pytest.mark.parametrize('distance', [1e-3, 1., 1e3])
@pytest.mark.parametrize('betas', [(0.9, 0.999), (0.0, 0.999)], ids=['adam', 'no_momentum'])
def test_the_estimate_never_exceeds_the_distance_and_rises_to_within_a_factor_of_it(distance, betas):
    theta0, solution, curvature = convex_problem(distance, seed=int(distance * 1000) % 97)
    param = theta0.clone().requires_grad_()
    optimizer = Prodigy([param], betas=betas)
    estimates = []
    for _ in range(200):
        param.grad = curvature * (param.detach() - solution)
        optimizer.step()
        estimates.append(optimizer.param_groups[0]['d'])
    # The lower bound of the page: d_t <= D_inf at every step
    assert all(d <= distance for d in estimates)
    # ... and it rises, by up to nine orders of magnitude, to within a factor of ten of D
    assert max(estimates) >= distance / 10
    # with which Prodigy solves the problem, from a start up to 1000 away, with no lr to tune
    assert (param.detach() - solution).abs().max().item() <= 1e-3 * distance


def test_a_large_group_takes_the_fast_path_with_the_results_of_the_code_as_written():
    # The estimate's sums run as written on both paths; the element-wise step is compiled.
    assert large_group_difference(lambda groups: Prodigy(groups, weight_decay=0.1)) <= 1e-6


@pytest.mark.parametrize('name, value, message', [
    ('d0', 0., 'Invalid d0 0.0 for Prodigy: must be > 0'),
    ('d_coef', -1., 'Invalid d_coef -1.0 for Prodigy: must be > 0'),
    ('beta3', 1.5, 'Invalid beta3 1.5 for Prodigy: must be None or in'),
    ('growth_rate', 0.5, 'Invalid growth_rate 0.5 for Prodigy: must be >= 1'),
    ('slice_p', 0, 'Invalid slice_p 0 for Prodigy: must be an integer >= 1'),
    ('fsdp_in_use', True, 'Invalid fsdp_in_use True for Prodigy'),
])
def test_bad_values_are_refused_by_name(name, value, message):
    with pytest.raises(ValueError, match=message):
        Prodigy([torch.zeros(1, requires_grad=True)], **{name: value})


@pytest.mark.parametrize('slice_p, expected', [(1, 16), (4, 8 + 8 / 4)])
def test_the_state_is_four_tensors_or_fewer_with_slicing(slice_p, expected):
    # m, v, sigma and theta_0: 16 bytes per float32 parameter; with slice_p, sigma and theta_0
    # keep every slice_p-th element
    params = [torch.randn(300, 200, requires_grad=True), torch.randn(80, requires_grad=True)]
    optimizer = Prodigy(params, slice_p=slice_p)
    for p in params:
        p.grad = torch.randn_like(p)
    optimizer.step()
    state_bytes = sum(value.numel() * value.element_size() for state in optimizer.state.values()
                      for value in state.values() if isinstance(value, torch.Tensor))
    assert state_bytes == expected * sum(p.numel() for p in params)
