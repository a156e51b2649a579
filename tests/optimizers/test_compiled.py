"""
The fast path (labml_opt/fast.py) runs each optimizer's own `step_param`, recorded and compiled.
These tests hold the compiled step to the same code run as written: every optimizer, every flag,
200 steps, on parameters of mixed shapes, strides and dtypes.
"""

import contextlib
import copy
import gc
import json
import logging
import math
import os
import random
import re
import threading
import warnings
import weakref
from typing import Any, Callable, Dict, List

import pytest
import torch

import labml_opt.fast as fast
from labml_opt import (SGD, ASGD, LAMB, AdaBelief, Adafactor, AdEMAMix, Adadelta, Adagrad, Adam, Adamax, AdamW,
                       AdamWarmup, AdamWarmupCosineDecay, AMSGrad, LAMBPaper, Lion, Muon, MuonWithAuxAdam, NAdam, Noam,
                       Prodigy, RAdam, RMSprop, Rprop,
                       ScheduleFreeAdamW, ScheduleFreeAdamWPaper, ScheduleFreeSGD, SharedAdam, Sophia, WeightDecay)
from tests.optimizers.parity import as_written_sizes

# The compiled step must not silently fall back to the code as written.
pytestmark = [pytest.mark.filterwarnings('error::labml_opt.fast.FastPathWarning'), pytest.mark.slow]

# How far the compiled step may drift from the code as written in 200 steps: one rounding per
# operation in a different order, and in `float64` nothing visible.
TOLERANCE = {torch.float32: 1e-6, torch.float64: 1e-12}

# Every optimizer and every flag it has, each flag value at least once. Each entry compiles one
# loop (two for SGD with momentum, whose first step creates its buffer), so the table covers the
# flags without their full product.
CASES: List[Any] = [
    (Adam, {}),
    (Adam, dict(optimized_update=False, weight_decay=0.1, maximize=True)),
    (Adam, dict(weight_decay=WeightDecay(0.1, absolute=True))),
    (Adam, dict(amsgrad=True, weight_decay=0.1, decoupled_weight_decay=True)),
    (AMSGrad, {}),
    (AMSGrad, dict(amsgrad=False, optimized_update=False)),
    (AdamW, dict(weight_decay=0.1)),
    (AdamW, dict(amsgrad=True, optimized_update=False, maximize=True)),
    (RAdam, {}),
    (RAdam, dict(optimized_update=False, amsgrad=True, decoupled_weight_decay=True, weight_decay=0.1)),
    (AdaBelief, {}),
    (AdaBelief, dict(rectify=False, amsgrad=True, weight_decay=0.1, decoupled_weight_decay=False)),
    (AdaBelief, dict(rectify=False, optimized_update=False)),
    (NAdam, {}),
    (NAdam, dict(optimized_update=False, weight_decay=0.1, decoupled_weight_decay=True, maximize=True)),
    (Adamax, dict(weight_decay=0.1)),
    (SharedAdam, {}),
    (SGD, dict(lr=1e-2)),
    (SGD, dict(lr=1e-2, momentum=0.9, dampening=0.1, weight_decay=0.1)),
    (SGD, dict(lr=1e-2, momentum=0.9, nesterov=True, maximize=True)),
    (Adagrad, dict(lr_decay=0.01, initial_accumulator_value=0.1)),
    (Adagrad, dict(weight_decay=0.1, maximize=True)),
    (RMSprop, {}),
    (RMSprop, dict(centered=True, momentum=0.9, weight_decay=0.1)),
    (Adadelta, dict(weight_decay=0.1, maximize=True)),
    (Sophia, {}),
    (AdamWarmup, dict(warmup=50)),
    (AdamWarmupCosineDecay, dict(warmup=20, total_steps=150, final_lr_ratio=0.1)),
    (Noam, dict(warmup=30, d_model=16)),
    (Rprop, dict(etas=(0.3, 1.5), maximize=True)),
    (ASGD, dict(t0=50, weight_decay=0.1)),
    (Lion, dict(lr=1e-2)),
    (Lion, dict(lr=1e-2, weight_decay=0.1, decoupled_weight_decay=True)),
    (AdEMAMix, dict(weight_decay=0.1)),
    (AdEMAMix, dict(weight_decay=0.1, weight_decouple=True, t_alpha_beta3=50, maximize=True)),
    (AdEMAMix, dict(weight_decay=0.01, weight_decouple=True, fixed_decay=True, alpha=0.)),
    (ScheduleFreeSGD, dict(lr=0.1)),
    (ScheduleFreeSGD, dict(lr=0.1, weight_decay=0.1, warmup_steps=20, r=1.)),
    (ScheduleFreeAdamW, dict(lr=1e-2)),
    (ScheduleFreeAdamW, dict(lr=1e-2, weight_decay=0.1, warmup_steps=20)),
    (ScheduleFreeAdamWPaper, dict(lr=1e-2, weight_decay=0.1)),
    # LAMB's norms are reductions inside the compiled step
    (LAMB, dict(lr=1e-2, weight_decay=0.1)),
    (LAMB, dict(lr=1e-2, weight_decay=0.1, weight_decouple=False, maximize=True, grad_averaging=False)),
    (LAMB, dict(lr=1e-2, rectify=True, degenerated_to_sgd=True, adam=True)),
    (LAMB, dict(lr=1e-2, pre_norm=True, weight_decay=0.01, fixed_decay=True)),
    (LAMBPaper, dict(lr=1e-2, weight_decay=0.1)),
    # Prodigy's one estimate feeds every step, and on 200 steps of noise at lr = 1 it amplifies a
    # difference: moving one weight by one unit in the last place moves the end of the run as written
    # by 7e-7 to 6e-6, depending on the setting. Its sums over each tensor are compiled too, and
    # Inductor's loop adds in another order than torch's `dot` and `sum` (as two BLAS libraries do),
    # a last-bit difference of the estimate that grows as much (7e-7 to 1e-5 in 200 steps). So in
    # `float32` these run `PRODIGY_STEPS`; every setting runs 200 steps in `float64` below, and in
    # `float32` at an lr that does not amplify (`PRODIGY_CALM`).
    (Prodigy, {}),
    (Prodigy, dict(weight_decay=0.1)),
    (Prodigy, dict(lr=0.5, weight_decay=0.1, decouple=False, betas=(0.0, 0.99))),
    (Prodigy, dict(use_bias_correction=True, safeguard_warmup=True, slice_p=2)),
]
# A few in `float64` too, one per kind of update
FLOAT64 = [(Adam, {}), (RAdam, dict(optimized_update=False)), (NAdam, {}), (SGD, dict(lr=1e-2, momentum=0.9)),
           (RMSprop, dict(centered=True)), (Adadelta, {}), (Adagrad, {}), (Adamax, {}), (Sophia, {}),
           (AdaBelief, {}), (Rprop, {}), (ASGD, dict(t0=20)), (Lion, dict(lr=1e-2, weight_decay=0.1)),
           (AdEMAMix, dict(t_alpha_beta3=50)), (ScheduleFreeSGD, dict(lr=0.1)),
           (ScheduleFreeAdamW, dict(lr=1e-2)), (LAMB, dict(lr=1e-2, weight_decay=0.1)),
           *[case for case in CASES if case[0] is Prodigy]]
# The steps of Prodigy's `float32` cases: before its estimate has amplified a last-bit difference
PRODIGY_STEPS = 50
# Prodigy's settings at an lr where the runs as written and compiled ended equal to the bit here, in
# `float32` after 200 steps: at lr = 0.1 one unit in the last place of one weight moves the end by
# one unit at most
PRODIGY_CALM = [(Prodigy, dict(lr=0.1)), (Prodigy, dict(lr=0.1, weight_decay=0.1)),
                (Prodigy, dict(lr=0.1, weight_decay=0.1, decouple=False, betas=(0.0, 0.99))),
                (Prodigy, dict(use_bias_correction=True, safeguard_warmup=True, slice_p=2))]


def case_id(case) -> str:
    cls, kwargs = case
    return cls.__name__ + ''.join(f'-{k}={v}' for k, v in kwargs.items())


def make_params(dtype: torch.dtype) -> List[torch.Tensor]:
    """A matrix, a 0-d scalar, a one-element vector, a non-contiguous transposed matrix, and a vector."""
    generator = torch.Generator().manual_seed(0)
    shapes = [(5, 3), (), (1,), (4, 6), (7,)]
    params = [torch.randn(shape, generator=generator, dtype=dtype) for shape in shapes]
    params[3] = params[3].t()
    return params


def run(make: Callable[[List[Dict[str, Any]]], torch.optim.Optimizer], params: List[torch.Tensor], fast_path: bool,
        steps: int = 200, grad_scale: float = 1., listed_twice: bool = False) -> List[torch.Tensor]:
    """
    Step a copy of `params` with gradient noise plus a pull to zero; the last parameter has no
    gradient on every third step, and with `listed_twice` the first is in its group twice.
    """
    copies = [p.clone().requires_grad_() for p in params]
    group = copies + copies[:1] if listed_twice else copies
    optimizer = make([{'params': group, 'fast': fast_path}])
    # Schedule-Free optimizers step only in train mode
    if hasattr(optimizer, 'train'):
        optimizer.train()
    generator = torch.Generator().manual_seed(1)
    for step in range(steps):
        for p in copies:
            noise = grad_scale * torch.randn(p.shape, generator=generator, dtype=p.dtype)
            p.grad = torch.empty_strided(p.shape, p.stride(), dtype=p.dtype).copy_(noise + 0.1 * p.detach())
        if step % 3 == 0:
            copies[-1].grad = None
        optimizer.step()
        if isinstance(optimizer, Sophia) and step % 10 == 0:
            optimizer.update_hessian(batch_size=4)
    return [p.detach() for p in copies]


def max_difference(a: List[torch.Tensor], b: List[torch.Tensor]) -> float:
    return max((x - y).abs().max().item() for x, y in zip(a, b))


def check_parity(cls, kwargs, dtype, **run_options):
    params = make_params(dtype)
    make = lambda groups: cls(groups, **kwargs)  # noqa: E731
    written = run(make, params, fast_path=False, **run_options)
    compiled = run(make, params, fast_path=True, **run_options)
    # The step moved the parameters: a test of a step that does nothing would pass
    assert max_difference(written, params) > 1e-5
    assert max_difference(compiled, written) <= TOLERANCE[dtype]


@pytest.mark.parametrize('case', CASES, ids=case_id)
def test_compiled_step_matches_the_code_as_written_in_float32(case):
    check_parity(*case, torch.float32, steps=PRODIGY_STEPS if case[0] is Prodigy else 200)


@pytest.mark.parametrize('case', PRODIGY_CALM, ids=case_id)
def test_prodigys_compiled_step_matches_for_200_steps_in_float32_where_its_estimate_does_not_amplify(case):
    check_parity(*case, torch.float32)


@pytest.mark.parametrize('case', FLOAT64, ids=case_id)
def test_compiled_step_matches_the_code_as_written_in_float64(case):
    check_parity(*case, torch.float64)


@pytest.mark.parametrize('case', [c for c in CASES if c[0] not in (SGD, Sophia, Rprop, ASGD)], ids=case_id)
def test_compiled_step_matches_with_gradients_as_small_as_eps(case):
    # Where epsilon goes, and how it is rescaled, decides the step when gradients are this small.
    cls, kwargs = case
    check_parity(cls, kwargs, torch.float32, grad_scale=1e-6, steps=100)


@pytest.mark.parametrize('case', [(Adam, {}), (SGD, dict(lr=1e-2, momentum=0.9)), (NAdam, {})], ids=case_id)
def test_a_parameter_listed_twice_is_updated_twice_on_both_paths(case):
    check_parity(*case, torch.float32, listed_twice=True, steps=50)


def test_prodigys_estimate_pass_is_compiled_for_contiguous_parameters(monkeypatch):
    # The parity above holds whether the estimate's pass is compiled or runs as written; this checks
    # that it is compiled, for every parameter (all contiguous here)
    taken = []
    sums = fast.CompiledStep.sums

    def spy(self, method, state, numbers, grad, param):
        result = sums(self, method, state, numbers, grad, param)
        taken.append((param.numel(), result is not None))
        return result

    monkeypatch.setattr(fast.CompiledStep, 'sums', spy)
    params = [p.contiguous() for p in make_params(torch.float32)]
    run(lambda groups: Prodigy(groups), params, fast_path=True, steps=3)
    assert taken and all(compiled for _, compiled in taken)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty cache of compiled loops: none saved on disk (under `tmp_path`), none in the process."""
    monkeypatch.setattr(fast, 'CACHE_DIR', str(tmp_path))
    monkeypatch.setattr(fast, 'KERNELS', {})
    return tmp_path


def test_prodigys_estimate_pass_is_one_loop(cache):
    # Inductor, left to itself, stores sigma in a second loop after the loop that sums it, which
    # reads sigma and the gradient again (fast.py, "One pass")
    param = torch.randn(100, requires_grad=True)
    param.grad = torch.randn(100)
    Prodigy([{'params': [param], 'fast': True}]).step()
    # The pass's C++, compiled for one thread and for all: the only loops with sums (`tmp_acc`)
    sources = [path.read_text() for path in cache.glob('*/*.cpp')]
    sums = [source for source in sources if 'tmp_acc' in source]
    assert len(sums) == 2
    assert all(source.count('for(int64_t x0=') == 1 for source in sums)


def step_8bit(shapes, steps=3):
    """Parameters of `shapes` with 8-bit state, `steps` AdamW steps on the fast path, from fixed values."""
    generator = torch.Generator().manual_seed(0)
    params = [torch.randn(shape, generator=generator).requires_grad_() for shape in shapes]
    optimizer = AdamW([{'params': params, 'fast': True}], lr=1e-2, weight_decay=1e-2, state_dtype='8bit')
    for _ in range(steps):
        for param in params:
            param.grad = torch.randn(param.shape, generator=generator)
        optimizer.step()
    return params, optimizer


@pytest.mark.slow
def test_an_8bit_loop_is_one_pass_per_row_with_local_buffers(cache):
    # Inductor, left to itself, runs each part of the step as a loop over the whole tensor and
    # writes the new moments to buffers of its size (fast.py, "One pass over each row of 8-bit
    # state"), reads the numbers of the step in the loop, and moves the masks of its choices
    # between mask registers and vectors ("Choices made in mask registers")
    step_8bit([(64, 256)], steps=1)
    # The loops over 8-bit codes, compiled for one thread and for all
    sources = [path.read_text() for path in cache.glob('*/*.cpp')]
    loops = [source for source in sources if 'uint8_t* out_ptr' in source]
    assert len(loops) == 2
    for source in loops:
        # One loop over the rows, `ks0` of them, the new moments of a row in buffers of 256, and
        # no loop over all 256 ks0 elements, which would write a buffer of that size
        assert source.count('x0<static_cast<int64_t>(ks0); x0+=static_cast<int64_t>(1L)') == 1
        assert 'std::make_unique<float []>(256L)' in source
        assert '<static_cast<int64_t>(256L*ks0)' not in source
        # Each buffer of one row that is written is read, by a later loop over the row
        stored = set(re.findall(r'\.store\((local_buffer_data_\d+)', source))
        assert stored and stored == set(re.findall(r'loadu\((local_buffer_data_\d+)', source))
        # The numbers of the step read once, before the loops, not at index 0 in them
        assert '[static_cast<int64_t>(0L)]' not in source and '_value = ' in source
        if torch.backends.cpu.get_cpu_capability() == 'AVX512':
            # Each choice a comparison into a mask register and a blend that reads it, where
            # `at::vec` would spread the mask into a vector and compare it with all-ones again
            assert '_mm512_mask_blend_ps(_mm512_cmp_ps_mask(' in source
            assert '_mm512_mask_blend_epi32(_mm512_cmp_epi32_mask(' in source
            assert '_mm512_maskz_mov_epi32(_mm512_cmp_ps_mask(' in source
            assert '::blendv(' not in source


@pytest.mark.slow
def test_the_8bit_loop_per_row_computes_what_inductor_alone_does_to_the_bit(cache, monkeypatch):
    # Whole blocks: 20, 37 and 128 of them
    shapes = [(5, 1024), (37, 256), (64, 512)]
    runs = []
    for one_pass_per_row in (fast.one_pass_per_row, lambda blocks: contextlib.nullcontext()):
        monkeypatch.setattr(fast, 'one_pass_per_row', one_pass_per_row)
        # A cache of its own each, so that neither finds the other's loop
        monkeypatch.setattr(fast, 'CACHE_DIR', str(cache / str(len(runs))))
        monkeypatch.setattr(fast, 'KERNELS', {})
        runs.append(step_8bit(shapes))
    (params, optimizer), (alone, alone_optimizer) = runs
    for param, reference in zip(params, alone):
        assert torch.equal(param, reference)
        state, reference_state = optimizer.state[param], alone_optimizer.state[reference]
        assert state['exp_avg'].dtype == torch.uint8
        for key in ('exp_avg', 'exp_avg_sq', 'exp_avg_absmax', 'exp_avg_sq_absmax'):
            assert torch.equal(state[key], reference_state[key])

def test_a_group_of_mixed_dtypes_matches():
    params = make_params(torch.float32)
    params[1] = params[1].double()
    params[4] = params[4].double()
    make = lambda groups: Adam(groups, weight_decay=0.1)  # noqa: E731
    assert max_difference(run(make, params, True), run(make, params, False)) <= TOLERANCE[torch.float32]


class MaxMomentAdam(Adam):
    """
    A user's variant that overrides one hook: the second moment is the running maximum of $g^2$
    instead of its moving average.
    """

    def get_mv(self, state, numbers, grad):
        m, v = state['exp_avg'], state['exp_avg_sq']
        m.lerp_(grad, 1 - numbers.beta1)
        torch.maximum(v.mul_(numbers.beta2), grad * grad, out=v)
        return m, v


def test_a_subclass_that_overrides_a_hook_is_compiled_with_its_override():
    params = make_params(torch.float32)
    make = lambda groups: MaxMomentAdam(groups)  # noqa: E731
    compiled = run(make, params, fast_path=True)
    assert any(key[0][0] is MaxMomentAdam and not isinstance(kernel, str) for key, kernel in fast.KERNELS.items())
    assert max_difference(compiled, run(make, params, fast_path=False)) <= TOLERANCE[torch.float32]
    # The override is what ran: plain Adam ends elsewhere
    assert max_difference(compiled, run(lambda groups: Adam(groups), params, fast_path=True)) > 1e-3


def test_one_loop_serves_every_shape_in_a_group():
    before = len(fast.KERNELS)
    params = [torch.randn(shape, requires_grad=True) for shape in [(3, 4), (5,), (2, 3, 4), (), (100,)]]
    optimizer = Adamax([{'params': params, 'fast': True}], lr=1e-2, betas=(0.8, 0.9))
    for p in params:
        p.grad = torch.randn_like(p)
    optimizer.step()
    assert len(fast.KERNELS) - before <= 1
    assert all(len(optimizer.state[p]) == 3 for p in params)


def test_threads_taking_their_first_step_together_each_get_a_correct_result():
    class ThreadedAdam(Adam):
        """A class of its own, so that nothing is compiled for it before the threads start."""

    params = make_params(torch.float32)
    expected = run(lambda groups: ThreadedAdam(groups), params, fast_path=False, steps=5)
    results: Dict[int, List[torch.Tensor]] = {}
    barrier = threading.Barrier(3)

    def worker(i: int):
        barrier.wait()
        results[i] = run(lambda groups: ThreadedAdam(groups), params, fast_path=True, steps=5)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 3
    for result in results.values():
        assert max_difference(result, expected) <= TOLERANCE[torch.float32]
    kernels = [kernel for key, kernel in fast.KERNELS.items() if key[0][0] is ThreadedAdam]
    assert kernels and not any(isinstance(kernel, str) for kernel in kernels)


def test_a_step_that_reads_a_number_in_python_runs_as_written_with_a_warning():
    class PythonBranch(SGD):
        def step_param(self, state, numbers, grad, param):
            # A number read with Python: it cannot be an input of a recorded loop
            if float(numbers.lr) > 0:
                param.sub_(numbers.lr * grad)

    param = torch.ones(4, requires_grad=True)
    param.grad = torch.ones(4)
    optimizer = PythonBranch([{'params': [param], 'fast': True}], lr=0.5)
    with pytest.warns(fast.FastPathWarning, match='compiling the PythonBranch step .* failed: .* with Python'):
        optimizer.step()
    assert torch.equal(param.detach(), torch.full((4,), 0.5))
    # The branch is the code's own on every step: with lr < 0 it takes no step
    optimizer.param_groups[0]['lr'] = -0.5
    optimizer.step()
    assert torch.equal(param.detach(), torch.full((4,), 0.5))


def test_a_step_that_puts_a_tensor_into_the_state_runs_as_written_with_a_warning():
    class Remembers(SGD):
        def step_param(self, state, numbers, grad, param):
            # A loop changes its inputs in place; it cannot hand a new tensor back to the state
            state['last_grad'] = grad.clone()
            param.sub_(numbers.lr * grad)

    param = torch.ones(4, requires_grad=True)
    param.grad = torch.ones(4)
    optimizer = Remembers([{'params': [param], 'fast': True}], lr=0.5)
    with pytest.warns(fast.FastPathWarning, match='replaces or adds a state tensor'):
        optimizer.step()
    assert torch.equal(optimizer.state[param]['last_grad'], torch.ones(4))
    assert torch.equal(param.detach(), torch.full((4,), 0.5))


def test_the_step_that_creates_the_velocity_runs_as_written_and_the_next_is_compiled():
    class Velocity(SGD):
        pass

    param = torch.ones(4, requires_grad=True)
    param.grad = torch.ones(4)
    optimizer = Velocity([{'params': [param], 'fast': True}], lr=0.5, momentum=0.9)
    optimizer.step()
    assert not any(key[0][0] is Velocity for key in fast.KERNELS)
    assert torch.equal(optimizer.state[param]['momentum_buffer'], torch.ones(4))
    optimizer.step()
    assert any(key[0][0] is Velocity for key in fast.KERNELS)
    # $b_2 = 0.9 + 1$, $\theta_2 = 1 - 0.5 (1 + 1.9)$
    assert torch.allclose(param.detach(), torch.full((4,), 1 - 0.5 * 2.9))


@pytest.mark.parametrize('case', [(Adam, dict(weight_decay=0.1)), (SGD, dict(lr=1e-2, momentum=0.9)),
                                  (AdEMAMix, {})], ids=case_id)
def test_a_channels_last_weight_is_compiled_in_memory_order(case, monkeypatch):
    cls, kwargs = case
    generator = torch.Generator().manual_seed(0)
    weight = torch.randn(8, 6, 3, 3, generator=generator).to(memory_format=torch.channels_last)
    assert not weight.is_contiguous()
    sizes = as_written_sizes(monkeypatch, cls)
    make = lambda groups: cls(groups, **kwargs)  # noqa: E731
    # (`run` takes the gradient of the last parameter away on every third step)
    params = [weight, torch.randn(5, generator=generator)]
    written = run(make, params, fast_path=False, steps=20)
    assert sizes.count(weight.numel()) == 20
    sizes.clear()
    compiled = run(make, params, fast_path=True, steps=20)
    # SGD's first step makes its velocity, as written; every other step is the loop's
    assert sizes.count(weight.numel()) == (1 if cls is SGD else 0)
    assert compiled[0].stride() == weight.stride()
    assert max_difference(written, params) > 1e-3
    assert max_difference(compiled, written) <= TOLERANCE[torch.float32]


@pytest.mark.parametrize('case', ['gradient', 'state', '8bit'])
def test_a_weight_in_channels_last_that_the_loop_cannot_take_runs_as_written_with_a_warning(case):
    class LayoutProbe(Adam):
        pass

    # (64 x 8 x 3 x 3: large enough for 8-bit state)
    weight = torch.ones(64, 8, 3, 3).to(memory_format=torch.channels_last).requires_grad_()
    # A gradient laid out otherwise; or one like the weight, with state laid out otherwise, or in
    # blocks of the elements' order
    weight.grad = torch.ones(64, 8, 3, 3) if case == 'gradient' else torch.ones_like(weight)
    optimizer = LayoutProbe([{'params': [weight], 'fast': True}], lr=0.5, **({'state_dtype': '8bit'} if case == '8bit' else {}))
    why = {'gradient': 'gradient is laid out otherwise', 'state': "state 'exp_avg' laid out unlike its parameter",
           '8bit': "in blocks of the elements' order"}[case]
    if case == 'state':
        optimizer.state[weight] = dict(step=0, exp_avg=torch.zeros(64, 8, 3, 3), exp_avg_sq=torch.zeros_like(weight))
    with pytest.warns(fast.FastPathWarning, match=why):
        optimizer.step()
    assert torch.allclose(weight.detach(), torch.full((64, 8, 3, 3), 0.5))


def test_bfloat16_state_of_a_channels_last_weight_draws_the_same_bits_on_both_paths(monkeypatch):
    generator = torch.Generator().manual_seed(0)
    start = torch.randn(16, 12, 3, 3, generator=generator).to(memory_format=torch.channels_last)
    grads = [torch.randn(16, 12, 3, 3, generator=generator).to(memory_format=torch.channels_last) for _ in range(6)]
    sizes = as_written_sizes(monkeypatch, AdamW)
    runs = []
    for fast_path in (True, False):
        weight = start.clone().requires_grad_()
        optimizer = AdamW([{'params': [weight], 'fast': fast_path}], lr=1e-2, state_dtype=torch.bfloat16)
        for grad in grads:
            weight.grad = grad.clone()
            optimizer.step()
        runs.append((weight.detach(), optimizer.state[weight]))
    # Compiled on the first run, as written on the second
    assert sizes == [start.numel()] * 6
    (compiled, compiled_state), (written, written_state) = runs
    assert compiled_state['exp_avg'].dtype == torch.bfloat16 and compiled_state['exp_avg'].stride() == start.stride()
    assert (compiled - written).abs().max() < 1e-5
    for key in ('exp_avg', 'exp_avg_sq'):
        # The same bits: roundings differ only where float32 arithmetic in another order crossed a
        # threshold (with the bits of another order, about half of them would)
        assert (compiled_state[key] != written_state[key]).float().mean() < 1e-2


def test_unsupported_groups_warn_and_run_as_written():
    param = torch.ones(4, dtype=torch.bfloat16, requires_grad=True)
    param.grad = torch.ones(4, dtype=torch.bfloat16)
    with pytest.warns(fast.FastPathWarning, match='bfloat16'):
        Adagrad([{'params': [param], 'fast': True}]).step()
    assert param.detach().float().lt(1).all()


def test_complex_parameters_run_as_written_with_a_warning():
    # Their real views would compile, but the group is checked as it is given: complex runs as written
    param = torch.ones(4, dtype=torch.complex64, requires_grad=True)
    param.grad = torch.ones(4, dtype=torch.complex64)
    with pytest.warns(fast.FastPathWarning, match='complex64'):
        Adam([{'params': [param], 'fast': True}], amsgrad=True).step()
    assert torch.view_as_real(param.detach()).lt(1).all()


def test_tensor_hyperparameters_compile_as_numbers():
    params = make_params(torch.float32)
    # 1/64 is the same number as a float32 tensor and as a float
    as_float = run(lambda groups: Adam(groups, lr=1 / 64, amsgrad=True), params, fast_path=True, steps=20)
    as_tensor = run(lambda groups: Adam(groups, lr=torch.tensor([1 / 64]), amsgrad=True), params, fast_path=True, steps=20)
    assert max_difference(as_tensor, as_float) == 0


def test_no_compiler_means_the_code_as_written():
    class Uncompiled(Adadelta):
        """A step that no earlier run can have compiled and saved: its constant is new every run."""
        constant = 1 + random.random()

        def step_param(self, state, numbers, grad, param):
            super().step_param(state, numbers, grad * self.constant, param)

    param = torch.ones(4, requires_grad=True)
    param.grad = torch.ones(4)
    with torch._inductor.config.patch({'cpp.cxx': ('no-such-compiler-labml',)}):
        with pytest.warns(fast.FastPathWarning, match='no C.. compiler'):
            Uncompiled([{'params': [param], 'fast': True}]).step()
    assert param.detach().lt(1).all()


def test_a_saved_loop_is_loaded_without_the_compiler(cache, monkeypatch):
    class Saved(Adagrad):
        constant = 1 + random.random()

        def step_param(self, state, numbers, grad, param):
            super().step_param(state, numbers, grad * self.constant, param)

    param = torch.ones(4, requires_grad=True)
    param.grad = torch.ones(4)
    Saved([{'params': [param], 'fast': True}]).step()
    # A new process would start with no compiled kernels: forget them, and take the compiler away
    monkeypatch.setattr(fast, 'KERNELS', {})
    expected = param.detach().clone().requires_grad_()
    expected.grad = torch.ones(4)
    Saved([{'params': [expected], 'fast': False}]).step()
    with torch._inductor.config.patch({'cpp.cxx': ('no-such-compiler-labml',)}):
        Saved([{'params': [param], 'fast': True}]).step()
    assert torch.equal(param.detach(), expected.detach())
    assert sorted(path.suffix for path in (cache / 'labml_opt_kernels').iterdir()) == ['.json', '.json', '.so', '.so']


def test_a_loop_saved_for_one_thread_is_not_loaded_for_two(cache, monkeypatch):
    # A loop for all threads compiled while torch had one is a loop for one thread
    threads = torch.get_num_threads()
    param = torch.ones(4, requires_grad=True)
    param.grad = torch.ones(4)
    try:
        for count in (1, 2):
            torch.set_num_threads(count)
            monkeypatch.setattr(fast, 'KERNELS', {})
            Adamax([{'params': [param], 'fast': True}]).step()
    finally:
        torch.set_num_threads(threads)
    # The loop for one thread, and one for all threads for each count
    assert len(list((cache / 'labml_opt_kernels').glob('*.so'))) == 3


def test_a_damaged_saved_loop_is_compiled_again(cache, monkeypatch):
    param = torch.ones(4, requires_grad=True)
    param.grad = torch.ones(4)
    Adamax([{'params': [param], 'fast': True}]).step()
    for path in (cache / 'labml_opt_kernels').iterdir():
        path.write_text('not a plan' if path.suffix == '.json' else 'not a library')
    monkeypatch.setattr(fast, 'KERNELS', {})
    Adamax([{'params': [param], 'fast': True}]).step()
    assert fast.KERNELS and all(not isinstance(kernel, str) for kernel in fast.KERNELS.values())


@pytest.mark.parametrize('extra', [['table', 99], ['table', -1], ['scratch', 'save', []], ['scratch', 'float32', ['x']],
                                   ['file', '/etc/passwd']])
def test_a_saved_plan_names_only_our_tables_and_tensors_to_make(cache, extra):
    # A saved plan's extras say what to pass the loop besides the inputs: one of our tables, or a
    # tensor of a torch dtype and integer sizes to make. A plan that names anything else is not loaded.
    param = torch.ones(4, requires_grad=True)
    param.grad = torch.ones(4)
    Adamax([{'params': [param], 'fast': True}]).step()
    saved = fast.SavedKernels(str(cache), '', [])
    plans = sorted((cache / 'labml_opt_kernels').glob('*.json'))
    assert plans
    for plan in plans:
        saved.plan, saved.library = str(plan), str(plan.with_suffix('.so'))
        good = json.loads(plan.read_text())
        assert saved.load() is not None
        plan.write_text(json.dumps({'plan': good['plan'] + [-2], 'extras': [extra]}))
        assert saved.load() is None


def test_small_groups_compile_nothing_and_large_ones_do(monkeypatch):
    class Counted(RMSprop):
        pass

    monkeypatch.setattr(fast, 'MIN_NUMEL', 100)
    small = torch.zeros(99, requires_grad=True)
    small.grad = torch.ones(99)
    Counted([small]).step()
    assert not any(key[0][0] is Counted for key in fast.KERNELS)
    large = torch.zeros(100, requires_grad=True)
    large.grad = torch.ones(100)
    Counted([large]).step()
    assert any(key[0][0] is Counted for key in fast.KERNELS)


def test_fast_must_be_a_boolean_or_none():
    param = torch.zeros(3, requires_grad=True)
    param.grad = torch.ones(3)
    with pytest.raises(ValueError, match="Invalid fast 'yes' for Adam"):
        Adam([{'params': [param], 'fast': 'yes'}]).step()


def test_a_slow_compile_says_so_once(monkeypatch, caplog):
    class Announced(Adagrad):
        pass

    monkeypatch.setattr(fast, 'SLOW_COMPILE', 0.)
    param = torch.zeros(3, requires_grad=True)
    param.grad = torch.ones(3)
    with caplog.at_level(logging.WARNING, logger='labml_opt.fast'):
        optimizer = Announced([{'params': [param], 'fast': True}])
        optimizer.step()
        optimizer.step()
    messages = [record.getMessage() for record in caplog.records if 'compiling' in record.getMessage()]
    assert messages == ['labml_opt: compiling the Announced step for torch.float32 (once; cached on disk)']


def test_the_users_inductor_cache_setting_is_left_alone(monkeypatch):
    class Cached(Adadelta):
        pass

    monkeypatch.setenv('TORCHINDUCTOR_CACHE_DIR', '/tmp/the-users-own-cache')
    param = torch.zeros(3, requires_grad=True)
    param.grad = torch.ones(3)
    Cached([{'params': [param], 'fast': True}]).step()
    assert os.environ['TORCHINDUCTOR_CACHE_DIR'] == '/tmp/the-users-own-cache'


def test_loading_a_state_mid_run_is_followed_by_the_compiled_step():
    # The compiled step keeps each parameter's plan from step to step; a loaded state, or a state
    # tensor replaced by hand, must replace it.
    def steps(fast_path: bool):
        param = torch.ones(5, requires_grad=True)
        optimizer = Adam([{'params': [param], 'fast': fast_path}], lr=0.1)
        trace = []
        for i in range(12):
            if i == 4:
                saved = copy.deepcopy(optimizer.state_dict())
            if i == 8:
                optimizer.load_state_dict(saved)
            if i == 10:
                optimizer.state[param]['exp_avg'] = torch.zeros(5)
            param.grad = torch.full((5,), float(i % 3) - 0.5)
            optimizer.step()
            trace.append(param.detach().clone())
        return torch.stack(trace)

    assert torch.allclose(steps(True), steps(False), atol=1e-7)


def change_one_thing(step: int, optimizer: torch.optim.Optimizer, params: List[torch.Tensor], saved: Dict[str, Any]):
    """
    On some steps, change one thing that the steady step must see, before the gradients are set;
    each is followed by steps with nothing changed, on which the steady step can take over again.
    """
    group, states = optimizer.param_groups[0], optimizer.state
    if step == 4:
        group['lr'] *= 0.5
    if step == 7:
        # A state tensor replaced by hand
        state = states[params[0]]
        key = next(key for key, value in state.items() if isinstance(value, torch.Tensor))
        state[key] = state[key] * 0.5
    if step == 10:
        # A whole state replaced by hand, the new one with other values
        states[params[1]] = {key: value * 0.5 if isinstance(value, torch.Tensor) else value
                             for key, value in states[params[1]].items()}
    if step == 13:
        optimizer.load_state_dict(saved['state'])
    if step == 19 and 'step' in states[params[2]]:
        # One parameter's counter set back by hand: its numbers are no longer the others'
        states[params[2]]['step'] = 1


def steady_run(make: Callable[[List[Dict[str, Any]]], torch.optim.Optimizer], fast_path: bool,
               steps: int = 26) -> List[torch.Tensor]:
    """
    Step a group of contiguous parameters that all have gradients, as in training a plain model, with
    `change_one_thing` on some steps; one step has a transposed gradient, and on another one
    parameter has none. Returns the parameters after every step, stacked.
    """
    generator = torch.Generator().manual_seed(0)
    # Small ones, one large enough for the loop that runs on every thread, and one in `float64`,
    # which has loops of its own
    shapes = [(6, 5), (7,), (fast.PARALLEL_NUMEL + 3,), (1,), (5,)]
    params = [torch.randn(shape, generator=generator).requires_grad_() for shape in shapes]
    params[4] = params[4].detach().double().requires_grad_()
    optimizer = make([{'params': params, 'fast': fast_path}])
    saved: Dict[str, Any] = {}
    trace = []
    for step in range(steps):
        change_one_thing(step, optimizer, params, saved)
        for p in params:
            p.grad = torch.randn(p.shape, generator=generator, dtype=p.dtype) + 0.1 * p.detach()
        if step == 16:
            # The same numbers in another layout: the loop reads memory in order, so it must not take it
            params[0].grad = params[0].grad.t().contiguous().t()
        if step == 22:
            params[3].grad = None
        if step == 16:
            # (that gradient, laid out unlike its parameter, runs as written, with a warning)
            with warnings.catch_warnings():
                warnings.simplefilter('ignore', fast.FastPathWarning)
                optimizer.step()
        else:
            optimizer.step()
        if step == 2:
            saved['state'] = copy.deepcopy(optimizer.state_dict())
        trace.append(torch.cat([p.detach().flatten() for p in params]))
    return trace


@pytest.mark.parametrize('case', [(Adam, dict(weight_decay=0.1)), (RAdam, {}), (SGD, dict(lr=1e-2, momentum=0.9))],
                         ids=case_id)
def test_the_steady_step_sees_every_change_that_the_step_of_each_parameter_sees(case, monkeypatch):
    # RAdam's step changes its flag, rectified or not, at its sixth step; SGD's first creates its velocity
    cls, kwargs = case
    make = lambda groups: cls(groups, **kwargs)  # noqa: E731
    steady_steps = []
    step_all = fast.CompiledStep.step_all
    monkeypatch.setattr(fast.CompiledStep, 'step_all', lambda self, group: steady_steps.append(step_all(self, group))
                        or steady_steps[-1])
    compiled = steady_run(make, fast_path=True)
    # The steady step ran, on most steps
    assert sum(steady_steps) >= 10
    written = steady_run(make, fast_path=False)
    for step, (a, b) in enumerate(zip(compiled, written)):
        assert (a - b).abs().max().item() <= TOLERANCE[torch.float32], f'after step {step}'


def test_the_plan_of_a_channels_last_weight_holds_only_while_its_layout_does(monkeypatch):
    steady_steps = []
    step_all = fast.CompiledStep.step_all
    monkeypatch.setattr(fast.CompiledStep, 'step_all', lambda self, group: steady_steps.append(step_all(self, group))
                        or steady_steps[-1])

    def steps(fast_path: bool) -> torch.Tensor:
        generator = torch.Generator().manual_seed(0)
        weight = torch.randn(8, 6, 3, 3, generator=generator).to(memory_format=torch.channels_last).requires_grad_()
        bias = torch.randn(8, generator=generator).requires_grad_()
        optimizer = Adam([{'params': [weight, bias], 'fast': fast_path}], lr=1e-2)
        trace = []
        for step in range(14):
            if step == 10:
                # The weight laid out anew, row by row, while its state stays in channels_last
                weight.data = weight.data.contiguous()
            grad = torch.randn(weight.shape, generator=generator)
            # On step 6 a gradient with the same values in another layout, which the loop must not
            # read in memory order
            weight.grad = grad if step == 6 else torch.empty_like(weight).copy_(grad)
            bias.grad = torch.randn(8, generator=generator)
            with warnings.catch_warnings():
                warnings.simplefilter('ignore', fast.FastPathWarning)
                optimizer.step()
            trace.append(torch.cat([weight.detach().flatten(), bias.detach()]))
        return torch.stack(trace)

    compiled, written = steps(True), steps(False)
    # The group took its steady step between the changes
    assert steady_steps.count(True) >= 6
    assert (compiled - written).abs().max() <= TOLERANCE[torch.float32]


def test_the_compiled_step_keeps_no_gradient_alive():
    # A plan keeps its arguments from step to step; a gradient the user has let go of must be freed.
    param = torch.ones(5, requires_grad=True)
    optimizer = Adam([{'params': [param], 'fast': True}])
    for _ in range(3):
        param.grad = torch.ones(5)
        optimizer.step()
        gradient = weakref.ref(param.grad)
        optimizer.zero_grad(set_to_none=True)
        gc.collect()
        assert gradient() is None


# Groups of at least MIN_NUMEL elements whose updates are not element-wise, as (use_muon, shape) for
# each group: Muon's is a matrix polynomial, Adafactor's needs row and column means. A tall Muon
# matrix of 2^16 x 64 keeps the Newton-Schulz iteration cheap.
NOT_ELEMENTWISE = {
    'Muon': (lambda groups: Muon(groups, lr=1e-2), [(None, (1 << 16, 64))]),
    'Adafactor': (lambda groups: Adafactor(groups, weight_decay=0.1), [(None, (2048, 2048)), (None, (1 << 22,))]),
    # The AdamW half is element-wise, and large: it takes the fast path, and the Muon half does not
    'MuonWithAuxAdam': (MuonWithAuxAdam, [(True, (1 << 16, 64)), (False, (1 << 22,))]),
}


def large_steps(make, groups, fast_path, steps=2):
    """`steps` steps of `make` on large parameters, `fast` left to the size unless `fast_path` is given."""
    generator = torch.Generator().manual_seed(0)
    params = [torch.randn(shape, generator=generator).requires_grad_() for _, shape in groups]
    options = {} if fast_path is None else {'fast': fast_path}
    optimizer = make([dict({'params': [p]}, **options, **({} if use_muon is None else {'use_muon': use_muon}))
                      for p, (use_muon, _) in zip(params, groups)])
    for _ in range(steps):
        for p in params:
            p.grad = torch.randn(p.shape, generator=generator)
        optimizer.step()
    return [p.detach() for p in params]


@pytest.mark.parametrize('name', NOT_ELEMENTWISE)
def test_a_large_group_whose_update_is_not_elementwise_runs_as_written_without_a_warning(name):
    # Without the opt-out the flat loop would be recorded on 1-D stand-ins, where a matrix product is
    # a dot product; the default step must be the code as written, and say nothing (warnings are errors here).
    make, groups = NOT_ELEMENTWISE[name]
    assert all(math.prod(shape) >= fast.MIN_NUMEL for _, shape in groups)
    default, written = large_steps(make, groups, None), large_steps(make, groups, False)
    for (use_muon, _), a, b in zip(groups, default, written):
        if use_muon is False:
            # AdamW's half: compiled, within the compiled path's tolerance
            assert max_difference([a], [b]) <= TOLERANCE[torch.float32]
        else:
            assert torch.equal(a, b)
    if name == 'MuonWithAuxAdam':
        assert any(key[0][0] is MuonWithAuxAdam and not isinstance(kernel, str) for key, kernel in fast.KERNELS.items())


def test_asking_for_the_fast_path_on_an_update_that_is_not_elementwise_says_why(monkeypatch):
    monkeypatch.setattr(fast, '_warned', set())
    param = torch.zeros(3, 2, requires_grad=True)
    param.grad = torch.ones(3, 2)
    optimizer = Muon([{'params': [param], 'fast': True}], lr=0.1)
    with pytest.warns(fast.FastPathWarning, match='Muon: using the code as written, not the fast path: '
                                                  'its update is not element-wise'):
        optimizer.step()
    assert param.detach().lt(0).all()
