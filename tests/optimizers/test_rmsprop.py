import math

import pytest
import torch

from labml_opt import RMSprop


def test_rmsprop_first_step_is_lr_over_root_one_minus_alpha():
    # The page's claim: v_1 = (1 - alpha) g^2, so the first step is lr / sqrt(1 - alpha) = 10 lr.
    param = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    optimizer = RMSprop([param], lr=1e-2, alpha=0.99, eps=0.)
    param.grad = torch.tensor([5., -0.1, 1e-3], dtype=torch.float64)
    optimizer.step()
    assert torch.allclose(param.detach(), torch.tensor([-0.1, 0.1, -0.1], dtype=torch.float64), rtol=1e-12)


def test_momentum_sums_normalised_gradients_to_about_one_over_one_minus_mu_times_alpha():
    # The page's claim: with a constant gradient, $v_t \to g^2$ and $b_t \to \frac{1}{1 - \mu}$ times
    # the normalised gradient, so the step approaches $\frac{\alpha}{1 - \mu}$: ten times Adam's $\alpha$.
    lr, mu, beta2, T = 1e-3, 0.9, 0.99, 3000
    param = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimizer = RMSprop([param], lr=lr, momentum=mu, eps=0.)
    b, steps = 0., []
    for t in range(1, T + 1):
        param.grad = torch.tensor([1.], dtype=torch.float64)
        before = param.item()
        optimizer.step()
        steps.append(before - param.item())
        # $b_t = \mu b_{t-1} + \frac{1}{\sqrt{1 - \beta_2^t}}$, each term normalised by its own step's $v_t$
        b = mu * b + 1 / math.sqrt(1 - beta2 ** t)
        assert steps[-1] == pytest.approx(lr * b, rel=1e-9)
    # The page's numbers: $10 \alpha$ at $t = 1$ ($v_1$ is biased to zero), a peak of about $30 \alpha$
    # at $t = 11$, and $10 \alpha$ in the end
    assert steps[0] == pytest.approx(10 * lr, rel=1e-9)
    assert max(steps) == pytest.approx(30 * lr, rel=0.01) and steps.index(max(steps)) == 10
    assert steps[-1] == pytest.approx(lr / (1 - mu), rel=1e-6)
