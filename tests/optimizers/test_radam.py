import math

import pytest
import torch

from labml_opt import RAdam
from labml_opt.figures import radam_rectification
from tests.optimizers.parity import max_param_difference
from tests.optimizers.references import AMSGradRAdamReference


def rho(beta2, step):
    rho_inf = 2 / (1 - beta2) - 1
    return rho_inf - 2 * step * beta2 ** step / (1 - beta2 ** step)


def test_rectification_starts_where_rho_exceeds_5_one_step_after_the_papers_threshold_of_4():
    # rho_5 is just below 5: the paper (rho > 4) rectifies at t = 5, torch and we at t = 6.
    assert 4 < rho(0.999, 5) < 5 < rho(0.999, 6)
    assert [RAdam.rectification(0.999, t) is None for t in range(1, 8)] == [True] * 5 + [False] * 2
    rho_inf, rho_6 = 1999., rho(0.999, 6)
    expected = math.sqrt((rho_6 - 4) * (rho_6 - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_6))
    assert RAdam.rectification(0.999, 6) == pytest.approx(expected, rel=1e-12)
    assert RAdam.rectification(0.999, 10 ** 6) == pytest.approx(1.0)


def test_unrectified_steps_are_sgd_with_bias_corrected_momentum():
    param = torch.tensor([1.0, -2.0], requires_grad=True)
    optimizer = RAdam([param], lr=0.1, betas=(0.5, 0.999))
    gradients = [torch.tensor([1.0, 4.0]), torch.tensor([3.0, -2.0])]
    expected = param.detach().clone()
    m = torch.zeros(2)
    for t, grad in enumerate(gradients, start=1):
        param.grad = grad
        optimizer.step()
        m = 0.5 * m + 0.5 * grad
        expected -= 0.1 * m / (1 - 0.5 ** t)
        assert torch.allclose(param.detach(), expected, rtol=0, atol=1e-7)


def test_amsgrad_changes_radams_trajectory_on_the_parity_problem():
    # Otherwise the contract's parity test could not tell RAdam with AMSGrad from RAdam without it.
    difference = max_param_difference(
        lambda groups: RAdam(groups, lr=1e-2, betas=(0.8, 0.99)),
        lambda groups: AMSGradRAdamReference(groups, lr=1e-2, betas=(0.8, 0.99)),
        second_group=dict(lr=3e-3))
    assert difference > 1e-3


def paper_rectification(t: int, beta2: float) -> float:
    r"""$r_t$ from the paper's formulas for $\rho_\infty$ and $\rho_t$, or $1$ for an SGD step ($\rho_t \le 5$)."""
    rho_inf = 2 / (1 - beta2) - 1
    rho_t = rho_inf - 2 * t * beta2 ** t / (1 - beta2 ** t)
    if rho_t <= 5:
        return 1.
    return math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))


@pytest.mark.parametrize('beta2', [0.999, 0.99])
def test_radams_step_for_a_constant_gradient_is_alpha_times_r_t_over_a_run(beta2):
    measured = radam_rectification(3000, betas=(0.9, beta2))
    for t in range(1, 3001):
        assert measured[t - 1] == pytest.approx(paper_rectification(t, beta2), rel=1e-9)


def test_r_t_stays_below_0_41_for_the_first_362_steps_with_beta2_0_999():
    # The page's numbers: RAdam steps less than half of Adam's for hundreds of steps
    r = radam_rectification(3000)
    assert r[:5] == [1.] * 5
    assert max(r[5:362]) <= 0.41 < r[362]
    assert [round(r[t - 1], 3) for t in (6, 100)] == [0.026, 0.215]
    assert [round(r[t - 1], 2) for t in (1000, 3000)] == [0.65, 0.92]


def exact_variance_of_psi(rho: float) -> float:
    r"""
    $\sigma^2 \operatorname{Var}[\psi]$ for $\psi = 1 / \sqrt{\sigma^2 \chi^2_\rho / \rho}$: the page's
    closed form, $\frac{\rho}{\rho - 2} - \frac{\rho}{2} \Big( \frac{\Gamma((\rho - 1)/2)}{\Gamma(\rho/2)} \Big)^2$.
    """
    return rho / (rho - 2) - rho / 2 * math.exp(2 * (math.lgamma((rho - 1) / 2) - math.lgamma(rho / 2)))


def approximate_variance_of_psi(rho: float) -> float:
    r"""The paper's first-order approximation, $\frac{\rho}{2 (\rho - 2)(\rho - 4)}$ (with $\sigma = 1$)."""
    return rho / (2 * (rho - 2) * (rho - 4))


@pytest.mark.parametrize('rho', [3, 5, 100])
def test_variance_of_psi_matches_sampling_and_exists_for_rho_above_2(rho):
    # An independent reference: sample $\psi$ from $\rho$ squared standard normal gradients.
    generator = torch.Generator().manual_seed(0)
    squares = torch.randn(200_000, rho, generator=generator, dtype=torch.float64) ** 2
    psi = 1 / squares.mean(dim=1).sqrt()
    # For $\rho = 3$ the variance exists but its estimate has infinite variance: a loose check
    assert psi.var().item() == pytest.approx(exact_variance_of_psi(rho), rel=0.2 if rho == 3 else 0.02)


def test_the_first_order_approximation_needs_rho_above_4_and_is_close_only_for_large_rho():
    # The page's numbers
    assert approximate_variance_of_psi(3) < 0 < exact_variance_of_psi(3)
    assert exact_variance_of_psi(5) == pytest.approx(0.25, abs=0.005)
    assert approximate_variance_of_psi(5) / exact_variance_of_psi(5) == pytest.approx(3.3, abs=0.05)
    assert approximate_variance_of_psi(100) / exact_variance_of_psi(100) == pytest.approx(1.02, abs=0.005)
