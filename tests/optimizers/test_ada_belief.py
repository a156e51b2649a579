import pytest
import torch

from labml_opt import AdaBelief, WeightDecay
from tests.optimizers.parity import max_param_difference
from tests.optimizers.references import AdaBeliefReference, decayed

HYPERPARAMETERS = dict(lr=1e-2, betas=(0.8, 0.99), eps=1e-12, weight_decay=1e-2)


@pytest.mark.parametrize('flag', ['decoupled_weight_decay', 'amsgrad', 'rectify'])
def test_each_flag_changes_the_trajectory_on_the_parity_problem(flag):
    # Otherwise the contract's parity test could not catch a flag that is ignored, or passed to the
    # wrong parameter (labml_nn's AdaBelief runs AMSGrad whatever it is asked for).
    reference = decayed(AdaBeliefReference) if flag == 'decoupled_weight_decay' else AdaBeliefReference
    flags = {name: name == flag for name in ('amsgrad', 'rectify')}
    difference = max_param_difference(
        lambda groups: AdaBelief(groups, decoupled_weight_decay=False, amsgrad=False, rectify=False, **HYPERPARAMETERS),
        lambda groups: reference(groups, **flags, **HYPERPARAMETERS),
        second_group=dict(lr=3e-3, weight_decay=0.1))
    assert difference > 1e-4


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
