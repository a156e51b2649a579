r"""
---
title: Shared Adam for Hogwild training
summary: An Adam whose moments and step counter live in shared memory, so that many processes can train one model with one optimizer, as A3C does with RMSProp.
---

# Shared Adam

[A3C](https://arxiv.org/abs/1602.01783) (asynchronous advantage actor-critic, Mnih et al. 2016)
trains one model from several workers (threads in the paper, processes in PyTorch ports). Each
worker plays its own copy of the environment, computes a gradient from what it saw, and applies that gradient to the model that all workers share, without
waiting for the others. This is *Hogwild* training, after
[Recht et al.](https://arxiv.org/abs/1106.5730): updates are applied without locks, and the
workers read parameters that others may be changing.

Sharing the model is easy: `model.share_memory()` moves its parameters into shared memory, and
processes started with `torch.multiprocessing` see the same storage. The optimizer's state is
a choice. [Adam](adam.html) keeps per-parameter state, $m_t$, $v_t$ and the step $t$, and creates
it lazily on the first step, so each worker would create its own, in its own memory: its own
moments, computed from a fraction of the gradients, and its own $t$. That is a workable
algorithm. The A3C paper used RMSProp, not Adam, and compared exactly these two options: per-thread
statistics trained, and statistics shared between the threads were more robust across learning
rates and seeds. This class gives the shared option for Adam.

The widely copied way to share Adam's state subclasses `torch.optim.Adam`, creates the state eagerly and calls
`share_memory_()` on the moments, with the step kept as a Python `int`. An `int` cannot be shared:
every process would count only its own updates, so the bias corrections $1 - \beta_1^t$ and
$1 - \beta_2^t$ would use a $t$ about $N$ times too small with $N$ workers. Current PyTorch refuses
it outright: `torch.optim.Adam.step` raises "`state_steps` argument must contain a list of
singleton tensors" on the first step. The step has to be a tensor, in shared memory, changed in
place by every update.

This class builds on our [Adam](adam.html) and changes only where the state lives:

* the state of every parameter is created when the parameter is added, not on its first step,
  and moved to shared memory;
* the step $t$ is a shared 0-d `int64` tensor, updated in place (`state['step'] += 1`), so every
  worker counts every update;
* an optional lock makes each param group's update atomic, for when exactness matters more than speed.

## What races Hogwild tolerates

Without the lock, two workers can update the same parameter at the same time. The element-wise
read-modify-write operations of the update interleave: a worker may read $m_{t-1}$ after another
worker changed $v_{t-1}$ but before it changed $\theta_{t-1}$, one worker's write of a number may
overwrite another's, and some increments of $t$ are lost. Each of these does little harm:

* $m$ and $v$ are moving averages, so a lost or mixed write in them is forgotten geometrically,
  by a factor $\beta_1$ or $\beta_2$ per step;
* a lost increment of $t$ matters only while the bias corrections are still far from one (the
  first few thousand steps with $\beta_2 = 0.999$), and even then the later steps use the
  corrections of one step earlier;
* a garbled parameter update is one noisy step, corrected by later gradients like any other noise
  in stochastic gradient descent.

Recht et al. prove that lock-free SGD converges about as fast as serial SGD when each update
touches only a few coordinates, so that collisions are rare. A3C's updates are dense and come
with no such proof. It works in practice because a collision perturbs one step by a little, the
parameters a worker reads are only a few updates old, and the policy gradient is far noisier
than either; never waiting for a lock is worth more than the lost exactness.

State that splits for good, each worker keeping its own $m$, $v$ and $t$, is a different
algorithm rather than a race: $N$ Adams on one model, each with moments of only its own gradients
and bias corrections for a $t$ that counts only its own steps. It trains (A3C's per-thread RMSProp
is the same design), but each worker's $v$ averages $N$ times fewer gradients and is noisier, and
the A3C paper found the shared statistics more robust. Sharing them is what this class is for;
the accidental version, where the author meant to share and the state silently split, is the bug
it avoids.

## Why one thread per worker

PyTorch runs each operation on as many threads as the machine has cores. With $N$ workers on
$N$ cores, each worker would start $N$ threads for every tiny matrix product: $N^2$ threads
compete for $N$ cores, and the time goes into waking up and synchronising threads rather than
arithmetic. Reinforcement learning networks are small, so one thread per process and one
process per core is much faster. [`run_workers`](#run_workers) calls `torch.set_num_threads(1)`
in every worker before the worker's own code runs, and sets `OMP_NUM_THREADS=1` for whatever the
worker starts later. Setting `OMP_NUM_THREADS=1` in the shell as well also keeps the parent, and
any worker that imports a library with its own thread pool, to one thread from the start.

## The lock

`SharedAdam(params, lock=True)` (or `lock=context.Lock()`) holds a `torch.multiprocessing`
lock while it updates a param group: the steps, both moments and the parameters change together,
and no increment of $t$ is lost. With $N$ workers taking $k$ steps each, every parameter's $t$ ends
at exactly $N k$. Adam updates each parameter using only that parameter's own state, so
serialising the updates is enough for the result to equal a serial run of the same gradients in
some order; the steps of different groups may still interleave. The lock must
come from the same start method as the worker processes: `lock=True` uses the default one; for
`spawn`, pass `torch.multiprocessing.get_context('spawn').Lock()`.
"""

import ctypes
import os
import signal
import sys
import time
from multiprocessing.connection import wait
from typing import Any, Callable, Dict, Optional, Sequence, Tuple, Union

import torch
import torch.multiprocessing as mp
from torch import nn

from labml_opt.optimizer import Params, WeightDecay
from labml_opt.adam import Adam
from labml_opt.fast import is_dtensor


class SharedAdam(Adam):
    r"""
    ## Shared Adam optimizer

    Create it in the parent process, after `model.share_memory()`, and hand it to the workers
    together with the model.
    """

    def __init__(self, params: Params, lr: float = 1e-3, betas: Tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: Union[float, WeightDecay] = 0.,
                 optimized_update: bool = True, maximize: bool = False, lock: Any = False,
                 defaults: Optional[Dict[str, Any]] = None, *, state_dtype: Optional[Union[torch.dtype, str]] = None,
                 kahan_sum: bool = False, seed: int = 0):
        r"""
        The arguments are those of [Adam](adam.html), plus

        * `lock` serialises each param group's update: `True` for a lock from the default start
          method, or a lock made by the context that starts the workers; `False` for Hogwild

        The state in `bfloat16` or 8 bits (`state_dtype`) is shared as it is in `float32`.
        """
        super().__init__(params=params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         optimized_update=optimized_update, maximize=maximize, defaults=defaults,
                         state_dtype=state_dtype, kahan_sum=kahan_sum, seed=seed)
        self.lock = mp.Lock() if lock is True else (lock or None)

    def add_param_group(self, param_group: Dict[str, Any]):
        """
        Parameters get their state as soon as they join the optimizer, before any worker starts:
        state created lazily inside a worker would exist in that worker only.
        """
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        # A `DTensor` (FSDP2) is sharded between processes, perhaps between machines: no shared
        # memory can hold its state, and `share_memory_()` on one crashes the process
        if any(is_dtensor(param) for param in group['params']):
            self.param_groups.pop()
            raise ValueError('SharedAdam does not support DTensor parameters (FSDP2): its state lives in the shared '
                             'memory of one machine for Hogwild workers; use Adam, whose state FSDP2 shards')
        for param in group['params']:
            self.init_shared_state(self.state[param], group, param)

    def init_state(self, state: Dict[str, Any], group: Dict[str, Any], param: nn.Parameter):
        """
        ### Initialize the state

        Adam's state, with the step $t$ in a 0-d `int64` tensor instead of an `int`: integers
        count exactly, and a tensor can be shared and updated in place.
        """
        super().init_state(state, group, param)
        state['step'] = torch.tensor(state['step'], dtype=torch.int64)

    def init_shared_state(self, state: Dict[str, Any], group: Dict[str, Any], param: nn.Parameter):
        """
        ### Initialize the state in shared memory

        The state as the template makes it (in `state_dtype`, if one is given), moved to shared memory.
        """
        self.init_param_state(state, group, param)
        for value in state.values():
            value.share_memory_()

    def step_group(self, group: Dict[str, Any]):
        """
        ### Update one group, under the lock if there is one

        With a lock, each group's update is atomic: no other worker's update of these parameters,
        or of their step counts, runs in between.
        """
        if self.lock is None:
            super().step_group(group)
        else:
            with self.lock:
                super().step_group(group)

    def load_state_dict(self, state_dict: Dict[str, Any]):
        """
        ### Load a saved state into shared memory

        `torch.optim` loads tensors that already have the right type as they are, so the loaded
        state would live in ordinary memory, and might even be the very tensors of the dict it
        came from. The values are copied into freshly shared state instead. A parameter with no
        saved state keeps a fresh one. Load before starting the workers: a worker that loads
        replaces the state in its own process only.
        """
        super().load_state_dict(state_dict)
        for group in self.param_groups:
            for param in group['params']:
                shared: Dict[str, Any] = {}
                self.init_shared_state(shared, group, param)
                for key, value in self.state[param].items():
                    shared[key].copy_(torch.as_tensor(value))
                self.state[param] = shared


class WorkerError(RuntimeError):
    """A worker process failed or ran out of time; the message says which."""


# `prctl` option of Linux: the signal a process receives when its parent dies
PR_SET_PDEATHSIG = 1


def _die_with_parent(parent_pid: int):
    """
    A parent killed outright (`SIGKILL`, or `SIGTERM` with no handler) cannot stop its workers,
    and they would go on training on a machine that others share. On Linux, the kernel sends the
    worker `SIGTERM` when its parent dies; if the parent is already gone, the worker leaves now.
    """
    if sys.platform.startswith('linux'):
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent_pid:
        os._exit(1)


def _worker_main(target: Callable[..., None], rank: int, args: Tuple[Any, ...], parent_pid: int):
    """
    The first code a worker runs: one thread, no `KeyboardInterrupt`, and no life after the
    parent's. Ctrl-C in a terminal reaches every process in the group; the parent alone decides
    how the workers stop.
    """
    _die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ['OMP_NUM_THREADS'] = '1'
    torch.set_num_threads(1)
    target(rank, *args)


def stop_workers(processes: Sequence[Any], grace: float = 5.):
    """
    Stop the processes that are still running: `SIGTERM` first, then `SIGKILL` for any that has
    not exited after `grace` seconds.
    """
    for process in processes:
        if process.is_alive():
            process.terminate()
    deadline = time.monotonic() + grace
    for process in processes:
        process.join(max(0., deadline - time.monotonic()))
        if process.is_alive():
            process.kill()
            process.join(grace)


def run_workers(target: Callable[..., None], n_workers: int, args: Tuple[Any, ...] = (), *,
                context: Union[str, Any] = 'spawn', timeout: Optional[float] = None,
                monitor: Optional[Callable[[], None]] = None, poll_interval: float = 0.1):
    """
    <a id="run_workers"></a>

    ## Run workers and wait for all of them

    Calls `target(rank, *args)` in `n_workers` processes, for `rank` in `0 .. n_workers - 1`,
    and returns when all of them have finished. A parent that simply joins its workers in order
    waits forever when a later worker is stuck because an earlier one died. Here the parent
    watches all of them at once, and the first failure stops the others:

    * a worker that exits with a non-zero code (an exception, a signal) raises a `WorkerError`
      naming that worker and its exit code, after the other workers are stopped;
    * so does running past `timeout` seconds;
    * a `KeyboardInterrupt` in the parent (Ctrl-C) stops all workers before it propagates;
    * on Linux, a parent that is killed outright takes its workers with it.

    `context` is a start method (`'spawn'`, `'fork'`) or a `torch.multiprocessing` context;
    queues, events and locks handed to the workers must come from the same one.
    `monitor`, if given, is called in the parent between checks, so that it can drain a queue
    that the workers fill; it must not block for long.
    """
    if isinstance(context, str):
        context = mp.get_context(context)
    processes = [context.Process(target=_worker_main, args=(target, rank, args, os.getpid()), daemon=True,
                                 name=f'worker-{rank}')
                 for rank in range(n_workers)]
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        for process in processes:
            process.start()
        while True:
            for rank, process in enumerate(processes):
                if process.exitcode not in (None, 0):
                    raise WorkerError(f'worker {rank} of {n_workers} failed with exit code {process.exitcode}; '
                                      f'the other workers were stopped')
            running = [process for process in processes if process.exitcode is None]
            if monitor is not None:
                monitor()
            if not running:
                return
            if deadline is not None and time.monotonic() > deadline:
                ranks = [rank for rank, process in enumerate(processes) if process.exitcode is None]
                raise WorkerError(f'workers {ranks} of {n_workers} still running after {timeout} s; stopped them')
            wait([process.sentinel for process in running], timeout=poll_interval)
    finally:
        stop_workers(processes)
