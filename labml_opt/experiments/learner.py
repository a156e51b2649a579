r"""
---
title: The training loop, with callbacks
summary: A Learner that holds model, optimizer, loss and data; a fit loop that calls ordered callbacks at ten events and can cancel a batch, an epoch or training; and the callbacks the experiments use.
---

# The training loop

Every experiment here trains a model on batches, and they differ only in what happens *around*
each step: which statistics are kept, how the learning rate moves, what is written to disk.
So the loop is written once, and everything else hooks into it.

A [`Learner`](#Learner) holds the four things training needs: model, optimizer, loss
function and data. A [`Runner`](#Runner) runs the loop and, at each of these events, calls
every callback that has a method of that name, in the order of their `order` attribute:

| event | when |
|---|---|
| `begin_fit`, `after_fit` | before the first epoch, after the last (always, even when cancelled) |
| `begin_epoch`, `after_epoch` | around one pass over the training batches and the validation |
| `begin_validate` | before the validation batches of an epoch |
| `begin_batch`, `after_batch` | around each batch, training or validation |
| `after_pred`, `after_loss` | after the forward pass, after the loss |
| `after_backward`, `after_step` | after `loss.backward()`, after `optimizer.step()` (training only) |
| `after_cancel_batch`, `after_cancel_epoch`, `after_cancel_fit` | when a cancel signal was caught |

A callback receives the runner, reads what it needs from it (`runner.loss`, `runner.epoch`,
`runner.learner.optimizer`) and may change it. To stop part of the work it raises
[`CancelBatch`, `CancelEpoch` or `CancelFit`](#Cancel): the loop catches each at its own
level, tells the callbacks, and carries on with the next batch, the next epoch, or the
end of training.
"""

import math
import os
import signal
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

import torch
from torch import nn

from labml_opt.experiments.data import Data
from labml_opt.experiments.plots import plot_series
from labml_opt.experiments.schedules import Schedule
from labml_opt.experiments.tracking import Progress


class CancelBatch(Exception):
    """
    <a id="Cancel"></a>

    ## Cancel signals

    Raised by a callback to skip the rest of the current batch. `after_batch` still runs.
    """


class CancelEpoch(Exception):
    """Skip the rest of the current epoch, validation included. `after_epoch` still runs."""


class CancelFit(Exception):
    """Stop training. `after_fit` still runs."""


class Learner:
    """
    <a id="Learner"></a>

    ## Learner

    Only holds what training needs; it has no behaviour of its own.
    """

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer,
                 loss_func: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], data: Data):
        self.model = model
        self.optimizer = optimizer
        self.loss_func = loss_func
        self.data = data


class Callback:
    """
    The base class of callbacks. A callback defines methods named after the events it cares
    about, each taking the runner. Callbacks with a smaller `order` run first.
    A callback that has `state_dict` and `load_state_dict` is saved in checkpoints.
    """
    order = 0


class Runner:
    """
    <a id="Runner"></a>

    ## The fit loop

    While it runs, the runner exposes the loop's state to callbacks:
    `epoch`, `epochs`, `batch` (index within the epoch), `step` (training batches done in
    all epochs), `in_train`, the current batch `xb`, `yb`, the prediction `pred` and the `loss`.
    """

    def __init__(self, learner: Learner, callbacks: Sequence[Callback] = ()):
        self.learner = learner
        # `sorted` is stable: callbacks with the same order keep the order they were given in.
        self.callbacks: List[Callback] = sorted(callbacks, key=lambda c: c.order)
        self.epoch = self.epochs = self.batch = self.step = 0
        self.in_train = False
        self.xb = self.yb = self.pred = self.loss = None

    def __call__(self, event: str):
        """Call `event` on every callback that has it."""
        for callback in self.callbacks:
            method = getattr(callback, event, None)
            if method is not None:
                method(self)

    @property
    def total_steps(self) -> int:
        """The number of training batches in the whole run."""
        return self.epochs * self.learner.data.n_train_batches

    @property
    def position(self) -> float:
        r"""
        How far training has come, $p \in [0, 1]$: the first training batch runs at $p = 0$
        and the last at $p = 1$, the convention of `torch.optim.lr_scheduler.OneCycleLR`,
        so that a schedule's final value is actually used.
        """
        return min(1., self.step / max(1, self.total_steps - 1))

    def one_batch(self, xb: torch.Tensor, yb: torch.Tensor):
        """Forward, loss and, when training, backward and step, with an event after each."""
        self.xb, self.yb, self.pred, self.loss = xb, yb, None, None
        try:
            self('begin_batch')
            self.pred = self.learner.model(self.xb)
            self('after_pred')
            self.loss = self.learner.loss_func(self.pred, self.yb)
            self('after_loss')
            if not self.in_train:
                return
            self.loss.backward()
            self('after_backward')
            self.learner.optimizer.step()
            self('after_step')
            self.learner.optimizer.zero_grad()
        except CancelBatch:
            self('after_cancel_batch')
        finally:
            self('after_batch')
            if self.in_train:
                self.step += 1

    def fit(self, epochs: int, start_epoch: int = 0, start_batch: int = 0):
        """
        Train for `epochs` epochs. `start_epoch` and `start_batch` continue a run from a
        [checkpoint](#Checkpointer); the batches that were done are skipped without being drawn.
        """
        data = self.learner.data
        self.epochs = epochs
        self.step = start_epoch * data.n_train_batches + start_batch
        try:
            self('begin_fit')
            for self.epoch in range(start_epoch, epochs):
                first = start_batch if self.epoch == start_epoch else 0
                try:
                    self.in_train, self.batch = True, first
                    self('begin_epoch')
                    for self.batch, (xb, yb) in enumerate(data.train_batches(self.epoch, first), first):
                        self.one_batch(xb, yb)
                    # Validation needs no gradients: `no_grad` saves the memory and time of
                    # recording the graph.
                    self.in_train = False
                    with torch.no_grad():
                        self('begin_validate')
                        for self.batch, (xb, yb) in enumerate(data.valid_batches()):
                            self.one_batch(xb, yb)
                except CancelEpoch:
                    self('after_cancel_epoch')
                finally:
                    self.in_train = False
                self('after_epoch')
        except CancelFit:
            self('after_cancel_fit')
        finally:
            self('after_fit')


def set_mode(learner: Learner, train: bool):
    r"""
    Put the model, and the optimizer where it has modes, in training or evaluation mode.
    [Schedule-Free](../schedule_free_sgd.html) optimizers take gradients at $y$ but are evaluated
    at the average $x$: their `train()` and `eval()` move the parameters between the two.
    Other optimizers have no such methods and are left alone.
    """
    learner.model.train(train)
    switch = getattr(learner.optimizer, 'train' if train else 'eval', None)
    if callable(switch):
        switch()


class TrainEval(Callback):
    """
    <a id="TrainEval"></a>

    ## Training and evaluation modes

    Layers such as dropout and batch norm behave differently in training and evaluation;
    `model.train()` and `model.eval()` switch them, and `set_mode` (above) switches a
    Schedule-Free optimizer's parameters along.
    """
    order = -10

    def begin_epoch(self, runner: Runner):
        set_mode(runner.learner, True)

    def begin_validate(self, runner: Runner):
        set_mode(runner.learner, False)


class RefreshHessian(Callback):
    r"""
    <a id="RefreshHessian"></a>

    ## Sophia's curvature

    [Sophia](../sophia.html) needs, besides the gradient, an estimate of the Hessian's diagonal:
    every `every` training steps (at $t = 1, k + 1, 2k + 1, \dots$, before the update, as in the
    paper) a second backward pass, through the same logits, of the loss against labels drawn from
    the model's own predictions. The draws come from a generator of their own, seeded with
    `seed` and saved in checkpoints, so that a resumed run draws what a straight one does. The
    gradients already in `param.grad` (of earlier batches, when gradients are accumulated) are
    put back afterwards. `seconds` is the time spent here, part of the cost of Sophia's step.
    """
    order = 3

    def __init__(self, every: int = 10, seed: int = 0):
        self.every = every
        self.generator = torch.Generator().manual_seed(seed)
        self.seconds = 0.

    def after_pred(self, runner: Runner):
        if not runner.in_train or runner.step % self.every:
            return
        from labml_opt.sophia import gnb_loss
        started = time.perf_counter()
        optimizer = runner.learner.optimizer
        params = [p for group in optimizer.param_groups for p in group['params']]
        kept = [p.grad for p in params]
        for param in params:
            param.grad = None
        gnb_loss(runner.pred, self.generator).backward(retain_graph=True)
        optimizer.update_hessian(batch_size=runner.pred.numel() // runner.pred.shape[-1])
        for param, grad in zip(params, kept):
            param.grad = grad
        self.seconds += time.perf_counter() - started

    def state_dict(self) -> Dict[str, Any]:
        return {'generator': self.generator.get_state()}

    def load_state_dict(self, state: Dict[str, Any]):
        self.generator.set_state(state['generator'])


def optimizer_callbacks(optimizer: torch.optim.Optimizer, seed: int) -> List[Callback]:
    """What an optimizer needs from the loop besides `step()`: Sophia its curvature refresh."""
    return [RefreshHessian(seed=seed)] if callable(getattr(optimizer, 'update_hessian', None)) else []


def accuracy(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The fraction of the batch whose highest-scoring class is the target."""
    return (pred.argmax(dim=-1) == target).float().mean()


class AvgStats(Callback):
    r"""
    <a id="AvgStats"></a>

    ## Average loss and metrics over an epoch

    The loss of a batch is a mean over its $n_b$ examples, and batches are not all the same size
    (the last one is usually smaller). Averaging batch means would overweight the small batch, so
    each is weighted by its size:
    $$\bar{\ell} = \frac{\sum_b n_b \ell_b}{\sum_b n_b}$$
    This is the mean loss over the examples, as if the epoch were one big batch.
    After each epoch `runner.stats` holds `{'train': {...}, 'valid': {...}}`.
    """

    def __init__(self, metrics: Dict[str, Callable] = None):
        self.metrics = {'accuracy': accuracy} if metrics is None else metrics
        self.totals = {'train': {}, 'valid': {}}
        self.counts = {'train': 0, 'valid': 0}

    def begin_epoch(self, runner: Runner):
        # An epoch resumed from a checkpoint keeps the totals of the batches done before.
        if runner.batch > 0:
            return
        self.totals = {'train': {}, 'valid': {}}
        self.counts = {'train': 0, 'valid': 0}

    def begin_validate(self, runner: Runner):
        # Validation always runs whole, also when an epoch resumes from a checkpoint taken during it.
        self.totals['valid'], self.counts['valid'] = {}, 0

    def after_loss(self, runner: Runner):
        split = 'train' if runner.in_train else 'valid'
        n = len(runner.xb)
        values = {'loss': runner.loss.item()}
        values.update({name: float(metric(runner.pred.detach(), runner.yb)) for name, metric in self.metrics.items()})
        # $\sum_b n_b \ell_b$ and $\sum_b n_b$
        for name, value in values.items():
            self.totals[split][name] = self.totals[split].get(name, 0.) + n * value
        self.counts[split] += n

    def averages(self, split: str) -> Dict[str, float]:
        return {name: total / self.counts[split] for name, total in self.totals[split].items()}

    def after_epoch(self, runner: Runner):
        runner.stats = {split: self.averages(split) for split in ('train', 'valid') if self.counts[split]}

    def state_dict(self) -> Dict[str, Any]:
        return {'totals': self.totals, 'counts': self.counts}

    def load_state_dict(self, state: Dict[str, Any]):
        self.totals, self.counts = state['totals'], state['counts']


class Recorder(Callback):
    """
    ## Recorder

    Keeps the learning rate of every param group and the loss of every training batch,
    for plots such as the [lr range test](sweep.html).
    """

    def __init__(self):
        self.lrs: List[List[float]] = []
        self.losses: List[float] = []

    def after_batch(self, runner: Runner):
        if runner.in_train and runner.loss is not None:
            self.lrs.append([group['lr'] for group in runner.learner.optimizer.param_groups])
            self.losses.append(runner.loss.item())

    def plot_lr(self, path: Path, group: int = 0):
        """Plot the learning rate of param group `group` against the step, as an SVG at `path`."""
        plot_series({'lr': [lrs[group] for lrs in self.lrs]}, path, ylabel='learning rate')

    def plot_loss(self, path: Path, smooth: int = 1, log: bool = False):
        """Plot the training loss against the step, as an SVG at `path`."""
        plot_series({'loss': self.losses}, path, ylabel='training loss', smooth=smooth, log=log)

    def state_dict(self) -> Dict[str, Any]:
        return {'lrs': self.lrs, 'losses': self.losses}

    def load_state_dict(self, state: Dict[str, Any]):
        self.lrs, self.losses = state['lrs'], state['losses']


def set_hyper(group: Dict[str, Any], name: str, value: float):
    """
    Set hyper-parameter `name` in a param group. `beta1` and `beta2` are the two halves of
    Adam's `betas`, which the group stores as one pair.
    """
    if name in ('beta1', 'beta2'):
        betas = list(group['betas'])
        betas[int(name[-1]) - 1] = value
        group['betas'] = tuple(betas)
    else:
        group[name] = value


def hyper_names(optimizer: torch.optim.Optimizer) -> List[str]:
    """The hyper-parameters a schedule can set in `optimizer`'s param groups."""
    group = optimizer.param_groups[0]
    names = [k for k, v in group.items() if k != 'params' and isinstance(v, (int, float)) and not isinstance(v, bool)]
    if 'betas' in group:
        names += ['beta1', 'beta2']
    return names


class ParamScheduler(Callback):
    r"""
    <a id="ParamScheduler"></a>

    ## Scheduling any hyper-parameter

    Before every training batch, sets hyper-parameter `name` of each param group to its
    schedule's value at the current position $p$. `name` is any numeric key of the param
    groups (`lr`, `momentum`, `weight_decay`), or `beta1` / `beta2`. `schedules` is one schedule
    for all groups, or one per group, so that different layers can follow different curves.
    """
    order = 1

    def __init__(self, name: str, schedules: Union[Schedule, Sequence[Schedule]]):
        self.name = name
        self.schedules = schedules

    def begin_fit(self, runner: Runner):
        optimizer = runner.learner.optimizer
        valid = hyper_names(optimizer)
        if self.name not in valid:
            raise ValueError(f'Invalid hyper-parameter {self.name!r} to schedule for {type(optimizer).__name__}: '
                             f'must be one of {", ".join(valid)}')
        n_groups = len(optimizer.param_groups)
        if callable(self.schedules):
            self.schedules = [self.schedules] * n_groups
        if len(self.schedules) != n_groups:
            raise ValueError(f'ParamScheduler({self.name!r}) has {len(self.schedules)} schedules '
                             f'for {n_groups} param groups')

    def begin_batch(self, runner: Runner):
        if runner.in_train:
            for group, schedule in zip(runner.learner.optimizer.param_groups, self.schedules):
                set_hyper(group, self.name, schedule(runner.position))


class AccumulateGradients(Callback):
    r"""
    <a id="AccumulateGradients"></a>

    ## Gradient accumulation

    Steps the optimizer once every `k` training batches, with the gradient of one batch
    `k` times larger. The arithmetic (scaling each loss by $\frac{1}{k}$, or by $\frac{1}{r}$ in
    a short last group of $r$ batches) is [`GradientAccumulation`](../accumulate.html)'s; this
    callback only applies it in the loop:

    * after the loss, the loss that `backward()` sees is scaled; the callbacks that record it
      (`AvgStats` runs before this one, the trackers after `backward`) see the batch's own loss;
    * after `backward`, a batch that does not end its group raises `CancelBatch`, which skips
      `optimizer.step()` and `zero_grad()`, so the next batch adds to the same gradients;
    * an epoch cancelled inside a group steps with what it has, rescaled by `finish`.

    The gradients of a group in progress are part of the checkpoint, so that a run interrupted
    in the middle of a group resumes with them.
    """
    order = 5

    def __init__(self, k: int):
        """`k` is the number of batches per optimizer step; it is checked here, before training."""
        from labml_opt.accumulate import GradientAccumulation
        self.schedule = GradientAccumulation(k)
        self.loss: Optional[torch.Tensor] = None
        self.params: List[torch.Tensor] = []
        self.pending: Optional[List[Optional[torch.Tensor]]] = None
        self.seen = 0

    def begin_fit(self, runner: Runner):
        from labml_opt.accumulate import GradientAccumulation
        # Knowing the number of batches per epoch, the short last group is scaled right from its start.
        self.schedule = GradientAccumulation(self.schedule.k, runner.learner.data.n_train_batches)
        self.params = [p for group in runner.learner.optimizer.param_groups for p in group['params']]
        if self.pending is not None:
            for param, grad in zip(self.params, self.pending):
                param.grad = grad
            self.pending = None

    def begin_epoch(self, runner: Runner):
        self.seen = runner.batch

    def after_loss(self, runner: Runner):
        if runner.in_train:
            self.loss = runner.loss
            runner.loss = self.schedule.scale(runner.loss, runner.batch)

    def after_backward(self, runner: Runner):
        runner.loss = self.loss
        self.seen = runner.batch + 1
        if not self.schedule.should_step(runner.batch):
            raise CancelBatch

    def after_cancel_epoch(self, runner: Runner):
        if self.schedule.finish(self.params, self.seen):
            runner.learner.optimizer.step()
            runner.learner.optimizer.zero_grad()

    def state_dict(self) -> Dict[str, Any]:
        return {'grads': [None if p.grad is None else p.grad.clone() for p in self.params]}

    def load_state_dict(self, state: Dict[str, Any]):
        self.pending = state['grads']


class StopOnDivergence(Callback):
    r"""
    <a id="StopOnDivergence"></a>

    ## Stopping a range test

    End a learning-rate range test once the loss has blown up: when its moving average exceeds
    `factor` times the lowest moving average so far. A single batch is too noisy to judge by,
    since late in a test the best loss is small and one unlucky batch can be several times
    larger. The average is exponential, with the same bias correction as Adam's moments:
    $$a_t = \beta a_{t-1} + (1 - \beta) \ell_t, \qquad \hat{a}_t = \frac{a_t}{1 - \beta^t}$$
    """

    def __init__(self, factor: float = 4., beta: float = 0.9):
        self.factor = factor
        self.beta = beta
        self.average = 0.
        self.count = 0
        self.best = math.inf

    def after_loss(self, runner: Runner):
        if not runner.in_train:
            return
        loss = runner.loss.item()
        self.count += 1
        self.average = self.beta * self.average + (1 - self.beta) * loss
        smoothed = self.average / (1 - self.beta ** self.count)
        self.best = min(self.best, smoothed)
        if smoothed > self.factor * self.best or math.isnan(loss):
            raise CancelFit

    def state_dict(self) -> Dict[str, Any]:
        return {'average': self.average, 'count': self.count, 'best': self.best}

    def load_state_dict(self, state: Dict[str, Any]):
        self.average, self.count, self.best = state['average'], state['count'], state['best']


class Diverged(Exception):
    """The loss is no longer a finite number: training cannot recover, and the run has failed."""


class StopOnNaN(Callback):
    """
    <a id="StopOnNaN"></a>

    ## Stopping when the loss is NaN

    Once the loss of a batch, training or validation, is NaN or infinite, every later step is NaN
    too: the run has failed, and it stops at once with [`Diverged`](#StopOnNaN), which the
    command reports with a non-zero exit. It runs after `StopOnDivergence`, so that a
    learning-rate range test, which drives the loss up on purpose, ends normally instead.
    """
    order = 2

    def after_loss(self, runner: Runner):
        loss = runner.loss.item()
        if not math.isfinite(loss):
            split = 'training' if runner.in_train else 'validation'
            raise Diverged(f'the {split} loss became {loss} at step {runner.step} (epoch {runner.epoch + 1}); '
                           f'a smaller learning rate may keep it finite')


class ShowProgress(Callback):
    """
    Shows the run's progress on the console, through the command's [`Progress`](tracking.html#Progress):
    a line redrawn at training batches, ended after each epoch with the epoch's averages.
    """
    order = 30

    def __init__(self, progress: Progress, index: int, label: str):
        self.progress, self.index, self.label = progress, index, label

    def begin_fit(self, runner: Runner):
        self.progress.start_run(self.index, self.label, runner.step)

    def after_batch(self, runner: Runner):
        if runner.in_train and runner.loss is not None:
            where = f'epoch {runner.epoch + 1}/{runner.epochs}'
            self.progress.update(runner.step + 1, {'loss': runner.loss.item()}, where)

    def after_epoch(self, runner: Runner):
        stats = getattr(runner, 'stats', {})
        values = {f'{split} {name}': value for split, averages in stats.items() for name, value in averages.items()}
        self.progress.update(runner.step, values, f'epoch {runner.epoch + 1}/{runner.epochs}', final=True)


class LabmlTracker(Callback):
    """
    ## Tracking with labml

    Saves the loss, the learning rate and the momentum of every training batch, and the epoch's averages
    from [`AvgStats`](#AvgStats) (validation loss and accuracy), against the global step.
    The `file` writer puts them in the run's `log.jsonl`; the `screen` writer shows the latest
    values as training goes. `time.fit` is the wall time spent in `fit` so far.
    """
    order = 20

    def __init__(self):
        self.elapsed = 0.
        self.started = 0.

    def begin_fit(self, runner: Runner):
        self.started = time.perf_counter()

    def after_batch(self, runner: Runner):
        from labml import tracker
        if runner.in_train and runner.loss is not None:
            group = runner.learner.optimizer.param_groups[0]
            values = {'loss.train': runner.loss.item(), 'lr': group['lr']}
            # Momentum is `momentum` in SGD's param groups and $\beta_1$ in Adam's.
            if 'betas' in group:
                values['momentum'] = group['betas'][0]
            elif 'momentum' in group:
                values['momentum'] = group['momentum']
            tracker.save(runner.step, values)

    def after_epoch(self, runner: Runner):
        from labml import tracker
        stats = getattr(runner, 'stats', {})
        values = {f'{name}.{split}_epoch' if split == 'train' else f'{name}.{split}': value
                  for split, averages in stats.items() for name, value in averages.items()}
        values['time.fit'] = self.elapsed + time.perf_counter() - self.started
        tracker.save(runner.step - 1, values)
        tracker.new_line()

    def state_dict(self) -> Dict[str, Any]:
        return {'elapsed': self.elapsed + time.perf_counter() - self.started}

    def load_state_dict(self, state: Dict[str, Any]):
        self.elapsed = state['elapsed']


class Checkpointer(Callback):
    """
    <a id="Checkpointer"></a>

    ## Checkpoints, and Ctrl-C

    Saves everything needed to continue training to `path`: weights, optimizer state, where in
    which epoch the loop was, and the state of every callback that has one. It saves after each
    epoch, and when Ctrl-C is pressed.

    Ctrl-C raises `KeyboardInterrupt` wherever Python happens to be, possibly halfway through
    `optimizer.step()`, with some parameters updated and others not. So while training runs,
    Ctrl-C only raises a flag; after the current batch, when model and optimizer agree, the
    checkpoint is written and *then* `KeyboardInterrupt` is raised, so that labml marks the run
    `interrupted`. A second Ctrl-C interrupts at once.
    """
    order = 100

    def __init__(self, path: Path, extra: Optional[Dict[str, Any]] = None):
        """
        * `path` is the checkpoint file, rewritten at every save
        * `extra` is saved along, such as what is needed to rebuild the model and optimizer
        """
        self.path = Path(path)
        self.extra = extra or {}
        self.interrupted = False
        self.previous_handler = None

    def on_sigint(self, signum, frame):
        if self.interrupted:
            raise KeyboardInterrupt
        self.interrupted = True

    def begin_fit(self, runner: Runner):
        self.interrupted = False
        self.previous_handler = signal.signal(signal.SIGINT, self.on_sigint)

    def after_fit(self, runner: Runner):
        # Whatever the command started with comes back: Python's handler, or `SIG_IGN` in a
        # process started in the background, where Ctrl-C is not meant to reach it.
        signal.signal(signal.SIGINT, self.previous_handler)

    def save(self, runner: Runner, epoch: int, batch: int):
        """Write the checkpoint to a temporary file first, so that a crash never leaves half of one."""
        state = {
            **self.extra,
            'epoch': epoch, 'batch': batch,
            'model': runner.learner.model.state_dict(),
            'optimizer': runner.learner.optimizer.state_dict(),
            'callbacks': {type(c).__name__: c.state_dict() for c in runner.callbacks if hasattr(c, 'state_dict')},
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix('.tmp')
        torch.save(state, temporary)
        os.replace(temporary, self.path)

    def after_batch(self, runner: Runner):
        if not self.interrupted:
            return
        # Interrupted in training: continue with the next batch. In validation: redo it.
        batch = runner.batch + 1 if runner.in_train else runner.learner.data.n_train_batches
        self.save(runner, runner.epoch, batch)
        raise KeyboardInterrupt

    def after_epoch(self, runner: Runner):
        self.save(runner, runner.epoch + 1, 0)


class BadCheckpoint(ValueError):
    """A checkpoint that cannot be read."""


def load_checkpoint(path: Path) -> Dict[str, Any]:
    """
    Read a [checkpoint](#Checkpointer) with `weights_only=True`: only tensors, numbers, strings and
    containers of them are unpickled, so a checkpoint file cannot run code when it is loaded.
    A file that is cut short or not a checkpoint at all is a `BadCheckpoint` naming the file.
    """
    try:
        state = torch.load(path, weights_only=True)
    except Exception as error:
        raise BadCheckpoint(f'Checkpoint {path} cannot be read ({type(error).__name__}: '
                            f'{str(error).splitlines()[0] if str(error) else "no details"})') from None
    missing = [key for key in ('epoch', 'batch', 'model', 'optimizer', 'callbacks')
               if not isinstance(state, dict) or key not in state]
    if missing:
        raise BadCheckpoint(f'Checkpoint {path} is not a checkpoint of this training loop: '
                            f'it has no {", ".join(missing)}')
    return state


def resume(runner: Runner, path: Path) -> Dict[str, int]:
    """
    Load a [checkpoint](#Checkpointer) into the runner's learner and callbacks, and return the
    `start_epoch` and `start_batch` to pass to `fit`.
    """
    state = load_checkpoint(path)
    runner.learner.model.load_state_dict(state['model'])
    runner.learner.optimizer.load_state_dict(state['optimizer'])
    for callback in runner.callbacks:
        saved = state['callbacks'].get(type(callback).__name__)
        if saved is not None:
            callback.load_state_dict(saved)
    return {'start_epoch': state['epoch'], 'start_batch': state['batch']}
