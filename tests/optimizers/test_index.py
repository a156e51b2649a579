r"""
The claims of the optimizers index (`labml_opt/__init__.py`): where each optimizer puts $\epsilon$,
checked through the first step's closed form in the index's table. $\epsilon$ is as large as the
gradient, so that putting it anywhere else (inside a root, before or after bias correction,
outside a maximum) gives a different number.
"""

import math

import pytest
import torch

from labml_opt import (AdaBelief, Adadelta, Adagrad, Adam, Adamax, AdamW, AMSGrad, NAdam, RAdam, RMSprop, SGD,
                       Sophia)
from labml_opt.figures import steps_taken

LR, G, EPS = 0.1, 0.02, 0.01
BETA1, BETA2 = 0.9, 0.999


def nadam_momentum(t: int) -> float:
    r"""$\mu_t$ with the default `momentum_decay` $\kappa = 0.004$."""
    return BETA1 * (1 - 0.5 * 0.96 ** (t * 4e-3))


MU1, MU2 = nadam_momentum(1), nadam_momentum(2)

# (name, optimizer, keyword arguments, the index's first step $\theta_0 - \theta_1$ for gradient $G$)
FIRST_STEPS = [
    ('SGD', SGD, dict(), LR * G),
    ('Adagrad', Adagrad, dict(eps=EPS), LR * G / (abs(G) + EPS)),
    ('Adadelta', Adadelta, dict(eps=EPS ** 2), LR * math.sqrt(EPS ** 2) / math.sqrt((1 - 0.9) * G ** 2 + EPS ** 2) * G),
    ('RMSprop', RMSprop, dict(eps=EPS), LR * G / (math.sqrt(1 - 0.99) * abs(G) + EPS)),
    ('Adam', Adam, dict(eps=EPS), LR * G / (abs(G) + EPS)),
    ('Adam, textbook form', Adam, dict(eps=EPS, optimized_update=False), LR * G / (abs(G) + EPS)),
    ('AMSGrad', AMSGrad, dict(eps=EPS), LR * G / (abs(G) + EPS)),
    ('AdamW', AdamW, dict(eps=EPS, weight_decay=0.), LR * G / (abs(G) + EPS)),
    ('NAdam', NAdam, dict(eps=EPS), LR * (1 + MU2 * (1 - BETA1) / (1 - MU1 * MU2)) * G / (abs(G) + EPS)),
    ('RAdam', RAdam, dict(eps=EPS), LR * G),
    ('AdaBelief', AdaBelief, dict(eps=EPS, rectify=False, weight_decay=0.),
     LR * G / (math.sqrt(BETA1 ** 2 * G ** 2 + EPS / (1 - BETA2)) + EPS)),
    ('Adamax', Adamax, dict(eps=EPS), LR * G / (abs(G) + EPS)),
    ('Sophia', Sophia, dict(eps=EPS, weight_decay=0.), LR * max(min((1 - 0.965) * G / EPS, 1.), -1.)),
]


@pytest.mark.parametrize('name, optimizer, kwargs, expected', FIRST_STEPS, ids=[row[0] for row in FIRST_STEPS])
def test_first_step_puts_epsilon_where_the_index_says(name, optimizer, kwargs, expected):
    assert steps_taken(optimizer, [G], lr=LR, **kwargs)[0] == pytest.approx(expected, rel=1e-12)


def test_radam_puts_epsilon_before_bias_correction_in_its_first_rectified_step():
    # A constant gradient: $m_t = (1 - \beta_1^t) G$, $v_t = (1 - \beta_2^t) G^2$, and at $t = 6$
    # the step is $\alpha \, r_6 \frac{\sqrt{1 - \beta_2^6}}{\sqrt{v_6} + \epsilon} \hat{m}_6$
    t = 6
    rho_inf = 2 / (1 - BETA2) - 1
    rho_t = rho_inf - 2 * t * BETA2 ** t / (1 - BETA2 ** t)
    r = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
    expected = LR * r * math.sqrt(1 - BETA2 ** t) / (math.sqrt(1 - BETA2 ** t) * G + EPS) * G
    for optimized_update in (True, False):
        taken = steps_taken(RAdam, [G] * t, lr=LR, eps=EPS, optimized_update=optimized_update)
        assert taken[-1] == pytest.approx(expected, rel=1e-12)


def test_sophia_puts_epsilon_as_a_floor_under_the_curvature():
    # With $h_1 = (1 - \beta_2) B \hat{g}^2$ above and below $\epsilon / \gamma$
    gamma, beta2 = 0.04, 0.99
    param = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    optimizer = Sophia([param], lr=LR, rho=gamma, eps=EPS, weight_decay=0.)
    g_hat = torch.tensor([10., 0.1], dtype=torch.float64)
    param.grad = g_hat.clone()
    optimizer.update_hessian(batch_size=1)
    param.grad = torch.full((2,), G, dtype=torch.float64)
    optimizer.step()
    h = (1 - beta2) * g_hat ** 2
    expected = LR * ((1 - 0.965) * G / torch.clamp(gamma * h, min=EPS)).clamp(-1, 1)
    assert torch.allclose(-param.detach(), expected, rtol=1e-12, atol=0)


def test_adamax_puts_epsilon_inside_the_maximum():
    # After $G$ and then $0$: $u_2 = \max(\beta_2 (\lvert G \rvert + \epsilon), \epsilon) = \beta_2 (\lvert G \rvert + \epsilon)$,
    # not $\beta_2 \lvert G \rvert + \epsilon$; $m_2 = \beta_1 (1 - \beta_1) G$
    taken = steps_taken(Adamax, [G, 0.], lr=LR, eps=EPS)
    expected = LR / (1 - BETA1 ** 2) * BETA1 * (1 - BETA1) * G / (BETA2 * (abs(G) + EPS))
    assert taken[1] == pytest.approx(expected, rel=1e-12)
