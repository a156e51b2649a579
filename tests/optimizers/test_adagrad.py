import itertools

import pytest
import torch

from labml_opt import Adagrad
from tests.optimizers.parity import max_param_difference
from tests.optimizers.resume import assert_resume_is_bit_identical, max_resume_difference

FLAGS = [dict(lr_decay=lr_decay, initial_accumulator_value=initial, weight_decay=weight_decay, maximize=maximize)
         for lr_decay, initial, weight_decay, maximize in itertools.product([0., 1e-2], [0., 0.1], [0., 1e-2],
                                                                            [False, True])]


@pytest.mark.parametrize('flags', FLAGS, ids=str)
def test_adagrad_matches_torch_after_200_steps(flags):
    difference = max_param_difference(
        lambda groups: Adagrad(groups, lr=1e-1, **flags),
        lambda groups: torch.optim.Adagrad(groups, lr=1e-1, **flags),
        second_group=dict(lr=3e-2, lr_decay=5e-3, eps=1e-6))
    assert difference <= 1e-6


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


def test_adagrad_matches_torch_in_float64():
    flags = dict(lr_decay=1e-2, initial_accumulator_value=0.1, weight_decay=1e-2)
    difference = max_param_difference(lambda groups: Adagrad(groups, lr=1e-1, **flags),
                                      lambda groups: torch.optim.Adagrad(groups, lr=1e-1, **flags),
                                      dtype=torch.float64, second_group=dict(lr=3e-2))
    assert difference <= 1e-12


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


def test_adagrad_defaults_are_torchs():
    ours = Adagrad([torch.zeros(1, requires_grad=True)]).defaults
    theirs = torch.optim.Adagrad([torch.zeros(1, requires_grad=True)]).defaults
    assert {name: theirs[name] for name in ours} == ours


@pytest.mark.parametrize('flags', [dict(), dict(lr_decay=1e-2, initial_accumulator_value=0.1, weight_decay=1e-2,
                                                maximize=True)], ids=str)
def test_adagrad_resumes_from_state_dict_bit_identically(flags):
    assert_resume_is_bit_identical(lambda groups: Adagrad(groups, lr=1e-1, **flags), second_group=dict(lr=3e-2))


def test_torch_adagrad_state_dict_loads_into_ours_and_back():
    def ours(groups):
        return Adagrad(groups, lr=1e-1, lr_decay=1e-2)

    def theirs(groups):
        return torch.optim.Adagrad(groups, lr=1e-1, lr_decay=1e-2)

    assert max_resume_difference(theirs, ours, second_group=dict(lr=3e-2)) <= 1e-6
    assert max_resume_difference(ours, theirs, second_group=dict(lr=3e-2)) <= 1e-6


@pytest.mark.parametrize('name, value', [
    ('lr', -1e-2),
    ('lr_decay', -1e-3),
    ('lr_decay', float('nan')),
    ('weight_decay', -1e-2),
    ('initial_accumulator_value', -0.1),
    ('eps', -1e-10),
])
def test_invalid_adagrad_hyperparameters_name_optimizer_parameter_and_value(name, value):
    with pytest.raises(ValueError) as error:
        Adagrad([torch.zeros(1, requires_grad=True)], **{name: value})
    message = str(error.value)
    assert 'Adagrad' in message and name in message and repr(value) in message
