r"""
---
title: The fast path
summary: How each optimizer's own step_param, as written on its page, is recorded once and compiled into one loop that runs for parameters of every size.
---

# The fast path

The pages of this package update one parameter at a time, one operation per line, so that each
line can carry its equation. Read as a program, that is slow. Each line is a separate pass over
memory: Adam's `step_param` reads and writes $m$, $v$ and $\theta$ several times, and `v.sqrt()`
creates a full-size temporary on every step, which the operating system hands out as fresh pages
(one page fault for every 1,024 `float32` numbers, a 4 KiB page). On a CPU an optimizer step is
limited by memory bandwidth, not by arithmetic, so every extra pass costs about as much as the
useful one.

### The floor

The least an Adam step can do is read $\theta$, $g$, $m$, $v$ once and write $\theta$, $m$, $v$
once: 7 tensors of 4 bytes, 28 bytes per parameter. At the bandwidth of an in-place update
(`a.mul_(s)`, which also reads and writes each byte once) this gives the time below which no
implementation can go. The [benchmark](#benchmark) below measures both in the same process.

### The page's code, compiled

There is no second copy of any algorithm here. Every optimizer splits its step into
[the numbers of step $t$ and the tensor math](optimizer.html), and this module knows nothing
else about it:

1. **Record.** [`make_fx`](https://pytorch.org/docs/stable/fx.html) runs the optimizer's own
   `step_param` once on stand-in tensors and records each operation it performs, in-place writes
   included, as a graph. Each number of the step (a bias correction, the learning rate) is a 0-d
   tensor input of the graph, not a constant, so a new value next step does not mean a new graph.
   The flags among the numbers (`bool`s) and the optimizer's settings are constants of the graph.
2. **One size for all.** The stand-in tensors are one-dimensional, and their length is a symbol
   $n$, not a number. Every tensor of an element-wise update can be viewed as a flat array, so the
   same graph serves a bias of 768 numbers and an embedding of 38 million.
3. **Compile.** Inductor, the compiler behind `torch.compile`, fuses the graph into a single loop
   in C++ that loads $\theta$, $g$ and the state once, computes in registers, and stores the
   results: one pass over memory, no temporaries. It is called once per parameter.

Because the compiled loop does not depend on the number or the shapes of the parameters, the
first step of a model with 148 tensors compiles exactly what the first step of a model with one
tensor does, once per optimizer class, setting, flag combination and dtype, and Inductor's
on-disk cache keeps it for later runs.

### When the fast path runs

A parameter's update is compiled when all of these hold, and otherwise runs as written:

* Its group's `fast` option allows it. Like `torch.optim`'s `foreach` and `fused`, it is a key of the
  param group: `True` asks for the fast path, `False` forbids it, and `None` or no key chooses
  automatically: the fast path when the group's parameters with gradients hold at least
  `MIN_NUMEL` elements. Smaller groups, like those of unit tests and small experiments, take the
  code as written, which compiles nothing.
* Its parameter, gradient and state are CPU tensors that a flat loop can take, and the group is
  not `differentiable`, and a C++ compiler is installed. The tensors are:
    * dense and contiguous, in `float32` or `float64`, all of one dtype;
    * or, for an update of each element on its own, dense and laid out alike without being
      contiguous, such as a convolution's weight in `channels_last`: the loop takes them
      [in memory order](#in_memory_order) (not with 8-bit state);
    * with state in `bfloat16` or in 8 bits ([low-precision state](low_precision.html)), 8-bit state
      in rows of whole blocks of 256 ([below](#blocks)), and a [last block](#whole_blocks) that is
      not whole as written;
    * or a `bfloat16` parameter and gradient that the optimizer steps in `float32`, with
      `kahan_sum` or a `state_dtype` ([`bfloat16` parameters](low_precision.html#bfloat16-parameters)).

    State of another shape (a 0-d step counter, say) belongs to `step_numbers` and is not seen by the loop.
    A loop changes its inputs in place and creates nothing, so a step that creates a state tensor
    (SGD's first, which copies the first gradient into its velocity) runs as written, and the
    steps after it run the loop.
    Under FSDP2 they are `DTensor`s, and the loop runs on each process's shards
    ([below](#on_shards)), or, for an update that reaches the whole tensor, on the whole tensors
    that [the template gathers](optimizer.html#on_whole_tensors) from them.
* Recording and compiling the update worked. A `step_param` that reads a number with Python
  (`float(x)`, `if x > 0`) cannot be recorded with $x$ as an input; it runs as written, with a
  warning that says why.
* The update does not need rows and columns: the optimizer's
  [`reach(group)`](optimizer.html#reach) is `'element'`, as most are, or `'tensor'`, as
  [LAMB](lamb.html)'s is, whose norms of whole tensors the loop computes as reductions over
  the flat tensor. It is `'matrix'` for [Muon](muon.html)'s matrix polynomial,
  [Adafactor](adafactor.html)'s row and column means and [SOAP](soap.html)'s eigenvectors, and a
  flat loop has no rows or columns. Those groups run as written at every size, silently unless
  they asked for the fast path with `fast=True`.

A subclass that overrides a hook, `get_mv` say, is recorded with its override: the fast path
runs whatever `step_param` does. When a group that asked for the fast path, or is large enough for
it, cannot have it, a `FastPathWarning` says why, once per reason and class.

### Passes that return sums

An update may need sums over the whole model before any parameter moves: [Prodigy](prodigy.html)'s
estimate of its step size adds up a dot product and a norm of every parameter. Such a pass is
another method of the optimizer, with `step_param`'s arguments, that changes its state in place and
returns 0-d tensors; [`sums`](#sums) records and compiles it as it does `step_param`, and the
optimizer adds up what each parameter's loop returns. Only the numbers differ from the update's:
the loop keeps no `Plan`, and it is [called directly](#direct_call) with new 0-d tensors for its sums.

### Two loops per update

Each update is compiled twice: once to run on all of the machine's threads, for tensors of at
least `PARALLEL_NUMEL` elements, and once to run on one, for the rest. Waking threads for a bias
of 768 numbers costs more than the update itself, and on a busy machine, where the other threads
may not be scheduled at once, it can cost milliseconds.

### Calling the loop

Inductor returns a Python function that checks and unpacks its inputs and then calls its C++
loop. For an update that is one loop, [`direct_call`](#direct_call) finds out, on probe tensors,
which input goes where in the loop's arguments, and the fast path then calls the C++ function
itself, with the arguments it needed on the parameter's last step, kept in a [`Plan`](#Plan) as
long as the state, the flags and the kinds of the numbers stay as they were.

### The steady step

A model has hundreds of tensors, most of them small, and on most steps nothing about them changes:
the same parameters have gradients, each takes its `Plan`, and one `Numbers` serves them all.
Finding that out parameter by parameter, in Python, costs about 4 µs per parameter, more than
the loop of a small one: 2 ms of a 57 ms step of a model of 500 tensors, where
`torch.optim.AdamW(fused=True)` checks its tensors in C++. Most of it is checking (each plan's
checks, the numbers of each parameter, looking up its state), the rest calls between
functions. So a group whose parameters all took their plans keeps a [`GroupPlan`](#GroupPlan): the
plans in order, and what their checks compare, laid out in lists. On the next step each check is
one pass of `map` over a list, which Python runs in C, about 60 ns per tensor; the numbers are
computed once; and the loops are called one after another ([the steady step](#steady)): about
1.5 µs per parameter in all, the loop of a small one included. Any change, a gradient missing or a state tensor replaced or a flag
of the numbers flipped, sends the group back to its parameters one by one for a step, which
makes the plans that the next steady step takes.

The loops themselves stay one per parameter. Inductor could fuse the updates of a list of small
tensors into one call, but it unrolls a loop over a list, so its compile time would grow with the
number of tensors again, and a call costs about 0.2 µs of the 1.5.

### The caches

The first step of each optimizer class, setting and dtype compiles, in a few seconds; a compile
that takes longer than two seconds says so while it runs. Inductor caches what it compiles on
disk, in `~/.cache/labml_opt/inductor`, outside any repository, or in `TORCHINDUCTOR_CACHE_DIR` if
it was set when this module was imported. The variable is set only while the fast path compiles,
so `torch.compile` of your own model keeps its own cache.

Using Inductor's cache still means importing Inductor, a few seconds in every new process. So the
loops that can be called directly are also [saved](#SavedKernels) in a folder of that cache,
with their call plans; a later process records the step, finds its loop there, and loads it
without importing the compiler, or needing one.

<a id="first-step"></a>

### The first step

Measured with `python benchmarks/first_step.py`, each cell in a fresh process, on the shapes of a
real model in one param group:

[[include: results/first_step.md]]

This run was made on a quiet machine (load average 2); the two quiet runs before it gave first
steps of 5.2 to 5.7 s and of 4.7 to 4.8 s with an empty cache, 0.50 to 0.60 s with a warm one,
and steady ratios of 1.00 to 1.02; the two before those, of earlier code that recorded the update once per thread count,
first steps of 4.8 to 5.1 s and 0.55 to 0.66 s, and steady ratios of 1.00 to 1.03. At a load of 9 to 16 from other work the steady ratio
of the same code spreads from 0.98 to 1.13: torch's fused step runs every small tensor on all
threads, and waits when the other core is busy.

## Benchmark

[[include: results/optimizer_step.md]]

Measured on a machine with no other work of ours (load average 2, from the benchmark itself),
with the memory in its slower state (53 GB/s in place) and shared in bursts with work this machine
does not show ([the low-precision page](low_precision.html#what-it-costs) says more). Every round
is noisy: a median of three can still be off by a quarter, and a row above 100% of its floor
(Noam's 148% at 50M) is a round timed while the memory was faster. One optimizer is below 85% of
its floor at 50M: [Adafactor](adafactor.html) (50%) runs as written, three passes over bands of
rows, each a handful of torch operations; compiled as it is written, with its row and column sums
as reductions, it was slower. Its page says why, and why three passes come no closer than about
69% of this floor on this machine, which charges for the tensors a pass reads and hardly for those
it writes: 86% where, as in these matrices, $g_t^2$ stays in the cache from one pass to the next.
[Prodigy](prodigy.html) (89%) makes two passes, its estimate's and its update's, since
$\theta_t$ needs every parameter's sums; its estimate's pass stores $\sigma$ in the loop that
sums it ([one pass](#one-pass)), where it was 73% with a second loop.
"""

import array
import contextlib
import functools
import itertools
import logging
import operator
import os
import shutil
import sys
import threading
import warnings
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch

from labml_opt import low_precision

# Where Inductor caches what the fast path compiles: `TORCHINDUCTOR_CACHE_DIR` if it was set before
# this module was imported, else a directory of our own
CACHE_DIR = (os.environ.get('TORCHINDUCTOR_CACHE_DIR') or
             os.path.join(os.path.expanduser('~'), '.cache', 'labml_opt', 'inductor'))

# Groups smaller than this many elements take the code as written when `fast` is `None`.
MIN_NUMEL = 1 << 22
# The dtypes the fast path is tested for; `bfloat16` parameters too, when the optimizer computes
# their step in `float32` (`low_precision`: Kahan summation or a `state_dtype`)
DTYPES = (torch.float32, torch.float64)
# The length of the stand-in tensors. Inductor decides from it whether the loop is worth
# running on several threads; a million elements makes it do so.
TRACE_NUMEL = 1 << 20
# Each update is compiled twice: to run on all threads, and on one. Tensors of at least this many
# elements take the first: below it, waking threads costs more than it saves (it is torch's own
# grain size), and on a busy machine it can cost milliseconds.
PARALLEL_NUMEL = 1 << 15
# A compile that takes longer than this many seconds says so while it runs.
SLOW_COMPILE = 2.

log = logging.getLogger(__name__)


class FastPathWarning(RuntimeWarning):
    """A group that asked for the fast path, or was large enough for it, took the code as written."""


def compiled_step(optimizer: torch.optim.Optimizer, group: Dict[str, Any],
                  params: List[torch.Tensor]) -> Optional['CompiledStep']:
    """
    <a id="compiled_step"></a>

    ## Dispatch

    The compiled `step_param` for the parameters `params` of `group`, or `None` when the group
    takes the code as written. Called by
    [`GenericAdaptiveOptimizer.step_group`](optimizer.html#GenericAdaptiveOptimizer) once per
    group and step; it must be cheap for the small groups that say no, and for the large ones that
    take the steady step.
    """
    fast = group.get('fast')
    if fast not in (None, True, False):
        raise ValueError(f"Invalid fast {fast!r} for {type(optimizer).__name__}: "
                         f"must be True, False or None (automatic)")
    if fast is False or not params:
        return None
    # A group whose every parameter took its plan on the last step, with nothing changed since,
    # has passed every check below already: it takes the [steady step](#steady)
    steps = optimizer.__dict__.get('_compiled_steps')
    compiled = steps.get(id(group)) if steps else None
    if compiled is not None and compiled.group is group and compiled.ready(params):
        return compiled
    # Small groups, the common case on every step of a small model, leave before anything else is checked
    if fast is None and sum(param.numel() for param in params) < MIN_NUMEL:
        return None
    # A flat loop cannot compute an update that needs rows and columns; that is the algorithm's
    # nature, not a problem to warn of, unless the group asked for the fast path
    if optimizer.reach(group) == 'matrix':
        if fast:
            warn_once(optimizer, 'its update is not element-wise (it needs the rows and columns of each tensor)')
        return None
    reason = unsupported(group, params, optimizer.low_precision())
    if reason is not None:
        warn_once(optimizer, reason)
        return None
    # One per group, kept with the optimizer (a private attribute: not pickled, not saved), so that
    # what it learns about each parameter lasts from step to step
    steps = optimizer.__dict__.setdefault('_compiled_steps', {})
    compiled = steps.get(id(group))
    if compiled is None or compiled.group is not group:
        compiled = steps[id(group)] = CompiledStep(optimizer, group)
    compiled.refresh()
    compiled.taken = []
    return compiled


def unsupported(group: Dict[str, Any], params: List[torch.Tensor], in_float32: bool) -> Optional[str]:
    """
    Why `group` cannot take the fast path, or `None` if it can. `in_float32` says that the
    optimizer steps a `bfloat16` parameter in `float32` ([low-precision state](low_precision.html#step_in_float32)),
    rounding only what it writes back, as a loop does; a `bfloat16` parameter stepped one rounded
    operation after another has no loop that computes the same.
    """
    if group.get('differentiable', False):
        return 'the group is differentiable'
    dtypes = DTYPES + (torch.bfloat16,) if in_float32 else DTYPES
    for param in params:
        grad = param.grad
        if param.dtype not in dtypes or grad.dtype != param.dtype:
            return (f'parameter dtype {param.dtype} with gradient dtype {grad.dtype} (supported: float32, float64, '
                    f'and bfloat16 with kahan_sum or a state_dtype)')
        if not (param.is_cpu and grad.is_cpu):
            return f'parameter on {param.device}, gradient on {grad.device} (supported: CPU)'
    return None


class CompiledStep:
    """
    <a id="CompiledStep"></a>

    ## One group's compiled step

    Called for each parameter in place of `step_param`, with the same arguments; returns `False`,
    having changed nothing, when this parameter's update runs as written instead. On a steady
    step, `step_all` takes the whole group instead.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, group: Dict[str, Any]):
        self.optimizer = optimizer
        self.group = group
        # Each parameter's `Plan`, by `id`
        self.plans: Dict[int, Plan] = {}
        self.owner = None
        # What each parameter of the last step one by one took: `(param, plan, numbers)`, with
        # `None` for a plan it did not get; and the `GroupPlan` made from them
        self.taken: List[Tuple[torch.Tensor, Optional[Plan], Any]] = []
        self.steady: Optional[GroupPlan] = None
        # The gradients that `ready` found, for `step_all`, which lets go of them
        self.grads: Optional[List[torch.Tensor]] = None

    def refresh(self):
        """What the recorded math may depend on besides the numbers: the class, its settings and `maximize`."""
        self.maximize = bool(self.group.get('maximize', False))
        owner = (type(self.optimizer), settings(self.optimizer), self.maximize)
        if owner != self.owner:
            self.owner, self.plans, self.taken, self.steady = owner, {}, [], None

    def ready(self, params: List[torch.Tensor]) -> bool:
        """
        Whether the group takes the steady step: the checks of dispatch that are the group's, and
        the `GroupPlan`'s of its parameters, made from the last step if it has none yet.
        """
        self.refresh()
        steady = self.steady
        if steady is None and self.taken:
            steady = self.steady = GroupPlan.of(self.taken, params)
        self.grads = None
        group = self.group
        if not (steady is None or group.get('differentiable', False) or self.optimizer.reach(group) == 'matrix'):
            self.grads = steady.holds(self.optimizer.state, params)
        if self.grads is None:
            self.steady = None
            return False
        return True

    def step_all(self, group: Dict[str, Any]) -> bool:
        """
        <a id="steady"></a>

        ### The steady step

        On most steps nothing has changed since the last: the same parameters have gradients, and
        each took its `Plan` with the numbers that the group's first parameter computed. Then the
        whole group is stepped here, with its checks made once per group (`GroupPlan.holds`): the
        numbers of the step come from a copy of the first parameter's state, every state gets the
        counters they leave there, as `shared_numbers` would hand them on, and the loops run one
        after another. Returns `False`, having changed nothing, when the numbers have other flags
        or other names than last time: then the group takes the parameters one by one.
        `group` is the group as `step_numbers` reads it.
        """
        steady, grads = self.steady, self.grads
        self.steady, self.grads, self.taken = None, None, []
        # The numbers, computed on a copy, so that a step that does not fit the plans has changed
        # nothing yet; a `step_numbers` that added an entry to the state would not fit them either
        first = steady.states[0]
        copy = dict(first)
        numbers, shared = self.optimizer.shared_numbers(copy, group, None)
        if shared is None or len(copy) != len(first) or not steady.takes(numbers):
            return False
        # Every state's counters as the copy's are now, $t \leftarrow t + 1$ among them
        counters = shared[1]
        for state in steady.states:
            state.update(counters)
        steady(numbers, grads)
        self.steady = steady
        return True

    def __call__(self, state: Dict[str, Any], numbers: Dict[str, Any], grad: torch.Tensor,
                 param: torch.Tensor) -> bool:
        """
        This runs for every parameter on a step that is not steady. A parameter whose state,
        flags and kinds of numbers are those of its last step takes its `Plan`; otherwise the
        state and the numbers are looked at afresh, each in a single pass.
        """
        plan = self.plans.get(id(param))
        if plan is not None and plan.holds(state, numbers, grad, param):
            plan(numbers, grad)
            self.taken.append((param, plan, numbers))
            return True
        if is_dtensor(param):
            self.taken.append((param, None, numbers))
            return self.on_shards(state, numbers, grad, param)
        done = self.run(state, numbers, grad, param, keep_plan=True) is not None
        self.taken.append((param, self.plans.get(id(param)) if done else None, numbers))
        return done

    def once(self, state: Dict[str, Any], numbers: Dict[str, Any], grad: torch.Tensor, param: torch.Tensor) -> bool:
        """
        Like a call, for tensors that will not be seen again: the whole tensors that the template
        gathers from shards under FSDP2 are new on every step, and a `Plan` would only keep them alive.
        """
        return self.run(state, numbers, grad, param, keep_plan=False) is not None

    def sums(self, method: str, state: Dict[str, Any], numbers: Dict[str, Any], grad: torch.Tensor,
             param: torch.Tensor) -> Optional[List[torch.Tensor]]:
        r"""
        <a id="sums"></a>

        ### A pass that returns sums

        `getattr(optimizer, method)(state, numbers, grad, param)`, compiled as `step_param` is, for
        a method that changes its inputs in place and returns 0-d tensors, sums over the whole
        tensor, such as the part of [Prodigy](prodigy.html)'s estimate of one parameter. Returns
        them, or `None`, having changed nothing, when the method runs as written instead. Nothing is
        kept for the next step: such a pass comes before the update of every parameter, which then
        takes its `Plan` as usual.

        <a id="one-pass"></a>

        **One pass.** Prodigy's pass updates $\sigma$ in place and sums $|\sigma_t|$. Inductor
        computes $\sigma_t$ in registers for the sum, and then, left to itself, stores it in a
        second loop that reads $\sigma$ and $g$ again: it does not put a store after a sum into the
        sum's loop, and the store must come after the sum's reads of $\sigma_{t-1}$. Told to keep
        any value read twice (`realize_reads_threshold` of 1), it stores $\sigma_t$ from the loop
        that sums it, so the pass reads each tensor once: 20 bytes per parameter, not 28. Prodigy's
        whole step went from 2.5 to 1.9 times Adam's CPU time (one thread, 50M parameters), for
        1.7 times its bytes. Only passes that return sums are compiled so; the update loops are not
        changed by it.
        """
        return self.run(state, numbers, grad, param, keep_plan=False, method=method)

    def run(self, state: Dict[str, Any], numbers: Dict[str, Any], grad: torch.Tensor, param: torch.Tensor,
            keep_plan: bool, method: str = 'update_param') -> Optional[List[torch.Tensor]]:
        """
        `method` of one parameter (its update, unless said otherwise), compiled first if need be,
        and what it returns; with `keep_plan`, a `Plan` for its next step. `None` when it cannot run
        compiled.
        """
        if not (param.is_contiguous() and grad.is_contiguous()):
            # (a pass other than the update, such as Prodigy's estimate, and an update that reaches
            # the whole tensor, whose norms would be summed in another order, run as written for it)
            if method != 'update_param' or self.optimizer.reach(self.group) != 'element':
                return None
            problem = memory_order_problem(grad, param)
            if problem:
                warn_once(self.optimizer, f'a parameter of shape {tuple(param.shape)} and strides {param.stride()}, '
                                          f'not contiguous, {problem}')
                return None
        # The state the loop sees: tensors of the parameter's shape. The rest is `step_numbers`'s.
        tensors, layout = [], []
        shape, param_layout = param.shape, layout_of(param)
        for key, value in state.items():
            # An entry still to be created, such as SGD's velocity, whose first value is the first
            # gradient: that first step runs as written, and the loop is for the steps after it
            if value is None:
                return None
            if isinstance(value, torch.Tensor) and value.shape == shape:
                # (8-bit blocks are of the elements' order, not of memory's: see [below](#blocks))
                eight_bit = value.dtype == torch.uint8 and param_layout is not None
                if eight_bit or not fits(param_layout, value):
                    warn_once(self.optimizer, f'state {key!r} ' + ("is in 8 bits, in blocks of the elements' order, "
                                              'and its parameter is not contiguous' if eight_bit else
                                              f'laid out unlike its parameter, of strides {param.stride()}'))
                    return None
                tensors.append(value)
                layout.append((key, value.dtype))
        # Codes of blockwise-quantized state, `uint8`, each with the scales of its blocks (see
        # [below](#blocks))
        codes = [key for key, dtype in layout if dtype == torch.uint8]
        if codes:
            if param.numel() % low_precision.BLOCK:
                # (an update that reaches the whole tensor, such as LAMB's with its norms, cannot be cut)
                if method == 'update_param' and self.optimizer.reach(self.group) == 'element':
                    return self.whole_blocks(state, numbers, grad, param)
                warn_once(self.optimizer, f'state {codes[0]!r} is in 8 bits, quantized by blocks of '
                                          f'{low_precision.BLOCK}, and the loop of an update that reaches the '
                                          f'whole tensor takes only whole blocks')
                return None
            for key in codes:
                scales = state.get(key + low_precision.ABSMAX)
                if not (isinstance(scales, torch.Tensor) and scales.is_contiguous() and
                        scales.shape == (param.numel() // low_precision.BLOCK,)):
                    return None
                tensors.append(scales)
                layout.append((key + low_precision.ABSMAX, scales.dtype))
        flags, names, values = [], [], []
        for name, value in numbers.items():
            if is_value(value):
                names.append(name)
                values.append(value)
            else:
                flags.append((name, value))
        key = (self.owner, method, param.dtype, tuple(layout), tuple(flags), tuple(names))
        kernel = KERNELS.get(key)
        if kernel is None:
            kernel = compile_kernel(key, self.optimizer, method, self.maximize, tuple(layout), numbers, param)
        if isinstance(kernel, str):
            warn_once(self.optimizer, kernel)
            return None
        result = kernel(param, grad, tensors, values)
        chosen = kernel.sized(param.numel())
        if keep_plan and chosen.plan is not None and not chosen.returned:
            self.plans[id(param)] = Plan(chosen, state, numbers, names, [name for name, _ in flags], param, tensors)
        elif keep_plan:
            self.plans.pop(id(param), None)
        return result

    def whole_blocks(self, state: Dict[str, Any], numbers: Dict[str, Any], grad: torch.Tensor,
                     param: torch.Tensor) -> Optional[List[torch.Tensor]]:
        r"""
        <a id="whole_blocks"></a>

        ### A last block that is not whole

        A tensor of $n$ elements, $n$ not a multiple of `BLOCK`, ends in a shorter block: a
        1000 x 1000 matrix has 3906 blocks of 256 and one of 64. The loop takes rows of whole
        blocks, so the tensor runs in two pieces: its first $256 \lfloor n / 256 \rfloor$ elements
        and their scales in the loop, as a tensor of that size would, and the last block as
        written, on its own elements and scale. A block's codes depend on its own elements alone,
        so the two pieces compute the step of the whole tensor (8-bit codes are rounded to nearest,
        so neither piece draws random bits). Only an update of [reach](optimizer.html#reach)
        `'element'` is cut: LAMB's norms are of the whole tensor, which runs as written. Run whole
        as written, the 1000 x 1000 matrix took 16 times as long as a 1024 x 1024 one in the loop.
        """
        whole = param.numel() // low_precision.BLOCK * low_precision.BLOCK
        pieces = [{}, {}]
        for key, value in state.items():
            if isinstance(value, torch.Tensor) and value.shape == param.shape:
                elements = value.view(-1)
                pieces[0][key], pieces[1][key] = elements[:whole], elements[whole:]
            elif key.endswith(low_precision.ABSMAX) and key[:-len(low_precision.ABSMAX)] in state:
                blocks = whole // low_precision.BLOCK
                pieces[0][key], pieces[1][key] = value[:blocks], value[blocks:]
            else:
                pieces[0][key] = pieces[1][key] = value
        flat_param, flat_grad = param.view(-1), grad.view(-1)
        result = self.run(pieces[0], numbers, flat_grad[:whole], flat_param[:whole], keep_plan=False)
        if result is None:
            return None
        last_grad = -flat_grad[whole:] if self.maximize else flat_grad[whole:]
        self.optimizer.update_param(pieces[1], numbers, last_grad, flat_param[whole:])
        return result

    def on_shards(self, state: Dict[str, Any], numbers: Dict[str, Any], grad: torch.Tensor,
                  param: torch.Tensor) -> bool:
        """
        <a id="on_shards"></a>

        ### Sharded parameters (FSDP2)

        Under [`fully_shard`](distributed.html#fsdp2), a parameter, its gradient and the state that
        `init_state` makes from it are `DTensor`s: each process holds one shard of each, all cut
        alike. An element-wise update of the whole tensor is the same update of every shard, so
        the loop runs on the local shards. Shards are looked up on every step, so no `Plan` is kept.
        State that is not sharded like the parameter has no element-wise meaning here: the update
        runs as written.

        Only updates of [reach](optimizer.html#reach) `'element'` come here: the norm of a shard is
        not the norm of the tensor, so the template gives a wider update whole tensors instead,
        and the loop runs on those through `once`.
        """
        layout = (param.device_mesh, param.placements, param.shape)
        if not (is_dtensor(grad) and (grad.device_mesh, grad.placements, grad.shape) == layout):
            warn_once(self.optimizer, 'a DTensor parameter whose gradient is sharded differently')
            return False
        local_state = {}
        for key, value in state.items():
            if is_dtensor(value):
                if (value.device_mesh, value.placements, value.shape) != layout:
                    warn_once(self.optimizer, f'state {key!r} is sharded unlike its DTensor parameter')
                    return False
                value = value.to_local()
            elif isinstance(value, torch.Tensor) and value.numel() > 1:
                warn_once(self.optimizer, f'state {key!r} of a DTensor parameter is not a DTensor')
                return False
            local_state[key] = value
        return self.run(local_state, numbers, grad.to_local(), param.to_local(), keep_plan=False) is not None


def memory_order_problem(grad: torch.Tensor, param: torch.Tensor) -> Optional[str]:
    r"""
    <a id="in_memory_order"></a>

    ### Tensors that are not contiguous

    A convolution's weight in `channels_last` has its elements in memory in another order than
    row by row: it is not contiguous, but it is dense, a block of memory with no gaps, and its
    gradient and state (made `like` it) share its strides. An update of each element on its own
    does not care about order, and the loop takes data pointers and a length: it runs over each
    tensor's memory as a flat vector, the same loop as for contiguous tensors, and its `Plan`
    holds while the layout does. This says what keeps a parameter that is not contiguous, and its
    gradient, from the loop, or `None` if nothing does; its state must share its strides too
    (`fits`).

    The random bits of `bfloat16` state are drawn by [place in memory](low_precision.html#random_bits)
    on both paths. 8-bit blocks follow the elements' order, so 8-bit state on such a tensor runs as
    written, with a warning ([below](#blocks)); and the norms of an update that reaches the whole tensor
    ([LAMB](lamb.html)'s) would be summed in another order than as written, one rounding apart,
    so it runs as written too (`CompiledStep.run` asks this of element-wise updates only).

    Measured with `python benchmarks/layouts.py`, beside torch's fused AdamW, which is itself
    slower on `channels_last` weights than on contiguous ones (the last column would name any
    weight that ran as written):

    [[include: results/layouts.md]]
    """
    if not low_precision.is_dense(param):
        return 'with gaps or overlaps in memory'
    if grad.stride() != param.stride():
        return 'whose gradient is laid out otherwise'
    return None


def flat(tensor: torch.Tensor) -> torch.Tensor:
    """A dense tensor's elements in memory order, as a vector: `view(-1)` for a contiguous one."""
    return tensor.view(-1) if tensor.is_contiguous() else tensor.as_strided((tensor.numel(),), (1,), tensor.storage_offset())


def is_dtensor(value: Any) -> bool:
    """
    Whether `value` is a `DTensor`. A process that never made one has not imported their module
    (seconds to import), and need not.
    """
    module = sys.modules.get('torch.distributed.tensor')
    return module is not None and isinstance(value, module.DTensor)


class Plan:
    """
    <a id="Plan"></a>

    ### What one parameter's step needs, kept from its last step

    The C++ loop and its arguments, with a slot for the gradient, which is a new tensor on most
    steps; and what must be as it was for them to hold: the parameter's size and dtype, the
    state's entries, the flags and the names of the numbers. (A counter may change: the numbers
    carry what the loop needs of it.)
    """

    def __init__(self, kernel: 'Kernel', state: Dict[str, Any], numbers: Dict[str, Any], names: List[str],
                 flag_names: List[str], param: torch.Tensor, tensors: List[torch.Tensor]):
        self.state = state
        # The entries the loop depends on, the tensors; counters change every step
        self.size = len(state)
        self.keys = [key for key, value in state.items() if isinstance(value, torch.Tensor)]
        self.values = [state[key] for key in self.keys]
        self.names, self.flag_names = names, flag_names
        self.flags = [numbers[name] for name in flag_names]
        self.count = len(numbers)
        self.numel, self.dtype = param.numel(), param.dtype
        # `None` for contiguous tensors; else the shape and strides that the parameter and gradient keep
        self.layout = layout_of(param)
        self.thread = threading.get_ident()
        self.inputs = kernel.inputs()
        self.function = kernel.function
        # The gradient's slots hold `None` between steps, so that the plan keeps no gradient alive
        self.args = kernel.arguments([param, None, *tensors, *self.inputs.tensors], self.numel)
        self.grad_slots = [slot for slot, i in enumerate(kernel.plan) if i == 1]

    def holds(self, state: Dict[str, Any], numbers: Dict[str, Any], grad: torch.Tensor, param: torch.Tensor) -> bool:
        """
        The parameter as it was (a `param.data` of another size or dtype would need another loop),
        the same state entries (by identity), flags and numbers' names, and a gradient of the
        parameter's dtype, both laid out as they were (contiguous, as most are).
        """
        return (state is self.state and len(state) == self.size and
                param.numel() == self.numel and param.dtype == self.dtype and fits(self.layout, param) and
                all(map(operator.is_, map(state.get, self.keys), self.values)) and
                len(numbers) == self.count and list(map(numbers.get, self.flag_names)) == self.flags and
                grad.dtype == self.dtype and fits(self.layout, grad) and threading.get_ident() == self.thread)

    def __call__(self, numbers: Dict[str, Any], grad: torch.Tensor):
        # The parameters of a group usually share one `Numbers` (see `shared_numbers` in
        # optimizer.py): the loop's inputs hold them already after the first
        if self.inputs.source is not numbers:
            self.inputs.write(list(map(numbers.__getitem__, self.names)), numbers)
        args = self.args
        for slot in self.grad_slots:
            args[slot] = grad
        self.function(*args)
        for slot in self.grad_slots:
            args[slot] = None


def layout_of(tensor: torch.Tensor) -> Optional[Tuple[torch.Size, Tuple[int, ...]]]:
    """What the loop needs of the tensors beside `tensor`: `None` if it is contiguous, else its shape and strides."""
    return None if tensor.is_contiguous() else (tensor.shape, tensor.stride())


def fits(layout: Optional[Tuple[torch.Size, Tuple[int, ...]]], tensor: torch.Tensor) -> bool:
    """Whether `tensor` is laid out as `layout` says: contiguous for `None`, else with that shape and those strides."""
    return tensor.is_contiguous() if layout is None else (tensor.shape, tensor.stride()) == layout


# What the steady step reads of each tensor, in C rather than in Python
GRAD, DTYPE, LAYOUT, IS_CPU = (operator.attrgetter(name) for name in ('grad', 'dtype', 'layout', 'is_cpu'))


class GroupPlan:
    """
    <a id="GroupPlan"></a>

    ### What a whole group's step needs, kept from its last step

    The `Plan`s of the group's parameters, in order, and what `Plan.holds` checks of each, laid out
    in lists, so that the checks run as passes of `map` over whole lists, in C, rather than as
    Python for each parameter: about 60 ns per parameter and check, where `Plan.holds` takes about
    a microsecond per parameter. Made from what the parameters took on the last step, when each
    took a plan, one `Numbers` served them all (their counters agreed), and each plan's loop takes
    the gradient once, so that the call is the arguments before it, the gradient, and the rest.
    """

    @staticmethod
    def of(taken: List[Tuple[torch.Tensor, Optional[Plan], Any]],
           params: List[torch.Tensor]) -> Optional['GroupPlan']:
        """The `GroupPlan` of what the parameters `params` took on the last step, or `None` if there is none."""
        if len(taken) != len(params) or not all(map(operator.is_, (param for param, _, _ in taken), params)):
            return None
        numbers = taken[0][2]
        if any(plan is None or len(plan.grad_slots) != 1 or other is not numbers for _, plan, other in taken):
            return None
        state = taken[0][1].state
        counters = [key for key, value in state.items() if type(value) is int or type(value) is float]
        return GroupPlan(params, [plan for _, plan, _ in taken], counters)

    def __init__(self, params: List[torch.Tensor], plans: List[Plan], counters: List[str]):
        first = plans[0]
        self.ids = list(map(id, params))
        self.states = [plan.state for plan in plans]
        self.sizes = [plan.size for plan in plans]
        # Each state's tensors, by state and key, all in one list
        self.tensor_states = [plan.state for plan in plans for _ in plan.keys]
        self.tensor_keys = [key for plan in plans for key in plan.keys]
        self.tensors = [value for plan in plans for value in plan.values]
        self.counters = [operator.itemgetter(key) for key in counters]
        self.numels = [plan.numel for plan in plans]
        self.dtypes = [plan.dtype for plan in plans]
        # Each parameter's layout, `None` for contiguous: all `None` but in a model in `channels_last`
        self.layouts = [plan.layout for plan in plans]
        self.contiguous = all(layout is None for layout in self.layouts)
        self.thread = first.thread
        self.names, self.flag_names, self.flags, self.count = first.names, first.flag_names, first.flags, first.count
        # The 0-d inputs of each loop that the group's parameters call, once each
        self.inputs = list({id(plan.inputs): plan.inputs for plan in plans}.values())
        # Each loop's arguments before its gradient and after it
        self.functions = [plan.function for plan in plans]
        self.before = [tuple(plan.args[:plan.grad_slots[0]]) for plan in plans]
        self.after = [tuple(plan.args[plan.grad_slots[0] + 1:]) for plan in plans]

    def holds(self, states: Dict[torch.Tensor, Dict[str, Any]],
              params: List[torch.Tensor]) -> Optional[List[torch.Tensor]]:
        """
        The gradients of `params`, if `Plan.holds` holds for each of them, with `states` the
        optimizer's state by parameter, and their counters agree; `None` otherwise. The same
        parameters in the same order, in this thread; each with the same state, holding the same
        tensors; each parameter of the same size and dtype, laid out as it was (contiguous, as most
        are), on the CPU; and each gradient dense, laid out as its parameter, on the CPU, of its
        parameter's size and dtype.
        """
        if threading.get_ident() != self.thread or list(map(id, params)) != self.ids:
            return None
        # The states as they were, nothing added and no tensor replaced
        if not (all(map(operator.is_, map(states.get, params), self.states)) and
                list(map(len, self.states)) == self.sizes and
                all(map(operator.is_, map(dict.get, self.tensor_states, self.tensor_keys), self.tensors))):
            return None
        # Counters that agree, so that the first parameter's numbers are every parameter's
        for counter in self.counters:
            values = list(map(counter, self.states))
            if values.count(values[0]) != len(values):
                return None
        # The loop takes data pointers and the length: each tensor must be what it was compiled
        # for (a `param.data` replaced, or a gradient of another layout, would be read wrongly)
        grads = list(map(GRAD, params))
        for tensors in (params, grads):
            if not (all(map(operator.is_, map(LAYOUT, tensors), itertools.repeat(torch.strided))) and
                    list(map(torch.Tensor.numel, tensors)) == self.numels and
                    all(map(operator.is_, map(DTYPE, tensors), self.dtypes)) and
                    all(map(torch.Tensor.is_contiguous, tensors) if self.contiguous else map(fits, self.layouts, tensors))
                    and all(map(IS_CPU, tensors))):
                return None
        return grads

    def takes(self, numbers: Dict[str, Any]) -> bool:
        """Whether the numbers of this step have the flags and the names of the last."""
        return (len(numbers) == self.count and list(map(numbers.get, self.flag_names)) == self.flags and
                all(map(numbers.__contains__, self.names)))

    def __call__(self, numbers: Dict[str, Any], grads: List[torch.Tensor]):
        """The loops of the group, the numbers written once into each loop's 0-d inputs."""
        values = list(map(numbers.__getitem__, self.names))
        for inputs in self.inputs:
            inputs.write(values, numbers)
        for function, before, grad, after in zip(self.functions, self.before, grads, self.after):
            function(*before, grad, *after)


def is_value(number: Any) -> bool:
    """A number of the step that is an input of the loop (a float or an int), rather than a flag that shapes it."""
    return isinstance(number, float) or type(number) is int


def settings(optimizer: torch.optim.Optimizer) -> Tuple[Tuple[str, Any], ...]:
    """
    The optimizer's own settings, such as `optimized_update`: attributes that the recorded math
    may read with Python, and that therefore become constants of the loop.
    """
    return tuple(sorted((name, value) for name, value in vars(optimizer).items()
                        if not name.startswith('_') and isinstance(value, (bool, int, float, str, type(None)))))


class Kernel:
    """
    One compiled update, for tensors of any length, with the numbers as 0-d inputs.

    * `count` is the number of numbers
    * `plan` says what to pass to Inductor's C++ function, in its order: an index into the
      inputs (the parameter, its gradient, the state tensors and the numbers), `-1` for the
      length of the tensors, or `-2 - k` for the `k`th of `extras` (see
      [`extra_argument`](#extra_argument): the sums it returns, then Inductor's own
      tensors); `function` is then that C++ function, called directly.
      Without a plan, `function` is the compiled graph as Inductor returns it.
    """

    def __init__(self, function: Callable, count: int, plan: Optional[List[int]] = None, unit: int = 1,
                 extras: Optional[List[list]] = None, returned: int = 0):
        # Extra arguments (`-2 - k` in the plan for the `k`th of `extras`) go in through `WithExtras`
        self.function = WithExtras(function, plan, extras) if extras else function
        self.count = count
        self.plan = plan
        # The loop's length is in elements, or in blocks of `unit` elements for blockwise state
        self.unit = unit
        # How many of the extras the call returns: the sums of a pass that returns sums
        self.returned = returned
        # Each thread's 0-d inputs for the numbers
        self.local = threading.local()

    def inputs(self) -> 'ScalarInputs':
        """This thread's 0-d inputs for the numbers."""
        inputs = getattr(self.local, 'inputs', None)
        if inputs is None:
            inputs = self.local.inputs = ScalarInputs(self.count)
        return inputs

    def arguments(self, everything: List[Optional[torch.Tensor]], numel: int) -> list:
        """
        The arguments of the C++ loop, by its plan, from `everything` (the parameter, its gradient,
        the state tensors and the numbers' 0-d inputs) and the parameter's number of elements;
        `None` in the slots of extras, which `WithExtras` fills in.
        """
        return [everything[i] if i >= 0 else numel // self.unit if i == -1 else None for i in self.plan]

    def __call__(self, param: torch.Tensor, grad: torch.Tensor, tensors: List[torch.Tensor],
                 values: List[float]) -> List[torch.Tensor]:
        """
        The numbers go in as 0-d `float64` tensors that are views of one buffer, made once per
        thread and written in place: creating tensors on every call would cost more. Returns the
        0-d tensors that the recorded method returns (a loop with a plan returns none).
        """
        inputs = self.inputs()
        inputs.write(values)
        if self.plan is not None:
            # The C++ loop takes data pointers and the length: dense tensors need no flat views
            made = self.function(*self.arguments([param, grad, *tensors, *inputs.tensors], param.numel()))
            return made[:self.returned] if self.returned else []
        else:
            rows = [tensor.view(-1, self.unit) if self.unit > 1 and tensor.numel() == param.numel() else flat(tensor)
                    for tensor in [param, grad, *tensors]]
            return list(self.function(*rows, *inputs.tensors) or ())


class BySize:
    """The update compiled for small tensors, on one thread, and for large ones, on all."""

    def sized(self, numel: int) -> Kernel:
        return self.parallel if numel >= PARALLEL_NUMEL else self.serial

    def __init__(self, serial: Kernel, parallel: Kernel):
        self.serial = serial
        self.parallel = parallel

    def __call__(self, param: torch.Tensor, grad: torch.Tensor, tensors: List[torch.Tensor],
                 values: List[float]) -> List[torch.Tensor]:
        return self.sized(param.numel())(param, grad, tensors, values)


class ScalarInputs:
    """
    The 0-d `float64` tensors that carry the numbers of a step into the compiled code: views of
    one buffer, made once and written in place.
    """

    def __init__(self, count: int):
        self.buffer = array.array('d', bytes(8 * count))
        self.tensors = list(torch.frombuffer(self.buffer, dtype=torch.float64).unbind()) if count else []
        # The `Numbers` whose values were written last, if they came from one: numbers are never
        # changed once made, so writing the same ones again would change nothing
        self.source = None

    def write(self, values: List[float], source: Optional[Dict[str, Any]] = None):
        # Same length, so the buffer, which the tensors share, stays where it is
        self.buffer[:] = array.array('d', values)
        self.source = source


# The compiled kernels by key, or the reason a key could not be compiled
KERNELS: Dict[Any, Any] = {}
# Inductor is not safe to run from two threads at once: one compile at a time.
COMPILE_LOCK = threading.Lock()


def compile_kernel(key: Any, optimizer: torch.optim.Optimizer, method: str, maximize: bool,
                   layout: Tuple[Tuple[str, torch.dtype], ...], numbers: Dict[str, Any], param: torch.Tensor) -> Any:
    """
    <a id="compile_kernel"></a>

    ## Record and compile

    Record `optimizer.update_param` (its `step_param`, with low-precision state handled as
    [low-precision state](low_precision.html) says), or the optimizer's `method` of the same
    arguments, on stand-in tensors and compile it; store the
    result, or the reason it failed, under `key`. Another thread that wants the same key waits for
    the lock and then finds it.
    """
    with COMPILE_LOCK:
        if key in KERNELS:
            return KERNELS[key]
        what = f'{type(optimizer).__name__} {"step" if method == "update_param" else method} for {param.dtype}'
        # Say so if it takes long: the first compile on a machine can take tens of seconds.
        timer = threading.Timer(SLOW_COMPILE, log.warning, (f'labml_opt: compiling the {what} (once; cached on disk)',))
        timer.daemon = True
        timer.start()
        try:
            kernels = record_and_compile(optimizer, method, maximize, layout, numbers, param.dtype, (1, -1))
            KERNELS[key] = BySize(*kernels)
        except Exception as error:
            KERNELS[key] = f'compiling the {what} failed: {type(error).__name__}: {str(error).splitlines()[0]}'
        finally:
            timer.cancel()
        return KERNELS[key]


def lerp_(average: torch.Tensor, value: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    r"""
    <a id="lerp_"></a>

    `average.lerp_(value, weight)`, as the loop computes it: $a \leftarrow a + w (x - a)$.
    `torch.lerp` computes that when $|w| < \frac{1}{2}$ and $x - (1 - w)(x - a)$ otherwise, which is
    more accurate near $w = 1$; with $w$ an input of the loop, Inductor computes both for every
    element and picks one. A moving average's weight, $1 - \beta$, is small, and where the loop
    runs from the cache, one formula instead of two is a few percent of an Adam step.
    """
    return average.add_(weight * (value - average))


def sum_(value: torch.Tensor, dtype: Optional[torch.dtype] = None) -> torch.Tensor:
    r"""
    <a id="sum_"></a>

    `value.sum()`, as the loop computes it: a `float32` tensor is added up in `float64` and the sum
    rounded to `float32`. Inductor adds a long `float32` sum through a helper that keeps its
    rounding error small (a cascade of partial sums), which costs more than the pass over memory;
    adding in `float64` is as accurate, and as fast as the pass. Any sum of a sequence rounds
    differently from another order of it, and so from torch's, in the last bits.
    """
    if value.dtype == torch.float32 and dtype is None:
        return torch.ops.aten.sum.dim_IntList(value, [], dtype=torch.float64).to(torch.float32)
    return torch.ops.aten.sum.dim_IntList(value, [], dtype=dtype)


def dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    r"""`torch.dot(a, b)`, as the loop computes it: the sum of the products, added as [`sum_`](#sum_) adds."""
    return sum_(a * b)


# Operations recorded as other operations: see `lerp_`, `sum_` and `dot`
DECOMPOSITIONS = {torch.ops.aten.lerp_.Tensor: lerp_, torch.ops.aten.sum.default: sum_,
                  torch.ops.aten.dot.default: dot}


def record_and_compile(optimizer: torch.optim.Optimizer, method: str, maximize: bool,
                       layout: Tuple[Tuple[str, torch.dtype], ...], numbers: Dict[str, Any], dtype: torch.dtype,
                       threads: Tuple[int, ...]) -> List[Kernel]:
    """
    The update of one parameter (or the optimizer's `method`) as a function of flat tensors: the
    parameter, its gradient, the state tensors of `layout` (key and dtype), and the numbers of the
    step, in the order `numbers` has them. Everything it changes, it changes in place; it returns
    the 0-d tensors that `method` returns, none for an update. It is recorded once and compiled
    for each of `threads`, 1, or -1 for all.
    """
    names = [name for name, value in numbers.items() if is_value(value)]
    flags = {name: value for name, value in numbers.items() if not is_value(value)}
    keys = [key for key, _ in layout]

    def update(param: torch.Tensor, grad: torch.Tensor, *inputs: torch.Tensor) -> List[torch.Tensor]:
        state = dict(zip(keys, inputs))
        # The numbers stay `float64`, as Python floats are: $1 - \beta_2$ is computed before it is
        # rounded to the parameter's dtype, where the tensor operation rounds it, as with a float.
        step = type(numbers)(flags)
        step.update(zip(names, inputs[len(keys):]))
        if maximize:
            grad = -grad
        result = getattr(optimizer, method)(state, step, grad, param)
        # The loop can only change state in place: a tensor put into the state would be lost
        if list(state) != keys or any(state[key] is not tensor for key, tensor in zip(keys, inputs)):
            raise ValueError(f'{method} replaces or adds a state tensor, which a compiled loop cannot return')
        return [] if result is None else list(result)

    dtypes = [dtype, dtype] + [d for _, d in layout]
    scalars = [torch.tensor(float(numbers[name]), dtype=torch.float64) for name in names]
    from torch.fx.experimental.proxy_tensor import make_fx
    unit = low_precision.BLOCK if torch.uint8 in dtypes else 1
    if unit == 1:
        stand_ins = [torch.zeros(TRACE_NUMEL, dtype=tensor_dtype) for tensor_dtype in dtypes]
        graph = make_fx(update, tracing_mode='symbolic', decomposition_table=DECOMPOSITIONS)(*stand_ins, *scalars)
    else:
        stand_ins, fakes = block_stand_ins(dtypes, len(layout) - len(keys_of_scales(layout)), scalars)
        graph = make_fx(update, tracing_mode='symbolic', decomposition_table=DECOMPOSITIONS)(*fakes)
    # A `step_param` that reads a number or a size with Python (`float(x)`, `if n > 100`) is
    # recorded for the value it saw, under a condition ("guard") that the loop would not check
    guards = graph.shape_env.guards
    if guards:
        raise ValueError(f'step_param reads a number or a tensor size with Python ({guards[0].expr}), '
                         f'so the recorded step would hold for that value only')
    # How many 0-d tensors it returns
    returned = len(graph.graph.output_node().args[0])
    return [compile_graph(graph, stand_ins, scalars, len(names), unit, count, returned) for count in threads]


def compile_graph(graph: torch.fx.GraphModule, stand_ins: List[torch.Tensor], scalars: List[torch.Tensor],
                  count: int, unit: int, threads: int, returned: int) -> Kernel:
    """The recorded update `graph`, loaded from our cache or compiled, to run on `threads` threads."""
    narrow = torch.bfloat16 in [tensor.dtype for tensor in stand_ins]
    # The settings that differ from loop to loop, which name its saved loop too: the threads; a
    # loop over `bfloat16` is compiled under `bfloat16_vectors` and one over blocks of 8-bit state
    # under `one_pass_per_row`, which a custom pass says to Inductor's cache; and a pass that
    # returns sums stores its state in the loop that adds ([one pass](#one-pass))
    blocks = unit > 1
    custom_pass = vectors_key() if narrow or blocks else None
    settings = {'cpp.threads': threads, 'post_grad_custom_post_pass': custom_pass}
    if returned:
        settings['realize_reads_threshold'] = 1
    # A `bfloat16` parameter's step rounds its value to `bfloat16` and reads it back
    # ([Kahan](low_precision.html#kahan_round)): Inductor drops such a pair of casts unless told to keep it
    if stand_ins[0].dtype == torch.bfloat16:
        settings['emulate_precision_casts'] = True
    # The pass by its name; and a loop for all threads is compiled for as many as torch has now
    # (Inductor decides by them which loops to split), so it is saved under that number
    name = {**settings, 'post_grad_custom_post_pass': custom_pass is not None and custom_pass.uuid().hex(),
            'threads now': threads == -1 and torch.get_num_threads()}
    saved = SavedKernels(CACHE_DIR, graph.code + repr(name), [tensor.dtype for tensor in stand_ins])
    plan = saved.load()
    if plan is not None:
        return Kernel(plan[0], count, plan[1], unit, plan[2], returned)
    if not compiler_available():
        raise RuntimeError(f'no C++ compiler found (tried {torch._inductor.config.cpp.cxx})')
    with warnings.catch_warnings(), inductor_cache(CACHE_DIR), bfloat16_vectors(narrow), one_pass_per_row(blocks):
        # torch's compiler imports modules that warn of their own deprecations: not the user's to
        # see, and under `-W error` they would stop the compile
        warnings.simplefilter('ignore', DeprecationWarning)
        # Inductor would check the size and strides of every input on every call; `CompiledStep`
        # has checked that they are flat and contiguous. `vec_isa_ok` skips Inductor's probe of
        # which vector instructions work, a second of subprocesses in every new process; the
        # instructions it picks are those `/proc/cpuinfo` lists.
        function = torch._inductor.standalone_compile(
            graph, stand_ins + scalars, dynamic_shapes='from_graph',
            options={'config_patches': {'size_asserts': False, 'cpp.vec_isa_ok': True, **settings}})
    kernel = Kernel(function, count, unit=unit)
    direct = direct_call(kernel, stand_ins)
    if direct is not None:
        saved.save(*direct)
        return Kernel(direct[0], count, direct[1], unit, direct[2], returned)
    return kernel


def keys_of_scales(layout: Tuple[Tuple[str, torch.dtype], ...]) -> List[str]:
    """The keys of `layout` that hold the scales of blocks, one per block rather than one per element."""
    codes = {key for key, dtype in layout if dtype == torch.uint8}
    return [key for key, _ in layout if key.endswith(low_precision.ABSMAX) and key[:-len(low_precision.ABSMAX)] in codes]


def block_stand_ins(dtypes: List[torch.dtype], per_element: int, scalars: List[torch.Tensor]):
    r"""
    <a id="blocks"></a>

    ### Stand-ins for blockwise state

    A loop over 8-bit state needs the maximum of each block of `BLOCK` new values before it can
    write any of their codes. So the parameter, its gradient and its state are recorded as rows of
    `BLOCK` elements, a constant, and their number $B$ is the symbol; the scales, one per row, are
    $B$ long, and the maximum of each row is a reduction over a constant length, which Inductor
    compiles into the same function as the update, [one row at a time](#one_pass_per_row). The
    first `per_element` of `dtypes` (after the parameter and gradient) are rows, the rest are
    scales. Returns the real stand-ins, which the compiler takes as examples, and the fake ones
    with the symbol, which are recorded.
    """
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.fx.experimental.symbolic_shapes import DimDynamic, ShapeEnv, StatelessSymbolicContext
    rows = TRACE_NUMEL // low_precision.BLOCK
    stand_ins = [torch.zeros((rows, low_precision.BLOCK) if i < 2 + per_element else (rows,), dtype=tensor_dtype)
                 for i, tensor_dtype in enumerate(dtypes)]
    # (the code maps are constants of the loop, real tensors)
    mode = FakeTensorMode(shape_env=ShapeEnv(), allow_non_fake_inputs=True)
    # $B$ is one symbol for every tensor (tensors of the same length share one), and `BLOCK` is a constant
    contexts = {2: StatelessSymbolicContext(dynamic_sizes=[DimDynamic.DUCK, DimDynamic.STATIC]),
                1: StatelessSymbolicContext(dynamic_sizes=[DimDynamic.DUCK])}
    fakes = [mode.from_tensor(tensor, symbolic_context=contexts[tensor.dim()]) for tensor in stand_ins]
    fakes += [mode.from_tensor(scalar, static_shapes=True) for scalar in scalars]
    return stand_ins, fakes


def direct_call(kernel: Kernel, stand_ins: List[torch.Tensor]) -> Optional[Tuple[Callable, List[int], List[list]]]:
    """
    <a id="direct_call"></a>

    ## Calling the C++ loop directly

    Inductor's compiled graph is a Python function that calls one C++ function per fused loop.
    For an update that is one loop, call that C++ function directly: it saves a few microseconds
    on each of a model's hundreds of parameters, and a later process can load it without
    importing the compiler (see `SavedKernels`).

    Run the compiled graph once on probe tensors of an odd length, with Inductor's C++ functions
    wrapped to record their arguments, and map each argument back to an input by its memory, or
    to the length, or, for a loop over 8-bit state, to an [extra argument](#extra_argument): a
    scratch buffer. Then check the plan: the direct call on one
    copy of random inputs must give exactly what the graph gives on another. Anything else
    returns `None`, and the graph is used.
    """
    # Inductor's generated modules, which hold its C++ functions as globals named `cpp_fused_...`
    modules = [module for name, module in list(sys.modules.items()) if name.startswith('torch._inductor.runtime.compile_tasks.')]
    calls: List[Tuple[Callable, Tuple[Any, ...]]] = []

    def recorder(function):
        def record(*args):
            calls.append((function, args))
            return function(*args)
        return record

    recorders = [(module, name, recorder(value)) for module in modules for name, value in list(vars(module).items())
                 if name.startswith('cpp_fused_')]
    # An odd length, in elements or in blocks
    numel = 4099 if kernel.unit == 1 else 17
    generator = torch.Generator().manual_seed(0)
    probe = [(torch.rand((numel,) + tensor.shape[1:], generator=generator) + 1).to(tensor.dtype) for tensor in stand_ins]
    values = [0.25 + 0.5 * i / max(1, kernel.count) for i in range(kernel.count)]
    copy = [tensor.clone() for tensor in probe]
    with patched(recorders):
        results = kernel(probe[0], probe[1], probe[2:], values)
    if len(calls) != 1:
        return None
    function, args = calls[0]
    inputs = probe + kernel.local.inputs.tensors
    # The graph's inputs are flat views of these tensors: the same memory, other objects
    where = {(tensor.data_ptr(), tensor.dtype): i for i, tensor in enumerate(inputs)}
    # The sums it returns are written into 0-d tensors that Inductor's function makes: the first extras
    where.update({(tensor.data_ptr(), tensor.dtype): -2 - k for k, tensor in enumerate(results)})
    extras = [extra_argument(result, numel, kernel.unit) for result in results]
    plan = []
    for arg in args:
        if isinstance(arg, torch.Tensor):
            index = where.get((arg.data_ptr(), arg.dtype))
            if index is None:
                # A 0-d tensor of Inductor's own, such as a sum before it is rounded, or a
                # buffer of a loop over blocks; any other loop stays with the graph
                extra = extra_argument(arg, numel, kernel.unit) if kernel.unit > 1 or arg.dim() == 0 else None
                if extra is None:
                    return None
                index = where[(arg.data_ptr(), arg.dtype)] = -2 - len(extras)
                extras.append(extra)
        else:
            index = -1 if arg == numel else None
        if index is None:
            return None
        plan.append(index)
    if not whole_plan(plan, extras):
        return None
    direct = Kernel(function, kernel.count, plan, kernel.unit, extras, len(results))
    sums = direct(copy[0], copy[1], copy[2:], values)
    if not all(torch.equal(a, b) for a, b in zip(probe + results, copy + sums)):
        return None
    return function, plan, extras


def extra_argument(arg: torch.Tensor, numel: int, unit: int) -> Optional[list]:
    """
    <a id="extra_argument"></a>

    What an argument of the C++ loop that is none of the inputs is, as a list that JSON can
    save: `['scratch', dtype, sizes]` for a tensor that the compiled graph makes on every call,
    of `sizes` where a negative size $-f$ means $f$ times the loop's length: a 0-d sum that the loop returns or keeps before rounding it, or, in a
    loop over blocks, a value that Inductor keeps between the maximum over the block and the codes
    in a buffer of the tensor's size (the loops of this library's optimizers keep them in buffers of
    one row, [inside the loop](#one_pass_per_row)). `None` for anything else.
    """
    sizes = []
    for size in arg.shape:
        if size % numel == 0 and size // numel in (1, unit):
            sizes.append(-(size // numel))
        elif size == unit:
            sizes.append(size)
        else:
            return None
    return ['scratch', str(arg.dtype).replace('torch.', ''), sizes]


def whole_plan(plan: List[Any], extras: List[list]) -> bool:
    """
    Whether `plan` can be carried out with `extras`: every slot an input, the length (`-1`, which
    sizes the scratch tensors) or one of `extras`, and every extra passed, so that the sums a loop
    returns are read from where it wrote them.
    """
    return (all(isinstance(i, int) and i >= -1 - len(extras) for i in plan) and (not extras or -1 in plan) and
            {-2 - i for i in plan if i <= -2} == set(range(len(extras))))


class WithExtras:
    """
    A C++ loop that takes extra arguments: called with `None` in their places, it fills them
    in, a new scratch tensor on every call (as the compiled graph makes them), sized by the
    length in the slot of `-1`, one for each extra however many slots take it. Returns the extras, in the order of `extras`, so that the sums a loop returns come first.
    """

    def __init__(self, function: Callable, plan: List[int], extras: List[list]):
        self.function = function
        self.length = plan.index(-1)
        # The dtype and sizes of each tensor to make
        self.extras = [(getattr(torch, extra[1]), extra[2]) for extra in extras]
        self.slots = [(slot, -2 - i) for slot, i in enumerate(plan) if i <= -2]

    def __call__(self, *args) -> List[torch.Tensor]:
        args = list(args)
        length = args[self.length]
        made = [torch.empty([-size * length if size < 0 else size for size in sizes], dtype=dtype)
                for dtype, sizes in self.extras]
        for slot, k in self.slots:
            args[slot] = made[k]
        self.function(*args)
        return made


class SavedKernels:
    """
    <a id="SavedKernels"></a>

    ## Our own cache of compiled loops

    Inductor's cache saves the compiling, but a new process still imports Inductor to use it,
    a few seconds before the first step. A loop that `direct_call` can call directly is saved
    here instead: its shared library and its plan, under a digest of the recorded graph and the
    settings it was compiled with (the threads it runs on among them), the dtypes of its inputs,
    torch's version and the CPU's vector instructions. A later process records the step
    (a few milliseconds), finds the digest, and loads the library.

    Files are written to a temporary name and renamed, so a killed process leaves no half-written
    entry; an entry that fails to load is compiled again.
    """

    def __init__(self, directory: str, code: str, dtypes: List[torch.dtype]):
        import hashlib
        text = '\n'.join([code, str(dtypes), torch.__version__, torch.backends.cpu.get_cpu_capability()])
        self.digest = hashlib.sha256(text.encode()).hexdigest()[:32]
        self.directory = os.path.join(directory, 'labml_opt_kernels')
        self.library = os.path.join(self.directory, self.digest + '.so')
        self.plan = os.path.join(self.directory, self.digest + '.json')

    def load(self) -> Optional[Tuple[Callable, List[int], List[list]]]:
        import importlib.util
        import json
        try:
            with open(self.plan) as file:
                saved = json.load(file)
            plan, extras = saved['plan'], saved['extras']
            # Each extra is a tensor to make of a dtype and integer sizes: a file can name nothing else
            if not (isinstance(plan, list) and whole_plan(plan, extras) and
                    all(extra[0] == 'scratch' and isinstance(getattr(torch, extra[1], None), torch.dtype) and
                        all(isinstance(size, int) for size in extra[2]) for extra in extras)):
                return None
            # Inductor's C++ functions find the data of a tensor through this address
            os.environ['_TORCHINDUCTOR_PYOBJECT_TENSOR_DATA_PTR'] = str(
                torch._C._dynamo.guards._torchinductor_pyobject_tensor_data_ptr)
            spec = importlib.util.spec_from_file_location(f'labml_opt_{self.digest}.kernel', self.library)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return module.kernel, plan, extras
        except (OSError, ValueError, ImportError, AttributeError, KeyError, TypeError, IndexError):
            return None

    def save(self, function: Callable, plan: List[int], extras: List[list]):
        import json
        library = sys.modules[function.__module__].__file__ if function.__module__ in sys.modules else None
        library = library or getattr(getattr(function, '__self__', None), '__file__', None)
        if library is None:
            return
        os.makedirs(self.directory, exist_ok=True)
        for source, target, write in ((library, self.library, None), (None, self.plan, json.dumps({'plan': plan, 'extras': extras}))):
            temporary = f'{target}.{os.getpid()}.tmp'
            if write is None:
                shutil.copyfile(source, temporary)
            else:
                with open(temporary, 'w') as file:
                    file.write(write)
            os.replace(temporary, target)


@contextlib.contextmanager
def patched(patches: List[Tuple[Any, str, Any]]):
    """
    Each `(owner, name, value)` of `patches` set on its owner for the length of the block, and
    then put back as it was: an attribute that the owner only inherited is deleted again. The
    changes to Inductor's code generation below, and the recording of its functions, are made so.
    """
    saved = [(owner, name, vars(owner).get(name, patched)) for owner, name, _ in patches]
    for owner, name, value in patches:
        setattr(owner, name, value)
    try:
        yield
    finally:
        for owner, name, value in reversed(saved):
            if value is patched:
                delattr(owner, name)
            else:
                setattr(owner, name, value)


@contextlib.contextmanager
def numbers_read_once():
    r"""
    <a id="numbers_read_once"></a>

    ### The numbers of the step, read once

    Each number of the step ($\beta_1$, $\alpha$, $\epsilon$, ...) is a one-element input of the
    loop, in `float64`. Read in the loop, the C++ compiler reads, converts and broadcasts it again
    for every vector, since as far as it knows the loop's stores could change it. For the length of
    the compile, a number is read into a local variable at the top of the C++ function instead
    (Inductor writes `auto name = value;` for each alias of its arguments), and the loop reads
    that. Loops over `bfloat16` state ([`bfloat16_vectors`](#bfloat16_vectors)) and over blocks of
    8-bit state ([`one_pass_per_row`](#one_pass_per_row)) are compiled so.
    """
    from torch._inductor.codegen import cpp
    from torch._inductor.codegen.common import KernelArgs
    from torch._inductor.virtualized import V
    if getattr(cpp.CppKernel.load, 'numbers_once', False):
        # In force already: a loop over blocks of a `bfloat16` parameter is compiled under both
        # patches that use this one
        yield
        return
    load, aliases = cpp.CppKernel.load, KernelArgs.aliases

    def is_number(name):
        # An input of one element that the graph never writes: a number of the step
        return name in V.graph.graph_inputs and name not in V.graph.mutated_inputs and V.graph.get_numel(name) == 1

    def number_read_once(kernel, name, index):
        if not is_number(name):
            return load(kernel, name, index)
        value = kernel.cse.generate(kernel.loads, f'{kernel.args.input(name)}_value', dtype=V.graph.get_dtype(name))
        value.update_on_args('load', (kernel, name, index), {})
        return value

    def numbers_first(args):
        yield from aliases(args)
        for outer, inner in args.input_buffers.items():
            if is_number(outer):
                yield f'{inner}_value', f'{inner}[0]'

    number_read_once.numbers_once = True

    with patched([(cpp.CppKernel, 'load', number_read_once), (KernelArgs, 'aliases', numbers_first)]):
        yield


@contextlib.contextmanager
def bfloat16_vectors(narrow: bool):
    r"""
    <a id="bfloat16_vectors"></a>

    ### Loops over `bfloat16` state, 32 wide

    A vector register of this machine holds 16 `float32` numbers or 32 `bfloat16` ones. Inductor
    vectorizes a loop 32 elements wide only when each of its parts touches `bfloat16`; the part
    that writes $\theta_t$ into a `float32` parameter does not, so a step on `bfloat16` state ran 16
    wide, and each of its loads and stores of a moment was a masked half-width access to a line
    that the next element's access shares, which the processor does not overlap: the loop took
    three times as long as in `float32` with a third fewer bytes to move
    ([what it costs](low_precision.html#what-it-costs)). When `narrow`, for the length of the
    compile, Inductor is told that every part of the loop touches `bfloat16` (it then runs the
    `float32` arithmetic on pairs of registers, as it does for any `bfloat16` loop), and it reads
    the bits of a number as an integer ([stochastic rounding](low_precision.html#stochastic-rounding))
    with one vector instruction per register, where it would go through memory a lane at a time,
    which at this width costs as much as the rest of the loop; it builds the vector of the
    elements' indices $i$, from which the [random bits](low_precision.html#where-the-random-bits-come-from) are made,
    from one number and a constant; and, on a processor that has it (`avx512_bf16`), it rounds
    two registers of `float32` to one of `bfloat16` with the one instruction made for that, where
    it would round each lane with a dozen integer operations. On a million elements, from the
    cache, an AdamW step on `bfloat16` state then took 1.15 times the CPU time of one on
    `float32` state, where it took 3.2 times (`python benchmarks/bfloat16_loop.py`).

    At that width the loop was limited by its instructions, and three more changes each remove
    some. It widens a register of `bfloat16` to two of `float32` with two instructions, a
    permutation of 16-bit lanes for each, where Inductor takes five. It reads each number of the
    step, a one-element input of the loop, into a local variable once, before the loop
    ([`numbers_read_once`](#numbers_read_once)): read in the loop, the C++ compiler reads, converts
    and broadcasts each again for every 32 elements, since the loop's stores could change them as
    far as it knows (17 of the 88 instructions that the loop on one thread took for 32 elements).
    And on several threads, the end of the vectors, $32 \lfloor n / 32 \rfloor$ for $n$ elements,
    is computed once before the loop too, and the test
    that an index is at least 0 is left out: with both in the loop, the compiler does not split it
    into the vectors and the last, shorter one, and tests both conditions for every vector. A
    fourth change is for memory: each vector read of a tensor first asks for the cache lines 256
    elements ahead (`_mm_prefetch`), which costs nothing measurable from the cache and makes the
    loop on two threads a few percent faster when memory is the limit (see [what it
    costs](low_precision.html#what-it-costs)). An AdamW step on `bfloat16` state on a million
    elements then takes 0.38 to 0.41 ms of CPU, against 0.50 ms before, and 0.42 to 0.57 ms on
    `float32` state, on a machine busy with other work (`python benchmarks/bfloat16_loop.py`).

    These choices change how the loop is compiled, not what it computes (after the last four, the
    state and the parameter are the same to the last bit), with one exception: that
    instruction reads a `float32` below $2^{-126} \approx 1.2 \times 10^{-38}$ (a subnormal
    number) as zero, where `.to(torch.bfloat16)` keeps it. A moment that small has decayed for
    hundreds of steps without a gradient, and beside $\epsilon$ or any step it is zero anyway.
    Otherwise `tests/optimizers/test_low_precision.py` compares the compiled step with the
    page's code. Our compiles run one at a time (`COMPILE_LOCK`); a
    `torch.compile` of your own that runs in another thread at that moment is compiled the same
    way, which changes its speed, not what it computes.
    """
    if not narrow:
        yield
        return
    import re
    import sympy
    from torch._inductor.codegen import cpp
    from torch._inductor.codegen.common import IndentedBuffer, KernelArgs
    from torch._inductor.codegen.cpp_utils import DTYPE_TO_CPP, CppPrinter
    from torch._inductor.cpu_vec_isa import pick_vec_isa
    from torch._inductor.virtualized import V
    lowp, bitcast = cpp.get_loop_body_lowp_fp, cpp.CppVecOverrides.to_dtype_bitcast

    floor_div = CppPrinter._print_FloorDiv
    # The quotients of sizes that the loops use, by the name that stands for each
    quotients = {}

    def quotient_first(printer, expr):
        # $\lfloor n / 32 \rfloor$ of the loop's length $n$, where the vectors end and the last,
        # shorter one begins, is a local variable too, computed before the loop. In the loop, on
        # several threads, the C++ compiler computes it again and tests it for every vector
        text = floor_div(printer, expr)
        size, divisor = expr.args
        # (`ks0`, `ks1`, ...: a size that is an argument of the C++ function)
        if isinstance(size, sympy.Symbol) and re.fullmatch(r'ks\d+', size.name) and divisor.is_Integer \
                and expr.is_integer:
            name = f'{size}_over_{divisor}'
            quotients[name] = (str(size), text)
            return name
        return text

    conditions = cpp.CppKernel.codegen_conditions

    def counting_from_zero(kernel, code, prefix=None, var=None):
        # The test that sends an index to the vectors' part of the loop or to its last, shorter
        # vector, without `x0 >= 0`, which every index is: loops count up from zero. With it, or
        # with the quotient computed in the loop, the compiler does not split the loop compiled for
        # several threads into its two parts, and tests every vector
        line = IndentedBuffer()
        written = conditions(kernel, line, prefix, var)
        if line.getvalue():
            code.writeline(re.sub(r'\b\w+ >= static_cast<int64_t>\(0\) && ', '', line.getvalue().strip()))
        return written

    vector_load, cexpr_index = cpp.CppVecKernel.load, cpp.cexpr_index

    def prefetched(kernel, name, index):
        # Each vector read of a tensor first asks for the cache lines 256 elements ahead, which
        # the loop reads some iterations later: the processor's own prefetching does not keep
        # enough of them on the way while the loop computes, and on two threads the loop then
        # waits for memory where it could have overlapped it
        if kernel._try_get_const_stride(index, kernel.itervars[kernel.tiling_idx]) == 1:
            ahead = f'{kernel.args.input(name)} + {cexpr_index(kernel.rename_indexing(index))} + 256'
            for offset in range(0, kernel.tiling_factor * V.graph.get_dtype(name).itemsize, 64):
                line = f'_mm_prefetch(reinterpret_cast<const char*>({ahead}) + {offset}, _MM_HINT_T0);'
                # (once: a tensor read twice at the same place is read once, from a cached value)
                if line not in kernel.loads.getvalue():
                    kernel.loads.writeline(line)
        return vector_load(kernel, name, index)

    def all_bfloat16(body):
        dtype, fp32_only = lowp(body)
        return (torch.bfloat16 if dtype is None else dtype), fp32_only

    def in_registers(x, dtype, src_dtype):
        if dtype.itemsize != src_dtype.itemsize:
            return bitcast(x, dtype, src_dtype)
        # One `at::vec::cast`, a reinterpretation, per register of the value
        n, name = V.kernel._get_num_vectors(src_dtype), DTYPE_TO_CPP[dtype]
        parts = ', '.join(f'at::vec::cast<{name}>({x}[{i}])' for i in range(n)) if n > 1 else ''
        return f'at::vec::VectorizedN<{name}, {n}>({parts})' if n > 1 else f'at::vec::cast<{name}>({x})'

    def arange(kernel, index, stride):
        # $i_0 + k s$ for the lanes $k$ of a vector: the $k s$ are constants, which the C++ compiler
        # computes once, where Inductor's `arange` builds the vector from its lanes one by one
        vector = kernel._get_vec_type(index.dtype)
        value = kernel.cse.generate(kernel.compute, f'({vector}({index}) + {vector}::arange(0, {stride}))')
        value.dtype, value.is_vec = index.dtype, True
        return value

    to_dtype = cpp.CppVecKernel.get_to_dtype_expr

    def widened(x, half):
        # The 16 `bfloat16` numbers of one half of the register `x` as `float32`: each 16-bit lane
        # $2k + 1$ of the result takes lane $k$ of that half, the top half of a `float32` code, and
        # each lane $2k$, its bottom half, is zero. `_mm512_set_epi16` lists lanes from the last
        lanes = ', '.join(str(16 * half + lane // 2 if lane % 2 else 0) for lane in reversed(range(32)))
        return (f'at::vec::Vectorized<float>(_mm512_castsi512_ps(_mm512_maskz_permutexvar_epi16('
                f'0xAAAAAAAAu, _mm512_set_epi16({lanes}), {x})))')

    def one_instruction(kernel, x, dtype, src_dtype, rounding=False):
        # Conversions between a register of `bfloat16` and two of `float32`, in one instruction per
        # register of `float32`, where Inductor takes two or three
        if getattr(x, 'is_vec', False) and kernel._get_num_vectors(torch.float32) == 2 \
                and pick_vec_isa().bit_width() == 512:
            # Widening: one permutation of 16-bit lanes per register, which puts each `bfloat16`
            # code in the top half of a `float32` one and zeros in the bottom half, exactly
            if dtype == torch.float32 and src_dtype == torch.bfloat16:
                return f'at::vec::VectorizedN<float, 2>({widened(x, 0)}, {widened(x, 1)})'
            # Narrowing: rounded to nearest, with the instruction made for it, where Inductor would
            # round each lane with integer arithmetic. (Asked here, inside the compile, whose
            # settings skip Inductor's probe of the vector instructions: asked before it, the probe
            # costs a first compile about 5 s.)
            if dtype == torch.bfloat16 and src_dtype == torch.float32 \
                    and getattr(pick_vec_isa(), 'is_avx512_bf16_supported', lambda: False)():
                return f'at::vec::Vectorized<at::BFloat16>((__m512i) _mm512_cvtne2ps_pbh({x}[1], {x}[0]))'
        return to_dtype(kernel, x, dtype, src_dtype, rounding)

    with numbers_read_once():
        aliases = KernelArgs.aliases

        def quotients_first(args):
            # After the numbers, the quotients, which Inductor writes the same way
            yield from aliases(args)
            sizes = set(args.sizevars.values())
            yield from ((name, text) for name, (size, text) in quotients.items() if size in sizes)

        patches = [(cpp, 'get_loop_body_lowp_fp', all_bfloat16),
                   (cpp.CppVecOverrides, 'to_dtype_bitcast', staticmethod(in_registers)),
                   (cpp.CppVecKernel, 'arange', arange),
                   (cpp.CppVecKernel, 'get_to_dtype_expr', one_instruction),
                   (KernelArgs, 'aliases', quotients_first),
                   (CppPrinter, '_print_FloorDiv', quotient_first),
                   (cpp.CppKernel, 'codegen_conditions', counting_from_zero),
                   (cpp.CppVecKernel, 'load', prefetched)]
        with patched(patches):
            yield


@contextlib.contextmanager
def one_pass_per_row(blocks: bool):
    r"""
    <a id="one_pass_per_row"></a>

    ### One pass over each row of 8-bit state

    A loop over [blocks](#blocks) computes the new moments of a row of `BLOCK` elements, their
    largest magnitude, and only then their codes. Inductor can compile that as one loop over the
    rows with, inside it, one loop over the row's elements per part (its *outer-loop fusion*, made
    for softmax), keeping a value that only this row's parts read in a *local buffer* of `BLOCK`
    numbers, which stays in the cache. Left to itself it did neither for 8-bit state: each part
    was a loop over the whole tensor, and each new moment it needed twice was written to a buffer
    of the tensor's size in `float32` and read back, 8 bytes per element and moment where the
    codes take 2, in a buffer that the loop allocates on every call, page by page.

    When `blocks`, for the length of the compile, two things are changed. Outer loops are fused
    only among loops over rows and their elements: the loop that copies the new scales, one per
    row, into the state is over rows alone, and fused into the others it made Inductor, which
    compares the loops before it writes them, give up the fusion of all of them. And a value is
    kept in a local buffer when every loop that *reads* it is in the fused loop: Inductor counted
    among a value's users the loops that overwrite the codes and scales it was computed from, which
    must only run after it, and are not reads of it. A value kept so that only the loop over the
    row's elements that computes it reads (Inductor keeps a value that several parts of the step
    use, such as $|x|$ in [the nearest code](low_precision.html#nearest-code)) is read there from
    the register that holds it, and its store into the buffer, which nothing loads, is dropped:
    about ten stores for every 16 elements, 3% of the 8-bit step. The numbers of the step are [read
    once](#numbers_read_once), before the loop, and its choices are made [in mask
    registers](#masks_in_registers), too. What the loop computes is unchanged, to the bit;
    `tests/optimizers/test_compiled.py` checks that and looks for the local buffers and the masks
    in the C++. See [what it costs](low_precision.html#what-it-costs) for the time it saves.
    """
    if not blocks:
        yield
        return
    from torch._inductor.codegen import cpp
    from torch._inductor.codegen.cpp_utils import LocalizeBufferHandler
    from torch._inductor.virtualized import V
    depth_of = cpp.CppScheduling._get_outer_loop_fusion_depth
    codegen_outer_loop = cpp.CppScheduling.codegen_outer_loop_node
    localized_store = LocalizeBufferHandler.store

    def loop_depth(node):
        # How many loops the node runs in: those of its elements and of what it reduces over
        _, (ranges, reduced) = max(node.get_nodes(), key=lambda part: part.is_reduction()).group
        return len(ranges) + len(reduced)

    def rows_only(scheduling, node1, node2):
        depth = depth_of(scheduling, node1, node2)
        parts = [part for node in (node1, node2)
                 for part in (node.get_outer_nodes() if isinstance(node, cpp.OuterLoopFusedSchedulerNode) else [node])]
        return depth if all(loop_depth(part) == depth + 1 for part in parts) else 0

    # The values that only the loop over a row's elements that computes them reads
    unread = set()

    def reads_only(scheduling, node):
        # A user that is only ordered after the value ("weak") does not read it
        kept = [(buffer, buffer.users) for part in node.get_nodes() for buffer in part.get_outputs()]
        for buffer, users in kept:
            buffer.users = [user for user in users if not user.is_weak]
        for loop in node.get_outer_nodes():
            names = {part.get_name() for part in loop.get_nodes()}
            unread.update(buffer.get_name() for part in loop.get_nodes() for buffer in part.get_outputs()
                          if buffer.users and all(user.get_name() in names for user in buffer.users))
        try:
            return codegen_outer_loop(scheduling, node)
        finally:
            unread.clear()
            for buffer, users in kept:
                buffer.users = users

    def store_if_read(handler, name, index, value, mode=None):
        # A value in a local buffer that only its own loop reads is read from the register that
        # holds it (Inductor's cache of stored values): its store is dropped
        # (and a store made while Inductor only analyses the loop, with no kernel to write to, is kept)
        lines = getattr(getattr(V.kernel, 'stores', None), '_lines', None)
        if name not in unread or name not in handler.global_to_local or lines is None:
            return localized_store(handler, name, index, value, mode)
        written = len(lines)
        stored = localized_store(handler, name, index, value, mode)
        del lines[written:]
        return stored

    with numbers_read_once(), masks_in_registers(), patched([
            (cpp.CppScheduling, '_get_outer_loop_fusion_depth', rows_only),
            (cpp.CppScheduling, 'codegen_outer_loop_node', reads_only),
            (LocalizeBufferHandler, 'store', store_if_read)]):
        yield


@contextlib.contextmanager
def masks_in_registers():
    r"""
    <a id="masks_in_registers"></a>

    ### Choices made in mask registers

    A loop over 8-bit state chooses between two values many times per element: the nearest code
    of each moment [picks its decade's numbers](low_precision.html#nearest-code) with fourteen
    `torch.where`s, or twelve, and decoding a code takes five to seven more. AVX-512 makes such a
    choice in two instructions: a comparison writes a *mask register*, one bit per lane, and a blend reads
    it. Inductor's vectors of 16 `float32` or `int32` numbers go through `at::vec`, whose
    comparison spreads the mask into a vector of all-ones and zeros, and whose blend compares that
    vector with all-ones to get the mask back: four instructions, two of which only move the mask
    out of its register and into it again.

    For the length of the compile, each comparison of two such vectors is remembered as the
    AVX-512 comparison that makes its mask, with the predicate `at::vec` uses (ordered for `<`,
    unordered for `!=`, as C++ compares), and a `torch.where` on it, or its conversion to
    `int32`, is written as that comparison and one instruction that reads the mask,
    `_mm512_mask_blend_*` or `_mm512_maskz_mov_epi32`. The vector that `at::vec` would make,
    which then nothing reads, the C++ compiler drops. On a processor without AVX-512, or for
    vectors of other types, Inductor's code stays. The same lanes are chosen, so the loop computes
    the same bits; the 8-bit step on 262,144 elements took 0.80 to 0.82 of its time with the
    nearest code computed, and 0.87 with it read from a table (see [what it
    costs](low_precision.html#codes-computed)).
    """
    from torch._inductor.codegen import cpp
    from torch._inductor.cpu_vec_isa import pick_vec_isa
    from torch._inductor.virtualized import V
    overrides = cpp.CppVecOverrides
    # Each comparison's predicate for `float32` vectors and for `int32` ones
    predicates = {'lt': ('_CMP_LT_OQ', '_MM_CMPINT_LT'), 'le': ('_CMP_LE_OQ', '_MM_CMPINT_LE'),
                  'gt': ('_CMP_GT_OQ', '_MM_CMPINT_NLE'), 'ge': ('_CMP_GE_OQ', '_MM_CMPINT_NLT'),
                  'eq': ('_CMP_EQ_OQ', '_MM_CMPINT_EQ'), 'ne': ('_CMP_NEQ_UQ', '_MM_CMPINT_NE')}
    # The intrinsics' suffix for each type, and which of the two predicates it takes
    suffixes = {torch.float32: ('ps', 0), torch.int32: ('epi32', 1)}
    # The mask of each comparison, by the expression Inductor wrote for it
    masks = {}
    originals = {name: vars(overrides)[name].__func__ for name in [*predicates, 'where', 'to_dtype']}

    def in_one_register(*values):
        return pick_vec_isa().bit_width() == 512 and all(
            getattr(value, 'is_vec', False) and value.dtype in suffixes and V.kernel._get_num_vectors(value.dtype) == 1
            for value in values)

    def comparison(name):
        def compare(x, y):
            expression = originals[name](x, y)
            if in_one_register(x, y) and x.dtype == y.dtype:
                suffix, kind = suffixes[x.dtype]
                masks[expression] = f'_mm512_cmp_{suffix}_mask({x}, {y}, {predicates[name][kind]})'
            return expression
        return compare

    def mask_of(condition):
        # The expression that made the variable `condition`, if it is a comparison remembered above
        return next((masks.get(key) for key, value in V.kernel.cse._cache.items() if value is condition), None)

    def where(condition, chosen, other):
        mask = mask_of(condition)
        if mask is None or not in_one_register(chosen, other) or chosen.dtype != other.dtype:
            return originals['where'](condition, chosen, other)
        vector = V.kernel._get_vec_type(chosen.dtype)
        return f'{vector}(_mm512_mask_blend_{suffixes[chosen.dtype][0]}({mask}, {other}, {chosen}))'

    def to_dtype(x, dtype, src_dtype=None, use_compute_types=True):
        mask = mask_of(x) if dtype == torch.int32 and x.dtype == torch.bool else None
        if mask is None or pick_vec_isa().bit_width() != 512 or V.kernel._get_num_vectors(dtype) != 1:
            return originals['to_dtype'](x, dtype, src_dtype, use_compute_types)
        # $1$ where the mask is set, $0$ elsewhere
        value = V.kernel.cse.generate(
            V.kernel.compute, f'at::vec::Vectorized<int32_t>(_mm512_maskz_mov_epi32({mask}, _mm512_set1_epi32(1)))')
        value.update_on_args('to_dtype', (x, dtype), {'src_dtype': x.dtype})
        return value

    functions = {name: comparison(name) for name in predicates}
    functions.update(where=where, to_dtype=to_dtype)
    with patched([(overrides, name, staticmethod(function)) for name, function in functions.items()]):
        yield


def vectors_key():
    """
    Inductor's own cache knows nothing of `bfloat16_vectors` or `one_pass_per_row`, so a loop it
    compiled without them would be found again. A custom pass of Inductor's names itself for that
    cache (its `uuid`); this one changes nothing in the graph, and its name, a digest of this file,
    keys the loops compiled under them apart from the others.
    """
    from torch._inductor.custom_graph_pass import CustomGraphPass, get_hash_for_files

    class BFloat16Vectors(CustomGraphPass):
        def __call__(self, graph):
            pass

        def uuid(self):
            return get_hash_for_files((__file__,))

    return BFloat16Vectors()


@contextlib.contextmanager
def inductor_cache(directory: str):
    """
    Inductor reads `TORCHINDUCTOR_CACHE_DIR` whenever it reads or writes its cache; point it at
    `directory` for a while, then put back what was there.
    """
    before = os.environ.get('TORCHINDUCTOR_CACHE_DIR')
    os.environ['TORCHINDUCTOR_CACHE_DIR'] = directory
    try:
        yield
    finally:
        if before is None:
            del os.environ['TORCHINDUCTOR_CACHE_DIR']
        else:
            os.environ['TORCHINDUCTOR_CACHE_DIR'] = before


def compiler_available() -> bool:
    """Whether one of the C++ compilers Inductor would call is installed."""
    return compiler_found(tuple(torch._inductor.config.cpp.cxx))


@functools.lru_cache(maxsize=None)
def compiler_found(candidates: Tuple[Optional[str], ...]) -> bool:
    """Searching `PATH` takes a while, so each list of candidates is searched once."""
    return any(name is not None and shutil.which(name) is not None for name in candidates)


# The `(class, reason)` pairs already warned about.
_warned = set()


def warn_once(optimizer: torch.optim.Optimizer, reason: str):
    """Say once per optimizer class and reason why a group took the code as written."""
    key = (type(optimizer).__name__, reason)
    if key not in _warned:
        _warned.add(key)
        warnings.warn(f'{type(optimizer).__name__}: using the code as written, not the fast path: {reason}',
                      FastPathWarning, stacklevel=5)
