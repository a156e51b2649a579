import math

import pytest
import torch

from labml_opt import RAdam
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
