r"""
---
title: Sweeping hyper-parameters
summary: RMSprop's epsilon from 1e-8 to 1, Adagrad's initial accumulator from 0 to 1, and a learning-rate range test, on real MNIST digits.
---

# Sweeping hyper-parameters

Three sweeps on the [comparison's](compare.html) model and data, each value one labml run from
the same initial weights and batches.

## RMSprop's $\epsilon$

With learning rate $\alpha$, RMSprop divides each step by $\sqrt{v_t} + \epsilon$, where $v_t$
is a moving average of $g_t^2$ that starts at zero. In the first steps $v_t$ is tiny (it is
$(1 - \beta_2) g_1^2 = 0.01 g_1^2$ after one step with $\beta_2 = 0.99$, torch's `alpha`), so the
step is about $10 \alpha$ per coordinate whatever the gradient's size, unless $\epsilon$ is large
enough to dominate. A large $\epsilon$ tames the first steps, and turns RMSprop into SGD with
learning rate $\alpha / \epsilon$ for coordinates whose gradients stay below $\epsilon$.

![RMSprop eps sweep](results/sweep_rmsprop_eps.svg)

[[include: results/sweep_rmsprop_eps.md]]

The spike is one batch: its loss is 1,084 with $\epsilon = 10^{-8}$, 1,078 with $10^{-6}$,
724 with $10^{-4}$, 29 with $10^{-2}$, and 3.2 (no spike) with $\epsilon = 1$. The final
training loss is not monotone in $\epsilon$ (0.30, 0.33, 0.26, 0.13, 0.26), and the order of the
three smallest changes from epoch to epoch (their mean losses cross in epochs 2 to 4).
$\epsilon = 10^{-2}$ ends lowest, with less than half the default's training loss, as in the
notebook this comes from; $\epsilon = 1$ shrinks every step for the whole run and ends behind it.
One seed each: read the order of the rest as noise.

## Adagrad's initial accumulator

Adagrad divides by $\sqrt{G_t} + \epsilon$ where $G_t = G_0 + \sum_{i \le t} g_i^2$ only grows.
Starting the sum at $G_0 > 0$ instead of zero bounds the first steps, at the price of smaller
steps for the rest of training, since $G_0$ never goes away.

![Adagrad initial accumulator sweep](results/sweep_adagrad_init.svg)

[[include: results/sweep_adagrad_init.md]]

A small $G_0 = 10^{-3}$ halves the early bump of $G_0 = 0$ (a largest batch loss of 4.3 against
8.4) and ends with a lower training loss (0.036 against 0.047), though not a better validation
loss (0.207 against 0.200, within one seed's noise); from
$G_0 = 10^{-2}$ on, the larger the start, the slower the whole run, and $G_0 = 1$ is still
far behind after five epochs.

## Learning-rate range test

The learning rate grows exponentially at every batch, from $10^{-6}$ to $10$ over two epochs,
while the loss is recorded; [`StopOnDivergence`](learner.html#StopOnDivergence) ends training with
[`CancelFit`](learner.html#Cancel) once the loss (a moving average) exceeds
four times its best so far. The loss falls once the rate is large enough to make progress and
blows up when it is too large; a good constant rate is somewhat below the rate at the lowest
loss, and that rate is a good peak for [one-cycle](one_cycle.html).

![Learning-rate range test](results/sweep_lr_range.svg)

[[include: results/sweep_lr_range.md]]

SGD with momentum learns best around $\alpha \approx 0.02$ and diverges past $0.1$; Adam's best
is near $0.005$ and it diverges before $0.1$. The rates the [comparison](compare.html) uses,
PyTorch's defaults, sit below both. For momentum, $10^{-3}$ is far too small on this problem.
For Adam, a larger constant rate is not faster here: the [one-cycle](one_cycle.html) page's
constant $3 \cdot 10^{-3}$ run ends with a higher training loss (0.054) than the comparison's
$10^{-3}$ (0.030), on one seed each. The [one-cycle](one_cycle.html)
peaks, $3 \cdot 10^{-3}$ for Adam and $0.05$ for momentum, come from this test.

## Run it

```bash
python -m labml_opt.experiments.sweep
```

runs all three (`--parts rmsprop_eps` for one; `--eps`, `--init`, `--lr-range` to change the
values), writes the runs to `logs/sweep_*/`, and rewrites the summaries, plots and tables in
`results/`.
"""

import argparse
from pathlib import Path
from typing import Any, Dict, List, Sequence

import numpy as np

from labml_opt.experiments.plots import markdown_table, moving_average, plot_series, results_table
from labml_opt.experiments.results import RESULTS, read_summary, summarize, write_summary, write_timing
from labml_opt.experiments.runs import (RunSpec, check_optimizer, check_schedulable, common_arguments, parse_command,
                                        parse_optimizers, run_command)

NAME = 'sweep'
COMMAND = 'python -m labml_opt.experiments.sweep'
PARTS = ('rmsprop_eps', 'adagrad_init', 'lr_range')


def parse_floats(text: str, option: str) -> List[float]:
    try:
        return [float(v) for v in text.split(',') if v.strip()]
    except ValueError:
        raise ValueError(f'Invalid {option} {text!r}: must be comma-separated numbers')


def lr_at_lowest_loss(run: Dict[str, Any], window: int = 5) -> float:
    """The learning rate at the lowest point of the moving average of the loss."""
    averaged = moving_average(run['loss'], window)
    return run['lr'][int(np.argmin(averaged)) + len(run['loss']) - len(averaged)]


def render(summaries: Dict[str, Dict[str, Any]], results: Path = RESULTS) -> List[Path]:
    """The plots and tables of the three parts, from their summaries."""
    written = []
    titles = {'rmsprop_eps': ('RMSprop, lr = 0.01, by eps', 'eps'),
              'adagrad_init': ('Adagrad, lr = 0.01, by initial accumulator', 'initial accumulator')}
    for part, (title, column) in titles.items():
        if part not in summaries:
            continue
        runs = summaries[part]['runs']
        written.append(plot_series({run['label']: run['loss'] for run in runs}, results / f'sweep_{part}.svg',
                                   ylabel='training loss', smooth=20, raw=False, log=True, title=title))
        table = results / f'sweep_{part}.md'
        table.write_text(results_table(runs, column))
        written.append(table)
    if 'lr_range' in summaries:
        runs = summaries['lr_range']['runs']
        written.append(plot_series({run['label']: run['loss'] for run in runs}, results / 'sweep_lr_range.svg',
                                   x={run['label']: run['lr'] for run in runs}, logx=True, smooth=5, raw=True,
                                   xlabel='learning rate', ylabel='training loss', ylim=(0, 4),
                                   title='Learning-rate range test'))
        rows = [[f'`{run["label"]}`', len(run['loss']), f'{lr_at_lowest_loss(run):.3g}',
                 f'{run["lr"][-1]:.3g}'] for run in runs]
        table = results / 'sweep_lr_range.md'
        table.write_text(markdown_table(['optimizer', 'steps', 'lr at lowest (smoothed) loss', 'lr at stop'], rows))
        written.append(table)
    return written


def render_results(results: Path = RESULTS) -> List[Path]:
    """Re-draw from the committed summaries."""
    summaries = {part: read_summary(f'{NAME}_{part}', results) for part in PARTS
                 if (results / f'{NAME}_{part}_summary.json').exists()}
    return render(summaries, results)


def main(argv: Sequence[str] = None):
    parser = argparse.ArgumentParser(prog=COMMAND, description='Hyper-parameter sweeps on MNIST digits.')
    common_arguments(parser)
    parser.add_argument('--parts', default=','.join(PARTS), help=f'comma-separated, from: {", ".join(PARTS)}')
    parser.add_argument('--eps', default='1e-8,1e-6,1e-4,1e-2,1', help="RMSprop's eps values")
    parser.add_argument('--init', default='0,0.001,0.01,0.1,1', help="Adagrad's initial accumulator values")
    parser.add_argument('--lr-range', default='1e-6,10', metavar='START,END',
                        help='learning rates at the start and the end of the range test')
    parser.add_argument('--range-optimizers', default='momentum,adam',
                        help='optimizers for the range test (comma-separated)')
    parser.add_argument('--range-epochs', type=int, default=2,
                        help='epochs over which the range test sweeps the learning rate (default 2)')
    args, invocation = parse_command(parser, argv, COMMAND)

    # Every value is checked against its optimizer before the first run starts.
    try:
        parts = [p.strip() for p in args.parts.split(',') if p.strip()]
        for part in parts:
            if part not in PARTS:
                raise ValueError(f'Unknown part {part!r}: choose from {", ".join(PARTS)}')
        eps_values = parse_floats(args.eps, '--eps')
        init_values = parse_floats(args.init, '--init')
        lr_range = parse_floats(args.lr_range, '--lr-range')
        if len(lr_range) != 2 or not 0 < lr_range[0] < lr_range[1]:
            raise ValueError(f'Invalid --lr-range {args.lr_range!r}: must be START,END with 0 < START < END')
        range_optimizers = parse_optimizers(args.range_optimizers)
        for name in range_optimizers:
            check_schedulable(name)
        if args.range_epochs < 1:
            raise ValueError(f'Invalid --range-epochs {args.range_epochs}: must be >= 1')
        for eps in eps_values:
            check_optimizer('rmsprop', {'eps': eps})
        for init in init_values:
            check_optimizer('adagrad', {'initial_accumulator_value': init})
    except ValueError as e:
        parser.error(str(e))

    common = dict(data=args.data, batch_size=args.batch_size, epochs=args.epochs, seed=args.seed,
                  accumulate=args.accumulate)
    plan = {
        'rmsprop_eps': [RunSpec(experiment=f'{NAME}_rmsprop_eps', label=f'eps={eps:g}', optimizer='rmsprop',
                                hyper={'eps': eps}, **common) for eps in eps_values],
        'adagrad_init': [RunSpec(experiment=f'{NAME}_adagrad_init', label=f'init={init:g}', optimizer='adagrad',
                                 hyper={'initial_accumulator_value': init}, **common) for init in init_values],
        'lr_range': [RunSpec(experiment=f'{NAME}_lr_range', label=name, optimizer=name, schedule='lr_range',
                             schedule_args={'start': lr_range[0], 'end': lr_range[1]},
                             **{**common, 'epochs': args.range_epochs})
                     for name in range_optimizers],
    }
    specs = [spec for part in parts for spec in plan[part]]
    runs, timing = run_command(parser, args, invocation, specs)
    if args.no_summary:
        return
    # A range test that stopped early still counts: `CancelFit` ends training normally.
    by_label = {(spec.experiment, spec.label): run for spec, run in zip(specs, runs)}
    summaries = {part: {'runs': [summarize(by_label[spec.experiment, spec.label]) for spec in plan[part]]}
                 for part in parts}
    for part in parts:
        write_summary(f'{NAME}_{part}', summaries[part]['runs'], COMMAND, results=args.results)
    for path in [write_timing(NAME, timing, args.results), *render(summaries, args.results)]:
        print(path)


if __name__ == '__main__':
    main()
