r"""
---
title: One-cycle against a constant learning rate
summary: The ParamScheduler cycles the learning rate up and down and momentum (or beta1) the other way; compared with a constant learning rate on real MNIST digits.
---

# One-cycle against a constant learning rate

One-cycle training, from Leslie Smith's
[*Super-Convergence*](https://arxiv.org/abs/1708.07120), moves two hyper-parameters in
opposite directions over a single cycle:

* the learning rate warms up from $\alpha_{max} / 25$ to $\alpha_{max}$ over the first quarter
  of training, then anneals to $\alpha_{max} / 25 \cdot 10^{-4}$;
* momentum (SGD's `momentum`, or Adam's $\beta_1$) goes the other way, from $0.95$ down to $0.85$
  and back.

Both phases are cosine [annealers](schedules.html) joined by
[`combine_scheds`](schedules.html#combine_scheds), applied at every batch by the
[`ParamScheduler`](learner.html#ParamScheduler) callback; the same schedule is tested against
`torch.optim.lr_scheduler.OneCycleLR` to $10^{-9}$. The warm-up lets the optimizer's statistics
settle before the steps get large; low momentum while the rate is high keeps the effective
step $\alpha / (1 - \beta)$ from compounding both; and the long anneal at the end settles into a
minimum that a constant rate would keep bouncing around.

Each optimizer trains twice from the same weights and batches: once at a constant rate
$\alpha_{max}$, once with the cycle peaking at the same $\alpha_{max}$.

![One-cycle against constant, training loss](results/one_cycle_loss.svg)

The schedules as the runs recorded them, step by step:

![One-cycle schedule of lr and momentum](results/one_cycle_schedule.svg)

[[include: results/one_cycle_table.md]]

For the first part of training the one-cycle runs are behind, since they start at
$\alpha_{max} / 25$: at step 10 Adam's one-cycle run has a loss of 2.06 against 0.85 for its
constant run (2.4 times higher), and at step 30 0.61 against 0.49. In the second half, as their rates anneal, they pull ahead:
Adam's final training loss with the cycle is less than half that of its constant run, and SGD
with momentum also ends lower. Validation accuracy moves much less, by about one percent, within what another seed
would change: with 4,500 digits the model fits the training set long
before it stops improving on the validation set.

## Run it

```bash
python -m labml_opt.experiments.one_cycle
```

(`--max-lr adam=3e-3,momentum=0.05` sets the peaks), writes the runs to `logs/one_cycle/`, and
rewrites the summary, plots and table in `results/`.
"""

import argparse
from pathlib import Path
from typing import Any, Dict, List, Sequence

from labml_opt.experiments.plots import plot_series, results_table
from labml_opt.experiments.results import RESULTS, read_summary, summarize, write_summary, write_timing
from labml_opt.experiments.runs import (RunSpec, check_optimizer, check_schedulable, common_arguments, optimizer_class,
                                        parse_command, run_command)

NAME = 'one_cycle'
COMMAND = 'python -m labml_opt.experiments.one_cycle'


def parse_max_lr(text: str) -> Dict[str, float]:
    """Parse `adam=3e-3,momentum=0.05` and check each optimizer and rate."""
    peaks = {}
    for item in text.split(','):
        name, sep, value = item.strip().partition('=')
        try:
            peaks[name] = float(value)
        except ValueError:
            raise ValueError(f'Invalid --max-lr {item!r}: must look like OPTIMIZER=LR, as in adam=3e-3')
        optimizer_class(name)
        check_schedulable(name)
        if not peaks[name] > 0:
            raise ValueError(f'Invalid --max-lr {item!r}: the learning rate must be > 0')
        check_optimizer(name, {'lr': peaks[name]})
    return peaks


def render(summary: Dict[str, Any], results: Path = RESULTS) -> List[Path]:
    """The plots and the table, from the summary."""
    runs = summary['runs']
    written = [plot_series({run['label']: run['loss'] for run in runs}, results / 'one_cycle_loss.svg',
                           ylabel='training loss', smooth=20, raw=False, log=True,
                           title='One-cycle against a constant learning rate')]
    cycled = [run for run in runs if run['configs'].get('schedule') == 'one_cycle']
    # The learning rates differ by optimizer, so each is shown relative to its peak.
    series = {}
    for run in cycled[:1]:
        peak = max(run['lr'])
        series[f'lr / {peak:g} ({run["label"]})'] = [lr / peak for lr in run['lr']]
        series[f'momentum ({run["label"]})'] = run['momentum']
    if series:
        written.append(plot_series(series, results / 'one_cycle_schedule.svg', ylabel='value',
                                   title='One-cycle: learning rate (relative to its peak) and momentum'))
    table = results / 'one_cycle_table.md'
    table.write_text(results_table(runs))
    return written + [table]


def render_results(results: Path = RESULTS) -> List[Path]:
    """Re-draw from the committed summary."""
    return render(read_summary(NAME, results), results)


def main(argv: Sequence[str] = None):
    parser = argparse.ArgumentParser(prog=COMMAND, description='One-cycle against a constant learning rate.')
    common_arguments(parser)
    parser.add_argument('--max-lr', default='adam=3e-3,momentum=0.05',
                        help='peak learning rate per optimizer, e.g. adam=3e-3,momentum=0.05')
    parser.add_argument('--pct-start', type=float, default=0.25, help='fraction of training spent warming up')
    args, invocation = parse_command(parser, argv, COMMAND)
    try:
        peaks = parse_max_lr(args.max_lr)
        if not 0 < args.pct_start < 1:
            raise ValueError(f'Invalid --pct-start {args.pct_start!r}: must be in (0, 1)')
    except ValueError as e:
        parser.error(str(e))

    common = dict(experiment=NAME, data=args.data, batch_size=args.batch_size, epochs=args.epochs, seed=args.seed,
                  accumulate=args.accumulate)
    specs = []
    for name, peak in peaks.items():
        specs.append(RunSpec(label=f'{name} constant', optimizer=name, hyper={'lr': peak}, **common))
        specs.append(RunSpec(label=f'{name} one-cycle', optimizer=name, hyper={'lr': peak}, schedule='one_cycle',
                             schedule_args={'max_lr': peak, 'pct_start': args.pct_start}, **common))
    runs, timing = run_command(parser, args, invocation, specs)
    if args.no_summary:
        return
    summaries = [summarize(run) for run in runs]
    write_summary(NAME, summaries, COMMAND, results=args.results)
    for path in [write_timing(NAME, timing, args.results), *render({'runs': summaries}, args.results)]:
        print(path)


if __name__ == '__main__':
    main()
