import pytest
import torch

from labml_opt import Adagrad


def test_adagrad_starts_each_group_at_its_own_initial_accumulator_value():
    # torch.optim.Adagrad fills every group's sum with the constructor's value; we honour the group's.
    first, second = torch.zeros(2, requires_grad=True), torch.zeros(2, requires_grad=True)
    optimizer = Adagrad([{'params': [first]}, {'params': [second], 'initial_accumulator_value': 3.}], lr=1.,
                        initial_accumulator_value=0., eps=0.)
    first.grad, second.grad = torch.ones(2), torch.ones(2)
    optimizer.step()
    assert torch.equal(optimizer.state[first]['sum'], torch.full((2,), 1.))
    assert torch.equal(optimizer.state[second]['sum'], torch.full((2,), 4.))
    assert torch.equal(second.detach(), torch.full((2,), -0.5))


def test_adagrad_eps_is_outside_the_square_root():
    # With G_1 = g^2 = 1e-8 and eps = 1e-4: outside gives 1 / (1e-4 + 1e-4), inside 1 / sqrt(1e-8 + 1e-4).
    param = torch.zeros(1, requires_grad=True)
    optimizer = Adagrad([param], lr=1., eps=1e-4)
    param.grad = torch.tensor([1e-4])
    optimizer.step()
    assert param.item() == pytest.approx(-0.5, rel=1e-5)


def test_adagrad_steps_shrink_like_one_over_root_t_for_steady_gradients():
    # The page's claim: with a constant gradient G_t = t g^2, so step t moves lr / sqrt(t).
    param = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimizer = Adagrad([param], lr=1., eps=0.)
    previous = 0.
    for t in range(1, 101):
        param.grad = torch.tensor([3.], dtype=torch.float64)
        optimizer.step()
        assert previous - param.item() == pytest.approx(t ** -0.5, rel=1e-12)
        previous = param.item()
