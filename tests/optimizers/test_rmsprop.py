import torch

from labml_opt import RMSprop


def test_rmsprop_first_step_is_lr_over_root_one_minus_alpha():
    # The page's claim: v_1 = (1 - alpha) g^2, so the first step is lr / sqrt(1 - alpha) = 10 lr.
    param = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    optimizer = RMSprop([param], lr=1e-2, alpha=0.99, eps=0.)
    param.grad = torch.tensor([5., -0.1, 1e-3], dtype=torch.float64)
    optimizer.step()
    assert torch.allclose(param.detach(), torch.tensor([-0.1, 0.1, -0.1], dtype=torch.float64), rtol=1e-12)
