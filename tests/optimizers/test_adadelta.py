import pytest
import torch

from labml_opt import Adadelta


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
