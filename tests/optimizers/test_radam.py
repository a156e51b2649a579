import math

import pytest
import torch

from labml_opt import RAdam
from labml_opt.figures import radam_rectification
from tests.optimizers.parity import max_param_difference
from tests.optimizers.tiny_gradients import max_param_difference_with_tiny_gradients

TOLERANCE = {torch.float32: 1e-6, torch.float64: 1e-12}


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
@pytest.mark.parametrize('optimized_update', [True, False])
@pytest.mark.parametrize('decoupled', [False, True])
@pytest.mark.parametrize('maximize', [False, True])
def test_radam_matches_torch_after_200_steps(dtype, optimized_update, decoupled, maximize):
    # The default beta2 = 0.999 gives five SGD steps, then rectified ones.
    difference = max_param_difference(
        lambda groups: RAdam(groups, lr=1e-2, weight_decay=1e-2, decoupled_weight_decay=decoupled,
                             optimized_update=optimized_update, maximize=maximize),
        lambda groups: torch.optim.RAdam(groups, lr=1e-2, weight_decay=1e-2, decoupled_weight_decay=decoupled,
                                         maximize=maximize),
        dtype=dtype, second_group=dict(lr=3e-3, weight_decay=0.1))
    assert difference <= TOLERANCE[dtype]


@pytest.mark.parametrize('optimized_update', [True, False])
def test_radam_matches_torch_with_tiny_gradients(optimized_update):
    # With gradients near eps, where eps is added (to sqrt(v_t), not to sqrt(v_t / (1 - beta2^t)))
    # decides the step; the textbook form must use eps / sqrt(1 - beta2^t) to agree.
    difference = max_param_difference_with_tiny_gradients(
        lambda groups: RAdam(groups, lr=1e-2, eps=1e-6, optimized_update=optimized_update),
        lambda groups: torch.optim.RAdam(groups, lr=1e-2, eps=1e-6),
        grad_scale=1e-6, second_group=dict(eps=1e-5))
    assert difference <= 1e-6


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


class AMSGradRAdamReference(torch.optim.Optimizer):
    r"""
    RAdam as torch documents it, with AMSGrad's $v^{\max}_t = \max(v^{\max}_{t-1}, v_t)$ in place of
    $v_t$ in the adaptive term $\sqrt{1 - \beta_2^t} / (\sqrt{v^{\max}_t} + \epsilon)$. Plain,
    out-of-place tensor code, written independently of labml_opt.
    """

    def __init__(self, params, lr, betas, eps, weight_decay, decoupled):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))
        self.decoupled = decoupled

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            beta1, beta2 = group['betas']
            lr, decay = group['lr'], group['weight_decay']
            for p in group['params']:
                state = self.state[p]
                if not state:
                    state.update(t=0, m=torch.zeros_like(p), v=torch.zeros_like(p), v_max=torch.zeros_like(p))
                g = p.grad
                if self.decoupled:
                    p.copy_(p * (1 - lr * decay))
                else:
                    g = g + decay * p
                state['t'] += 1
                t = state['t']
                state['m'] = beta1 * state['m'] + (1 - beta1) * g
                state['v'] = beta2 * state['v'] + (1 - beta2) * g * g
                state['v_max'] = torch.maximum(state['v_max'], state['v'])
                m_hat = state['m'] / (1 - beta1 ** t)
                rho_inf = 2 / (1 - beta2) - 1
                rho_t = rho_inf - 2 * t * beta2 ** t / (1 - beta2 ** t)
                if rho_t > 5:
                    r = ((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
                    adaptive = (1 - beta2 ** t) ** 0.5 / (state['v_max'].sqrt() + group['eps'])
                    p.copy_(p - lr * r * m_hat * adaptive)
                else:
                    p.copy_(p - lr * m_hat)


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
@pytest.mark.parametrize('optimized_update', [True, False])
@pytest.mark.parametrize('decoupled', [False, True])
def test_radam_with_amsgrad_matches_a_reference_written_from_the_formulas(dtype, optimized_update, decoupled):
    difference = max_param_difference(
        lambda groups: RAdam(groups, lr=1e-2, betas=(0.8, 0.99), weight_decay=1e-2, amsgrad=True,
                             decoupled_weight_decay=decoupled, optimized_update=optimized_update),
        lambda groups: AMSGradRAdamReference(groups, lr=1e-2, betas=(0.8, 0.99), eps=1e-8, weight_decay=1e-2,
                                             decoupled=decoupled),
        dtype=dtype, second_group=dict(lr=3e-3, weight_decay=0.1))
    assert difference <= TOLERANCE[dtype]


def test_amsgrad_changes_radams_trajectory_on_the_parity_problem():
    # Otherwise the test above could not tell RAdam with AMSGrad from RAdam without it.
    difference = max_param_difference(
        lambda groups: RAdam(groups, lr=1e-2, betas=(0.8, 0.99)),
        lambda groups: AMSGradRAdamReference(groups, lr=1e-2, betas=(0.8, 0.99), eps=1e-8, weight_decay=0.,
                                             decoupled=False),
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
