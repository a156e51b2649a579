import itertools

import pytest
import torch

from labml_opt import AdaBelief, WeightDecay
from tests.optimizers.parity import max_param_difference

TOLERANCE = {torch.float32: 1e-6, torch.float64: 1e-12}
FLAGS = list(itertools.product([False, True], repeat=3))


class AdaBeliefReference(torch.optim.Optimizer):
    r"""
    Algorithm 2 of Zhuang et al. (2020), written out of place and independently of labml_opt:

    $m_t = \beta_1 m_{t-1} + (1 - \beta_1) g_t$,
    $s_t = \beta_2 s_{t-1} + (1 - \beta_2)(g_t - m_t)^2 + \epsilon$,
    with AMSGrad $s^{\max}_t = \max(s^{\max}_{t-1}, s_t)$ kept beside $s_t$ (as in the authors' code),
    $\hat{m}_t = m_t / (1 - \beta_1^t)$, $\hat{s}_t = s_t / (1 - \beta_2^t)$,
    $\theta_t = \theta_{t-1} - \alpha \hat{m}_t / (\sqrt{\hat{s}_t} + \epsilon)$.

    `rectify` replaces the last line by RAdam's (Liu et al. 2019) with the authors' $\epsilon$
    placement: $\theta_t = \theta_{t-1} - \alpha r_t \hat{m}_t \sqrt{1 - \beta_2^t} / (\sqrt{s_t} + \epsilon)$
    when $\rho_t > 5$, else $\theta_t = \theta_{t-1} - \alpha \hat{m}_t$.
    """

    def __init__(self, params, lr, betas, eps, weight_decay, decoupled, amsgrad, rectify, maximize):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))
        self.decoupled, self.amsgrad, self.rectify, self.maximize = decoupled, amsgrad, rectify, maximize

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            beta1, beta2 = group['betas']
            lr, eps, decay = group['lr'], group['eps'], group['weight_decay']
            for p in group['params']:
                state = self.state[p]
                if not state:
                    state.update(t=0, m=torch.zeros_like(p), s=torch.zeros_like(p), s_max=torch.zeros_like(p))
                g = -p.grad if self.maximize else p.grad
                if self.decoupled:
                    p.copy_(p * (1 - lr * decay))
                else:
                    g = g + decay * p
                state['t'] += 1
                t = state['t']
                state['m'] = beta1 * state['m'] + (1 - beta1) * g
                state['s'] = beta2 * state['s'] + (1 - beta2) * (g - state['m']) ** 2 + eps
                state['s_max'] = torch.maximum(state['s_max'], state['s'])
                s = state['s_max'] if self.amsgrad else state['s']
                m_hat = state['m'] / (1 - beta1 ** t)
                if not self.rectify:
                    s_hat = s / (1 - beta2 ** t)
                    p.copy_(p - lr * m_hat / (s_hat.sqrt() + eps))
                    continue
                rho_inf = 2 / (1 - beta2) - 1
                rho_t = rho_inf - 2 * t * beta2 ** t / (1 - beta2 ** t)
                if rho_t > 5:
                    r = ((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
                    p.copy_(p - lr * r * m_hat * (1 - beta2 ** t) ** 0.5 / (s.sqrt() + eps))
                else:
                    p.copy_(p - lr * m_hat)


def make_pair(decoupled, amsgrad, rectify, optimized_update=True, maximize=False, eps=1e-12):
    """Ours and the reference, with the same hyper-parameters."""
    kwargs = dict(lr=1e-2, betas=(0.8, 0.99), eps=eps, weight_decay=1e-2)
    return (lambda groups: AdaBelief(groups, decoupled_weight_decay=decoupled, amsgrad=amsgrad, rectify=rectify,
                                     optimized_update=optimized_update, maximize=maximize, **kwargs),
            lambda groups: AdaBeliefReference(groups, decoupled=decoupled, amsgrad=amsgrad, rectify=rectify,
                                              maximize=maximize, **kwargs))


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
@pytest.mark.parametrize('optimized_update', [True, False])
@pytest.mark.parametrize('decoupled, amsgrad, rectify', FLAGS)
def test_ada_belief_matches_the_papers_algorithm_after_200_steps(dtype, optimized_update, decoupled, amsgrad,
                                                                  rectify):
    ours, reference = make_pair(decoupled, amsgrad, rectify, optimized_update)
    difference = max_param_difference(ours, reference, dtype=dtype,
                                      second_group=dict(lr=3e-3, weight_decay=0.1, eps=1e-8))
    assert difference <= TOLERANCE[dtype]


@pytest.mark.parametrize('flag', ['decoupled', 'amsgrad', 'rectify'])
def test_each_flag_changes_the_trajectory_on_the_parity_problem(flag):
    # Otherwise the test above could not catch a flag that is ignored, or passed to the wrong
    # parameter (labml_nn's AdaBelief runs AMSGrad whatever it is asked for).
    flags = dict(decoupled=False, amsgrad=False, rectify=False)
    ours, _ = make_pair(**flags)
    _, reference = make_pair(**{**flags, flag: True})
    assert max_param_difference(ours, reference, second_group=dict(lr=3e-3, weight_decay=0.1)) > 1e-4


@pytest.mark.parametrize('rectify', [False, True])
def test_ada_belief_maximize_follows_the_negated_gradient(rectify):
    ours, reference = make_pair(decoupled=True, amsgrad=True, rectify=rectify, maximize=True)
    assert max_param_difference(ours, reference, second_group=dict(lr=3e-3)) <= 1e-6


def test_flags_reach_the_state_and_the_groups():
    param = torch.ones(3, requires_grad=True)
    for amsgrad in (False, True):
        optimizer = AdaBelief([param], amsgrad=amsgrad)
        param.grad = torch.ones(3)
        optimizer.step()
        assert optimizer.param_groups[0]['amsgrad'] is amsgrad
        expected = {'step', 'exp_avg', 'exp_avg_var'} | ({'max_exp_avg_var'} if amsgrad else set())
        assert set(optimizer.state[param]) == expected
    assert AdaBelief([param], decoupled_weight_decay=True).weight_decay.weight_decouple
    assert not AdaBelief([param], decoupled_weight_decay=False).weight_decay.weight_decouple
    assert AdaBelief([param], weight_decay=WeightDecay(0.1, absolute=True)).weight_decay.absolute


def test_defaults_follow_the_authors_implementation():
    optimizer = AdaBelief([torch.ones(1, requires_grad=True)])
    assert optimizer.defaults['eps'] == 1e-16 and optimizer.defaults['amsgrad'] is False
    assert optimizer.rectify and optimizer.weight_decay.weight_decouple


def test_s_t_averages_beta1_squared_times_the_distance_from_the_prediction_m_t_minus_1():
    # The page's claim: $g_t - m_t = \beta_1 (g_t - m_{t-1})$, so
    # $s_t = \beta_2 s_{t-1} + (1 - \beta_2) \beta_1^2 (g_t - m_{t-1})^2 + \epsilon$
    beta1, beta2, eps = 0.8, 0.9, 1e-3
    param = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    optimizer = AdaBelief([param], betas=(beta1, beta2), eps=eps)
    m, s = torch.zeros(3, dtype=torch.float64), torch.zeros(3, dtype=torch.float64)
    for g in ([1., -2., 0.5], [0.3, 4., 0.5], [-1., 1., 0.5]):
        g = torch.tensor(g, dtype=torch.float64)
        s = beta2 * s + (1 - beta2) * beta1 ** 2 * (g - m) ** 2 + eps
        m = beta1 * m + (1 - beta1) * g
        param.grad = g
        optimizer.step()
        assert torch.allclose(optimizer.state[param]['exp_avg_var'], s, rtol=1e-12, atol=0)
