"""
PyTorch's own description of its optimizers, `optim_db`, turned into our tests.

`torch.testing._internal.common_optimizers.optim_db` has one `OptimizerInfo` per `torch.optim`
class: the constructor arguments torch tests it with (`optim_inputs_func`), the bad arguments and
the error each must raise (`optim_error_inputs_func`), the implementations it has
(`supported_impls`: `foreach`, `fused`, `differentiable`), whether it takes sparse gradients and
complex parameters, its schedulers. This module reads those facts, unchanged, for every class that
labml_opt also has (found by name), and runs its own checks on them with our class swapped in:

* stepping parity with `torch.optim` for every input and every implementation variant, states
  included, and with `differentiable=True` the gradients that flow back through the steps;
* the fused and multi-tensor variants against the plain one, in every dtype torch checks;
* every error input: the same exception (or warning) type, with torch's message or ours;
* tensor `lr` of 0, 1 and 2 dimensions; complex parameters as real views; sparse gradients;
* `state_dict`: resume, older state dicts without newer flags, non-tensor steps, `weights_only`
  loading, named parameters, both directions between torch and ours; deep copies, hooks, printing;
* the loss goes the right way with and without schedulers and with per-group `lr` and
  `weight_decay`; no gradient, or a zero one, moves nothing; `param.grad` is never written to;
* `differentiable=True`: `torch.autograd.gradcheck` through one step.

Each case first runs with the `torch.optim` class: a case that torch itself fails here is skipped,
so the count is the one the issue asks for, "of the cases torch.optim passes on CPU, how many pass
with ours". To print it, by optimizer and by check:

    python -m tests.optimizers.test_optim_db

A case listed in `KNOWN` fails with ours for the reason given there (strict: if it starts passing,
the test says so). The parity checks that compile (`fused=True`) are marked slow.
"""

import contextlib
import copy
import io
import re
import warnings
from typing import Any, Callable, Dict, List, Optional, Tuple

import pytest
import torch
from torch.nn import Parameter
from torch.optim.lr_scheduler import ReduceLROnPlateau
from torch.testing._internal.common_optimizers import (OptimizerErrorEnum, OptimizerInfo,
                                                       _get_optim_inputs_including_global_cliquey_kwargs, optim_db)

import labml_opt

DEVICE = 'cpu'
# The optimizers of torch's database that labml_opt has, by name
INFOS: Dict[str, OptimizerInfo] = {info.name: info for info in optim_db if hasattr(labml_opt, info.name)}


def ours(info: OptimizerInfo) -> type:
    return getattr(labml_opt, info.name)


# ## Running an optimizer

def step(info: OptimizerInfo, optimizer: torch.optim.Optimizer, closure: Callable[[], torch.Tensor]) -> torch.Tensor:
    """One step, with the closure where the class requires one (LBFGS), else after it."""
    if info.step_requires_closure:
        return optimizer.step(closure)
    loss = closure()
    optimizer.step()
    return loss


def sparse_if_needed(info: OptimizerInfo, params: List[torch.Tensor]):
    """A class that takes only sparse gradients (SparseAdam) gets them."""
    if info.only_supports_sparse_grads:
        for param in params:
            if param.grad is not None:
                param.grad = param.grad.to_sparse()


def schedule(schedulers: List[Any], loss: torch.Tensor):
    for scheduler in schedulers:
        if isinstance(scheduler, ReduceLROnPlateau):
            scheduler.step(loss)
        else:
            scheduler.step()


def linear_problem(info: OptimizerInfo, dtype: torch.dtype = torch.float32, contiguous: bool = True, seed: int = 0):
    """
    A weight and a bias (or, for optimizers of matrices only, the weight alone) and the loss
    $\\lVert W x + b \\rVert^2$, which every optimizer here should lower in a few steps.
    """
    generator = torch.Generator().manual_seed(seed)
    if contiguous:
        weight = torch.randn(6, 4, generator=generator, dtype=dtype)
        bias = torch.randn(6, generator=generator, dtype=dtype)
    else:
        weight = torch.randn(6, 4, 3, generator=generator, dtype=dtype)[..., 1]
        bias = torch.randn(6, 3, generator=generator, dtype=dtype)[..., 2]
    x = torch.randn(4, generator=generator, dtype=dtype)
    params = [Parameter(weight), Parameter(bias)]
    if info.name == 'Muon':
        params = params[:1]

    def loss_of(params: List[torch.Tensor]) -> torch.Tensor:
        out = params[0].mv(x)
        return (out if len(params) == 1 else out + params[1]).square().sum()

    return params, loss_of


def closure_for(info: OptimizerInfo, optimizer, params, loss_of):
    def closure():
        optimizer.zero_grad()
        loss = loss_of(params)
        loss.backward()
        sparse_if_needed(info, params)
        return loss
    return closure


# ## Comparing

def tolerance(dtype: torch.dtype) -> Dict[str, float]:
    """torch's default tolerances for one operation, times 5 for a few steps of a few operations each."""
    rtol, atol = torch.testing._comparison.get_tolerances(dtype, rtol=None, atol=None)
    return dict(rtol=5 * rtol, atol=5 * atol)


def assert_close(actual: Any, expected: Any, what: str, **tolerances):
    """Tensors or numbers (a `step` is a tensor in torch, an `int` in ours) within tolerance."""
    if isinstance(expected, torch.Tensor) and expected.is_sparse:
        expected = expected.to_dense()
    if isinstance(actual, torch.Tensor) and actual.is_sparse:
        actual = actual.to_dense()
    if not isinstance(expected, torch.Tensor) or not isinstance(actual, torch.Tensor) or expected.numel() == 1:
        expected = torch.as_tensor(expected, dtype=torch.float64).detach()
        actual = torch.as_tensor(actual, dtype=torch.float64).detach()
        assert actual.numel() == expected.numel() == 1, f'{what}: {actual} is not {expected}'
        expected, actual = expected.reshape(()), actual.reshape(())
    torch.testing.assert_close(actual.detach(), expected.detach(), msg=lambda m: f'{what}: {m}', **tolerances)


def assert_same_states(actual: torch.optim.Optimizer, expected: torch.optim.Optimizer,
                       actual_params: List[torch.Tensor], expected_params: List[torch.Tensor], **tolerances):
    """Each parameter's state: the same keys, and the same values within tolerance."""
    for i, (a, e) in enumerate(zip(actual_params, expected_params)):
        a_state = actual.state[a] if a in actual.state else {}
        e_state = expected.state[e] if e in expected.state else {}
        assert sorted(a_state) == sorted(e_state), f'state of parameter {i}: keys {sorted(a_state)}, expected {sorted(e_state)}'
        for key, value in e_state.items():
            if value is None or a_state[key] is None:
                assert value is None and a_state[key] is None, f'state {key} of parameter {i}'
                continue
            assert_close(a_state[key], value, f'state {key} of parameter {i}', **tolerances)


def fresh_inputs(info: OptimizerInfo, skip: Tuple[str, ...] = (), dtype: torch.dtype = torch.float32):
    """torch's constructor arguments with every implementation variant, made anew (a tensor lr is mutated by schedulers)."""
    return _get_optim_inputs_including_global_cliquey_kwargs(DEVICE, dtype, info, skip=skip)


# ## The checks
#
# Each check takes the class under test and the `OptimizerInfo`, and raises `AssertionError` (or
# whatever the class raises) if the class fails it. Checks that compare with torch name it as
# `torch_cls`; run with torch's own class, they compare torch with itself.

def torch_cls(info: OptimizerInfo) -> type:
    return info.optim_cls


def check_error(cls: type, info: OptimizerInfo, index: int):
    """
    A bad input raises the same exception type as in torch, or warns with the same category. The
    message is torch's, or one of ours that names the class.
    """
    error_input = info.optim_error_inputs_func(device=DEVICE, dtype=torch.float32)[index]
    optim_input = error_input.optimizer_error_input

    def message_ok(message: str) -> bool:
        return bool(re.search(error_input.error_regex, message)) or cls.__name__ in message

    def run():
        optimizer = cls(optim_input.params, **optim_input.kwargs)
        if error_input.error_on == OptimizerErrorEnum.STEP_ERROR:
            optimizer.step()

    if issubclass(error_input.error_type, Warning):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always')
            run()
        assert any(issubclass(w.category, error_input.error_type) and message_ok(str(w.message)) for w in caught), \
            f'no {error_input.error_type.__name__} matching {error_input.error_regex!r}: {[str(w.message) for w in caught]}'
        return
    with pytest.raises(error_input.error_type) as raised:
        run()
    assert message_ok(str(raised.value)), f'{str(raised.value)!r} is neither torch\'s message nor names {cls.__name__}'


def check_goes_right_direction(cls: type, info: OptimizerInfo, index: int, contiguous: bool, schedulers: int):
    """Twenty steps of the plain implementation lower the loss (raise it with `maximize`), with or without schedulers."""
    kwargs = info.optim_inputs_func(device=DEVICE)[index].kwargs
    if 'foreach' in info.supported_impls:
        kwargs['foreach'] = False
    params, loss_of = linear_problem(info, contiguous=contiguous)
    optimizer = cls(params, **kwargs)
    made = [make(optimizer) for make in (info.scheduler_inputs[schedulers - 1] if schedulers else [])]
    closure = closure_for(info, optimizer, params, loss_of)
    initial = closure().item()
    for _ in range(20):
        schedule(made, step(info, optimizer, closure))
    final = closure().item()
    assert final > initial if kwargs.get('maximize', False) else final < initial, (initial, final)


def check_param_groups_with_schedulers(cls: type, info: OptimizerInfo, schedulers: int):
    """Two param groups, the second with its own `lr`, and torch's schedulers for this class: the loss falls."""
    generator = torch.Generator().manual_seed(0)
    weights = [Parameter(torch.randn(6, 4, generator=generator)) for _ in range(2)]
    x = torch.randn(4, generator=generator)
    optimizer = cls([{'params': [weights[0]]}, {'params': [weights[1]], 'lr': 0.01}])
    made = [make(optimizer) for make in info.scheduler_inputs[schedulers]]
    closure = closure_for(info, optimizer, weights, lambda ws: (ws[0].mv(x) + ws[1].mv(x)).square().sum())
    initial = closure().item()
    for _ in range(20):
        schedule(made, step(info, optimizer, closure))
    assert closure().item() < initial


def small_model(dtype: torch.dtype, seed: int = 1) -> Tuple[torch.nn.Module, torch.Tensor]:
    """Two linear layers and a 0-d parameter: tensors of several shapes, one of no dimensions."""
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2)).to(dtype)
    model.register_parameter('scale', Parameter(torch.tensor(0.7, dtype=dtype)))
    return model, torch.linspace(-1, 1, 6, dtype=dtype).reshape(2, 3)


def train_model(info: OptimizerInfo, model: torch.nn.Module, x: torch.Tensor, optimizer, steps: int = 7):
    """
    `steps` steps on the small model; on step 2 no parameter has a gradient, and on steps 3 and 4
    the last layer is frozen, so its gradient is `None` while the others step.
    """
    params = list(model.parameters())

    def closure():
        optimizer.zero_grad()
        loss = (model(x) * model.scale).sum()
        loss.backward()
        sparse_if_needed(info, params)
        return loss

    for i in range(steps):
        model[2].requires_grad_(i not in (3, 4))
        if i == 2 and not info.step_requires_closure:
            optimizer.zero_grad()
            optimizer.step()
            continue
        step(info, optimizer, closure)


def check_matches_torch(cls: type, info: OptimizerInfo, index: int, dtype: torch.dtype):
    """
    With the same arguments and implementation flag as torch, seven steps give torch's parameters
    and state. With `differentiable=True` the parameters are not leaves but functions of leaves,
    and the gradients that flow back to those leaves through all seven steps must be torch's too.
    """
    kwargs = fresh_inputs(info, dtype=dtype)[index].kwargs
    differentiable = kwargs.get('differentiable', False)
    results = []
    for make in (torch_cls(info), cls):
        model, x = small_model(dtype)
        leaves = [p.detach().clone().requires_grad_() for p in model.parameters()]
        # With `differentiable`, parameters that autograd follows back to `leaves`
        params = [leaf.clone() for leaf in leaves] if differentiable else list(model.parameters())
        optimizer = make(params, **copy.deepcopy(kwargs))
        if differentiable:
            train_functions_of_leaves(params, x, optimizer)
        else:
            train_model(info, model, x, optimizer)
        results.append((optimizer, params, leaves))
    (theirs, their_params, their_leaves), (mine, my_params, my_leaves) = results
    tolerances = tolerance(dtype)
    for i, (a, e) in enumerate(zip(my_params, their_params)):
        assert_close(a, e, f'parameter {i}', **tolerances)
    assert_same_states(mine, theirs, my_params, their_params, **tolerances)
    if differentiable:
        for leaves, params in ((their_leaves, their_params), (my_leaves, my_params)):
            sum(p.sum() for p in params).backward()
        for i, (a, e) in enumerate(zip(my_leaves, their_leaves)):
            assert_close(a.grad, e.grad, f'gradient through the steps of leaf {i}', **tolerances)


def train_functions_of_leaves(params: List[torch.Tensor], x: torch.Tensor, optimizer, steps: int = 4):
    """The small model's steps for parameters that are not leaves: the model written out, gradients set by hand."""
    scale, weight1, bias1, weight2, bias2 = params  # the order of `small_model().parameters()`

    def forward():
        hidden = torch.tanh(x @ weight1.t() + bias1)
        return ((hidden @ weight2.t() + bias2) * scale).sum()

    for _ in range(steps):
        grads = torch.autograd.grad(forward(), params)
        for param, grad in zip(params, grads):
            param.grad = grad.detach()
        optimizer.step()


def check_impl_matches_forloop(cls: type, info: OptimizerInfo, index: int, flag: str, dtype: torch.dtype):
    """The `foreach` or `fused` variant of the class against its own plain one, states included."""
    kwargs = info.optim_inputs_func(device=DEVICE, dtype=dtype)[index].kwargs
    if kwargs.get('capturable', False):
        return
    results = []
    for value in (False, True):
        model, x = small_model(dtype)
        # A 0-d parameter with a gradient that no step recomputes
        zero_d = torch.tensor(0.25, dtype=dtype, requires_grad=True)
        zero_d.grad = torch.tensor(0.5, dtype=dtype)
        params = list(model.parameters()) + [zero_d]
        optimizer = cls(params, **dict(copy.deepcopy(kwargs), **{flag: value}))
        train_model(info, model, x, optimizer)
        results.append((optimizer, params))
    (plain, plain_params), (variant, variant_params) = results
    tolerances = tolerance(dtype)
    for i, (a, e) in enumerate(zip(variant_params, plain_params)):
        assert_close(a, e, f'parameter {i}', **tolerances)
    assert_same_states(variant, plain, variant_params, plain_params, **tolerances)


def check_tensor_lr(cls: type, info: OptimizerInfo, index: int, dims: int):
    """
    A tensor `lr` of `dims` dimensions (one element) steps as the float does. Where torch refuses a
    tensor `lr` for an implementation, with a `ValueError`, so must the class.
    """
    kwargs = fresh_inputs(info, skip=('differentiable',))[index].kwargs
    kwargs.pop('lr', None)
    lr = 1.0 if info.step_requires_closure else 1e-3
    runs = []
    for value in (lr, torch.tensor(lr).reshape([1] * dims)):
        params, loss_of = linear_problem(info)
        try:
            optimizer = cls(params, lr=value, **kwargs)
        except ValueError:
            assert isinstance(value, torch.Tensor) and kwargs.get('foreach'), 'a float lr was refused'
            return
        closure = closure_for(info, optimizer, params, loss_of)
        for _ in range(5):
            step(info, optimizer, closure)
        runs.append(params)
    for i, (a, e) in enumerate(zip(*runs[::-1])):
        assert_close(a, e, f'parameter {i}')


def complex_inputs(info: OptimizerInfo):
    return fresh_inputs(info, skip=('differentiable', 'fused'))


def check_complex(cls: type, info: OptimizerInfo, index: int):
    """
    Complex parameters step as their real views would, with the same gradients, every element
    equal; a real parameter in the same group steps as ever.
    """
    kwargs = complex_inputs(info)[index].kwargs
    generator = torch.Generator().manual_seed(0)
    complex_params = [torch.randn(5, 3, dtype=torch.complex64, generator=generator).requires_grad_(),
                      torch.randn(5, dtype=torch.complex64, generator=generator).requires_grad_(),
                      torch.randn(5, 3, generator=generator).requires_grad_()]
    real_params = [(torch.view_as_real(p) if p.is_complex() else p).detach().clone().requires_grad_()
                   for p in complex_params]
    complex_optimizer = cls(complex_params, **copy.deepcopy(kwargs))
    real_optimizer = cls(real_params, **copy.deepcopy(kwargs))
    for _ in range(3):
        grads = [torch.randn(p.shape, generator=generator) for p in real_params]

        def real_closure():
            for p, g in zip(real_params, grads):
                p.grad = g.clone()
            return torch.tensor(1.)

        def complex_closure():
            for p, g in zip(complex_params, grads):
                p.grad = torch.view_as_complex(g.clone()) if p.is_complex() else g.clone()
            return torch.tensor(1.)

        step(info, real_optimizer, real_closure)
        step(info, complex_optimizer, complex_closure)
    for i, (c, r) in enumerate(zip(complex_params, real_params)):
        torch.testing.assert_close(torch.view_as_real(c) if c.is_complex() else c, r, rtol=0, atol=0,
                                   msg=lambda m: f'parameter {i}: {m}')


def rosenbrock(xy: torch.Tensor) -> torch.Tensor:
    x, y = xy
    return (1 - x) ** 2 + 100 * (y - x ** 2) ** 2


def check_complex_2d(cls: type, info: OptimizerInfo, index: int):
    """A complex parameter $z$ and the pair of real ones $(\\Re z, \\Im z)$ follow the same path on a real loss of $z$."""
    kwargs = complex_inputs(info)[index].kwargs
    torch.manual_seed(2024)
    z = torch.randn(2, dtype=torch.complex64, requires_grad=True)
    real, imag = (part.detach().clone().requires_grad_() for part in (z.real, z.imag))
    one = cls([z], **copy.deepcopy(kwargs))
    two = cls([real, imag], **copy.deepcopy(kwargs))

    def loss_one():
        one.zero_grad()
        loss = rosenbrock(z).abs()
        loss.backward()
        return loss

    def loss_two():
        two.zero_grad()
        loss = rosenbrock(torch.complex(real, imag)).abs()
        loss.backward()
        return loss

    for _ in range(3):
        step(info, one, loss_one)
        step(info, two, loss_two)
        torch.testing.assert_close(z.real, real)
        torch.testing.assert_close(z.imag, imag)


def sparse_inputs(info: OptimizerInfo) -> List[Dict[str, Any]]:
    """torch's inputs for the sparse check: without the keys its `metadata_for_sparse` sets, no repeats, with its `lr`."""
    updates, _ = info.metadata_for_sparse
    inputs, seen = [], set()
    for optim_input in fresh_inputs(info, dtype=torch.float64, skip=('differentiable', 'fused')):
        kwargs = {k: v for k, v in optim_input.kwargs.items() if k not in updates}
        key = tuple(sorted((k, repr(v)) for k, v in kwargs.items()))
        if updates and (not kwargs or key in seen):
            continue
        seen.add(key)
        if 'lr' in updates:
            kwargs['lr'] = updates['lr']
        inputs.append(kwargs)
    return inputs


def check_sparse(cls: type, info: OptimizerInfo, index: int, with_schedulers: bool):
    """
    Coordinate descent on the Rosenbrock function with sparse gradients (uncoalesced: each entry
    split in two) steps as with the same gradients dense, and lowers the function (raises it with
    `maximize`).
    """
    kwargs = sparse_inputs(info)[index]
    schedulers = info.metadata_for_sparse[1] if with_schedulers else []
    start = torch.tensor([1.5, 1.5], dtype=torch.float64)
    runs = []
    for sparse in (True, False):
        param = Parameter(start.clone())
        optimizer = cls([param], **copy.deepcopy(kwargs))
        made = [make(optimizer) for make in schedulers]
        for i in range(300):
            coordinate = i % 2
            optimizer.zero_grad()
            rosenbrock(param).backward()
            value = param.grad[coordinate].item()
            if sparse:
                grad = torch.sparse_coo_tensor(torch.tensor([[coordinate, coordinate]]),
                                               torch.tensor([value / 4, value - value / 4], dtype=torch.float64), (2,))
            else:
                grad = torch.zeros(2, dtype=torch.float64)
                grad[coordinate] = value
            param.grad = grad
            optimizer.step()
            schedule(made, rosenbrock(param.detach()))
        runs.append(param.detach())
    torch.testing.assert_close(runs[0], runs[1], atol=5e-6, rtol=5e-6)
    before, after = rosenbrock(start).item(), rosenbrock(runs[0]).item()
    assert after > before if kwargs.get('maximize', False) else after < before, (before, after)


def primed(info: OptimizerInfo, cls: type, kwargs: Dict[str, Any], steps: int = 5, seed: int = 0):
    params, loss_of = linear_problem(info, seed=seed)
    optimizer = cls(params, **copy.deepcopy(kwargs))
    closure = closure_for(info, optimizer, params, loss_of)
    for _ in range(steps):
        step(info, optimizer, closure)
    return params, optimizer, loss_of


def continue_both(info: OptimizerInfo, first: Tuple, second: Tuple, steps: int = 5, exact: bool = True):
    """Step two (params, optimizer, loss) triples side by side; their parameters stay equal."""
    closures = [closure_for(info, optimizer, params, loss_of) for params, optimizer, loss_of in (first, second)]
    for _ in range(steps):
        for (_, optimizer, _), closure in zip((first, second), closures):
            step(info, optimizer, closure)
        for i, (a, b) in enumerate(zip(first[0], second[0])):
            if exact:
                torch.testing.assert_close(a, b, rtol=0, atol=0, msg=lambda m: f'parameter {i}: {m}')
            else:
                assert_close(a, b, f'parameter {i}')


def assert_equal_nested(actual: Any, expected: Any, what: str):
    """Equal dicts, lists and values, with tensors equal element for element."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict) and sorted(actual, key=str) == sorted(expected, key=str), f'{what}: keys differ'
        for key in expected:
            assert_equal_nested(actual[key], expected[key], f'{what}[{key!r}]')
    elif isinstance(expected, (list, tuple)):
        assert type(actual) is type(expected) and len(actual) == len(expected), f'{what}: {actual} is not {expected}'
        for i, (a, e) in enumerate(zip(actual, expected)):
            assert_equal_nested(a, e, f'{what}[{i}]')
    elif isinstance(expected, torch.Tensor):
        assert isinstance(actual, torch.Tensor) and torch.equal(actual, expected), f'{what}: {actual} is not {expected}'
    else:
        assert actual == expected, f'{what}: {actual!r} is not {expected!r}'


def clone_params(params: List[torch.Tensor]) -> List[Parameter]:
    return [Parameter(p.detach().clone()) for p in params]


def saved(state_dict: Dict[str, Any], weights_only: bool = False) -> Dict[str, Any]:
    buffer = io.BytesIO()
    torch.save(state_dict, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=weights_only)


def state_dict_cases():
    return ('resume', 'older_flags', 'nontensor_step', 'weights_only')


def check_state_dict(cls: type, info: OptimizerInfo, index: int, kind: str):
    """
    Five steps, then the state moves into a fresh optimizer of fresh (equal) parameters, and both
    go on identically. `older_flags` drops the group keys torch added after the class was first
    released; `nontensor_step` saves `step` as a Python number; `weights_only` loads with torch's
    safe unpickler. Loading leaves the loaded dict unchanged, and equal optimizers save equal dicts.
    """
    kwargs = fresh_inputs(info)[index].kwargs
    params, optimizer, loss_of = primed(info, cls, kwargs)
    state_dict = copy.deepcopy(optimizer.state_dict())
    if kind == 'older_flags':
        for group in state_dict['param_groups']:
            for flag in info.not_og_supported_flags:
                group.pop(flag, None)
    elif kind == 'nontensor_step':
        for state in state_dict['state'].values():
            if isinstance(state.get('step'), torch.Tensor):
                state['step'] = state['step'].item()
    elif kind == 'weights_only':
        state_dict = saved(state_dict, weights_only=True)
    untouched = copy.deepcopy(state_dict)
    twin_params = clone_params(params)
    twin = cls(twin_params, **copy.deepcopy(kwargs))
    twin.load_state_dict(state_dict)
    if kind == 'resume':
        assert_equal_nested(state_dict, untouched, 'the loaded state_dict')
        assert_equal_nested(twin.state_dict(), optimizer.state_dict(), 'the state_dict of equal optimizers')
    continue_both(info, (params, optimizer, loss_of), (twin_params, twin, loss_of))


def check_interop(cls: type, info: OptimizerInfo, index: int, direction: str):
    """
    The state moves between torch's class and ours half way, in `direction`, and training goes on
    as if the first optimizer had kept going.
    """
    kwargs = fresh_inputs(info, skip=('differentiable',))[index].kwargs
    first, then = (torch_cls(info), cls) if direction == 'torch to ours' else (cls, torch_cls(info))
    params, optimizer, loss_of = primed(info, first, kwargs)
    twin_params = clone_params(params)
    twin = then(twin_params, **copy.deepcopy(kwargs))
    twin.load_state_dict(saved(optimizer.state_dict()))
    continue_both(info, (params, optimizer, loss_of), (twin_params, twin, loss_of), exact=False)


def check_deepcopy(cls: type, info: OptimizerInfo, index: int):
    """A deep copy keeps every public attribute, prints, and trains as the original does."""
    kwargs = fresh_inputs(info)[index].kwargs
    params, optimizer, loss_of = primed(info, cls, kwargs)
    assert cls.__name__ in repr(optimizer)
    twin_params, twin = copy.deepcopy((params, optimizer))
    public = lambda o: {name for name in vars(o) if not name.startswith('_')}  # noqa: E731
    assert public(twin) == public(optimizer)
    continue_both(info, (params, optimizer, loss_of), (twin_params, twin, loss_of))


def check_no_grad_is_a_no_op(cls: type, info: OptimizerInfo, index: int):
    """A step when no parameter has a gradient changes no parameter and no state."""
    kwargs = fresh_inputs(info)[index].kwargs
    params, _ = linear_problem(info)
    before = [p.detach().clone() for p in params]
    optimizer = cls(params, **kwargs)
    # (torch's Adagrad creates its state when it is built)
    states = copy.deepcopy([optimizer.state[p] if p in optimizer.state else None for p in params])
    if info.step_requires_closure:
        optimizer.step(lambda: torch.tensor(0.))
    else:
        optimizer.step()
    assert all(torch.equal(a, b) for a, b in zip(params, before))
    assert_equal_nested([optimizer.state[p] if p in optimizer.state else None for p in params], states, 'the state')


def check_zero_grads_are_a_no_op(cls: type, info: OptimizerInfo, index: int):
    """
    Without weight decay, a gradient of zeros leaves the parameter where it is (AdamW is given no
    decay, as it decays by default).
    """
    kwargs = fresh_inputs(info)[index].kwargs
    if kwargs.get('weight_decay', 0) != 0:
        return
    if info.name == 'AdamW':
        kwargs['weight_decay'] = torch.tensor(0.) if isinstance(kwargs.get('lr'), torch.Tensor) else 0.
    param = torch.randn(5, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float32)
    param = param if kwargs.get('differentiable', False) else param.requires_grad_()
    before = param.detach().clone()
    optimizer = cls([param], **kwargs)
    param.grad = torch.zeros_like(param)
    sparse_if_needed(info, [param])
    optimizer.step(lambda: torch.tensor(1.))
    torch.testing.assert_close(param.detach(), before, rtol=0, atol=0)


def check_grads_are_left_alone(cls: type, info: OptimizerInfo, index: int):
    """`param.grad` belongs to the user: a step never writes into it, with `maximize` or weight decay either."""
    kwargs = fresh_inputs(info)[index].kwargs
    params, loss_of = linear_problem(info)
    optimizer = cls(params, **kwargs)
    for _ in range(3):
        optimizer.zero_grad()
        loss_of(params).backward()
        sparse_if_needed(info, params)
        grads = [p.grad.clone() for p in params]
        if info.step_requires_closure:
            optimizer.step(lambda: loss_of(params).detach())
        else:
            optimizer.step()
        for i, (p, g) in enumerate(zip(params, grads)):
            torch.testing.assert_close(p.grad, g, rtol=0, atol=0, msg=lambda m: f'gradient {i}: {m}')


def check_named_parameters(cls: type, info: OptimizerInfo, index: int, direction: str):
    """
    Built from `named_parameters()`, the optimizer saves the names, and its state loads into one
    built the same way, of torch's class or ours, which then goes on as it would have.
    """
    kwargs = fresh_inputs(info, skip=('differentiable',))[index].kwargs
    first, then = (torch_cls(info), cls) if direction == 'torch to ours' else (cls, torch_cls(info))
    runs = []
    for make in (first, then):
        model, x = small_model(torch.float32)
        optimizer = make(list(model.named_parameters()), **copy.deepcopy(kwargs))
        runs.append((model, optimizer))
    (model, optimizer), (twin_model, twin) = runs
    train_model(info, model, x, optimizer, steps=3)
    state_dict = saved(optimizer.state_dict())
    assert '0.weight' in state_dict['param_groups'][0]['param_names']
    twin_model.load_state_dict(model.state_dict())
    twin.load_state_dict(state_dict)
    train_model(info, model, x, optimizer, steps=3)
    train_model(info, twin_model, x, twin, steps=3)
    for i, (a, b) in enumerate(zip(twin_model.parameters(), model.parameters())):
        assert_close(a, b, f'parameter {i}')


def check_param_groups(cls: type, info: OptimizerInfo, index: int, key: str):
    """Two param groups, the second with its own `weight_decay` or `lr`: each follows its own, and the loss falls."""
    kwargs = fresh_inputs(info)[index].kwargs
    if kwargs.get('maximize', False):
        return
    params, loss_of = linear_problem(info)
    value = dict(weight_decay=0.1, lr=0.01)[key]
    if key == 'lr' and isinstance(kwargs.get('lr'), torch.Tensor):
        value = torch.tensor(value)
    groups = [{'params': params[:1]}, {'params': params[1:], key: value}] if len(params) > 1 else [{'params': params}]
    optimizer = cls(groups, **kwargs)
    closure = closure_for(info, optimizer, params, loss_of)
    initial = closure().item()
    for _ in range(20):
        step(info, optimizer, closure)
    assert closure().item() < initial


def check_non_empty_state(cls: type, info: OptimizerInfo, index: int):
    """After a step, no parameter has an empty entry in the state: a class that keeps nothing keeps no entry."""
    kwargs = fresh_inputs(info)[index].kwargs
    _, optimizer, _ = primed(info, cls, kwargs, steps=1)
    for state in optimizer.state.values():
        assert len(state) > 0, f'an empty state entry: {dict(optimizer.state)}'


def check_hooks(cls: type, info: OptimizerInfo):
    """
    Step hooks (the optimizer's and the global ones) run around every step, in order; `state_dict`
    and `load_state_dict` hooks run and can change what is saved and loaded.
    """
    from torch.optim.optimizer import register_optimizer_step_post_hook, register_optimizer_step_pre_hook
    params, loss_of = linear_problem(info)
    optimizer = cls(params)
    calls = []
    handles = [optimizer.register_step_pre_hook(lambda o, a, k: calls.append('pre')),
               optimizer.register_step_post_hook(lambda o, a, k: calls.append('post')),
               register_optimizer_step_pre_hook(lambda o, a, k: calls.append('global pre')),
               register_optimizer_step_post_hook(lambda o, a, k: calls.append('global post'))]
    closure = closure_for(info, optimizer, params, loss_of)
    try:
        step(info, optimizer, closure)
    finally:
        for handle in handles:
            handle.remove()
    step(info, optimizer, closure)
    assert calls == ['global pre', 'pre', 'post', 'global post'], calls

    optimizer.register_state_dict_pre_hook(lambda o: calls.append('state_dict pre'))
    optimizer.register_state_dict_post_hook(lambda o, sd: {**sd, 'extra': 1})
    state_dict = optimizer.state_dict()
    assert calls[-1] == 'state_dict pre' and state_dict['extra'] == 1
    twin = cls(clone_params(params))
    twin.register_load_state_dict_pre_hook(lambda o, sd: {k: v for k, v in sd.items() if k != 'extra'})
    twin.register_load_state_dict_post_hook(lambda o: calls.append('load post'))
    twin.load_state_dict(state_dict)
    assert calls[-1] == 'load post'


def check_gradcheck(cls: type, info: OptimizerInfo, index: int):
    """
    With `differentiable=True`, one step is a function of the parameter, its gradient and its
    state tensors, and autograd's derivatives of that function are the numerical ones.
    """
    kwargs = dict(info.optim_inputs_func(device=DEVICE)[index].kwargs, differentiable=True)
    if kwargs.get('capturable', False):
        return
    generator = torch.Generator().manual_seed(0)
    param = torch.rand(6, dtype=torch.float64, generator=generator) + 0.5
    grad = torch.rand(6, dtype=torch.float64, generator=generator) - 0.5
    # One step to create the state, then random state tensors in place of it
    warm = param.clone().requires_grad_()
    warm_optimizer = cls([warm], **copy.deepcopy(kwargs))
    warm.grad = grad.clone()
    warm_optimizer.step()
    state = warm_optimizer.state[warm]
    keys = [k for k, v in state.items() if isinstance(v, torch.Tensor) and v.shape == param.shape and v.is_floating_point()]
    others = {k: v for k, v in state.items() if k not in keys}
    values = [(torch.rand(6, dtype=torch.float64, generator=generator) + 0.1).requires_grad_() for _ in keys]

    def one_step(p, g, *tensors):
        p = p.clone()
        p.grad = g
        optimizer = cls([p], **copy.deepcopy(kwargs))
        optimizer.state[p].update({k: v.clone() if isinstance(v, torch.Tensor) else v for k, v in others.items()})
        optimizer.state[p].update({k: t.clone() for k, t in zip(keys, tensors)})
        optimizer.step()
        return (p,) + tuple(optimizer.state[p][k] for k in keys)

    assert torch.autograd.gradcheck(one_step, (param.requires_grad_(), grad.requires_grad_(), *values))


# ## The cases

def ids(*parts) -> str:
    return '-'.join(str(part) for part in parts if part != '')


def desc(optim_input) -> str:
    return re.sub(r'\s+', '_', optim_input.desc)


def cases() -> List[Any]:
    """Every (input x check) of every optimizer, as pytest params: `(check, info, args)`."""
    found = []

    def add(check, info, *args, name='', slow=False):
        marks = [pytest.mark.slow] if slow else []
        found.append(pytest.param(check, info, args, marks=marks,
                                  id=ids(info.name, check.__name__[len('check_'):], name)))

    for info in INFOS.values():
        if info.optim_error_inputs_func is not None:
            for i, error_input in enumerate(info.optim_error_inputs_func(device=DEVICE, dtype=torch.float32)):
                add(check_error, info, i, name=desc(error_input.optimizer_error_input))
        plain = info.optim_inputs_func(device=DEVICE)
        for i, optim_input in enumerate(plain):
            for contiguous in (True, False):
                for schedulers in range(len(info.scheduler_inputs) + 1):
                    add(check_goes_right_direction, info, i, contiguous, schedulers,
                        name=ids(desc(optim_input), 'contiguous' if contiguous else 'strided', f'schedulers{schedulers}'))
            if 'differentiable' in info.supported_impls:
                add(check_gradcheck, info, i, name=desc(optim_input))
        for schedulers in range(len(info.scheduler_inputs)):
            add(check_param_groups_with_schedulers, info, schedulers, name=f'schedulers{schedulers}')
        add(check_hooks, info)
        for i, optim_input in enumerate(fresh_inputs(info)):
            name = desc(optim_input)
            fused = optim_input.kwargs.get('fused', False)
            for dtype in (torch.float64,) + ((torch.float32,) if fused else ()):
                add(check_matches_torch, info, i, dtype, name=ids(name, str(dtype)[6:]), slow=fused)
            for kind in state_dict_cases():
                add(check_state_dict, info, i, kind, name=ids(name, kind), slow=fused)
            add(check_deepcopy, info, i, name=name, slow=fused)
            add(check_no_grad_is_a_no_op, info, i, name=name)
            add(check_zero_grads_are_a_no_op, info, i, name=name, slow=fused)
            add(check_grads_are_left_alone, info, i, name=name, slow=fused)
            for key in ('weight_decay', 'lr'):
                add(check_param_groups, info, i, key, name=ids(name, key), slow=fused)
            add(check_non_empty_state, info, i, name=name, slow=fused)
        for i, optim_input in enumerate(fresh_inputs(info, skip=('differentiable',))):
            fused = optim_input.kwargs.get('fused', False)
            for dims in (0, 1, 2):
                add(check_tensor_lr, info, i, dims, name=ids(desc(optim_input), f'{dims}d'), slow=fused)
            for direction in ('torch to ours', 'ours to torch'):
                add(check_interop, info, i, direction, name=ids(desc(optim_input), direction.replace(' ', '_')),
                    slow=fused)
                add(check_named_parameters, info, i, direction,
                    name=ids(desc(optim_input), direction.replace(' ', '_')), slow=fused)
        for flag in ('foreach', 'fused'):
            if flag in info.supported_impls and (flag != 'fused' or DEVICE in info.supports_fused_on):
                dtypes = (torch.float64,) if flag == 'foreach' else (torch.float32, torch.float64, torch.bfloat16,
                                                                    torch.float16)
                for i, optim_input in enumerate(info.optim_inputs_func(device=DEVICE)):
                    for dtype in dtypes:
                        add(check_impl_matches_forloop, info, i, flag, dtype,
                            name=ids(desc(optim_input), flag, str(dtype)[6:]), slow=flag == 'fused')
        if info.supports_complex:
            for i, optim_input in enumerate(complex_inputs(info)):
                add(check_complex, info, i, name=desc(optim_input))
                add(check_complex_2d, info, i, name=desc(optim_input))
        if info.supports_sparse or info.only_supports_sparse_grads:
            for i, kwargs in enumerate(sparse_inputs(info)):
                for with_schedulers in (False, True) if info.metadata_for_sparse[1] else (False,):
                    add(check_sparse, info, i, with_schedulers,
                        name=ids(*(f'{k}={v}' for k, v in sorted(kwargs.items())), 'schedulers' if with_schedulers else ''))
    return found


CASES = cases()

# Cases that fail with ours, by id, and why. Each is an expected failure, strictly: a fix makes it pass and the list shrinks.
KNOWN: Dict[str, str] = {
    **{f'SGD-matches_torch-{name}_&_differentiable-float64': (
        "torch's SGD detaches its first momentum buffer, b_1 = g_1 (+ weight decay), so with weight decay "
        "its gradient through the steps misses the path from the parameter through b_1; ours keeps it "
        "(check_gradcheck holds ours to the numerical derivative)")
       for name in ('nesterov', 'weight_decay_w/_momentum')},
}


@contextlib.contextmanager
def quiet():
    """The fast path warns when a tiny group cannot compile; torch warns about its own deprecations."""
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        yield


def passes(check, info, args, cls) -> Optional[BaseException]:
    """`None` if `cls` passes the check, else what it raised."""
    try:
        with quiet():
            check(cls, info, *args)
    except Exception as error:  # noqa: BLE001 -- any failure counts as one
        return error
    return None


@pytest.mark.parametrize('check, info, args', CASES)
def test_passes_what_torch_passes(check, info, args, request):
    if passes(check, info, args, torch_cls(info)) is not None:
        pytest.skip('torch.optim fails this case too')
    reason = KNOWN.get(request.node.callspec.id)
    if reason is not None:
        request.applymarker(pytest.mark.xfail(reason=reason, strict=True))
    with quiet():
        check(ours(info), info, *args)


def main():
    """Print how many of the cases torch.optim passes also pass with ours, by optimizer and by check."""
    from collections import Counter
    torch_passed, ours_passed, failures = Counter(), Counter(), {}
    for case in CASES:
        check, info, args = case.values
        key = (info.name, check.__name__[len('check_'):])
        if passes(check, info, args, torch_cls(info)) is not None:
            continue
        torch_passed[key] += 1
        error = passes(check, info, args, ours(info))
        if error is None:
            ours_passed[key] += 1
        else:
            failures[case.id] = f'{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ""}'[:200]
    print(f'{"optimizer":<10} {"check":<28} ours / torch')
    for key in sorted(torch_passed):
        print(f'{key[0]:<10} {key[1]:<28} {ours_passed[key]:>4} / {torch_passed[key]}')
    for case_id, error in sorted(failures.items()):
        print(f'FAILED {case_id}: {error}')
    print(f'labml_opt passes {sum(ours_passed.values())} of the {sum(torch_passed.values())} cases torch.optim passes '
          f'({len(CASES)} cases, {len(INFOS)} optimizers: {", ".join(INFOS)})')


if __name__ == '__main__':
    main()
