"""
Low-precision optimizer state (labml_opt/low_precision.py): stochastic rounding is unbiased and its
random bits are uniform, bfloat16 moments follow float32 where rounding to nearest stalls, Kahan
summation keeps updates that a bfloat16 parameter loses, and the torch contract holds.
"""

import copy
import warnings

import pytest
import torch

import labml_opt
from labml_opt import figures
from labml_opt.low_precision import random_bits, rounding_seed, stochastic_round


def bfloat16_neighbours(x: torch.Tensor):
    """The bfloat16 numbers a <= x < b around each float32 x (positive x), found by truncating its code."""
    a = (x.view(torch.int32) & -65536).view(torch.float32)
    b = ((x.view(torch.int32) & -65536) + 65536).view(torch.float32)
    return a, b


def test_stochastic_rounding_rounds_up_with_the_probability_of_the_fraction():
    # Values at 0.1, 0.5 and 0.9 of the way between neighbours, at several scales, and one just
    # above a power of two
    a, _ = bfloat16_neighbours(torch.tensor([1.0, 0.3, 7e-6, 3e4, 0.25]))
    ulp = bfloat16_neighbours(a)[1] - a
    fraction = torch.tensor([0.1, 0.5, 0.9, 0.37, 0.01])
    x = a + fraction * ulp
    x = torch.cat([x, -x])
    seeds = 4096
    up = torch.zeros_like(x)
    rounded_sum = torch.zeros_like(x, dtype=torch.float64)
    for step in range(1, seeds + 1):
        bits, = random_bits(x, rounding_seed(0, 0, step), 1)
        rounded = stochastic_round(x, bits).float()
        assert torch.all((rounded == x.sign() * a.repeat(2)) | (rounded == x.sign() * (a + ulp).repeat(2)))
        up += (rounded.abs() > x.abs()).float()
        rounded_sum += rounded.double()
    # Each rounding is a Bernoulli draw: 6 standard deviations of the mean of 4096
    p = torch.cat([fraction, fraction])
    assert torch.all((up / seeds - p).abs() <= 6 * (p * (1 - p) / seeds).sqrt() + 1e-9)
    # The mean of the roundings is the value, within 6 standard deviations (at most ulp / 2 each)
    error = (rounded_sum / seeds - x.double()).abs()
    assert torch.all(error <= 6 * 0.5 * ulp.repeat(2).double() / seeds ** 0.5)
    # Rounding to nearest errs by 0.1, 0.5, 0.1, 0.37 and 0.01 of an ulp every time: the first
    # three of those are twice that bound or more
    nearest = (x.to(torch.bfloat16).float() - x).abs().double()
    assert torch.all(nearest[[0, 2, 3]] > 2 * 6 * 0.5 * ulp.repeat(2)[[0, 2, 3]].double() / seeds ** 0.5)


def test_random_bits_are_uniform_over_elements_and_over_steps():
    like = torch.zeros(1 << 16)
    low, high, third = random_bits(like, rounding_seed(3, 1, 7), 3)
    for bits in (low, high, third):
        assert bits.dtype == torch.int32 and bits.min() >= 0 and bits.max() < 1 << 16
        counts = torch.bincount(bits.long() >> 12, minlength=16).double()
        expected = like.numel() / 16
        chi2 = ((counts - expected) ** 2 / expected).sum()
        # 15 degrees of freedom: 37.7 is the 0.1% tail
        assert chi2 < 37.7
    assert not torch.equal(low, high) and not torch.equal(low, third)
    # One element over many steps: its seed changes, and its bits are uniform too
    element = torch.zeros(1)
    over_steps = torch.cat([random_bits(element, rounding_seed(0, 5, t), 1)[0] for t in range(1, 4097)])
    counts = torch.bincount(over_steps.long() >> 12, minlength=16).double()
    assert ((counts - 256) ** 2 / 256).sum() < 37.7


def test_bfloat16_moments_follow_float32_where_rounding_to_nearest_stalls():
    steps = 3000
    exact = 1 - 0.999 ** steps
    # Rounding to nearest stops v at 1/4: the increment 0.001 * 0.75 is less than half an ulp of 1/4
    assert figures.second_moment_rounded_to_nearest(steps)[-1] == 0.25
    assert abs(figures.second_moment(steps, state_dtype=torch.bfloat16)[-1] - exact) < 0.1
    # Over 4096 coordinates, each rounded with its own bits, the mean of v is the float32 value:
    # each coordinate wanders around it by a few percent (the roundings of the last ~1000 steps
    # add up), and the mean of 4096 by 64 times less
    param = torch.zeros(4096, requires_grad=True)
    optimizer = labml_opt.Adam([param], state_dtype=torch.bfloat16)
    for _ in range(steps):
        param.grad = torch.ones(4096)
        optimizer.step()
    v = optimizer.state[param]['exp_avg_sq'].float()
    assert abs(v.mean().item() - exact) < 2e-3
    assert 0.005 < v.std().item() / exact < 0.06


def train(optimizer_class, steps=20, seed=0, **kwargs):
    generator = torch.Generator().manual_seed(1)
    params = [torch.randn(37, 5, generator=generator).requires_grad_(), torch.randn(11, generator=generator).requires_grad_()]
    optimizer = optimizer_class(params, lr=1e-2, seed=seed, **kwargs)
    for _ in range(steps):
        for param in params:
            param.grad = torch.randn(param.shape, generator=generator)
        optimizer.step()
    return params, optimizer


@pytest.mark.parametrize('optimizer_class', [labml_opt.Adam, labml_opt.AdamW, labml_opt.AMSGrad, labml_opt.NAdam,
                                             labml_opt.RAdam, labml_opt.Adamax])
def test_bfloat16_state_is_stored_in_bfloat16_and_stays_close_to_float32(optimizer_class):
    params, optimizer = train(optimizer_class, state_dtype=torch.bfloat16)
    reference, _ = train(optimizer_class)
    for param, ref in zip(params, reference):
        tensors = [value for value in optimizer.state[param].values() if isinstance(value, torch.Tensor)]
        assert tensors and all(tensor.dtype == torch.bfloat16 for tensor in tensors)
        # 20 steps of lr 1e-2 move each weight up to 0.2; bfloat16 state changes them by far less
        assert (param - ref).abs().max() < 2e-3


def test_state_bytes_per_parameter():
    def state_bytes(optimizer, params):
        return sum(value.numel() * value.element_size() for param in params for value in optimizer.state[param].values()
                   if isinstance(value, torch.Tensor)) / sum(param.numel() for param in params)
    params, optimizer = train(labml_opt.AdamW, steps=1)
    assert state_bytes(optimizer, params) == 8
    params, optimizer = train(labml_opt.AdamW, steps=1, state_dtype=torch.bfloat16)
    assert state_bytes(optimizer, params) == 4


def test_runs_repeat_and_the_seed_changes_them():
    first, _ = train(labml_opt.AdamW, state_dtype=torch.bfloat16, seed=1)
    again, _ = train(labml_opt.AdamW, state_dtype=torch.bfloat16, seed=1)
    other, _ = train(labml_opt.AdamW, state_dtype=torch.bfloat16, seed=2)
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not all(torch.equal(a, b) for a, b in zip(first, other))


def test_bfloat16_state_resumes_exactly_from_its_state_dict():
    params, optimizer = train(labml_opt.AdamW, steps=10, state_dtype=torch.bfloat16)
    saved = copy.deepcopy(optimizer.state_dict())
    assert all(value.dtype == torch.bfloat16 for state in saved['state'].values()
               for value in state.values() if isinstance(value, torch.Tensor))
    resumed_params = [param.detach().clone().requires_grad_() for param in params]
    resumed = labml_opt.AdamW(resumed_params, lr=1e-2, state_dtype=torch.bfloat16)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        resumed.load_state_dict(saved)
    for param, resumed_param in zip(params, resumed_params):
        for key in ('exp_avg', 'exp_avg_sq'):
            assert resumed.state[resumed_param][key].dtype == torch.bfloat16
            assert torch.equal(resumed.state[resumed_param][key], optimizer.state[param][key])
    generator = torch.Generator().manual_seed(5)
    for _ in range(5):
        for param, resumed_param in zip(params, resumed_params):
            param.grad = torch.randn(param.shape, generator=generator)
            resumed_param.grad = param.grad.clone()
        optimizer.step()
        resumed.step()
    assert all(torch.equal(a, b) for a, b in zip(params, resumed_params))


@pytest.mark.parametrize('saved_dtype, loaded_dtype', [(torch.bfloat16, None), (None, torch.bfloat16)])
def test_loading_state_of_another_dtype_converts_with_a_warning(saved_dtype, loaded_dtype):
    params, optimizer = train(labml_opt.AdamW, steps=3, state_dtype=saved_dtype)
    loaded = labml_opt.AdamW(params, lr=1e-2, state_dtype=loaded_dtype)
    with pytest.warns(UserWarning, match='exp_avg from torch.(bfloat16|float32) to torch.(float32|bfloat16)'):
        loaded.load_state_dict(optimizer.state_dict())
    want = torch.float32 if loaded_dtype is None else loaded_dtype
    for param in params:
        assert loaded.state[param]['exp_avg'].dtype == want
        assert torch.allclose(loaded.state[param]['exp_avg'].float(), optimizer.state[param]['exp_avg'].float(),
                              rtol=2 ** -8, atol=0)
    loaded.step()


@pytest.mark.parametrize('state_dtype', [None, torch.float32])
def test_kahan_summation_keeps_the_updates_that_a_bfloat16_parameter_loses(state_dtype):
    def run(dtype, **kwargs):
        param = torch.ones(64, dtype=dtype, requires_grad=True)
        optimizer = labml_opt.AdamW([param], lr=1e-4, weight_decay=0., **kwargs)
        for _ in range(1000):
            param.grad = torch.ones(64, dtype=dtype)
            optimizer.step()
        return param.detach().float()
    exact = run(torch.float32)
    assert torch.allclose(exact, torch.full((64,), 0.9), atol=1e-3)
    # Each step, about 1e-4, is less than half an ulp of 1 in bfloat16 (2^-8): every one is lost
    assert torch.equal(run(torch.bfloat16), torch.ones(64))
    kahan = run(torch.bfloat16, kahan_sum=True, state_dtype=state_dtype)
    # Within one bfloat16 ulp of 0.9 (2^-8 below 1)
    assert (kahan - exact).abs().max() <= 2 ** -8


def test_kahan_compensation_is_state_and_bfloat16():
    param = torch.ones(8, dtype=torch.bfloat16, requires_grad=True)
    optimizer = labml_opt.Adam([param], kahan_sum=True)
    param.grad = torch.ones(8, dtype=torch.bfloat16)
    optimizer.step()
    assert optimizer.state[param]['kahan_comp'].dtype == torch.bfloat16
    # A float32 parameter needs no compensation
    other = torch.ones(8, requires_grad=True)
    optimizer = labml_opt.Adam([other], kahan_sum=True)
    other.grad = torch.ones(8)
    optimizer.step()
    assert 'kahan_comp' not in optimizer.state[other]


@pytest.mark.parametrize('name, value', [('state_dtype', torch.float16), ('state_dtype', 'bf16'),
                                         ('kahan_sum', 1), ('seed', -1), ('seed', 1.5)])
def test_bad_low_precision_options_are_refused(name, value):
    with pytest.raises(ValueError, match=f'Invalid {name} .* for AdamW'):
        labml_opt.AdamW([torch.zeros(3, requires_grad=True)], **{name: value})


@pytest.mark.slow
@pytest.mark.parametrize('optimizer_class', [labml_opt.AdamW, labml_opt.AMSGrad])
def test_compiled_bfloat16_state_matches_the_code_as_written(optimizer_class):
    generator = torch.Generator().manual_seed(0)
    start = torch.randn(5003, generator=generator)
    grads = [torch.randn(5003, generator=generator) for _ in range(6)]
    runs = []
    for fast in (True, False):
        # Two parameters with the same values and gradients: only their random bits tell them apart
        params = [start.clone().requires_grad_() for _ in range(2)]
        optimizer = optimizer_class([{'params': params, 'fast': fast}], lr=1e-2, state_dtype=torch.bfloat16)
        for grad in grads:
            for param in params:
                param.grad = grad.clone()
            with warnings.catch_warnings():
                warnings.simplefilter('error', labml_opt.fast.FastPathWarning)
                optimizer.step()
        runs.append([(param.detach(), optimizer.state[param]) for param in params])
    for (compiled, compiled_state), (written, written_state) in zip(*runs):
        assert compiled_state['exp_avg'].dtype == torch.bfloat16
        assert (compiled - written).abs().max() < 1e-5
        keys = [key for key, value in compiled_state.items() if isinstance(value, torch.Tensor)]
        assert len(keys) == (3 if optimizer_class is labml_opt.AMSGrad else 2)
        for key in keys:
            # The same random bits: the roundings differ only where float32 arithmetic put a value
            # on the other side of a rounding threshold, in a few elements, by one ulp
            differ = compiled_state[key] != written_state[key]
            assert differ.float().mean() < 1e-2
            a, b = compiled_state[key].float(), written_state[key].float()
            assert torch.all((a - b).abs() <= 2 ** -7 * torch.maximum(a.abs(), b.abs()))
    # Each parameter has its own seed on the compiled path too
    (first, first_state), (second, second_state) = runs[0]
    assert not torch.equal(first_state['exp_avg'], second_state['exp_avg'])
