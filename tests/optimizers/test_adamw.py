import torch

from labml_opt import AdamW


def test_adamw_decay_is_not_divided_by_the_second_moment():
    # With a zero gradient, Adam's step is zero and only the decay moves the weight:
    # theta (1 - lr lambda), the same for every weight whatever its gradient history.
    param = torch.tensor([1.0, 1.0], requires_grad=True)
    optimizer = AdamW([param], lr=0.1, weight_decay=0.5)
    param.grad = torch.zeros(2)
    optimizer.step()
    assert torch.equal(param.detach(), torch.tensor([0.95, 0.95]))
