import itertools

import pytest
import torch

from labml_opt import Adadelta
from tests.optimizers.parity import max_param_difference
from tests.optimizers.resume import assert_resume_is_bit_identical, max_resume_difference

FLAGS = [dict(lr=lr, weight_decay=weight_decay, maximize=maximize)
         for lr, weight_decay, maximize in itertools.product([1.0, 0.5], [0., 1e-2], [False, True])]


@pytest.mark.parametrize('flags', FLAGS, ids=str)
def test_adadelta_matches_torch_after_200_steps(flags):
    difference = max_param_difference(lambda groups: Adadelta(groups, **flags),
                                      lambda groups: torch.optim.Adadelta(groups, **flags),
                                      second_group=dict(lr=0.3, rho=0.5, eps=1e-4))
    assert difference <= 1e-6


def test_adadelta_matches_torch_in_float64():
    difference = max_param_difference(lambda groups: Adadelta(groups, rho=0.8, weight_decay=1e-2),
                                      lambda groups: torch.optim.Adadelta(groups, rho=0.8, weight_decay=1e-2),
                                      dtype=torch.float64, second_group=dict(lr=0.3, rho=0.95))
    assert difference <= 1e-12


def test_adadelta_first_step_is_root_eps_over_rms_of_the_gradient():
    # eps inside both roots: delta_1 = sqrt(0 + eps) / sqrt((1 - rho) g^2 + eps) * g
    param = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimizer = Adadelta([param], rho=0.9, eps=1e-6)
    param.grad = torch.tensor([2.], dtype=torch.float64)
    optimizer.step()
    expected = -(1e-6 ** 0.5) / (0.1 * 4 + 1e-6) ** 0.5 * 2
    assert param.item() == pytest.approx(expected, rel=1e-12)


def test_adadelta_run_scales_with_the_parameters_when_eps_carries_their_units():
    # The units argument on the page: measure theta in units c = 100 times smaller (theta' = c theta,
    # so g' = g / c) and scale eps by c^2; every step then scales by c, with no learning rate to
    # retune, as long as eps stays negligible next to E[g^2] in the denominator.
    def trajectory(scale, eps):
        param = torch.zeros(1, dtype=torch.float64, requires_grad=True)
        optimizer = Adadelta([param], rho=0.9, eps=eps)
        generator = torch.Generator().manual_seed(0)
        positions = []
        for _ in range(100):
            param.grad = (1 + torch.rand(1, generator=generator, dtype=torch.float64)) / scale
            optimizer.step()
            positions.append(param.item())
        return torch.tensor(positions, dtype=torch.float64)

    metres, centimetres = trajectory(1., eps=1e-12), trajectory(100., eps=1e-8)
    assert torch.allclose(centimetres, 100 * metres, rtol=1e-3)
    # Keeping eps fixed instead leaves the run the same size in either unit: eps sets the scale.
    assert torch.allclose(trajectory(100., eps=1e-12), metres, rtol=1e-3)


def test_adadelta_defaults_are_torchs():
    ours = Adadelta([torch.zeros(1, requires_grad=True)]).defaults
    theirs = torch.optim.Adadelta([torch.zeros(1, requires_grad=True)]).defaults
    assert {name: theirs[name] for name in ours} == ours


@pytest.mark.parametrize('flags', [dict(), dict(lr=0.5, rho=0.8, weight_decay=1e-2, maximize=True)], ids=str)
def test_adadelta_resumes_from_state_dict_bit_identically(flags):
    assert_resume_is_bit_identical(lambda groups: Adadelta(groups, **flags), second_group=dict(lr=0.3))


def test_torch_adadelta_state_dict_loads_into_ours_and_back():
    def ours(groups):
        return Adadelta(groups, rho=0.8)

    def theirs(groups):
        return torch.optim.Adadelta(groups, rho=0.8)

    assert max_resume_difference(theirs, ours, second_group=dict(lr=0.3)) <= 1e-6
    assert max_resume_difference(ours, theirs, second_group=dict(lr=0.3)) <= 1e-6


@pytest.mark.parametrize('name, value', [
    ('lr', -1.0),
    ('rho', 1.5),
    ('rho', -0.1),
    ('rho', float('nan')),
    ('eps', -1e-6),
    ('weight_decay', -1e-2),
])
def test_invalid_adadelta_hyperparameters_name_optimizer_parameter_and_value(name, value):
    with pytest.raises(ValueError) as error:
        Adadelta([torch.zeros(1, requires_grad=True)], **{name: value})
    message = str(error.value)
    assert 'Adadelta' in message and name in message and repr(value) in message


def test_first_step_is_about_3_2_sqrt_eps_for_a_gradient_much_larger_than_sqrt_eps():
    # The page's claim: $\lvert \Delta\theta_1 \rvert = \frac{\sqrt{\epsilon}}{\sqrt{(1 - \beta_2) g^2 + \epsilon}} \lvert g \rvert$,
    # about $\sqrt{\epsilon / (1 - \beta_2)}$, whatever the gradient's size
    eps = 1e-6
    for g in (1., -30., 0.5):
        param = torch.zeros(1, dtype=torch.float64, requires_grad=True)
        optimizer = Adadelta([param], eps=eps)
        param.grad = torch.tensor([g], dtype=torch.float64)
        optimizer.step()
        step = -param.item()
        assert step == pytest.approx(eps ** 0.5 / ((1 - 0.9) * g ** 2 + eps) ** 0.5 * g, rel=1e-12)
        assert abs(step) == pytest.approx(3.16e-3, rel=2e-3)
