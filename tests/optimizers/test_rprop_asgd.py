"""
The claims of the Rprop and ASGD pages. Parity with torch, state dicts and bad values are in the
contract table (test_contract.py).
"""

import torch

from labml_opt import ASGD, Rprop


def test_rprop_step_is_the_sign_of_the_gradient_times_its_own_step_size():
    # The size of the gradient plays no part: gradients of the same signs and very different sizes
    # give the same step, and a flip shrinks the step size and takes no step.
    param = torch.zeros(3, requires_grad=True)
    optimizer = Rprop([param], lr=0.1)
    for grad, expected in [([1e-9, 5., -2.], [-0.1, -0.1, 0.1]), ([1e3, 1e-6, -1.], [-0.22, -0.22, 0.22]),
                           ([-1., 1., -1.], [-0.22, -0.364, 0.364])]:
        param.grad = torch.tensor(grad)
        optimizer.step()
        assert torch.allclose(param.detach(), torch.tensor(expected), atol=1e-7)
    assert torch.allclose(optimizer.state[param]['step_size'], torch.tensor([0.06, 0.144, 0.144]))


def test_asgd_average_is_the_mean_of_the_iterates_from_step_t0_plus_2():
    torch.manual_seed(0)
    param = torch.randn(4, dtype=torch.float64, requires_grad=True)
    optimizer = ASGD([param], lr=0.1, t0=5, lambd=0.)
    iterates = []
    for _ in range(40):
        param.grad = torch.randn(4, dtype=torch.float64) + param.detach()
        optimizer.step()
        iterates.append(param.detach().clone())
    # omega_t = 1 / max(1, t - 1 - t0) is 1 up to step t0 + 2, then 1/2, 1/3, ...: the mean of the iterates
    # from step t0 + 2 on (index t0 + 1). torch keeps omega in float32, and so do we: 1/3 is not exact.
    expected = torch.stack(iterates[6:]).mean(0)
    assert torch.allclose(optimizer.state[param]['ax'], expected, atol=1e-7)
    assert not torch.allclose(optimizer.state[param]['ax'], torch.stack(iterates[5:]).mean(0), atol=1e-3)
