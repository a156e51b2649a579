r"""
---
title: The template optimizer
summary: The base class that every optimizer here fills in, the numbers of a step apart from its tensor math, and the three ways of weight decay.
---

# The template optimizer

Every optimizer in this package is a subclass of
[`GenericAdaptiveOptimizer`](#GenericAdaptiveOptimizer), and writes three methods:

* `init_state(state, group, param)` creates the state of a parameter, the first time it has
  a gradient: moving averages as tensors of the parameter's shape, and counters such as the step $t$.
* `step_numbers(state, group)` counts the step and returns **the numbers of step $t$**: everything
  in the update that is the same for every element of the parameter, such as the bias corrections
  $1 - \beta_1^t$, a scheduled learning rate $\alpha_t$, or the step size that folds them together.
  It is plain Python arithmetic on floats, run once per parameter and step.
* `step_param(state, numbers, grad, param)` is **the tensor math** of the step: it updates the
  state tensors and the parameter in place, using the numbers.

The split is what lets the same code run two ways. For a small param group it runs as written,
one operation per line. For a large one, [the fast path](fast.html) records `step_param` once,
with each number as an input rather than a constant, and compiles it into one loop that reads and
writes each tensor once; that loop then runs for every parameter of every size, on every step.
There is no second copy of any algorithm: the code on each page is the code that runs.

Two rules follow from the split, and the pages keep them:

* The tensor math combines tensors with numbers through operations that take a tensor as well as
  a float: `*`, `+`, `lerp_`, `clamp_`. (`add_(x, alpha=a)` and `addcdiv_(..., value=a)` take
  only a Python number, so the pages write `add_(a * x)` instead.) It writes in place with
  in-place methods, never with `out=`, which autograd cannot follow when the step is `differentiable`.
* Anything that decides *which* operations run, rather than with which numbers, is a `bool` in the
  numbers (AMSGrad on or off, RAdam's step rectified or not, weight decay of one kind or another)
  or a setting of the optimizer such as `optimized_update`. Each combination is compiled once.

Not every update is one of single elements. [LAMB](lamb.html)'s takes the norm of each whole
tensor; [Muon](muon.html)'s multiplies matrices. Its class says how far the update of one element
reaches through [`reach`](#reach): that decides whether the update may be flattened into one loop,
and whether, under FSDP2, it may run on one process's shard of a tensor or needs
[the whole tensor](#on_whole_tensors).

This page also holds [`WeightDecay`](#WeightDecay), the three ways of shrinking weights that the
optimizers share.
"""

import math
import warnings
from typing import Any, Callable, Dict, Iterable, Optional, Tuple, Union

import torch
from torch import nn

from labml_opt import fast, low_precision

# The types a user may pass as `params`: tensors, or dicts that form param groups.
Params = Union[Iterable[torch.Tensor], Iterable[Dict[str, Any]]]
# How far an update reaches (see `reach`)
REACHES = ('element', 'tensor', 'matrix')
# The keywords that set the whole optimizer, not each param group
OPTIMIZER_OPTIONS = ('state_dtype', 'kahan_sum', 'seed')


class Numbers(dict):
    """
    The numbers of one step by name, read as attributes: `numbers.beta1` is `numbers['beta1']`.
    A `float` or `int` is a value; a `bool` or `None` says which operations run.
    """

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f'no number {name!r} in this step (it has {sorted(self)})') from None


class GenericAdaptiveOptimizer(torch.optim.Optimizer):
    """
    <a id="GenericAdaptiveOptimizer"></a>

    ## The template optimizer

    Everything that is the same for every algorithm lives here, once: checking hyper-parameters,
    walking the param groups, creating state lazily, `maximize`, complex parameters, and saving
    and loading state.
    """

    # Whether `step_param` has an update for sparse gradients (SGD's and Adagrad's do)
    supports_sparse = False

    # Whether `step_param` can update a complex parameter as the pair of its real and imaginary
    # parts (see `step_complex`); an update of whole matrices (Muon's) cannot
    supports_complex = True

    # The state tensors that `state_dtype='8bit'` keeps in 8 bits, each with the name of its
    # [code map](low_precision.html#dynamic_map): `'signed'` for an average of gradients,
    # `'unsigned'` for one that is never negative. Only a class that names some takes `'8bit'`.
    quantized_state: Dict[str, str] = {}

    # The state tensors that `state_dtype` leaves in the parameter's dtype (in `float32` for a
    # `bfloat16` parameter with `kahan_sum`): points among the weights rather than averages, such as
    # Schedule-Free's $z$, since to round them to `bfloat16` is to round the weights; and state that a
    # method other than `step_param` updates, such as Sophia's Hessian estimate, which the rounding of
    # [`step_in_float32`](low_precision.html#step_in_float32) does not reach
    full_precision_state: Tuple[str, ...] = ()

    def __init__(self, params: Params, defaults: Dict[str, Any], *,
                 state_dtype: Optional[Union[torch.dtype, str]] = None,
                 kahan_sum: bool = False, seed: int = 0):
        r"""
        * `params` is an iterable of parameters, or of dicts that define param groups
        * `defaults` holds the default hyper-parameters of every group, such as the learning
          rate `lr` ($\alpha$), `betas` ($\beta_1, \beta_2$) and `eps` ($\epsilon$)
        * `state_dtype` is the dtype of the state tensors, `torch.bfloat16` to store them in half the
          memory, `'8bit'` to store those of `quantized_state` in a quarter of it, blockwise quantized
          (see [low-precision state](low_precision.html)), or `None` for the parameter's dtype
        * `kahan_sum` keeps a compensation for each `bfloat16` parameter, so that small updates add up
        * `seed` seeds the random bits of stochastic rounding, so that runs repeat

        The common hyper-parameters are checked here, so that a bad value fails at construction,
        naming the optimizer, the parameter and the value, not as a NaN many steps later.
        """
        self.check_hyperparameters(defaults)
        eight_bit = bool(self.quantized_state) and isinstance(state_dtype, str) and state_dtype == '8bit'
        self.check('state_dtype', state_dtype, state_dtype in (None, torch.float32, torch.float64, torch.bfloat16) or eight_bit,
                   'None, torch.float32, torch.float64, torch.bfloat16' + (" or '8bit'" if self.quantized_state else ''))
        self.check('kahan_sum', kahan_sum, isinstance(kahan_sum, bool), 'True or False')
        self.check('seed', seed, type(seed) is int and seed >= 0, 'an int >= 0')
        # (set before the groups are added: a class that makes state as a parameter joins, as
        # SharedAdam does, makes it in `state_dtype`)
        self.state_dtype = state_dtype
        self.kahan_sum = kahan_sum
        self.seed = seed
        super().__init__(params, defaults)

    def check(self, name: str, value: Any, valid: bool, requirement: str):
        """
        Raise a `ValueError` that names the optimizer, the hyper-parameter `name` and its `value`
        unless `valid` holds; `requirement` says what a good value looks like.
        """
        if not valid:
            raise ValueError(f'Invalid {name} {value!r} for {type(self).__name__}: must be {requirement}')

    def check_hyperparameters(self, defaults: Dict[str, Any]):
        """
        Check the hyper-parameters that many optimizers share. A NaN fails every comparison, so
        `not value >= 0` rejects it along with negative values. A hyper-parameter may be a
        1-element tensor, as in `torch.optim`; its value is checked like a float's.
        """
        for name, value in defaults.items():
            if isinstance(value, float):
                self.check(name, value, not math.isnan(value), 'a number, not NaN')
            if isinstance(value, torch.Tensor):
                self.check(name, value, value.numel() == 1, 'a number or a 1-element tensor')
        for name in ('lr', 'eps', 'weight_decay'):
            if name in defaults:
                self.check(name, defaults[name], bool(defaults[name] >= 0), '>= 0')
        if 'betas' in defaults:
            betas = defaults['betas']
            self.check('betas', betas, isinstance(betas, (tuple, list)) and len(betas) == 2, 'a pair (beta1, beta2)')
            # `torch.optim` refuses a float and a tensor together, which would round differently
            self.check('betas', betas, len({isinstance(beta, torch.Tensor) for beta in betas}) == 1,
                       'both floats or both tensors')
            for i, beta in enumerate(betas):
                if isinstance(beta, torch.Tensor):
                    self.check(f'beta{i + 1}', beta, beta.numel() == 1, 'a number or a 1-element tensor')
                self.check(f'beta{i + 1}', beta, bool(0 <= beta < 1), 'in [0, 1)')

    def add_param_group(self, param_group: Dict[str, Any]):
        """
        `torch.optim`'s, which keeps any key of a group. `state_dtype`, `kahan_sum` and `seed`
        are options of the whole optimizer, so a group that sets one is refused rather than left to
        run with the optimizer's value: state in two dtypes takes two optimizers.
        """
        for key in OPTIMIZER_OPTIONS:
            if key in param_group:
                raise ValueError(f'Invalid param group key {key!r} for {type(self).__name__}: {key} is an option of '
                                 f'the whole optimizer ({type(self).__name__}(params, {key}=...)), not of a group; '
                                 f'for parameters that need another {key}, make another optimizer')
        super().add_param_group(param_group)

    def implementation_options(self, foreach: Optional[bool], differentiable: bool, capturable: bool,
                               fused: Optional[bool] = None) -> Dict[str, Any]:
        """
        The group defaults for `torch.optim`'s implementation keywords, which our classes take so that
        switching is a change of import. They choose between the two ways our code runs (the group
        key `fast`, see [the fast path](fast.html)): `fused=True` compiles it, and `fused=False` or
        `foreach=False` runs it as written; with neither, the size of the group decides. (We have no
        multi-tensor path of its own, so `foreach=True` leaves the choice to the size too.)

        `differentiable=True` runs the step with autograd on, so that the updated parameters and
        state are functions of the old ones, the gradient and any tensor hyper-parameter that
        requires a gradient: a step can then be differentiated, as in learned optimizers and
        meta-learning. It runs as written, never compiled. CUDA graphs (`capturable`) need a GPU,
        so it must be `False`.
        """
        self.check('capturable', capturable, capturable is False, 'False (CUDA graphs need a GPU)')
        if fused and differentiable:
            # torch's exception type for the same mistake
            raise RuntimeError(f'{type(self).__name__}: fused=True does not support differentiable=True')
        if fused and foreach:
            raise RuntimeError(f'{type(self).__name__}: fused and foreach cannot both be True')
        options = dict(foreach=foreach, differentiable=differentiable, capturable=capturable)
        if fused is not None:
            options['fused'] = fused
        fast = fused if fused is not None else (False if foreach is False else None)
        if fast is not None:
            options['fast'] = fast
        return options

    def reach(self, group: Dict[str, Any]) -> str:
        r"""
        <a id="reach"></a>

        ### How far an update reaches

        What each element of the new parameter and state depends on, for the parameters of `group`:

        * `'element'`: the same element of the old parameter, the state and the gradient, and the
          numbers of the step. [Adam](adam.html) and most others. A flat loop over the elements
          computes it ([the fast path](fast.html)), and so does the same update of any piece of the
          tensor: under FSDP2 each process updates its own shard, with no communication.
        * `'tensor'`: also sums or norms over the whole tensor, read as a vector, such as
          [LAMB](lamb.html)'s trust ratio $\frac{\lVert \theta \rVert}{\lVert \omega \rVert}$. A flat
          loop over a whole tensor still computes it (a norm does not need rows and columns), but
          not a loop over a shard, whose norm is not the tensor's.
        * `'matrix'`: the rows and columns of the tensor: [Muon](muon.html)'s matrix products,
          [Adafactor](adafactor.html)'s row and column means, [SOAP](soap.html)'s eigenvectors.
          It always runs as written, with the shapes of its tensors.

        The two wider reaches run under FSDP2 on [whole tensors](#on_whole_tensors). The default is
        `'element'`; a class whose update reaches further says so by overriding this.
        """
        return 'element'

    def init_state(self, state: Dict[str, Any], group: Dict[str, Any], param: nn.Parameter):
        """Create the state of parameter `param`; called before its first update."""
        raise NotImplementedError

    def init_param_state(self, state: Dict[str, Any], group: Dict[str, Any], param: nn.Parameter):
        """
        `init_state`, then the state tensors of the parameter's shape in `state_dtype`, and, with
        `kahan_sum`, the compensation $c$ of a `bfloat16` parameter, `kahan_comp`. In 8 bits, each
        tensor of `quantized_state` becomes its codes, under its own key, and the scales of its
        blocks, under the key with `_absmax` added; a parameter of fewer than
        [`MIN_QUANTIZED_NUMEL`](low_precision.html#threshold) elements keeps its state as it is.

        The state of an update that reaches further than an element is made from the whole
        parameter, even when this process holds a shard of it: Adafactor's row means and Prodigy's
        every `slice_p`-th element are of the whole. Each process keeps its shard of that state.
        """
        if self.reach(group) != 'element' and fast.is_dtensor(param):
            self.on_whole_tensors(lambda whole_state, _, whole: self.init_param_state(whole_state, group, whole),
                                  state, None, param)
            return
        self.init_state(state, group, param)
        if self.state_dtype == '8bit':
            # (a complex parameter's state stays complex: the code maps are of real numbers)
            if param.numel() >= low_precision.MIN_QUANTIZED_NUMEL and not param.is_complex():
                if fast.is_dtensor(param):
                    raise ValueError(f"{type(self).__name__}: state_dtype='8bit' does not support a sharded (DTensor) "
                                     f"parameter of shape {tuple(param.shape)}: its blocks of "
                                     f"{low_precision.BLOCK} would cut across the shards; use torch.bfloat16")
                for key in [key for key in self.quantized_state if isinstance(state.get(key), torch.Tensor)]:
                    # A moment that starts at zero, as they all do, is one code repeated
                    quantize = low_precision.quantize if state[key].any() else low_precision.quantize_zeros
                    state[key], state[key + low_precision.ABSMAX] = quantize(state[key], self.quantized_state[key])
        elif self.state_dtype is not None:
            for key, value in state.items():
                if (isinstance(value, torch.Tensor) and value.is_floating_point() and value.shape == param.shape
                        and key not in self.full_precision_state):
                    state[key] = value.to(self.state_dtype)
        if self.low_precision() and param.dtype == torch.bfloat16:
            # A `bfloat16` parameter stepped in `float32`: its `full_precision_state` is `float32`,
            # not the parameter's dtype, which would round an iterate as it rounds the weights
            for key in self.full_precision_state:
                if isinstance(state.get(key), torch.Tensor) and state[key].dtype == torch.bfloat16:
                    state[key] = state[key].float()
        if self.kahan_sum and param.dtype == torch.bfloat16:
            state['kahan_comp'] = torch.zeros_like(param, memory_format=torch.preserve_format)

    def low_precision(self) -> bool:
        """
        Whether `step_param` runs through [`step_in_float32`](low_precision.html#step_in_float32): with
        a `state_dtype` (which may differ from the parameter's) or with `kahan_sum`.
        """
        return self.state_dtype is not None or self.kahan_sum

    def step_numbers(self, state: Dict[str, Any], group: Dict[str, Any]) -> Numbers:
        """
        Count the step in `state` and return the numbers of this step, from `group` and the
        counters in `state` alone (see `shared_numbers`). The numbers are read, never changed, by
        `step_param`.
        """
        raise NotImplementedError

    def step_param(self, state: Dict[str, Any], numbers: Numbers, grad: torch.Tensor, param: nn.Parameter):
        """Update `param` and its state tensors in place, given its gradient `grad` and the step's `numbers`."""
        raise NotImplementedError

    def step(self, closure: Optional[Callable[[], float]] = None):
        """
        ### One optimization step

        `closure`, if given, re-evaluates the model and returns the loss; it needs gradients,
        so it runs with autograd enabled. The updates run without autograd, unless the optimizer
        is `differentiable`.
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        with torch.set_grad_enabled(bool(self.defaults.get('differentiable', False))):
            for group in self.param_groups:
                self.step_group(group)
        return loss

    def step_group(self, group: Dict[str, Any]):
        """
        ### Update the parameters of one group
        """
        # A parameter that took no part in the loss has no gradient and is left alone.
        params = [param for param in group['params'] if param.grad is not None]
        # The compiled `step_param` for this group ([the fast path](fast.html)), or `None` for the
        # code as written
        compiled = fast.compiled_step(self, group, params)
        hyperparameters = self.hyperparameters(group)
        # A group whose parameters all took their compiled loops on the last step, with nothing
        # changed since, takes them all at once: [the steady step](fast.html#steady)
        if compiled is not None and compiled.steady is not None and compiled.step_all(hyperparameters):
            return
        reach = self.reach(group)
        if reach not in REACHES:
            raise ValueError(f'Invalid reach {reach!r} of {type(self).__name__}: must be one of {REACHES}')
        # The last parameter's counters before and after its step, and its numbers
        shared = None
        # Each parameter's position among all of the optimizer's, for the seed of its random bits
        positions = self.positions() if self.low_precision() else None
        for param in params:
            grad = param.grad
            if grad.is_sparse:
                self.check_sparse(group)
            # State is created lazily, so that parameters without gradients cost no memory; an
            # algorithm that keeps nothing (SGD without momentum) leaves no entry at all.
            state = self.state[param] if param in self.state else {}
            if len(state) == 0:
                self.init_param_state(state, hyperparameters, param)
                if state:
                    self.state[param] = state
            numbers, shared = self.shared_numbers(state, hyperparameters, shared)
            # 8-bit state is rounded to nearest: only `bfloat16` state, which a `bfloat16` parameter's
            # small tensors keep in 8-bit mode, needs random bits, and without them the parameters
            # share their numbers and can take [the steady step](fast.html#steady)
            if positions is not None and (self.state_dtype != '8bit' or param.dtype == torch.bfloat16):
                # A parameter's own numbers: the others' are shared
                numbers = Numbers(numbers, rounding_seed=low_precision.rounding_seed(
                    self.seed, positions[id(param)], self.rounding_step(state),
                    self.shard_offset(param) if reach == 'element' else 0))
            # A shard has neither the norms of the tensor it is part of nor its columns: an update
            # that needs them runs on the whole tensors, gathered from the shards
            if reach != 'element' and fast.is_dtensor(param):
                if group.get('differentiable', False):
                    raise RuntimeError(f'{type(self).__name__}: differentiable=True does not support a sharded '
                                       f'(DTensor) parameter whose update reaches the whole {reach}')
                # The loop, if any, runs on tensors that are new on every step, and keeps no plan of them
                once = None if compiled is None else compiled.once
                self.on_whole_tensors(lambda whole_state, whole_grad, whole: self.run_step(
                    group, once, whole_state, numbers, whole_grad, whole), state, grad, param)
            else:
                self.run_step(group, compiled, state, numbers, grad, param)
            # State that the step itself created, in a parameter that had none
            if state and param not in self.state:
                self.state[param] = state

    @staticmethod
    def rounding_step(state: Dict[str, Any]) -> int:
        """
        <a id="rounding_step"></a>

        The step number in the seed of a parameter's random bits: the algorithm's own `step`, or,
        for one that counts no steps ([Lion](lion.html), [SGD](sgd.html)), a count kept for this alone,
        `rounding_step`, in the state, so that a run resumed from a `state_dict` draws the bits
        the uninterrupted run would have drawn.
        """
        if 'step' in state:
            return int(state['step'])
        state['rounding_step'] = state.get('rounding_step', 0) + 1
        return state['rounding_step']

    def run_step(self, group: Dict[str, Any], compiled: Optional[Callable[..., bool]], state: Dict[str, Any],
                 numbers: Numbers, grad: torch.Tensor, param: nn.Parameter):
        """
        One parameter's step: the compiled loop if there is one and it takes this parameter,
        otherwise the code as written.
        """
        if compiled is not None and not grad.is_sparse and compiled(state, numbers, grad, param):
            return
        # To maximize $f$, descend on $-f$, whose gradient is $-g$.
        if group.get('maximize', False):
            grad = -grad
        if param.is_complex():
            # An update that is not one of each element (Muon's matrix polynomial) has no
            # meaning for complex numbers as pairs of reals; torch refuses them here, at the step
            if not self.supports_complex:
                raise RuntimeError(f'{type(self).__name__} does not support complex parameters '
                                   f'(got one of dtype {param.dtype})')
            self.step_complex(state, numbers, grad, param)
        else:
            self.update_param(state, numbers, grad, param)

    def on_whole_tensors(self, function: Callable[..., Any], state: Dict[str, Any], grad: Optional[torch.Tensor],
                         param: torch.Tensor) -> Any:
        r"""
        <a id="on_whole_tensors"></a>

        ### Whole tensors from shards (FSDP2)

        `function(state, grad, param)`, run on the whole tensors of which `param`, `grad` and the
        `DTensor`s of `state` hold this process's shards (see [FSDP2](distributed.html#fsdp2)); for
        a `param` that is not a `DTensor`, on the tensors as they are. It returns what `function`
        returns.

        1. **Gather.** `full_tensor()` of each: one all-gather per tensor, after which every process
           holds the same whole tensors, as plain tensors.
        2. **Compute.** `function` runs as it would on one process: `step_param` as written (or
           compiled for a flat loop over the whole tensor), with its norms, rows and columns.
        3. **Keep one's own piece.** Every process has computed the same whole results from the same
           whole inputs, so each takes the rows of its own shard from its own copy, with no
           communication (`src_data_rank=None`), and writes them into the shards of the parameter
           and the state. A state tensor that `function` created or replaced is cut the same way,
           like the parameter; a tensor with no rows to cut (a 0-d one) is replicated. The state
           stays sharded, and `torch.distributed.checkpoint` saves it shard by shard.

        The rows of each shard are those `torch.chunk` gives, the cut of `DTensor`'s `Shard` and of
        FSDP2's, also where they divide unevenly (15 rows on two processes: 8 and 7).
        """
        if not fast.is_dtensor(param):
            return function(state, grad, param)
        # Imported here: it takes seconds to import, and only a process that has made a `DTensor`, and
        # so imported it already, comes this far
        from torch.distributed.tensor import Replicate, Shard, distribute_tensor
        mesh, placements = param.device_mesh, param.placements
        # The shard each gathered tensor came from, by the `id` of the gathered tensor, which is kept
        # here too, so that no other tensor takes its `id` while this runs
        gathered: Dict[int, Tuple[torch.Tensor, torch.Tensor]] = {}

        def gather(value: Any) -> Any:
            if fast.is_dtensor(value):
                whole = value.full_tensor()
                gathered[id(whole)] = (whole, value)
                return whole
            if isinstance(value, (list, tuple)):
                return type(value)(map(gather, value))
            return value

        def own_piece(value: Any) -> Any:
            if isinstance(value, (list, tuple)):
                return type(value)(map(own_piece, value))
            if not isinstance(value, torch.Tensor):
                return value
            whole, shard = gathered.get(id(value), (None, None))
            if whole is value:
                # Changed in place: its new rows go back into the shard it came from
                shard.to_local().copy_(distribute_tensor(value, shard.device_mesh, shard.placements,
                                                         src_data_rank=None).to_local())
                return shard
            cut = [placement if not isinstance(placement, Shard) or placement.dim < value.dim() else Replicate()
                   for placement in placements]
            return distribute_tensor(value, mesh, cut, src_data_rank=None)

        with torch.no_grad():
            whole_state = {key: gather(value) for key, value in state.items()}
            whole_param = gather(param)
            result = function(whole_state, gather(grad), whole_param)
            own_piece(whole_param)
            # `function` may have added, replaced or removed entries
            state.clear()
            state.update((key, own_piece(value)) for key, value in whole_state.items())
        return result

    def update_param(self, state: Dict[str, Any], numbers: Numbers, grad: torch.Tensor, param: nn.Parameter):
        """
        `step_param`, or, for [low-precision state](low_precision.html), `step_param` on `float32`
        copies that are rounded as they are written back (on a `DTensor` parameter's shards, as
        [plain tensors](#on_shards)). The fast path records this method.
        """
        if self.low_precision() and fast.is_dtensor(param):
            self.on_shards(self.update_param, state, numbers, grad, param)
        elif self.low_precision():
            low_precision.step_in_float32(self.step_param, state, numbers, grad, param, self.quantized_state,
                                          self.state_dtype)
        else:
            self.step_param(state, numbers, grad, param)

    @staticmethod
    def on_shards(function: Callable[..., Any], state: Dict[str, Any], numbers: Numbers, grad: torch.Tensor,
                  param: torch.Tensor):
        """
        <a id="on_shards"></a>

        `function(state, numbers, grad, param)` on this process's shards of a `DTensor` `param`, of
        `grad` and of the `DTensor`s of `state`, as plain tensors: an element-wise update of the
        whole tensor is the same update of each shard, and the `float32` copies and random bits of
        [low-precision state](low_precision.html) are of plain tensors. A state tensor that
        `function` creates or replaces (SGD's first momentum) is made a `DTensor` sharded as `param` is.
        """
        from torch.distributed.tensor import DTensor
        local = {key: value.to_local() if fast.is_dtensor(value) else value for key, value in state.items()}
        before = dict(local)
        function(local, numbers, grad.to_local(), param.to_local())
        for key, value in local.items():
            if key in before and value is before[key]:
                continue
            if isinstance(value, torch.Tensor) and value.dim() > 0:
                value = DTensor.from_local(value, param.device_mesh, param.placements, run_check=False,
                                           shape=param.shape, stride=param.stride())
            state[key] = value

    @staticmethod
    def shard_offset(param: torch.Tensor) -> int:
        """
        Where this process's shard of a `DTensor` `param` starts in the whole tensor flattened, for
        the [seed of its random bits](low_precision.html#rounding_seed): a shard of whole rows (FSDP2
        cuts the first dimension) is a run of the flat tensor. For a plain tensor, and for a shard
        that is not such a run, $0$: its bits are then drawn as if it were a tensor of its own.
        """
        if not fast.is_dtensor(param) or param.dim() == 0:
            return 0
        from torch.distributed.tensor._utils import compute_local_shape_and_global_offset
        shape, offset = compute_local_shape_and_global_offset(param.shape, param.device_mesh, param.placements)
        if tuple(shape[1:]) != tuple(param.shape[1:]):
            return 0
        return offset[0] * math.prod(param.shape[1:])

    def hyperparameters(self, group: Dict[str, Any]) -> Dict[str, Any]:
        """
        The group as `init_state` and `step_numbers` read it. A hyper-parameter may be a 1-element
        tensor (a tensor `lr`, so that a scheduler can change it in place). Its number is read
        once per step, as `torch.optim` does, unless the group is `differentiable`: then it stays a
        0-d tensor, and autograd follows it into the update.
        """
        def value(x: Any) -> Any:
            if isinstance(x, torch.Tensor):
                return x.reshape(()) if group.get('differentiable', False) else x.item()
            if isinstance(x, tuple):
                return tuple(map(value, x))
            return x

        if not any(isinstance(x, torch.Tensor) or (isinstance(x, tuple) and any(isinstance(y, torch.Tensor) for y in x))
                   for x in group.values()):
            return group
        return {key: value(x) if key != 'params' else x for key, x in group.items()}

    def check_sparse(self, group: Dict[str, Any]):
        """
        A sparse gradient, as `nn.Embedding(sparse=True)` gives, holds the rows that the batch
        touched. Only an algorithm with an update for it takes one (`supports_sparse`), and only
        as written, without weight decay, which would touch every row.
        """
        name = type(self).__name__
        if not self.supports_sparse:
            raise RuntimeError(f'{name} does not support sparse gradients')
        if group.get('fused'):
            raise RuntimeError(f'{name}: fused=True does not support sparse gradients')
        if group.get('weight_decay', 0) != 0:
            raise RuntimeError(f'{name}: weight_decay is not compatible with sparse gradients, '
                               f'which touch only some rows (got weight_decay {group["weight_decay"]!r})')

    def step_complex(self, state: Dict[str, Any], numbers: Numbers, grad: torch.Tensor, param: nn.Parameter):
        r"""
        ### Complex parameters

        A complex parameter $z = x + i y$ is updated as the pair of real numbers $(x, y)$, as
        `torch.optim` does: `step_param` runs on `torch.view_as_real` views of the parameter, its
        gradient and its state, which share their memory, so $|g|^2$ becomes $g_x^2 + g_y^2$ only
        where an algorithm says so, never by accident. The state stays complex, so that a
        `state_dict` moves between ours and torch's; state that the step creates (SGD's first
        momentum buffer) is stored back as complex.
        """
        shape = torch.view_as_real(param).shape
        real = {key: torch.view_as_real(value) if isinstance(value, torch.Tensor) and value.is_complex() else value
                for key, value in state.items()}
        views = dict(real)
        self.step_param(real, numbers, torch.view_as_real(grad), torch.view_as_real(param))
        for key, value in real.items():
            if key in views and value is views[key]:
                continue
            if isinstance(value, torch.Tensor) and value.shape == shape and not value.is_complex():
                value = torch.view_as_complex(value)
            state[key] = value

    def positions(self) -> Dict[int, int]:
        """The position of each parameter among the optimizer's, by `id`."""
        params = (param for group in self.param_groups for param in group['params'])
        return {id(param): position for position, param in enumerate(params)}

    def shared_numbers(self, state: Dict[str, Any], group: Dict[str, Any],
                       shared: Optional[Tuple[tuple, Dict[str, Any], Numbers]]) -> Tuple[Numbers, Any]:
        """
        ### The numbers of a step, once for parameters that agree

        `step_numbers` reads the group and the state's counters (`int`s and `float`s, such as
        `step`), and nothing else. So the parameters of a group whose counters agree, which is
        usually all of them, have the same numbers: they are computed for the first and handed to
        the rest, with the counters it left. On a model of hundreds of tensors that saves a few
        microseconds per tensor, as much as the compiled update of a small one costs.

        `shared` is what the last parameter's step left: its counters before and after, and its
        numbers. A state with anything else in it than counters and tensors (a counter kept
        in a 0-d tensor, as [SharedAdam](shared_adam.html) keeps `step`) has its own numbers.
        """
        counters = []
        for key, value in state.items():
            if type(value) is int or type(value) is float:
                counters.append((key, value))
            elif not (isinstance(value, torch.Tensor) and value.dim() > 0):
                return self.step_numbers(state, group), None
        counters = tuple(counters)
        if shared is not None and shared[0] == counters:
            state.update(shared[1])
            return shared[2], shared
        numbers = self.step_numbers(state, group)
        return numbers, (counters, {key: state[key] for key, _ in counters}, numbers)

    def __getstate__(self) -> Dict[str, Any]:
        """
        `torch.optim` pickles only `defaults`, `state` and `param_groups`. Our optimizers also keep
        settings as attributes (the `WeightDecay` rule, `optimized_update`), which `copy.deepcopy`
        and pickling (as in a `spawn`ed worker) must carry too. Private attributes, such as caches,
        are rebuilt on demand.
        """
        settings = {name: value for name, value in self.__dict__.items() if not name.startswith('_')}
        return {**settings, **super().__getstate__()}

    def state_dict(self) -> Dict[str, Any]:
        """
        The usual `state_dict`, plus the optimizer's class name. `torch.optim` ignores the extra
        key, and it lets `load_state_dict` say what was loaded into what.
        """
        return {**super().state_dict(), 'optimizer': type(self).__name__}

    def load_state_dict(self, state_dict: Dict[str, Any]):
        r"""
        Refuse a state that another algorithm saved, before anything is changed.
        Each saved parameter state must have exactly the keys that `init_state` would create:
        loading [Adam](adam.html)'s state into [AMSGrad](amsgrad.html) would otherwise fail with a
        `KeyError` on the first step, or run on without $\max v_t$.

        A number that `torch.optim` saves as a 0-d tensor (`step`, NAdam's `mu_product`) is turned
        back into the Python number our `init_state` uses for it. `torch.optim` casts every state
        tensor to its parameter's dtype; each is cast back to the dtype this optimizer keeps it in,
        exactly for a state saved in that dtype, and with a warning for a state saved in another
        (`bfloat16` moments loaded into a `float32` optimizer, say). 8-bit moments, saved as codes
        and scales, are dequantized for an optimizer that keeps them in floats, and float moments
        are quantized for one that keeps them in 8 bits, with the same warning (`requantize`).

        The other way needs a step in between. `torch.optim` loads our `bfloat16` moments by casting
        them, but it would cast 8-bit codes too, to the numbers 0 to 255, and run on them without a
        word: load an 8-bit state into our class of the same algorithm in `float32` first, and give
        torch that optimizer's `state_dict`.
        """
        source = state_dict.get('optimizer', 'a state_dict with no optimizer name (torch.optim?)')
        # Each parameter's state as its saved group would create it: the saved flags (`amsgrad`,
        # `decoupled_weight_decay`) are the ones that hold after loading.
        saved_ids, ours = [], []
        for saved_group, group in zip(state_dict['param_groups'], self.param_groups):
            merged = self.hyperparameters({**group, **{k: v for k, v in saved_group.items() if k != 'params'}})
            saved_ids.extend(saved_group['params'])
            ours.extend((merged, param) for param in group['params'])
        fresh_states, converted, loaded = {}, set(), dict(state_dict['state'])
        for saved_id, (group, param) in zip(saved_ids, ours):
            saved = loaded.get(saved_id)
            if not saved:
                continue
            fresh: Dict[str, Any] = {}
            self.init_param_state(fresh, group, param)
            saved = loaded[saved_id] = self.requantize(saved, fresh, converted)
            # (a `rounding_step` that a state saved with `bfloat16` state may have is loaded as it is:
            # `init_state` does not make it, [`rounding_step`](#rounding_step) does)
            missing, extra = fresh.keys() - saved.keys(), saved.keys() - fresh.keys() - {'rounding_step'}
            if missing or extra:
                raise ValueError(f'Cannot load the state of {source} into {type(self).__name__}: '
                                 f'its parameter state has keys {sorted(saved)}, '
                                 f'{type(self).__name__} needs {sorted(fresh)}')
            fresh_states[param] = fresh, saved
            converted.update((key, str(saved[key].dtype), str(value.dtype)) for key, value in fresh.items()
                             if isinstance(value, torch.Tensor) and isinstance(saved[key], torch.Tensor)
                             and value.is_floating_point() and saved[key].dtype != value.dtype)
        if converted:
            warnings.warn(f'{type(self).__name__}: converting the loaded state of {source}: ' +
                          ', '.join(f'{key} from {saved} to {ours}' for key, saved, ours in sorted(converted)))

        # (`torch.optim`'s loading adds `differentiable` to the defaults of a class that has none)
        defaults = dict(self.defaults)
        super().load_state_dict({**state_dict, 'state': loaded})
        # A group saved by `torch.optim` lacks the keys only our classes have (RAdam's `amsgrad`):
        # they take the constructor's values, as `torch.optim` does for its own new keys.
        for group in self.param_groups:
            for key, value in defaults.items():
                group.setdefault(key, value)

        for param, (fresh, saved) in fresh_states.items():
            state = self.state[param]
            for key, value in fresh.items():
                if isinstance(value, (int, float)) and isinstance(state[key], torch.Tensor):
                    state[key] = type(value)(state[key].item())
                elif isinstance(value, torch.Tensor) and state[key].dtype != value.dtype:
                    # From the saved tensor, not from torch's cast of it to the parameter's dtype,
                    # which would round the scales of 8-bit state for a `bfloat16` parameter
                    state[key] = saved[key].to(device=state[key].device, dtype=value.dtype)
                elif value is None and isinstance(saved[key], torch.Tensor) and state[key].dtype != saved[key].dtype:
                    # An entry that the step makes (SGD's momentum) keeps the dtype it was saved in
                    state[key] = saved[key].to(device=state[key].device)

    def requantize(self, saved: Dict[str, Any], fresh: Dict[str, Any], converted: set) -> Dict[str, Any]:
        """
        A saved parameter state with each tensor of `quantized_state` in 8 bits where `fresh`, the state
        this optimizer would create, has it in 8 bits, and in floats where `fresh` has floats. Each
        conversion is added to `converted` as (key, from, to).
        """
        saved = dict(saved)
        for key, code_map in self.quantized_state.items():
            absmax = key + low_precision.ABSMAX
            if key not in saved or key not in fresh or (absmax in saved) == (absmax in fresh):
                continue
            if absmax in saved:
                converted.add((key, '8 bits', str(fresh[key].dtype)))
                saved[key] = low_precision.dequantize(saved[key], saved.pop(absmax), code_map).to(fresh[key].dtype)
            else:
                converted.add((key, str(saved[key].dtype), '8 bits'))
                saved[key], saved[absmax] = low_precision.quantize(saved[key], code_map)
        return saved


class WeightDecay:
    r"""
    <a id="WeightDecay"></a>

    ## Weight decay

    Weight decay pulls parameters towards zero. There are three ways to do it, and the difference
    matters for adaptive optimizers (see [AdamW](adamw.html)):

    * **$L_2$ regularization** adds $\frac{\lambda}{2} \lVert \theta \rVert^2$ to the loss, so
      the gradient becomes $g_t + \lambda \theta_{t-1}$. It then passes through the moment
      estimates and is divided by $\sqrt{\hat{v}_t}$ like the rest of the gradient.
    * **Decoupled decay** shrinks the parameters directly, outside the adaptive update:
      $\theta_{t-1} \leftarrow \theta_{t-1} (1 - \alpha \lambda)$.
    * **Absolute decoupled decay** does the same without the learning rate:
      $\theta_{t-1} \leftarrow \theta_{t-1} (1 - \lambda)$.

    The coefficient $\lambda$ lives in each param group as `weight_decay`, so groups can differ;
    this object only says which of the three rules to apply.
    """

    def __init__(self, weight_decay: float = 0., weight_decouple: bool = True, absolute: bool = False):
        r"""
        * `weight_decay` is the default decay coefficient $\lambda$
        * `weight_decouple` chooses decoupled decay over $L_2$ in the gradient
        * `absolute` makes decoupled decay ignore the learning rate
        """
        if absolute and not weight_decouple:
            raise ValueError('Invalid absolute=True for WeightDecay: absolute decay must be decoupled '
                             '(weight_decouple=True)')
        self.weight_decay = weight_decay
        self.weight_decouple = weight_decouple
        self.absolute = absolute

    def defaults(self) -> Dict[str, Any]:
        """The default for each param group's `weight_decay`."""
        return dict(weight_decay=self.weight_decay)

    def numbers(self, group: Dict[str, Any]) -> Dict[str, Any]:
        r"""
        The numbers of the decay in this step: whether to add $\lambda \theta_{t-1}$ to the gradient
        (`l2_decay`) or to shrink $\theta_{t-1}$ (`decoupled_decay`), $\lambda$, and the factor
        $1 - \alpha \lambda$ or $1 - \lambda$. With $\lambda = 0$ both flags are off, and the step
        multiplies nothing by one.
        """
        decay = group['weight_decay']
        # A group may say which rule it follows, as `torch.optim.Adam`'s groups do; a saved
        # group then restores it
        decouple = group.get('decoupled_weight_decay', self.weight_decouple)
        absolute = self.absolute and decouple
        factor = 1 - decay if absolute else 1 - group['lr'] * decay
        return dict(l2_decay=not decouple and bool(decay != 0), decoupled_decay=decouple and bool(decay != 0),
                    weight_decay=decay, decay_factor=factor)

    def __call__(self, param: torch.Tensor, grad: torch.Tensor, numbers: Numbers) -> torch.Tensor:
        r"""
        Apply the decay to `param` or `grad`, and return the gradient the optimizer should use.
        """
        if numbers.l2_decay:
            # $g_t + \lambda \theta_{t-1}$, in a new tensor: `param.grad` belongs to the user.
            return grad + numbers.weight_decay * param
        if numbers.decoupled_decay:
            # $\theta_{t-1} \leftarrow \theta_{t-1} (1 - \alpha \lambda)$, or $(1 - \lambda)$ for absolute decay
            param.mul_(numbers.decay_factor)
        return grad


def as_weight_decay(weight_decay: Union[float, WeightDecay], decoupled: bool) -> WeightDecay:
    """
    Optimizers take `weight_decay` as a float with the meaning `torch.optim` gives it for that
    algorithm ($L_2$ for Adam, decoupled for AdamW), or as a `WeightDecay` that says which rule to use.
    """
    if isinstance(weight_decay, WeightDecay):
        return weight_decay
    return WeightDecay(weight_decay, weight_decouple=decoupled)
