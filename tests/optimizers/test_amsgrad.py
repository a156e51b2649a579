import math

import pytest
import torch

from labml_opt import Adam, AMSGrad
from labml_opt.figures import amsgrad_effective_step_size
from tests.optimizers.parity import TOLERANCE, clone_params, make_params, max_param_difference


def test_the_maximum_changes_the_trajectory_on_the_parity_problem():
    # Otherwise the contract's parity test could not tell AMSGrad from Adam.
    difference = max_param_difference(
        lambda groups: Adam(groups, lr=1e-2, betas=(0.8, 0.99)),
        lambda groups: torch.optim.Adam(groups, lr=1e-2, betas=(0.8, 0.99), amsgrad=True),
        second_group=dict(lr=3e-3))
    assert difference > 1e-3


def test_amsgrad_false_keeps_no_maximum():
    param = torch.ones(3, requires_grad=True)
    optimizer = AMSGrad([param], amsgrad=False)
    param.grad = torch.ones(3)
    optimizer.step()
    assert set(optimizer.state[param]) == {'step', 'exp_avg', 'exp_avg_sq'}


def test_amsgrad_can_be_switched_off_per_param_group():
    difference = max_param_difference(lambda groups: AMSGrad(groups, lr=1e-2),
                                      lambda groups: torch.optim.Adam(groups, lr=1e-2, amsgrad=True),
                                      second_group=dict(amsgrad=False))
    assert difference <= TOLERANCE[torch.float32]
    params = clone_params(make_params())
    optimizer = AMSGrad([{'params': params[:2]}, {'params': params[2:], 'amsgrad': False}])
    for p in params:
        p.grad = torch.ones_like(p)
    optimizer.step()
    assert 'max_exp_avg_sq' in optimizer.state[params[0]]
    assert 'max_exp_avg_sq' not in optimizer.state[params[2]]


# The page's claim: with torch's bias correction after the maximum, the effective step size grows.
ALPHA, BETA2 = 1e-3, 0.999


def test_amsgrad_effective_step_size_grows_with_bias_correction_after_the_maximum():
    rates = amsgrad_effective_step_size(3000, lr=ALPHA)
    for t in (1, 2, 10, 100, 1000, 3000):
        # $v^{\max}_t = v_1 = 1 - \beta_2$ for good, so $\alpha \sqrt{(1 - \beta_2^t) / (1 - \beta_2)}$
        assert rates[t - 1] == pytest.approx(ALPHA * math.sqrt((1 - BETA2 ** t) / (1 - BETA2)), rel=1e-9)
    # The page's numbers
    assert rates[0] == pytest.approx(1e-3, rel=1e-9)
    assert rates[99] == pytest.approx(9.8e-3, abs=5e-5)
    assert rates[2999] == pytest.approx(3.1e-2, abs=5e-4)
    assert all(later > earlier for earlier, later in zip(rates, rates[1:]))
    # ... but never above Algorithm 2's constant $\alpha / \sqrt{v^{\max}_t}$
    assert max(rates) <= ALPHA / math.sqrt(1 - BETA2)


def test_adam_effective_step_size_on_the_same_gradients_keeps_growing_to_0_1():
    rates = amsgrad_effective_step_size(3000, lr=ALPHA, amsgrad=False)
    for t in (1, 100, 1000, 3000):
        # $v_t = (1 - \beta_2) \beta_2^{t-1} + 10^{-4} (1 - \beta_2^{t-1})$ for $g_1 = 1$, then $0.01$
        v = (1 - BETA2) * BETA2 ** (t - 1) + 1e-4 * (1 - BETA2 ** (t - 1))
        assert rates[t - 1] == pytest.approx(ALPHA / math.sqrt(v / (1 - BETA2 ** t)), rel=1e-9)
    assert rates[2999] > 2 * amsgrad_effective_step_size(3000, lr=ALPHA)[2999]
