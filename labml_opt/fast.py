r"""
---
title: The fast path
summary: The same update rules, compiled into one fused loop over a whole param group, so that a step costs little more than reading and writing each tensor once.
---

# The fast path

The pages of this package update one parameter at a time, one operation per line, so that each
line can carry its equation. Read as a program, that is slow. Each line is a separate pass over
memory: Adam's reference `step_param` reads and writes $m$, $v$ and $\theta$ several times, and
`v.sqrt()` creates a full-size temporary on every step, which the operating system hands out as
fresh pages (about one page fault per 512 parameters). On a CPU an optimizer step is limited by
memory bandwidth, not by arithmetic, so every extra pass costs about as much as the useful one.

### The floor

The least an Adam step can do is read $\theta$, $g$, $m$, $v$ once and write $\theta$, $m$, $v$
once: 7 tensors of 4 bytes, 28 bytes per parameter. At the bandwidth of an in-place update
(`a.mul_(s)`, which also reads and writes each byte once) this gives the time below which no
implementation can go. The [benchmark](#benchmark) below measures both in the same process.

### Our own math, compiled

The fast path is not a call into `torch.optim`'s fused kernels. For each algorithm there is
a plain PyTorch function below that applies the same update rule to every tensor of a param group:
a Python loop over the group, and inside it the same equations as the reference page.
[`make_fx`](https://pytorch.org/docs/stable/fx.html) records this function once, run on fake
tensors, as a graph of ATen operations; Inductor, the compiler behind `torch.compile`, fuses each
parameter's operations into a single loop in C++ that loads $\theta, g, m, v$, computes in
registers and stores the results, and writes all the loops of the group into one compiled
function, called once per step.

Four details make that work:

* **Scalars are inputs.** The bias corrections $1 - \beta_1^t$, the learning rate from a scheduler
  and the step size change every step. Written into the code as constants, each new value would
  compile again. They are computed in Python with the same expressions as the reference and passed
  as 0-d tensors. Changing `lr`, `betas` or `eps` does not recompile (but for one switch of
  formula inside [`lerp_`](#lerp_), which compiles once more). Parameters whose numbers are
  equal, usually all of a group's, read the same inputs, and Inductor then fuses the loops of
  parameters of the same size into one loop. For SGD on the 20 tensors of the benchmark below
  that is 5 loops instead of 20, and a quarter less time per step at 10M parameters than with a
  table of numbers per parameter.
* **Flags are constants.** Options that change the shape of the computation, such as $L_2$ weight
  decay or AMSGrad's extra state, are Python booleans: each combination compiles once. Options that
  only change a number are numbers: $-g$ for `maximize` is a multiplication by $\pm 1$, and
  decoupled weight decay multiplies $\theta$ by $1 - \alpha \lambda$, which is exactly $1$ without
  decay. Both are exact in floating point.
* **One function per group.** Compiled per parameter, the update would pay the cost of a call
  from Python once per tensor; per group it is paid once per step.
* **No guards.** `torch.compile` applied to the update itself would check every input against
  what it was compiled for on every call, in several layers of wrappers: 0.2 to 0.4 ms per step
  for a group of 20 tensors, up to a tenth of an SGD step at 10M parameters. Here the
  compiled function is looked up by a key of the group's structure, built in Python at a
  microsecond per tensor (see [`call`](#FastUpdate)).

### When the fast path runs

A group goes through the fast path when all of these hold, and otherwise through the reference
code, one parameter at a time:

* The optimizer's class has a fast update whose reference hooks it has not overridden. A subclass
  that overrides `get_mv` or `adam_update` changes the math, and gets the reference path. Hooks
  that only return a number, such as `get_lr` in the [warm-up](adam_warmup.html) schedules, are
  called in Python by the fast path too, so those subclasses keep it.
* The group's `fast` option allows it. Like `torch.optim`'s `foreach` and `fused`, it is a key of the
  param group: `True` asks for the fast path, `False` forbids it, and `None` or no key chooses
  automatically: the fast path when the group's parameters with gradients hold at least
  `MIN_NUMEL` (about four million) elements. Measured on this project's 2-core machine, an Adam group
  of 4.2 million parameters in 20 tensors steps in 3.7 ms instead of 5.1 ms, and compiling it
  costs from about 3 s (cached) to 30 s (cold), so the fast path pays off after a few thousand steps.
  Smaller groups, like those of unit tests and small experiments, stay on the reference path.
* Every parameter is a dense `float32` or `float64` CPU tensor whose gradient has the same dtype,
  the group is not `differentiable`, and a C++ compiler is installed.

When a group that asked for the fast path, or is large enough for it, cannot have it, a
`FastPathWarning` says why, once per reason and class, and the step runs on the reference path.
Sparse gradients go to the reference path, which refuses them with an error.

### The compile cache

The first step of each group structure (number, shapes, strides and dtypes of its tensors, the
flags, and which parameters share their numbers) compiles, which takes from a few to tens of
seconds. A step in which only some of a group's parameters have gradients is another structure,
and compiles once too. Inductor caches the compiled code on disk.
The fast path's compiles use `~/.cache/labml_opt/inductor`, outside any repository, or
`TORCHINDUCTOR_CACHE_DIR` if it was set when this module was imported. The variable is set only
while the fast path compiles, so `torch.compile` of your own model keeps its own cache. A later run
with the same structures starts in about a second, plus a few seconds to load Inductor itself the
first time in a process.

## Benchmark

[[include: results/optimizer_step.md]]
"""

import array
import contextlib
import functools
import inspect
import math
import os
import shutil
import threading
import warnings
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch

from labml_opt import GenericAdaptiveOptimizer, WeightDecay
from labml_opt.ada_belief import AdaBelief
from labml_opt.adadelta import Adadelta
from labml_opt.adagrad import Adagrad
from labml_opt.adam import Adam
from labml_opt.adamax import Adamax
from labml_opt.amsgrad import AMSGrad
from labml_opt.nadam import NAdam
from labml_opt.radam import RAdam
from labml_opt.rmsprop import RMSprop
from labml_opt.sgd import SGD
from labml_opt.shared_adam import SharedAdam
from labml_opt.sophia import Sophia

# Where Inductor caches what the fast path compiles: `TORCHINDUCTOR_CACHE_DIR` if it was set before
# this module was imported, else a directory of our own
CACHE_DIR = (os.environ.get('TORCHINDUCTOR_CACHE_DIR') or
             os.path.join(os.path.expanduser('~'), '.cache', 'labml_opt', 'inductor'))

# Groups smaller than this many elements stay on the reference path when `fast` is `None`.
MIN_NUMEL = 1 << 22
# The dtypes the fast path is tested for.
DTYPES = (torch.float32, torch.float64)


class FastPathWarning(RuntimeWarning):
    """A group that asked for the fast path, or was large enough for it, took the reference path."""


class FastUpdate:
    """
    <a id="FastUpdate"></a>

    ## A fast update for one algorithm

    A subclass names the class whose math it reproduces, `reference`, and the `hooks` of that
    class it reproduces. It writes `update`, the group update that gets compiled, and `run`, which
    computes the scalars in Python and calls it.
    """

    reference: type
    hooks: Tuple[str, ...]

    def __init__(self):
        # The compiled versions of `update`, one per group structure (see `call`)
        self.compiled: Dict[Any, Callable] = {}
        # Each thread's `ScalarInputs`, one per group structure
        self.local = threading.local()
        # Set to the reason when compiling failed, so that it is not tried again.
        self.broken: Optional[str] = None

    def applies_to(self, optimizer: GenericAdaptiveOptimizer) -> bool:
        """
        The class of `optimizer` has `reference`'s math, and its weight decay is one of the three
        rules of `WeightDecay`, not a subclass.
        """
        return self.reproduces(type(optimizer)) and type(getattr(optimizer, 'weight_decay', None)) is WeightDecay

    @functools.lru_cache(maxsize=None)
    def reproduces(self, cls: type) -> bool:
        """
        `cls` is a `reference`, and every hook in `hooks`, plus `step`, is the very function
        `reference` has: a subclass that overrides one of them has different math. (`torch.optim`
        wraps each class's `step` for its hooks and profiler; `inspect.unwrap` sees through that.)
        This depends only on the class, so it is worked out once per class, not on every step.
        """
        return (issubclass(cls, self.reference) and
                all(inspect.unwrap(getattr(cls, name)) is inspect.unwrap(getattr(self.reference, name))
                    for name in self.hooks + ('step',)))

    def update(self, *args):
        """The group update, in plain PyTorch; compiled once per group structure."""
        raise NotImplementedError

    def run(self, optimizer: GenericAdaptiveOptimizer, group: Dict[str, Any], params: List[torch.Tensor],
            grads: List[torch.Tensor], states: List[Dict[str, Any]]):
        """Update every parameter of `group` that has a gradient."""
        raise NotImplementedError

    def call(self, *args):
        """
        Call the compiled update with `args`: lists of tensors, the `Rows` of scalars, and flags.

        The compiled code is made for one group structure: the flags, the number of tensors in
        each list, each tensor's dtype, shape and strides, and which parameters share a row of
        scalars. Those make the key of a small dictionary of compiled versions, checked in Python
        on every call (about a microsecond per tensor); the tensors go to the compiled code as
        one flat list.

        The scalars go as 0-d `float64` tensors, one per number of each distinct row. Rows are
        told apart by identity: `scalar_rows` gives the parameters that share a step count the
        very same list. Usually that is every parameter of the group, so this is a handful of
        inputs that every loop reads, which lets Inductor fuse the loops of parameters of the same
        size. The 0-d tensors are made once, as views of one buffer, and the numbers are written
        into that buffer on every call: creating tensors costs more than a few microseconds per
        step, once the update has swept the caches.

        Inductor in torch 2.13 treats a 0-d `float64` input as a number, and would lose in-place
        writes to a 0-d parameter or state; each of those is passed as a one-element view of the
        same memory.
        """
        tensors: List[torch.Tensor] = []
        numbers: List[float] = []
        # For each argument: the length of a list of tensors, the row of each parameter and the
        # row width for `Rows`, or a 1-tuple for a flag
        layout: List[Any] = []
        for arg in args:
            if isinstance(arg, Rows):
                rows: Dict[int, int] = {}
                which = []
                for row in arg:
                    index = rows.get(id(row))
                    if index is None:
                        index = rows[id(row)] = len(rows)
                        numbers.extend(row)
                    which.append(index)
                layout.append((tuple(which), len(arg[0])))
            elif isinstance(arg, list):
                layout.append(len(arg))
                tensors.extend([t.view(1) if t.dim() == 0 else t for t in arg])
            else:
                layout.append((arg,))
        key = (tuple(layout), tuple([(t.dtype, t.shape, t.stride()) for t in tensors]))
        # This thread's 0-d tensors for this structure: another thread may be stepping another
        # optimizer of the same structure at the same time
        inputs = self.local.__dict__.setdefault('scalars', {}).get(key)
        if inputs is None:
            inputs = self.local.scalars[key] = ScalarInputs(len(numbers))
        inputs.write(numbers)
        compiled = self.compiled.get(key)
        if compiled is None:
            compiled = self.compiled[key] = self.compile(layout, tensors, inputs.tensors)
        compiled(*tensors, *inputs.tensors)

    def compile(self, layout: List[Any], tensors: List[torch.Tensor], scalars: List[torch.Tensor]) -> Callable:
        """
        Compile `update` for one group structure, or raise `CompileFailed`.

        `make_fx` records the update, run on fake tensors of the same structure, as a graph of
        ATen operations, in-place writes included; Inductor's `standalone_compile` turns that graph
        into one C++ function, through the same on-disk cache as `torch.compile`. Unlike
        `torch.compile` of the update itself, the result has no guards: the key in `call` plays
        their part, at a fraction of their cost per step.
        """
        count = len(tensors)

        def flat_update(*flat: torch.Tensor):
            self.update(*unflatten(layout, list(flat[:count]), list(flat[count:])))
            return ()

        inputs = tensors + list(scalars)
        try:
            # torch's compiler imports modules that warn of their own deprecations: not the user's to
            # see, and under `-W error` they would stop the compile
            with warnings.catch_warnings(), inductor_cache(CACHE_DIR):
                warnings.simplefilter('ignore', DeprecationWarning)
                from torch.fx.experimental.proxy_tensor import make_fx
                graph = make_fx(flat_update, tracing_mode='fake')(*inputs)
                # Inductor would check the size and strides of every input on every call; the key in
                # `call` has already checked them, and the dtypes too. After the update has swept
                # the caches, those checks cost 60 µs per step for Adam's 80 tensors.
                return torch._inductor.standalone_compile(graph, inputs, dynamic_shapes='from_example_inputs',
                                                          options={'config_patches': {'size_asserts': False}})
        except Exception as error:
            raise CompileFailed(f'compiling failed: {type(error).__name__}: {str(error).splitlines()[0]}') \
                from error


# Inside the compiled updates: the numbers of each parameter, as 0-d `float64` tensors
Scalars = List[Tuple[torch.Tensor, ...]]


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


class CompileFailed(RuntimeError):
    """Compiling an update failed; nothing was written."""


class Rows(list):
    """
    The numbers of a step, as Python floats: a list of the same length for each parameter.
    Parameters with the same numbers should share one list: that is what `call` looks for.
    """


class ScalarInputs:
    """
    The 0-d `float64` tensors that carry the numbers of a step into the compiled code: views of
    one buffer, made once and written in place.
    """

    def __init__(self, count: int):
        self.buffer = array.array('d', bytes(8 * count))
        self.tensors = list(torch.frombuffer(self.buffer, dtype=torch.float64).unbind()) if count else []

    def write(self, numbers: List[float]):
        # Same length, so the buffer, which the tensors share, stays where it is
        self.buffer[:] = array.array('d', numbers)


def unflatten(layout: List[Any], tensors: List[torch.Tensor], scalars: List[torch.Tensor]) -> List[Any]:
    """
    The arguments of `update` back from `call`'s flat list of tensors, its 0-d scalars and its
    layout; `Rows` come back as a tuple of 0-d tensors for each parameter.
    """
    args, start = [], 0
    for item in layout:
        if isinstance(item, int):
            args.append(tensors[start:start + item])
            start += item
        elif len(item) == 1:
            args.append(item[0])
        else:
            which, width = item
            args.append([tuple(scalars[row * width:(row + 1) * width]) for row in which])
    return args


def scalar_rows(states: List[Dict[str, Any]], row: Callable[[Dict[str, Any]], List[float]],
                keys: List[Any]) -> Rows:
    """
    The scalars of every parameter, a row per parameter. Parameters of a group usually share
    their step count, so the row of each distinct key (the step count, in `keys`, one per state)
    is computed once: hooks such as `get_lr` may depend on the group and the step, not on other
    state.
    """
    rows: Dict[Any, List[float]] = {}
    table = Rows()
    for state, key in zip(states, keys):
        if key not in rows:
            rows[key] = row(state)
        table.append(rows[key])
    return table


def row_of(scalars: Scalars, i: int, param: torch.Tensor) -> Tuple[torch.Tensor, ...]:
    """
    Inside the compiled updates: parameter `i`'s numbers, as 0-d tensors in its dtype. A `float32`
    parameter rounds each `float64` number once, as the reference's operations round a Python
    float for a `float32` tensor.
    """
    return tuple([number.to(param.dtype) for number in scalars[i]])


def gradient_scalars(optimizer: GenericAdaptiveOptimizer, group: Dict[str, Any]) -> List[float]:
    r"""
    What every update does first, as three numbers: the sign, $-1$ to maximize; and the weight decay
    of [`WeightDecay`](index.html#WeightDecay): $\lambda$ to add $\lambda \theta_{t-1}$ to the
    gradient ($0$ unless $L_2$), and the factor that shrinks $\theta_{t-1}$: $1 - \alpha \lambda$,
    $1 - \lambda$, or exactly $1$.
    """
    sign = -1. if group['maximize'] else 1.
    rule, decay = optimizer.weight_decay, group['weight_decay']
    l2 = 0. if rule.weight_decouple else decay
    if not rule.weight_decouple or decay == 0:
        shrink = 1.
    elif rule.absolute:
        shrink = 1 - decay
    else:
        shrink = 1 - group['lr'] * decay
    return [sign, l2, shrink]


def decayed_gradient(param: torch.Tensor, grad: torch.Tensor, sign: torch.Tensor, decay: torch.Tensor,
                     shrink: torch.Tensor, l2: bool) -> torch.Tensor:
    r"""
    The first lines of every compiled update, from the numbers of `gradient_scalars`: returns $g_t$,
    or $-g_t$ to maximize, plus $\lambda \theta_{t-1}$ for $L_2$; and shrinks $\theta_{t-1}$ in place
    by $1 - \alpha \lambda$, $1 - \lambda$, or $1$. It is traced into the update that calls it.
    """
    g = sign * grad
    if l2:
        g = g + decay * param
    param.mul_(shrink)
    return g


def uses_l2(optimizer: GenericAdaptiveOptimizer, group: Dict[str, Any]) -> bool:
    r"""Whether $L_2$ decay changes the gradient: a flag, since without it $\theta$ is not read for it."""
    return not optimizer.weight_decay.weight_decouple and group['weight_decay'] != 0


def lerp_(average: torch.Tensor, value: torch.Tensor, weight: torch.Tensor, small: bool) -> torch.Tensor:
    r"""
    <a id="lerp_"></a>

    `average.lerp_(value, weight)` inside the compiled updates: $a \leftarrow a + w (x - a)$.
    `torch.lerp` computes $a + w (x - a)$ when $|w| < \frac{1}{2}$ and $x - (1 - w)(x - a)$
    otherwise, which is more accurate near $w = 1$. With $w$ an input, Inductor's loop computes
    both and picks one for every element. `small` is that choice, made once per step in Python
    from the number, so that the loop computes one formula: Adam's compiled loop at 10M parameters
    then takes 6.2 ms instead of 6.6. A moving average's weight, $1 - \beta$, is small in practice.
    """
    if small:
        return average.add_(weight * (value - average))
    return average.lerp_(value, weight)


class AdamUpdate(FastUpdate):
    r"""
    <a id="AdamUpdate"></a>

    ## The Adam family

    One update for [Adam](adam.html), [AMSGrad](amsgrad.html), [RAdam](radam.html) and
    [AdaBelief](ada_belief.html), and for their subclasses that change only the learning rate
    ([AdamW](adamw.html), the warm-up schedules). They differ in three places:

    * AMSGrad divides by $v^{\max}_t = \max(v^{\max}_{t-1}, v_t)$: `max_exp_avg_sqs` is not empty.
    * AdaBelief averages $(g_t - m_t)^2 + \epsilon$ instead of $g_t^2$: the flag `belief`.
    * RAdam's step is $\alpha_t \frac{m_t}{c \sqrt{v_t} + \epsilon'}$ while the variance is
      tractable and $\alpha_t m_t$ before. The second is the first with $c = 0$ and $\epsilon' = 1$,
      so the switch is a change of numbers, not of code.

    The scale $c$ also covers the update without the optimization, which divides $\sqrt{v_t}$ by
    $\sqrt{1-\beta_2^t}$: multiplying by the reciprocal costs one multiplication per element instead
    of a division, and differs from the reference by at most one rounding.
    """

    reference = Adam
    hooks = ('init_state', 'step_param', 'get_mv', 'adam_update')
    # The state keys of $v_t$ and $v^{\max}_t$
    second_moment = 'exp_avg_sq'
    second_moment_max = 'max_exp_avg_sq'
    belief = False

    def amsgrad(self, group: Dict[str, Any]) -> bool:
        r"""Whether the group divides by $v^{\max}_t$; never for Adam itself."""
        return False

    def step_scalars(self, optimizer: Adam, group: Dict[str, Any], state: Dict[str, Any],
                     bias_correction1: float, bias_correction2: float) -> List[float]:
        r"""
        $c$, $\epsilon'$ and the step size $\alpha_t$ of Adam's `adam_update`: $c = 1$ and
        $\epsilon' = \epsilon \sqrt{1-\beta_2^t}$ for the optimized update,
        $c = \frac{1}{\sqrt{1-\beta_2^t}}$ and $\epsilon' = \epsilon$ otherwise.
        """
        lr = optimizer.get_lr(state, group)
        if optimizer.optimized_update:
            return [1., group['eps'] * math.sqrt(bias_correction2),
                    lr * math.sqrt(bias_correction2) / bias_correction1]
        return [1 / math.sqrt(bias_correction2), group['eps'], lr / bias_correction1]

    def scalars(self, optimizer: Adam, group: Dict[str, Any], state: Dict[str, Any]) -> List[float]:
        r"""
        The numbers of one parameter's step, with `state['step']` already $t$, computed in `float64`
        with the same expressions as the reference.
        """
        beta1, beta2 = group['betas']
        # `int` for the shared 0-d tensor of [SharedAdam](shared_adam.html), as in `adam_update`
        step = int(state['step'])
        bias_correction1 = 1 - beta1 ** step
        bias_correction2 = 1 - beta2 ** step
        # AdaBelief's $\epsilon$ inside $s_t$
        belief_eps = group['eps'] if self.belief else 0.
        return ([*gradient_scalars(optimizer, group), 1 - beta1, beta2, 1 - beta2, belief_eps] +
                self.step_scalars(optimizer, group, state, bias_correction1, bias_correction2))

    def count_steps(self, states: List[Dict[str, Any]]) -> List[int]:
        r"""$t \leftarrow t + 1$ for every parameter; returns the new counts."""
        for state in states:
            state['step'] += 1
        return [state['step'] for state in states]

    def update(self, params: List[torch.Tensor], grads: List[torch.Tensor], exp_avgs: List[torch.Tensor],
               exp_avg_sqs: List[torch.Tensor], max_exp_avg_sqs: List[torch.Tensor], scalars: Scalars,
               l2: bool, belief: bool, small_weight: bool):
        r"""
        ### The group update

        * `params`, `grads`, `exp_avgs`, `exp_avg_sqs` are $\theta_{t-1}$, $g_t$, $m_{t-1}$, $v_{t-1}$
        * `max_exp_avg_sqs` is $v^{\max}_{t-1}$ for AMSGrad, or empty
        * `scalars` has one row per parameter, from `scalars()`
        * `l2` says whether $L_2$ decay is added to the gradient, `belief` whether this is AdaBelief
        * `small_weight` says whether $1 - \beta_1 < \frac{1}{2}$ (see [`lerp_`](#lerp_))

        Each line is the reference line with the same equation; Inductor turns each iteration of the
        loop into one pass over the parameter, with no full-size temporaries.
        """
        for i, (param, grad, m, v) in enumerate(zip(params, grads, exp_avgs, exp_avg_sqs)):
            (sign, decay, shrink, one_minus_beta1, beta2, one_minus_beta2, belief_eps,
             scale, eps, step_size) = row_of(scalars, i, param)
            g = decayed_gradient(param, grad, sign, decay, shrink, l2)
            # $m_t \leftarrow \beta_1 m_{t-1} + (1 - \beta_1) g_t$
            lerp_(m, g, one_minus_beta1, small_weight)
            if belief:
                # $s_t \leftarrow \beta_2 s_{t-1} + (1 - \beta_2) (g_t - m_t)^2 + \epsilon$
                surprise = g - m
                v.mul_(beta2).add_(one_minus_beta2 * surprise * surprise).add_(belief_eps)
            else:
                # $v_t \leftarrow \beta_2 v_{t-1} + (1 - \beta_2) g_t^2$
                v.mul_(beta2).add_(one_minus_beta2 * g * g)
            # $v^{\max}_t \leftarrow \max(v^{\max}_{t-1}, v_t)$, which the step then divides by
            if max_exp_avg_sqs:
                v = max_exp_avg_sqs[i].copy_(torch.maximum(max_exp_avg_sqs[i], v))
            # $c \sqrt{v_t} + \epsilon'$
            denominator = v.sqrt() * scale + eps
            # $\theta_t \leftarrow \theta_{t-1} - \alpha_t \frac{m_t}{c \sqrt{v_t} + \epsilon'}$
            param.sub_(step_size * m / denominator)

    def run(self, optimizer: Adam, group: Dict[str, Any], params: List[torch.Tensor],
            grads: List[torch.Tensor], states: List[Dict[str, Any]]):
        """
        The step counts go up first, so that `get_lr` sees $t$ as it does in the reference.
        """
        steps = self.count_steps(states)
        scalars = scalar_rows(states, lambda state: self.scalars(optimizer, group, state), steps)
        maxima = [state[self.second_moment_max] for state in states] if self.amsgrad(group) else []
        self.call(params, grads, [state['exp_avg'] for state in states],
                  [state[self.second_moment] for state in states], maxima, scalars,
                  uses_l2(optimizer, group), self.belief, abs(1 - group['betas'][0]) < 0.5)


class AMSGradUpdate(AdamUpdate):
    r"""
    [AMSGrad](amsgrad.html) overrides `init_state` and `get_mv` to keep and use $v^{\max}_t$ when the
    group has `amsgrad` on.
    """

    reference = AMSGrad

    def amsgrad(self, group: Dict[str, Any]) -> bool:
        return group['amsgrad']


class RAdamUpdate(AMSGradUpdate):
    r"""
    [RAdam](radam.html) overrides `adam_update`: its step scalars come from `rectification`, which
    is called here too.
    """

    reference = RAdam
    hooks = AMSGradUpdate.hooks + ('rectification',)

    def step_scalars(self, optimizer: RAdam, group: Dict[str, Any], state: Dict[str, Any],
                     bias_correction1: float, bias_correction2: float) -> List[float]:
        r"""
        $\alpha_t \hat{m}_t$ with $c = 0$, $\epsilon' = 1$ while $r_t$ is undefined; then
        $c = 1$, $\epsilon' = \epsilon$ and $\alpha r_t \frac{\sqrt{1-\beta_2^t}}{1-\beta_1^t}$ (optimized),
        or $c = \frac{1}{\sqrt{1-\beta_2^t}}$, $\epsilon' = \frac{\epsilon}{\sqrt{1-\beta_2^t}}$ and
        $\frac{\alpha r_t}{1-\beta_1^t}$.
        """
        lr = optimizer.get_lr(state, group)
        r = optimizer.rectification(group['betas'][1], state['step'])
        if r is None:
            return [0., 1., lr / bias_correction1]
        if optimizer.optimized_update:
            return [1., group['eps'], lr * r * math.sqrt(bias_correction2) / bias_correction1]
        return [1 / math.sqrt(bias_correction2), group['eps'] / math.sqrt(bias_correction2),
                lr * r / bias_correction1]


class AdaBeliefUpdate(RAdamUpdate):
    r"""
    [AdaBelief](ada_belief.html) keeps $s_t$ as `exp_avg_var` and takes RAdam's step, or Adam's
    when `rectify` is off.
    """

    reference = AdaBelief
    second_moment = 'exp_avg_var'
    second_moment_max = 'max_exp_avg_var'
    belief = True

    def step_scalars(self, optimizer: AdaBelief, group: Dict[str, Any], state: Dict[str, Any],
                     bias_correction1: float, bias_correction2: float) -> List[float]:
        if optimizer.rectify:
            return super().step_scalars(optimizer, group, state, bias_correction1, bias_correction2)
        return AdamUpdate.step_scalars(self, optimizer, group, state, bias_correction1, bias_correction2)


class SharedAdamUpdate(AdamUpdate):
    r"""
    [SharedAdam](shared_adam.html) is Adam with its state in shared memory, which the compiled code
    updates like any other tensor. With a lock, the whole group's update runs under it: each
    parameter's update is atomic, as in the reference, and so is the group's.
    """

    reference = SharedAdam

    def run(self, optimizer: SharedAdam, group: Dict[str, Any], params: List[torch.Tensor],
            grads: List[torch.Tensor], states: List[Dict[str, Any]]):
        """
        The shared step counts are tensors, changed in place: if compiling fails they are counted
        back here, since restoring the state dicts would not undo them.
        """
        with optimizer.lock if optimizer.lock is not None else contextlib.nullcontext():
            try:
                super().run(optimizer, group, params, grads, states)
            except CompileFailed:
                torch._foreach_sub_([state['step'] for state in states], 1)
                raise

    def count_steps(self, states: List[Dict[str, Any]]) -> List[int]:
        """The shared 0-d step tensors, counted in place by one operation for the whole group."""
        steps = [state['step'] for state in states]
        torch._foreach_add_(steps, 1)
        return [int(step) for step in steps]


class SGDUpdate(FastUpdate):
    r"""
    <a id="SGDUpdate"></a>

    ## SGD

    [SGD](sgd.html)'s first momentum step copies the gradient, $v_1 = g_1$. Here the buffer starts
    at zero instead and the first step uses $\mu = 0$ and $1 - \tau = 1$, which gives
    $0 \cdot 0 + 1 \cdot g_1 = g_1$ exactly, in the same compiled code as every later step.
    """

    reference = SGD
    hooks = ('init_state', 'step_param')

    def update(self, params: List[torch.Tensor], grads: List[torch.Tensor], momentum_buffers: List[torch.Tensor],
               scalars: Scalars, l2: bool, nesterov: bool):
        r"""
        * `momentum_buffers` are $v_{t-1}$, or empty without momentum
        * `nesterov` steps along $g_t + \mu v_t$ instead of $v_t$
        """
        for i, (param, grad) in enumerate(zip(params, grads)):
            (sign, decay, shrink, buffer_momentum, one_minus_dampening,
             momentum, lr) = row_of(scalars, i, param)
            g = decayed_gradient(param, grad, sign, decay, shrink, l2)
            if momentum_buffers:
                # $v_t \leftarrow \mu v_{t-1} + (1 - \tau) g_t$
                velocity = momentum_buffers[i].mul_(buffer_momentum).add_(one_minus_dampening * g)
                # Nesterov steps along $g_t + \mu v_t$, classical momentum along $v_t$
                g = g + momentum * velocity if nesterov else velocity
            # $\theta_t \leftarrow \theta_{t-1} - \eta \, g_t$
            param.sub_(lr * g)

    def run(self, optimizer: SGD, group: Dict[str, Any], params: List[torch.Tensor],
            grads: List[torch.Tensor], states: List[Dict[str, Any]]):
        buffers = []
        if group['momentum'] != 0:
            for param, state in zip(params, states):
                first = state['momentum_buffer'] is None
                if first:
                    state['momentum_buffer'] = torch.zeros_like(param, memory_format=torch.preserve_format)
                buffers.append((state['momentum_buffer'], first))

        def row(first: bool) -> List[float]:
            # $\mu$ and $1 - \tau$ for the buffer: $0$ and $1$ on the first step
            buffer_scalars = [0., 1.] if first else [group['momentum'], 1 - group['dampening']]
            return [*gradient_scalars(optimizer, group), *buffer_scalars, group['momentum'], group['lr']]

        firsts = [first for _, first in buffers] or [False] * len(params)
        # One list per distinct row, shared by the parameters that have it
        rows = {first: row(first) for first in set(firsts)}
        scalars = Rows([rows[first] for first in firsts])
        self.call(params, grads, [buffer for buffer, _ in buffers], scalars,
                  uses_l2(optimizer, group), group['nesterov'])


class AdagradUpdate(FastUpdate):
    r"""
    <a id="AdagradUpdate"></a>

    ## Adagrad

    [Adagrad](adagrad.html)'s sum $G_t$ and step in one pass; $\eta_t$ with its `lr_decay` is a number
    computed per step count.
    """

    reference = Adagrad
    hooks = ('init_state', 'step_param')

    def update(self, params: List[torch.Tensor], grads: List[torch.Tensor], sums: List[torch.Tensor],
               scalars: Scalars, l2: bool):
        """`sums` are $G_{t-1}$."""
        for i, (param, grad, total) in enumerate(zip(params, grads, sums)):
            sign, decay, shrink, eps, lr = row_of(scalars, i, param)
            g = decayed_gradient(param, grad, sign, decay, shrink, l2)
            # $G_t \leftarrow G_{t-1} + g_t^2$
            total.add_(g * g)
            # $\theta_t \leftarrow \theta_{t-1} - \frac{\eta_t}{\sqrt{G_t} + \epsilon} \, g_t$
            param.sub_(lr * g / (total.sqrt() + eps))

    def run(self, optimizer: Adagrad, group: Dict[str, Any], params: List[torch.Tensor],
            grads: List[torch.Tensor], states: List[Dict[str, Any]]):
        for state in states:
            state['step'] += 1

        def row(state: Dict[str, Any]) -> List[float]:
            # $\eta_t = \frac{\eta}{1 + (t - 1) \delta}$
            lr = group['lr'] / (1 + (state['step'] - 1) * group['lr_decay'])
            return [*gradient_scalars(optimizer, group), group['eps'], lr]

        scalars = scalar_rows(states, row, [state['step'] for state in states])
        self.call(params, grads, [state['sum'] for state in states], scalars, uses_l2(optimizer, group))


class RMSpropUpdate(FastUpdate):
    r"""
    <a id="RMSpropUpdate"></a>

    ## RMSprop

    [RMSprop](rmsprop.html), with its centered and momentum variants as flags: each adds a state tensor
    to read and write.
    """

    reference = RMSprop
    hooks = ('init_state', 'step_param')

    def update(self, params: List[torch.Tensor], grads: List[torch.Tensor], square_avgs: List[torch.Tensor],
               grad_avgs: List[torch.Tensor], momentum_buffers: List[torch.Tensor], scalars: Scalars,
               l2: bool, small_weight: bool):
        r"""
        * `square_avgs` are $v_{t-1}$; `grad_avgs` are $\bar{g}_{t-1}$ when centered, else empty;
          `momentum_buffers` are $b_{t-1}$ with momentum, else empty
        """
        for i, (param, grad, square_avg) in enumerate(zip(params, grads, square_avgs)):
            sign, decay, shrink, alpha, one_minus_alpha, eps, momentum, lr = row_of(scalars, i, param)
            g = decayed_gradient(param, grad, sign, decay, shrink, l2)
            # $v_t \leftarrow \alpha v_{t-1} + (1 - \alpha) g_t^2$
            square_avg.mul_(alpha).add_(one_minus_alpha * g * g)
            if grad_avgs:
                # $\bar{g}_t \leftarrow \alpha \bar{g}_{t-1} + (1 - \alpha) g_t$,
                # then $\sqrt{v_t - \bar{g}_t^2} + \epsilon$
                grad_avg = lerp_(grad_avgs[i], g, one_minus_alpha, small_weight)
                denominator = (square_avg - grad_avg * grad_avg).sqrt() + eps
            else:
                # $\sqrt{v_t} + \epsilon$
                denominator = square_avg.sqrt() + eps
            if momentum_buffers:
                # $b_t \leftarrow \mu b_{t-1} + \frac{g_t}{\sqrt{v_t} + \epsilon}$,
                # then $\theta_t \leftarrow \theta_{t-1} - \eta \, b_t$
                velocity = momentum_buffers[i].mul_(momentum).add_(g / denominator)
                param.sub_(lr * velocity)
            else:
                # $\theta_t \leftarrow \theta_{t-1} - \frac{\eta}{\sqrt{v_t} + \epsilon} \, g_t$
                param.sub_(lr * g / denominator)

    def run(self, optimizer: RMSprop, group: Dict[str, Any], params: List[torch.Tensor],
            grads: List[torch.Tensor], states: List[Dict[str, Any]]):
        for state in states:
            state['step'] += 1
        row = [*gradient_scalars(optimizer, group), group['alpha'], 1 - group['alpha'], group['eps'],
               group['momentum'], group['lr']]
        scalars = Rows([row] * len(states))
        grad_avgs = [state['grad_avg'] for state in states] if group['centered'] else []
        buffers = [state['momentum_buffer'] for state in states] if group['momentum'] > 0 else []
        self.call(params, grads, [state['square_avg'] for state in states], grad_avgs, buffers, scalars,
                  uses_l2(optimizer, group), abs(1 - group['alpha']) < 0.5)


class NAdamUpdate(FastUpdate):
    r"""
    <a id="NAdamUpdate"></a>

    ## NAdam

    [NAdam](nadam.html)'s two `addcdiv_` steps, along $g_t$ and along $m_t$, become one pass.
    The running product $\prod_{i=1}^{t} \mu_i$ is a Python float in each parameter's state, and is
    updated here the same way.
    """

    reference = NAdam
    hooks = ('init_state', 'step_param', 'get_mv', 'nadam_update', 'momentum')

    def update(self, params: List[torch.Tensor], grads: List[torch.Tensor], exp_avgs: List[torch.Tensor],
               exp_avg_sqs: List[torch.Tensor], scalars: Scalars, l2: bool, small_weight: bool):
        for i, (param, grad, m, v) in enumerate(zip(params, grads, exp_avgs, exp_avg_sqs)):
            (sign, decay, shrink, one_minus_beta1, beta2, one_minus_beta2,
             scale, eps, grad_step, momentum_step) = row_of(scalars, i, param)
            g = decayed_gradient(param, grad, sign, decay, shrink, l2)
            lerp_(m, g, one_minus_beta1, small_weight)
            v.mul_(beta2).add_(one_minus_beta2 * g * g)
            denominator = v.sqrt() * scale + eps
            # $\theta_t \leftarrow \theta_{t-1} - \alpha \frac{1 - \mu_t}{1 - \prod_{i \le t} \mu_i}
            #   \frac{g_t}{\sqrt{\hat{v}_t} + \epsilon} - \alpha \frac{\mu_{t+1}}{1 - \prod_{i \le t+1} \mu_i}
            #   \frac{m_t}{\sqrt{\hat{v}_t} + \epsilon}$, in the reference's order
            param.sub_(grad_step * g / denominator).sub_(momentum_step * m / denominator)

    def scalars(self, optimizer: NAdam, group: Dict[str, Any], state: Dict[str, Any]) -> List[float]:
        r"""
        The numbers of `nadam_update`, with `state['step']` already $t$ and `state['mu_product']`
        already $\prod_{i=1}^{t} \mu_i$.
        """
        beta1, beta2 = group['betas']
        step, mu_product = state['step'], state['mu_product']
        # $\mu_t$ and $\mu_{t+1}$
        mu = optimizer.momentum(group, step)
        mu_next = optimizer.momentum(group, step + 1)
        bias_correction2 = 1 - beta2 ** step
        lr = optimizer.get_lr(state, group)
        if optimizer.optimized_update:
            scale, eps, step_size = 1., group['eps'] * math.sqrt(bias_correction2), lr * math.sqrt(bias_correction2)
        else:
            scale, eps, step_size = 1 / math.sqrt(bias_correction2), group['eps'], lr
        return [*gradient_scalars(optimizer, group), 1 - beta1, beta2, 1 - beta2, scale, eps,
                step_size * (1 - mu) / (1 - mu_product), step_size * mu_next / (1 - mu_product * mu_next)]

    def run(self, optimizer: NAdam, group: Dict[str, Any], params: List[torch.Tensor],
            grads: List[torch.Tensor], states: List[Dict[str, Any]]):
        for state in states:
            state['step'] += 1
            # $\prod_{i=1}^{t} \mu_i$, kept in the state as the reference keeps it
            state['mu_product'] *= optimizer.momentum(group, state['step'])
        scalars = scalar_rows(states, lambda state: self.scalars(optimizer, group, state),
                              [(state['step'], state['mu_product']) for state in states])
        self.call(params, grads, [state['exp_avg'] for state in states],
                  [state['exp_avg_sq'] for state in states], scalars, uses_l2(optimizer, group),
                  abs(1 - group['betas'][0]) < 0.5)


class AdamaxUpdate(FastUpdate):
    r"""
    <a id="AdamaxUpdate"></a>

    ## Adamax

    [Adamax](adamax.html) divides by the running maximum $u_t$ instead of $\sqrt{v_t}$.
    """

    reference = Adamax
    hooks = ('init_state', 'step_param', 'get_mv', 'adam_update')

    def update(self, params: List[torch.Tensor], grads: List[torch.Tensor], exp_avgs: List[torch.Tensor],
               exp_infs: List[torch.Tensor], scalars: Scalars, l2: bool, small_weight: bool):
        """`exp_infs` are $u_{t-1}$."""
        for i, (param, grad, m, u) in enumerate(zip(params, grads, exp_avgs, exp_infs)):
            sign, decay, shrink, one_minus_beta1, beta2, eps, step_size = row_of(scalars, i, param)
            g = decayed_gradient(param, grad, sign, decay, shrink, l2)
            lerp_(m, g, one_minus_beta1, small_weight)
            # $u_t \leftarrow \max(\beta_2 u_{t-1}, |g_t| + \epsilon)$
            u.copy_(torch.maximum(u * beta2, g.abs() + eps))
            # $\theta_t \leftarrow \theta_{t-1} - \frac{\alpha}{1 - \beta_1^t} \frac{m_t}{u_t}$
            param.sub_(step_size * m / u)

    def run(self, optimizer: Adamax, group: Dict[str, Any], params: List[torch.Tensor],
            grads: List[torch.Tensor], states: List[Dict[str, Any]]):
        for state in states:
            state['step'] += 1

        def row(state: Dict[str, Any]) -> List[float]:
            beta1, beta2 = group['betas']
            step_size = optimizer.get_lr(state, group) / (1 - beta1 ** state['step'])
            return [*gradient_scalars(optimizer, group), 1 - beta1, beta2, group['eps'], step_size]

        scalars = scalar_rows(states, row, [state['step'] for state in states])
        self.call(params, grads, [state['exp_avg'] for state in states],
                  [state['exp_inf'] for state in states], scalars, uses_l2(optimizer, group),
                  abs(1 - group['betas'][0]) < 0.5)


class AdadeltaUpdate(FastUpdate):
    r"""
    <a id="AdadeltaUpdate"></a>

    ## Adadelta

    [Adadelta](adadelta.html)'s two averages and its step, with no learning-rate schedule to compute.
    """

    reference = Adadelta
    hooks = ('init_state', 'step_param')

    def update(self, params: List[torch.Tensor], grads: List[torch.Tensor], square_avgs: List[torch.Tensor],
               acc_deltas: List[torch.Tensor], scalars: Scalars, l2: bool):
        r"""`square_avgs` are $E[g^2]_{t-1}$, `acc_deltas` are $E[\Delta\theta^2]_{t-1}$."""
        for i, (param, grad, square_avg, acc_delta) in enumerate(zip(params, grads, square_avgs, acc_deltas)):
            sign, decay, shrink, rho, one_minus_rho, eps, lr = row_of(scalars, i, param)
            g = decayed_gradient(param, grad, sign, decay, shrink, l2)
            # $E[g^2]_t \leftarrow \rho \, E[g^2]_{t-1} + (1 - \rho) \, g_t^2$
            square_avg.mul_(rho).add_(one_minus_rho * g * g)
            # $\Delta\theta_t = \frac{\text{RMS}[\Delta\theta]_{t-1}}{\text{RMS}[g]_t} g_t$
            delta = (acc_delta + eps).sqrt() / (square_avg + eps).sqrt() * g
            # $E[\Delta\theta^2]_t \leftarrow \rho \, E[\Delta\theta^2]_{t-1} + (1 - \rho) \, \Delta\theta_t^2$
            acc_delta.mul_(rho).add_(one_minus_rho * delta * delta)
            # $\theta_t \leftarrow \theta_{t-1} - \eta \, \Delta\theta_t$
            param.sub_(lr * delta)

    def run(self, optimizer: Adadelta, group: Dict[str, Any], params: List[torch.Tensor],
            grads: List[torch.Tensor], states: List[Dict[str, Any]]):
        for state in states:
            state['step'] += 1
        row = [*gradient_scalars(optimizer, group), group['rho'], 1 - group['rho'], group['eps'], group['lr']]
        self.call(params, grads, [state['square_avg'] for state in states],
                  [state['acc_delta'] for state in states], Rows([row] * len(states)),
                  uses_l2(optimizer, group))


class SophiaUpdate(FastUpdate):
    r"""
    <a id="SophiaUpdate"></a>

    ## Sophia

    [Sophia](sophia.html)'s step: the momentum, the clipped ratio to the curvature, and the
    parameter, in one pass instead of the reference's three, and without its full-size buffer for
    the ratio. Refreshing the curvature estimate, every few steps, stays with `update_hessian`.
    """

    reference = Sophia
    hooks = ('init_state', 'step_param')

    def update(self, params: List[torch.Tensor], grads: List[torch.Tensor], exp_avgs: List[torch.Tensor],
               hessians: List[torch.Tensor], scalars: Scalars, l2: bool, small_weight: bool):
        """`exp_avgs` are $m_{t-1}$, `hessians` are $h_t$."""
        for i, (param, grad, m, h) in enumerate(zip(params, grads, exp_avgs, hessians)):
            sign, decay, shrink, one_minus_beta1, rho, eps, lr = row_of(scalars, i, param)
            g = decayed_gradient(param, grad, sign, decay, shrink, l2)
            lerp_(m, g, one_minus_beta1, small_weight)
            # $\operatorname{clip} \big( \frac{m_t}{\max \{ \rho h_t, \epsilon \}}, 1 \big)$
            clipped = (m / torch.maximum(h * rho, eps)).clamp(-1., 1.)
            # $\theta_{t+1} \leftarrow \theta_t - \eta \cdot \operatorname{clip}(\dots)$
            param.sub_(lr * clipped)

    def run(self, optimizer: Sophia, group: Dict[str, Any], params: List[torch.Tensor],
            grads: List[torch.Tensor], states: List[Dict[str, Any]]):
        for state in states:
            state['step'] += 1
        beta1, _ = group['betas']
        row = [*gradient_scalars(optimizer, group), 1 - beta1, group['rho'], group['eps'], group['lr']]
        self.call(params, grads, [state['exp_avg'] for state in states],
                  [state['hessian'] for state in states], Rows([row] * len(states)), uses_l2(optimizer, group),
                  abs(1 - beta1) < 0.5)


# The fast updates, most specific first: an `AdaBelief` is also a `RAdam`, an `AMSGrad` and an `Adam`;
# NAdam and Adamax override hooks of Adam, so Adam's update never applies to them.
UPDATES: List[FastUpdate] = [AdaBeliefUpdate(), RAdamUpdate(), AMSGradUpdate(), SharedAdamUpdate(), AdamUpdate(),
                             NAdamUpdate(), AdamaxUpdate(),
                             SGDUpdate(), AdagradUpdate(), RMSpropUpdate(), AdadeltaUpdate(), SophiaUpdate()]

# The `(class, reason)` pairs already warned about.
_warned = set()


def compiler_available() -> bool:
    """Whether one of the C++ compilers Inductor would call is installed."""
    return compiler_found(tuple(torch._inductor.config.cpp.cxx))


@functools.lru_cache(maxsize=None)
def compiler_found(candidates: Tuple[Optional[str], ...]) -> bool:
    """Searching `PATH` takes longer than a small step, so each list of candidates is searched once."""
    return any(name is not None and shutil.which(name) is not None for name in candidates)


def warn_once(optimizer: GenericAdaptiveOptimizer, reason: str):
    """Say once per optimizer class and reason why a group took the reference path."""
    key = (type(optimizer).__name__, reason)
    if key not in _warned:
        _warned.add(key)
        warnings.warn(f'{type(optimizer).__name__}: using the reference step, not the fast path: {reason}',
                      FastPathWarning, stacklevel=4)


def update_for(optimizer: GenericAdaptiveOptimizer) -> Optional[FastUpdate]:
    """The fast update that reproduces `optimizer`'s math, if there is one."""
    for update in UPDATES:
        if update.applies_to(optimizer):
            return update
    return None


def unsupported(update: Optional[FastUpdate], group: Dict[str, Any], params: List[torch.Tensor]) -> Optional[str]:
    """Why `group` cannot take the fast path, or `None` if it can."""
    if update is None:
        return 'this class has no fast update, or overrides a hook that the fast update reproduces'
    if update.broken is not None:
        return update.broken
    if group.get('differentiable', False):
        return 'the group is differentiable'
    for param in params:
        grad = param.grad
        if param.dtype not in DTYPES or grad.dtype != param.dtype:
            return f'parameter dtype {param.dtype} with gradient dtype {grad.dtype} (supported: float32, float64)'
        if not (param.is_cpu and grad.is_cpu):
            return f'parameter on {param.device}, gradient on {grad.device} (supported: CPU)'
    if not compiler_available():
        return f'no C++ compiler found (tried {torch._inductor.config.cpp.cxx})'
    return None


def fast_group_step(optimizer: GenericAdaptiveOptimizer, group: Dict[str, Any]) -> bool:
    """
    <a id="fast_group_step"></a>

    ## Dispatch

    Update the whole `group` through its fast update and return `True`, or return `False` and leave
    everything untouched for the reference path. Called by
    [`GenericAdaptiveOptimizer.step`](index.html#GenericAdaptiveOptimizer) for each group.
    """
    fast = group.get('fast')
    optimizer.check('fast', fast, fast in (None, True, False), 'True, False or None (automatic)')
    if fast is False:
        return False
    params = [param for param in group['params'] if param.grad is not None]
    # Small groups, the common case on every step of a small model, leave before anything else is checked
    if fast is None and sum(param.numel() for param in params) < MIN_NUMEL:
        return False
    # Sparse gradients are the reference path's to refuse
    if not params or any(param.grad.layout != torch.strided for param in params):
        return False
    update = update_for(optimizer)
    reason = unsupported(update, group, params)
    if reason is not None:
        if fast or update is not None:
            warn_once(optimizer, reason)
        return False

    states = []
    for param in params:
        state = optimizer.state[param]
        if len(state) == 0:
            optimizer.init_state(state, group, param)
        states.append(state)
    # The states as they are, to restore if compiling fails: `run` counts steps (and SGD makes its
    # buffers) before the compiled code runs, and the compiled code writes nothing unless it compiled
    saved = [dict(state) for state in states]
    try:
        with torch.no_grad():
            update.run(optimizer, group, params, [param.grad for param in params], states)
    except CompileFailed as error:
        # Undo, and never try this update again
        for state, before in zip(states, saved):
            state.clear()
            state.update(before)
        update.broken = str(error)
        warn_once(optimizer, update.broken)
        return False
    return True
