import torch

from labml_opt import Adamax


def test_u_is_a_decaying_maximum_of_the_gradient_magnitude():
    param = torch.zeros(2, requires_grad=True)
    optimizer = Adamax([param], betas=(0.9, 0.5), eps=0.)
    u = torch.zeros(2)
    for grad in ([4.0, -1.0], [1.0, -3.0], [-1.0, 0.5]):
        param.grad = torch.tensor(grad)
        optimizer.step()
        u = torch.maximum(0.5 * u, param.grad.abs())
        assert torch.equal(optimizer.state[param]['exp_inf'], u)
    assert set(optimizer.state[param]) == {'step', 'exp_avg', 'exp_inf'}
