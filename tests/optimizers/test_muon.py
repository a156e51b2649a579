r"""
Muon against `torch.optim.Muon`, bit for bit; against an SVD, for the precise iteration; against
Jordan's reference code, for the tolerance `bfloat16` allows; and the page's central claim: after the
Newton-Schulz iteration the update's singular values lie in about $[0.5, 1.5]$. MuonWithAuxAdam
against `torch.optim.Muon` and `torch.optim.AdamW` side by side, with the reference code's defaults
and checks. (The contract table in test_contract.py runs both through the rest of torch's contract.)
"""

import math

import pytest
import torch

from labml_opt import AdamW, Muon, MuonWithAuxAdam
from labml_opt.figures import muon_response
from labml_opt.muon import NS_COEFFICIENTS
from tests.optimizers.parity import make_params, max_param_difference
from tests.optimizers.references import JordanMuon, MuonAndAdamW, arguments

SECOND_GROUP = dict(lr=3e-3, momentum=0.5)


def quintic(sigma: float, steps: int = 5) -> float:
    r"""$\varphi^k(\sigma)$ for Jordan's coefficients."""
    a, b, c = NS_COEFFICIENTS
    for _ in range(steps):
        sigma = a * sigma + b * sigma ** 3 + c * sigma ** 5
    return sigma


def orthogonalized(gradient: torch.Tensor, **kwargs) -> torch.Tensor:
    r"""$O_1$, read off one step of Muon with $\alpha = 1$, no momentum, no decay and $r = 1$."""
    param = torch.zeros_like(gradient, requires_grad=True)
    optimizer = Muon([param], lr=1., weight_decay=0., momentum=0., **kwargs)
    param.grad = gradient
    optimizer.step()
    # 'original' scales a tall matrix by sqrt(n / m)
    n, m = gradient.shape
    return -param.detach() / math.sqrt(max(1, n / m))


def test_muon_has_torchs_arguments_and_defaults_and_ns_dtype():
    assert arguments(Muon) == arguments(torch.optim.Muon) + [('ns_dtype', torch.bfloat16)]


OPTIONS = {
    'defaults': dict(),
    'no_nesterov': dict(nesterov=False),
    'match_rms_adamw': dict(adjust_lr_fn='match_rms_adamw', weight_decay=0.3),
    'three_steps_other_coefficients': dict(ns_steps=3, ns_coefficients=(3.4, -4.7, 2.0), eps=1e-3),
}


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
@pytest.mark.parametrize('options', OPTIONS.values(), ids=OPTIONS.keys())
def test_muon_matches_torch_bit_for_bit_after_200_steps(dtype, options):
    # The same operations in the same order: the same bfloat16 roundings, so no tolerance at all.
    kwargs = dict(dict(lr=1e-2), **options)
    difference = max_param_difference(lambda groups: Muon(groups, **kwargs),
                                      lambda groups: torch.optim.Muon(groups, **kwargs),
                                      dtype=dtype, second_group=SECOND_GROUP, matrices=True)
    assert difference == 0.


def test_another_correct_order_of_the_bfloat16_iteration_ends_about_a_hundredth_away():
    # Jordan's code computes the same polynomial with other roundings: the distance that bfloat16
    # allows between two correct implementations (1.1e-2 measured), far above 1e-6, and far below
    # the size of the 200 steps of about lr = 0.02 each.
    kwargs = dict(lr=0.02, weight_decay=0., momentum=0.95)
    ours = lambda groups: Muon(groups, **kwargs)  # noqa: E731
    difference = max_param_difference(ours, lambda groups: JordanMuon(groups, **kwargs), second_group=dict(lr=3e-3),
                                      matrices=True)
    assert 1e-4 < difference < 2e-2
    # Ours in float32 arithmetic throughout is about as far from torch's (3.6e-3 measured)
    precise = max_param_difference(lambda groups: Muon(groups, ns_dtype=None, **kwargs),
                                   lambda groups: torch.optim.Muon(groups, **kwargs), second_group=dict(lr=3e-3),
                                   matrices=True)
    assert 1e-4 < precise < 2e-2


@pytest.mark.parametrize('shape', [(12, 7), (7, 12), (9, 9)])
def test_the_precise_iteration_is_the_polynomial_applied_to_the_singular_values(shape):
    # O = U phi^5(Sigma / ||Sigma||) V^T, from an SVD, in float64
    generator = torch.Generator().manual_seed(0)
    gradient = torch.randn(shape, generator=generator, dtype=torch.float64)
    u, s, vh = torch.linalg.svd(gradient, full_matrices=False)
    normalized = (s / gradient.norm()).tolist()
    expected = u @ torch.diag(torch.tensor([quintic(x) for x in normalized], dtype=torch.float64)) @ vh
    assert torch.allclose(orthogonalized(gradient, ns_dtype=None), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize('shape', [(64, 128), (128, 64), (300, 100), (256, 512)])
def test_after_newton_schulz_the_singular_values_lie_in_about_half_to_one_and_a_half(shape):
    # Random matrices with these shapes have no singular value below 0.002 of their norm, so in exact
    # arithmetic each lands in [0.68, 1.21]; bfloat16 widens that a little, well within [0.5, 1.5].
    generator = torch.Generator().manual_seed(0)
    gradient = torch.randn(shape, generator=generator)
    assert (torch.linalg.svdvals(gradient) / gradient.norm()).min() > 0.002
    for ns_dtype, (low, high) in ((torch.bfloat16, (0.5, 1.5)), (None, (0.68, 1.21))):
        singular_values = torch.linalg.svdvals(orthogonalized(gradient, ns_dtype=ns_dtype))
        assert low <= singular_values.min() and singular_values.max() <= high, (ns_dtype, singular_values)


def test_a_tiny_singular_value_grows_by_at_most_a_to_the_fifth():
    # The slope of the quintic at zero is a = 3.4445: five iterations multiply a value near zero by
    # a^5, about 485, and no more; the figure's measurement agrees with the polynomial.
    a = NS_COEFFICIENTS[0]
    sigmas = [1e-5, 1e-4, 3e-4, 0.002, 0.01, 0.1, 0.5, 1.]
    measured = muon_response(sigmas)
    assert measured == pytest.approx([quintic(s) for s in sigmas], rel=0, abs=1e-12)
    assert measured[0] == pytest.approx(a ** 5 * 1e-5, rel=1e-3)
    assert all(value <= a ** 5 * sigma for value, sigma in zip(measured, sigmas))
    assert all(0.68 <= value <= 1.21 for value in measured[3:])
    # In bfloat16 the iterates follow it within the rounding of the other directions, which is
    # all that a direction too small to grow keeps
    low = muon_response(sigmas, ns_dtype=torch.bfloat16)
    assert low == pytest.approx(measured, rel=0, abs=0.1)


@pytest.mark.parametrize('shape', [(8, 32), (32, 8)])
def test_adjust_lr_fn_scales_the_step_by_the_papers_factor(shape):
    # The same O_t under each rule: the steps differ by r exactly as the page writes it.
    n, m = shape
    generator = torch.Generator().manual_seed(0)
    gradient = torch.randn(shape, generator=generator, dtype=torch.float64)
    steps = {}
    for rule in (None, 'original', 'match_rms_adamw'):
        param = torch.zeros(shape, dtype=torch.float64, requires_grad=True)
        optimizer = Muon([param], lr=0.1, weight_decay=0., adjust_lr_fn=rule)
        param.grad = gradient
        optimizer.step()
        steps[rule] = -param.detach()
    assert torch.equal(steps[None], steps['original'])
    ratio = 0.2 * math.sqrt(max(n, m)) / math.sqrt(max(1, n / m))
    assert torch.allclose(steps['match_rms_adamw'], ratio * steps['original'], rtol=1e-12, atol=0)
    # match_rms_adamw: the root mean square of the step is about 0.2 lr, as for AdamW's steps
    rms = steps['match_rms_adamw'].square().mean().sqrt().item()
    assert 0.7 * 0.02 < rms < 1.2 * 0.02


def test_weight_decay_is_decoupled_and_scaled_by_lr_not_by_the_shape_factor():
    # A zero gradient orthogonalizes to zero: the step is the decay alone, 1 - lr * weight_decay.
    param = torch.ones(8, 2, dtype=torch.float64, requires_grad=True)
    optimizer = Muon([param], lr=0.1, weight_decay=0.5)
    param.grad = torch.zeros(8, 2, dtype=torch.float64)
    optimizer.step()
    assert torch.equal(param.detach(), torch.full((8, 2), 1 - 0.1 * 0.5, dtype=torch.float64))


@pytest.mark.parametrize('shape', [(3,), (2, 3, 4), ()])
def test_only_matrices_are_accepted_with_torchs_error(shape):
    for cls in (Muon, torch.optim.Muon):
        with pytest.raises(ValueError, match=f'{cls.__name__} only supports 2D parameters whereas we found a '
                                             r'parameter with size: torch.Size\('):
            cls([torch.zeros(shape, requires_grad=True)])
    # Also when a group is added later
    optimizer = Muon([torch.zeros(2, 2, requires_grad=True)])
    with pytest.raises(ValueError, match='Muon only supports 2D parameters'):
        optimizer.add_param_group({'params': [torch.zeros(shape, requires_grad=True)]})


def test_a_bfloat16_momentum_without_nesterov_keeps_its_size_unlike_torchs():
    # The page's one departure: torch's `.bfloat16()` of a bfloat16 buffer is no copy, and its
    # in-place division by the norm rescales the momentum itself. Ours averages: 10 * (1 - 0.5).
    def buffer(cls):
        param = torch.zeros(4, 3, dtype=torch.bfloat16, requires_grad=True)
        optimizer = cls([param], nesterov=False, momentum=0.5)
        param.grad = torch.full((4, 3), 10., dtype=torch.bfloat16)
        optimizer.step()
        return optimizer.state[param]['momentum_buffer']

    assert torch.equal(buffer(Muon), torch.full((4, 3), 5., dtype=torch.bfloat16))
    assert not torch.equal(buffer(torch.optim.Muon), torch.full((4, 3), 5., dtype=torch.bfloat16))


def test_torchs_optim_db_inputs_step_as_torch_does():
    # The constructor arguments PyTorch's own OptimizerInfo tests pass to Muon, a tensor lr among them
    from torch.testing._internal.common_optimizers import optim_inputs_func_muon
    inputs = optim_inputs_func_muon('cpu')
    assert len(inputs) >= 7
    for optimizer_input in inputs:
        # A tensor lr is halved in place half way: each optimizer gets its own
        kwargs = lambda: {key: value.clone() if isinstance(value, torch.Tensor) else value  # noqa: E731
                          for key, value in optimizer_input.kwargs.items()}
        difference = max_param_difference(lambda groups: Muon(groups, **kwargs()),
                                          lambda groups: torch.optim.Muon(groups, **kwargs()),
                                          steps=20, second_group=dict(lr=3e-3), matrices=True)
        assert difference <= 1e-6, optimizer_input.desc


# MuonWithAuxAdam

def groups(params, muon=None, adamw=None):
    """The tests' matrices for Muon (the 5 x 3 and the transposed 6 x 4), the rest for AdamW."""
    return [dict(params=[params[0], params[2]], use_muon=True, **(muon or {})),
            dict(params=[params[1], params[3]], use_muon=False, **(adamw or {}))]


def composition_difference(muon, adamw, dtype=torch.float32):
    """200 steps of ours and of torch's Muon and AdamW side by side, with these group settings."""
    initial = make_params(dtype)

    def run(cls):
        params = [p.clone().requires_grad_() for p in initial]
        optimizer = cls(groups(params, muon, adamw))
        generator = torch.Generator().manual_seed(1)
        for step in range(200):
            if step == 100:
                for group in optimizer.param_groups:
                    group['lr'] *= 0.5
            for p in params:
                p.grad = torch.randn(p.shape, generator=generator, dtype=dtype) + 0.1 * p.detach()
            optimizer.step()
        return params

    return max((a - b).abs().max().item() for a, b in zip(run(MuonWithAuxAdam), run(MuonAndAdamW)))


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
@pytest.mark.parametrize('muon, adamw', [
    (dict(), dict()),
    (dict(lr=0.05, weight_decay=0.1, momentum=0.9), dict(lr=1e-3, weight_decay=0.1, betas=(0.8, 0.99), eps=1e-8)),
    (dict(nesterov=False, adjust_lr_fn='match_rms_adamw'), dict(lr=1e-2)),
], ids=['defaults', 'decay', 'torch_muon_keys'])
def test_muon_with_aux_adam_is_torchs_muon_and_adamw_side_by_side(dtype, muon, adamw):
    tolerance = {torch.float32: 1e-6, torch.float64: 1e-12}[dtype]
    assert composition_difference(muon, adamw, dtype) <= tolerance


def test_each_kind_of_group_takes_the_reference_codes_defaults():
    params = [p.requires_grad_() for p in make_params()]
    optimizer = MuonWithAuxAdam(groups(params))
    muon, adamw = optimizer.param_groups
    assert {key: muon[key] for key in ('lr', 'momentum', 'weight_decay')} == dict(lr=0.02, momentum=0.95,
                                                                                  weight_decay=0.)
    assert {key: adamw[key] for key in ('lr', 'betas', 'eps', 'weight_decay')} == dict(
        lr=3e-4, betas=(0.9, 0.95), eps=1e-10, weight_decay=0.)
    # Muon's other keys are torch's defaults
    defaults = torch.optim.Muon([params[0]]).defaults
    assert all(muon[key] == defaults[key] for key in ('nesterov', 'ns_coefficients', 'eps', 'ns_steps', 'adjust_lr_fn'))
    assert isinstance(optimizer, AdamW) and isinstance(optimizer, Muon)


def test_the_reference_readmes_example_runs():
    model = torch.nn.Sequential(torch.nn.Embedding(10, 8), torch.nn.Linear(8, 8), torch.nn.LayerNorm(8),
                                torch.nn.Linear(8, 10))
    hidden_weights = [model[1].weight]
    hidden_gains_biases = [model[1].bias, *model[2].parameters()]
    nonhidden_params = [*model[3].parameters(), *model[0].parameters()]
    optimizer = MuonWithAuxAdam([
        dict(params=hidden_weights, use_muon=True, lr=0.02, weight_decay=0.01),
        dict(params=hidden_gains_biases + nonhidden_params, use_muon=False, lr=3e-4, betas=(0.9, 0.95),
             weight_decay=0.01)])
    before = [p.detach().clone() for p in model.parameters()]
    loss = torch.nn.functional.cross_entropy(model(torch.arange(10)), torch.arange(10))
    loss.backward()
    optimizer.step()
    assert all(not torch.equal(a, b.detach()) for a, b in zip(before, model.parameters()))


def test_groups_that_do_not_say_use_muon_or_carry_foreign_keys_are_refused():
    matrix, vector = torch.zeros(3, 2, requires_grad=True), torch.zeros(3, requires_grad=True)
    with pytest.raises(ValueError, match=r"MuonWithAuxAdam needs param groups, each with use_muon=True \(Muon\) or "
                                         r"False \(AdamW\); got a group with keys \['params'\]"):
        MuonWithAuxAdam([matrix, vector])
    with pytest.raises(ValueError, match=r"Invalid keys \['betas'\] for a Muon group of MuonWithAuxAdam"):
        MuonWithAuxAdam([dict(params=[matrix], use_muon=True, betas=(0.9, 0.95))])
    with pytest.raises(ValueError, match=r"Invalid keys \['momentum'\] for a AdamW group of MuonWithAuxAdam"):
        MuonWithAuxAdam([dict(params=[vector], use_muon=False, momentum=0.9)])
    with pytest.raises(ValueError, match='Invalid use_muon 1 for MuonWithAuxAdam: must be True or False'):
        MuonWithAuxAdam([dict(params=[vector], use_muon=1)])


def test_each_kind_of_group_is_checked_by_its_own_rules():
    matrix, vector = torch.zeros(3, 2, requires_grad=True), torch.zeros(3, requires_grad=True)
    with pytest.raises(ValueError, match='MuonWithAuxAdam only supports 2D parameters'):
        MuonWithAuxAdam([dict(params=[vector], use_muon=True)])
    with pytest.raises(ValueError, match=r'Invalid momentum 1.5 for MuonWithAuxAdam: must be in \[0, 1\)'):
        MuonWithAuxAdam([dict(params=[matrix], use_muon=True, momentum=1.5)])
    with pytest.raises(ValueError, match=r'Invalid beta2 1.0 for MuonWithAuxAdam: must be in \[0, 1\)'):
        MuonWithAuxAdam([dict(params=[vector], use_muon=False, betas=(0.9, 1.0))])
    with pytest.raises(ValueError, match='Invalid lr -0.1 for MuonWithAuxAdam: must be >= 0'):
        MuonWithAuxAdam([dict(params=[vector], use_muon=False, lr=-0.1)])
    # A matrix may be trained by AdamW
    MuonWithAuxAdam([dict(params=[matrix], use_muon=False)])
