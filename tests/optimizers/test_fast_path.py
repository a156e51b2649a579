"""
The fast path (labml_opt/fast.py) against the reference path of the same optimizer: parity over
200 steps for each flag combination, the dispatch rules, the fallbacks and their warnings, and
that a fast step allocates no full-size temporaries.

Compiling is the cost here: the flags that are numbers share one compiled version per group
structure, so most cases below reuse what an earlier case compiled.
"""

import os
import resource

import pytest
import torch

import labml_opt.fast as fast
from labml_opt import (SGD, AdaBelief, Adadelta, Adagrad, Adam, Adamax, AdamW, AdamWarmup, AMSGrad, NAdam,
                       RAdam, RMSprop, SharedAdam, Sophia, WeightDecay)
from tests.optimizers.parity import max_param_difference

pytestmark = pytest.mark.filterwarnings('error::labml_opt.fast.FastPathWarning')


@pytest.fixture(autouse=True)
def fresh_warnings(monkeypatch):
    """Each test sees the once-per-reason warnings afresh."""
    monkeypatch.setattr(fast, '_warned', set())


def with_fast(groups, value):
    return [dict(group, fast=value) for group in groups]


def fast_vs_reference(cls, kwargs, second_group, **options):
    """max |fast - reference| after 200 steps, two groups, lr halved half way."""
    return max_param_difference(lambda groups: cls(with_fast(groups, True), **kwargs),
                                lambda groups: cls(with_fast(groups, False), **kwargs),
                                second_group=second_group, **options)


WEIGHT_DECAY = {
    'l2': lambda: 1e-2,
    'decoupled': lambda: WeightDecay(0.1, weight_decouple=True),
    'absolute': lambda: WeightDecay(1e-3, weight_decouple=True, absolute=True),
}


@pytest.mark.parametrize('decay', sorted(WEIGHT_DECAY))
@pytest.mark.parametrize('optimized_update', [True, False])
@pytest.mark.parametrize('maximize', [False, True])
def test_fast_adam_matches_reference_after_200_steps(decay, optimized_update, maximize):
    kwargs = dict(lr=1e-2, betas=(0.8, 0.99), weight_decay=WEIGHT_DECAY[decay](),
                  optimized_update=optimized_update, maximize=maximize)
    second = dict(lr=3e-3, weight_decay=0., eps=1e-6, betas=(0.9, 0.95))
    assert fast_vs_reference(Adam, kwargs, second) <= 1e-6


@pytest.mark.parametrize('optimized_update', [True, False])
def test_fast_adam_keeps_rescaled_eps_with_tiny_gradients(optimized_update):
    kwargs = dict(lr=1e-2, eps=1e-6, optimized_update=optimized_update)
    assert fast_vs_reference(Adam, kwargs, dict(eps=1e-5), grad_scale=1e-7) <= 1e-6


CASES = [
    (AdamW, dict(lr=1e-2), dict(lr=3e-3, weight_decay=0.3)),
    (AMSGrad, dict(lr=1e-2, weight_decay=1e-2), dict(lr=3e-3, amsgrad=False)),
    (AMSGrad, dict(lr=1e-2, optimized_update=False, maximize=True), dict(lr=3e-3)),
    (RAdam, dict(lr=1e-2, weight_decay=1e-2), dict(lr=3e-3, weight_decay=0.)),
    (RAdam, dict(lr=1e-2, optimized_update=False, amsgrad=True, maximize=True), dict(lr=3e-3)),
    (RAdam, dict(lr=1e-2, decoupled_weight_decay=True, weight_decay=0.1), dict(lr=3e-3, amsgrad=True)),
    (AdaBelief, dict(lr=1e-2, weight_decay=0.1), dict(lr=3e-3, eps=1e-12)),
    (AdaBelief, dict(lr=1e-2, rectify=False, amsgrad=True, optimized_update=False), dict(lr=3e-3)),
    (AdaBelief, dict(lr=1e-2, rectify=False, decoupled_weight_decay=False, weight_decay=1e-2,
                     maximize=True), dict(lr=3e-3, amsgrad=True)),
    (AdamWarmup, dict(lr=1e-2), dict(lr=3e-3)),
    # A moving-average weight 1 - beta of 1/2 or more: lerp's other formula
    (Adam, dict(lr=1e-2, betas=(0.3, 0.9)), dict(lr=3e-3, betas=(0.5, 0.99))),
    (RMSprop, dict(lr=1e-2, alpha=0.45, centered=True), dict(lr=3e-3, alpha=0.5, centered=True)),
    (SharedAdam, dict(lr=1e-2, weight_decay=1e-2), dict(lr=3e-3)),
    (SharedAdam, dict(lr=1e-2, optimized_update=False, maximize=True, lock=True),
     dict(lr=3e-3, weight_decay=0.1)),
    (SGD, dict(lr=1e-2), dict(lr=3e-3, weight_decay=1e-2)),
    (SGD, dict(lr=1e-2, momentum=0.9, dampening=0.1, weight_decay=1e-2), dict(lr=3e-3, momentum=0.5)),
    (SGD, dict(lr=1e-3, momentum=0.9, nesterov=True, maximize=True), dict(lr=3e-3)),
    (SGD, dict(lr=1e-2, momentum=0.9, weight_decay=WeightDecay(0.1)), dict(lr=3e-3)),
    (Adagrad, dict(lr=1e-2, lr_decay=1e-2, weight_decay=1e-2), dict(lr=3e-3, eps=1e-6)),
    (Adagrad, dict(lr=1e-2, initial_accumulator_value=0.1, maximize=True), dict(lr=3e-3)),
    (RMSprop, dict(lr=1e-2, momentum=0.9, centered=True, weight_decay=1e-2), dict(lr=3e-3, momentum=0.)),
    (RMSprop, dict(lr=1e-2, maximize=True, weight_decay=WeightDecay(0.1)), dict(lr=3e-3, centered=True)),
    (NAdam, dict(lr=1e-2, weight_decay=1e-2), dict(lr=3e-3, momentum_decay=1e-2)),
    (NAdam, dict(lr=1e-2, optimized_update=False, decoupled_weight_decay=True, weight_decay=0.1,
                 maximize=True), dict(lr=3e-3)),
    (Adamax, dict(lr=1e-2, weight_decay=1e-2), dict(lr=3e-3, eps=1e-3)),
    (Adamax, dict(lr=1e-2, maximize=True, weight_decay=WeightDecay(0.1)), dict(lr=3e-3)),
    (Adadelta, dict(lr=1.0, weight_decay=1e-2), dict(lr=0.5, rho=0.5)),
    (Adadelta, dict(lr=1.0, maximize=True, weight_decay=WeightDecay(0.1)), dict(lr=0.5, eps=1e-3)),
]


@pytest.mark.parametrize('cls, kwargs, second', CASES,
                         ids=[f'{cls.__name__}-{i}' for i, (cls, _, _) in enumerate(CASES)])
def test_fast_update_matches_reference_after_200_steps(cls, kwargs, second):
    assert fast_vs_reference(cls, kwargs, second) <= 1e-6


def test_fast_path_handles_mixed_dtypes_in_one_group():
    torch.manual_seed(0)
    shapes = [(5, 3), (), (7,)]
    dtypes = [torch.float32, torch.float64, torch.float64]
    initial = [torch.randn(shape, dtype=dtype) for shape, dtype in zip(shapes, dtypes)]
    runs = []
    for value in (True, False):
        params = [p.clone().requires_grad_() for p in initial]
        optimizer = AMSGrad([{'params': params, 'fast': value}], lr=1e-2, weight_decay=1e-2)
        generator = torch.Generator().manual_seed(1)
        for _ in range(200):
            for p in params:
                p.grad = torch.randn(p.shape, generator=generator, dtype=p.dtype) + 0.1 * p.detach()
            optimizer.step()
        runs.append(params)
    for ours, reference in zip(*runs):
        tolerance = 1e-6 if ours.dtype == torch.float32 else 1e-12
        assert ours.dtype == reference.dtype
        assert (ours - reference).abs().max().item() <= tolerance


def test_switching_paths_mid_run_continues_the_same_state():
    # The two paths share the state layout, so a run may move between them at any step.
    def make(groups):
        optimizer = SGD(with_fast(groups, False), lr=1e-2, momentum=0.9)
        original = optimizer.step

        def step():
            for group in optimizer.param_groups:
                group['fast'] = not group['fast']
            return original()
        optimizer.step = step
        return optimizer
    difference = max_param_difference(make, lambda groups: SGD(with_fast(groups, False), lr=1e-2, momentum=0.9),
                                      second_group=dict(lr=3e-3))
    assert difference <= 1e-6


def one_group(cls=Adam, numel=10, fast_value=True, dtype=torch.float32, **kwargs):
    param = torch.randn(numel, dtype=dtype, requires_grad=True)
    param.grad = torch.randn(numel, dtype=dtype)
    return param, cls([{'params': [param], 'fast': fast_value}], **kwargs)


def test_fast_step_runs_instead_of_the_reference(monkeypatch):
    param, optimizer = one_group(lr=1e-2)

    def reference_step(*args):
        raise AssertionError('the reference step_param ran')
    monkeypatch.setattr(optimizer, 'step_param', reference_step)
    optimizer.step()
    assert optimizer.state[param]['step'] == 1


def test_adam_state_is_two_tensors_of_the_parameter_size():
    param, optimizer = one_group(lr=1e-2)
    optimizer.step()
    state = optimizer.state[param]
    assert sorted(state) == ['exp_avg', 'exp_avg_sq', 'step']
    for key in ('exp_avg', 'exp_avg_sq'):
        assert state[key].shape == param.shape and state[key].dtype == torch.float32


def test_small_groups_take_the_reference_path_unless_asked():
    param, optimizer = one_group(fast_value=None, lr=1e-2)
    assert not fast.fast_group_step(optimizer, optimizer.param_groups[0])
    optimizer.param_groups[0]['fast'] = True
    assert fast.fast_group_step(optimizer, optimizer.param_groups[0])


def test_compiles_are_cached_in_our_directory_without_changing_the_users_variable(monkeypatch, tmp_path):
    monkeypatch.setenv('TORCHINDUCTOR_CACHE_DIR', str(tmp_path / 'users'))
    monkeypatch.setattr(fast, 'CACHE_DIR', str(tmp_path / 'ours'))
    # 13 elements: a structure that no other test compiles
    param, optimizer = one_group(numel=13, lr=1e-2)
    optimizer.step()
    assert optimizer.state[param]['step'] == 1
    # Our compile went to our directory, and the user's setting is back for their own compiles
    assert list((tmp_path / 'ours').glob('fxgraph/*'))
    assert not list((tmp_path / 'users').rglob('*'))
    assert os.environ['TORCHINDUCTOR_CACHE_DIR'] == str(tmp_path / 'users')


def test_invalid_fast_option_is_rejected():
    param, optimizer = one_group(fast_value='yes', lr=1e-2)
    with pytest.raises(ValueError, match="Invalid fast 'yes' for Adam"):
        optimizer.step()


def test_lr_and_betas_changes_do_not_recompile(monkeypatch):
    param, optimizer = one_group(lr=1e-2)
    optimizer.step()
    update = fast.update_for(optimizer)

    def no_compiling(*args):
        raise AssertionError('compiled again')
    monkeypatch.setattr(update, 'compile', no_compiling)
    for lr, betas, eps in [(1e-3, (0.6, 0.9), 1e-6), (0.3, (0.99, 0.0), 0.)]:
        optimizer.param_groups[0].update(lr=lr, betas=betas, eps=eps)
        optimizer.step()
    assert optimizer.state[param]['step'] == 3


def test_a_moving_average_weight_of_one_half_or_more_compiles_lerps_other_formula_once(monkeypatch):
    param, optimizer = one_group(numel=11, lr=1e-2)
    optimizer.step()
    update = fast.update_for(optimizer)
    compiled = []
    real_compile = update.compile

    def counting(*args):
        compiled.append(args)
        return real_compile(*args)
    monkeypatch.setattr(update, 'compile', counting)
    for beta1 in (0.5, 0.0, 0.9, 0.2):
        optimizer.param_groups[0]['betas'] = (beta1, 0.999)
        optimizer.step()
    # 1 - beta1 >= 1/2 is one more version, compiled on its first step and reused after
    assert len(compiled) == 1


def reference_after_one_step(cls, param, **kwargs):
    copy = param.detach().clone().requires_grad_()
    copy.grad = param.grad.clone()
    cls([{'params': [copy], 'fast': False}], **kwargs).step()
    return copy


def test_unusual_dtype_falls_back_with_one_warning():
    param, optimizer = one_group(dtype=torch.bfloat16, lr=1e-2)
    expected = reference_after_one_step(Adam, param, lr=1e-2)
    with pytest.warns(fast.FastPathWarning, match='bfloat16'):
        optimizer.step()
    assert torch.equal(param, expected)
    # Said once: the module-level filter turns a second warning into an error
    optimizer.step()
    assert optimizer.state[param]['step'] == 2


def test_differentiable_group_falls_back_with_a_warning():
    param, optimizer = one_group(lr=1e-2)
    optimizer.param_groups[0]['differentiable'] = True
    expected = reference_after_one_step(Adam, param, lr=1e-2)
    with pytest.warns(fast.FastPathWarning, match='differentiable'):
        optimizer.step()
    assert torch.equal(param, expected)


def test_missing_compiler_falls_back_with_a_warning():
    param, optimizer = one_group(lr=1e-2)
    expected = reference_after_one_step(Adam, param, lr=1e-2)
    with torch._inductor.config.patch({'cpp.cxx': ('no-such-compiler-xyz',)}):
        with pytest.warns(fast.FastPathWarning, match='no C.. compiler'):
            optimizer.step()
    assert torch.equal(param, expected)


@pytest.mark.parametrize('cls, kwargs', [(Adam, dict(lr=1e-2)), (NAdam, dict(lr=1e-2)),
                                         (SGD, dict(lr=1e-2, momentum=0.9)), (SharedAdam, dict(lr=1e-2))])
def test_failed_compile_undoes_the_state_and_falls_back(monkeypatch, cls, kwargs):
    update = fast.update_for(cls([torch.zeros(1, requires_grad=True)], **kwargs))

    def failing(*args, **kwargs):
        raise RuntimeError('simulated compiler failure')
    # Inductor fails after make_fx has traced the update, and nothing has been compiled yet
    monkeypatch.setattr(torch._inductor, 'standalone_compile', failing)
    monkeypatch.setattr(update, 'compiled', {})
    monkeypatch.setattr(update, 'broken', None)
    param, optimizer = one_group(cls, **kwargs)
    reference_param = param.detach().clone().requires_grad_()
    reference_param.grad = param.grad.clone()
    reference = cls([{'params': [reference_param], 'fast': False}], **kwargs)
    reference.step()
    with pytest.warns(fast.FastPathWarning, match='simulated compiler failure'):
        optimizer.step()
    assert torch.equal(param, reference_param)
    ours, theirs = optimizer.state[param], reference.state[reference_param]
    assert sorted(ours) == sorted(theirs)
    for key in ours:
        if isinstance(ours[key], torch.Tensor):
            assert torch.equal(ours[key], theirs[key])
        else:
            assert ours[key] == theirs[key]


class CountingLock:
    """A lock that counts how often it is held."""

    def __init__(self):
        self.held = 0

    def __enter__(self):
        self.held += 1

    def __exit__(self, *args):
        pass


def test_shared_adam_fast_path_counts_the_shared_step_under_its_lock():
    lock = CountingLock()
    params = [torch.randn(4, 3, requires_grad=True), torch.randn(5, requires_grad=True)]
    optimizer = SharedAdam([{'params': params, 'fast': True}], lr=1e-2, lock=lock)
    for _ in range(3):
        for p in params:
            p.grad = torch.randn(p.shape)
        optimizer.step()
    # One hold per step for the whole group, and the shared 0-d step tensors counted in place
    assert lock.held == 3
    for p in params:
        step = optimizer.state[p]['step']
        assert step.dtype == torch.int64 and step.dim() == 0 and step.is_shared() and step.item() == 3


def test_a_new_gradient_layout_compiles_again_and_stays_exact():
    # The compiled loop is made for each tensor's strides: a transposed gradient is another version
    torch.manual_seed(0)
    initial = torch.randn(6, 4)
    update = fast.update_for(Adam([torch.zeros(1, requires_grad=True)]))
    versions = len(update.compiled)
    runs = []
    for value in (True, False):
        param = initial.clone().requires_grad_()
        optimizer = Adam([{'params': [param], 'fast': value}], lr=1e-2)
        generator = torch.Generator().manual_seed(1)
        for step in range(6):
            grad = torch.randn(4, 6, generator=generator).t()
            param.grad = grad if step % 2 else grad.contiguous()
            optimizer.step()
        runs.append(param)
    assert len(update.compiled) == versions + 2
    assert (runs[0] - runs[1]).abs().max().item() <= 1e-6


class AdamWithOwnMoments(Adam):
    """A subclass whose `get_mv` changes the math: it must not get Adam's fast update."""

    def get_mv(self, state, group, grad):
        m, v = super().get_mv(state, group, grad)
        return m, v + 1.


def test_subclass_overriding_the_math_keeps_its_override():
    param, optimizer = one_group(AdamWithOwnMoments, lr=1e-2)
    expected = reference_after_one_step(AdamWithOwnMoments, param, lr=1e-2)
    with pytest.warns(fast.FastPathWarning, match='overrides a hook'):
        optimizer.step()
    assert torch.equal(param, expected)


def test_hooks_that_return_numbers_keep_the_fast_path():
    assert fast.update_for(AdamWarmup([torch.zeros(1, requires_grad=True)])) is not None
    assert fast.update_for(AdamW([torch.zeros(1, requires_grad=True)])) is not None
    assert isinstance(fast.update_for(SharedAdam([torch.zeros(1, requires_grad=True)])), fast.SharedAdamUpdate)
    assert fast.update_for(AdamWithOwnMoments([torch.zeros(1, requires_grad=True)])) is None


def minor_faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def allocations(optimizer, steps=3):
    """The largest single CPU allocation and the page faults per step, after two warm-up steps."""
    optimizer.step()
    optimizer.step()
    before = minor_faults()
    for _ in range(steps):
        optimizer.step()
    faults = (minor_faults() - before) / steps
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], profile_memory=True) as prof:
        optimizer.step()
    largest = max((event.cpu_memory_usage for event in prof.events()), default=0)
    return largest, faults


@pytest.mark.parametrize('cls, kwargs', [
    (Adam, dict(lr=1e-3)),
    (SGD, dict(lr=1e-3, momentum=0.9, nesterov=True)),
    (RMSprop, dict(lr=1e-3, centered=True, momentum=0.9)),
    (Sophia, dict(lr=1e-3)),
], ids=lambda value: value.__name__ if isinstance(value, type) else '')
def test_large_group_takes_the_fast_path_without_full_size_temporaries(cls, kwargs):
    # 16 MiB per tensor: the reference makes -g (to maximize) and more of that size on every step.
    numel = fast.MIN_NUMEL
    param, optimizer = one_group(cls, numel=numel, fast_value=None, maximize=True, **kwargs)
    assert fast.fast_group_step(optimizer, optimizer.param_groups[0])
    fast_largest, fast_faults = allocations(optimizer)
    optimizer.param_groups[0]['fast'] = False
    reference_largest, _ = allocations(optimizer)
    # The profiler sees the reference's temporaries, so it would see ours
    assert reference_largest >= numel * 4
    # Ours: only the small table of scalars
    assert fast_largest < 4096
    # and, for the operating system, no fresh pages
    assert fast_faults < 0.02 * numel * 4 / resource.getpagesize()


def test_parameters_without_gradients_are_left_alone_on_the_fast_path():
    torch.manual_seed(0)
    initial = [torch.randn(4, 3), torch.randn(5)]
    runs = []
    for value in (True, False):
        params = [p.clone().requires_grad_() for p in initial]
        optimizer = AdamW([{'params': params, 'fast': value}], lr=1e-2)
        generator = torch.Generator().manual_seed(1)
        for step in range(20):
            for p in params:
                p.grad = torch.randn(p.shape, generator=generator)
            # Every third step the second parameter takes no part in the loss
            if step % 3 == 0:
                params[1].grad = None
            optimizer.step()
        runs.append((params, optimizer))
    (ours, fast_optimizer), (reference, reference_optimizer) = runs
    for a, b in zip(ours, reference):
        assert (a - b).abs().max().item() <= 1e-6
    assert fast_optimizer.state[ours[1]]['step'] == reference_optimizer.state[reference[1]]['step'] == 13
