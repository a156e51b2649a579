import math

import pytest
import torch

from labml_opt import Adam, Numbers, WeightDecay
from labml_opt.figures import steps_taken


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


# The page's claims about the size of Adam's step, with the default betas
BETA1, BETA2 = 0.9, 0.999


def test_a_gradient_after_a_long_run_of_zeros_moves_about_3_16_alpha():
    # Kingma and Ba's worst case: $\alpha \frac{1 - \beta_1}{1 - \beta_1^T} \sqrt{\frac{1 - \beta_2^T}{1 - \beta_2}}$
    # at step $T$; $\epsilon$ is tiny so that the zero gradients take zero steps.
    T = 20_000
    last = steps_taken(Adam, [0.] * (T - 1) + [1.], lr=1., eps=1e-30)[-1]
    expected = (1 - BETA1) / (1 - BETA1 ** T) * math.sqrt((1 - BETA2 ** T) / (1 - BETA2))
    assert last == pytest.approx(expected, rel=1e-9)
    assert last == pytest.approx(3.16, abs=0.005)


def test_gradients_growing_by_beta2_over_beta1_move_up_to_7_27_alpha():
    # Equality in Cauchy-Schwarz: $g_i \propto (\beta_2 / \beta_1)^i$ gives
    # $\frac{\hat{m}_t}{\sqrt{\hat{v}_t}} \to \frac{1 - \beta_1}{\sqrt{(1 - \beta_2)(1 - \beta_1^2 / \beta_2)}}$
    bound = (1 - BETA1) / math.sqrt((1 - BETA2) * (1 - BETA1 ** 2 / BETA2))
    assert bound == pytest.approx(7.27, abs=0.005)
    # after a long run of zeros, so that the bias corrections are one
    growth, T = BETA2 / BETA1, 20_000
    taken = steps_taken(Adam, [0.] * T + [growth ** i for i in range(300)], lr=1., eps=1e-30)
    assert max(taken) <= bound * (1 + 1e-12)
    assert taken[-1] > 0.999 * bound
    # Random gradients of one size stay near $\alpha$: far from either bound
    generator = torch.Generator().manual_seed(0)
    noise = torch.randn(2000, generator=generator, dtype=torch.float64).tolist()
    assert max(abs(s) for s in steps_taken(Adam, noise, lr=1., eps=0.)) < 3.16


def test_a_gradient_every_100_steps_moves_about_10_alpha_where_one_every_step_moves_100_alpha():
    T, period = 20_000, 100
    sparse = steps_taken(Adam, [1. if t % period == 0 else 0. for t in range(1, T + 1)], lr=1., eps=1e-30)
    dense = steps_taken(Adam, [1.] * T, lr=1., eps=1e-30)
    # Steady state after a gradient: $m_j = \frac{(1 - \beta_1) \beta_1^j}{1 - \beta_1^{100}}$,
    # $v_j = \frac{(1 - \beta_2) \beta_2^j}{1 - \beta_2^{100}}$, summed over the period
    expected = sum((1 - BETA1) * BETA1 ** j / (1 - BETA1 ** period)
                   / math.sqrt((1 - BETA2) * BETA2 ** j / (1 - BETA2 ** period)) for j in range(period))
    assert sum(sparse[-period:]) == pytest.approx(expected, rel=1e-4)
    assert expected == pytest.approx(9.8, abs=0.005)
    assert sum(dense[-period:]) == pytest.approx(100., rel=1e-9)
