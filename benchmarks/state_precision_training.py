"""
Train the two workloads of the optimizer benchmark (`labml_opt/experiments/benchmark.py`: the
MNIST MLP and the character-level transformer, at its full budget) with AdamW (or other
optimizers) keeping its state in float32, in bfloat16 with stochastic rounding, and in 8 bits, on
three seeds, and report the test loss and accuracy of each as mean and standard deviation over
the seeds. A fourth row keeps the state in bfloat16 rounded to nearest, the naive way, which the
low-precision page shows losing updates.

    python benchmarks/state_precision_training.py
    python benchmarks/state_precision_training.py --workloads mnist --states float32 nearest
    python benchmarks/state_precision_training.py --workloads mnist --optimizers lion adagrad \
        --states float32 bfloat16 nearest --output benchmarks/results/state_precision_optimizers.md

Each optimizer takes the learning rate and setting the benchmark tuned for it on each workload
(`labml_opt/experiments/results/benchmark_summary.json`), the same for every state. The table is
written to `--output` and copied under its name to `labml_opt/results/`, which the low-precision
page includes.
"""

import argparse
import contextlib
import json
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from labml_opt import low_precision  # noqa: E402
from labml_opt.experiments.benchmark import WORKLOADS, evaluate, optimizer_arguments, sequence_loss  # noqa: E402
from labml_opt.experiments.learner import Learner, Runner, TrainEval, optimizer_callbacks, set_mode  # noqa: E402
from labml_opt.experiments.runs import OPTIMIZERS, make_optimizer, optimizer_class  # noqa: E402
from tables import measured, save_table  # noqa: E402

STATES = {'float32': None, 'bfloat16': torch.bfloat16, '8-bit': '8bit', 'nearest': torch.bfloat16}
# The rows' names in the table
LABELS = {'nearest': 'bfloat16, rounded to nearest'}


@contextlib.contextmanager
def rounding(state: str):
    """
    For the `nearest` row, bfloat16 state rounded to nearest instead of stochastically: an
    experiment, not an option of the library, so `stochastic_round` is replaced while it runs.
    """
    if state != 'nearest':
        yield
        return
    stochastic_round = low_precision.stochastic_round
    low_precision.stochastic_round = lambda x, bits: x.to(torch.bfloat16)
    try:
        yield
    finally:
        low_precision.stochastic_round = stochastic_round
# What the benchmark chose for each optimizer on each workload
SUMMARY = ROOT / 'labml_opt' / 'experiments' / 'results' / 'benchmark_summary.json'


def tuned(optimizer: str, name: str) -> dict:
    """The learning rate and setting that the benchmark tuned for `optimizer` on workload `name`."""
    chosen = json.loads(SUMMARY.read_text())['workloads'][name]['optimizers'][optimizer]
    return optimizer_arguments(chosen['lr'], chosen['hyper'])


def train(name: str, optimizer_name: str, state_dtype, seed: int):
    workload = WORKLOADS['full'][name]
    data = workload.data(seed)
    torch.manual_seed(seed)
    model = workload.model(data)
    optimizer = make_optimizer(optimizer_name, model, tuned(optimizer_name, name), state_dtype=state_dtype, seed=seed)
    # The benchmark's loop: the model's mode and a Schedule-Free optimizer's (gradients at y,
    # evaluated at x), and what an optimizer needs besides `step()` (Sophia's curvature refresh)
    learner = Learner(model, optimizer, sequence_loss, data)
    Runner(learner, [TrainEval(), *optimizer_callbacks(optimizer, seed)]).fit(workload.epochs)
    set_mode(learner, False)
    return evaluate(model, data.test_batches())


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--seeds', type=int, nargs='+', default=[1, 2, 3])
    parser.add_argument('--workloads', nargs='+', default=['mnist', 'chars'], choices=['mnist', 'chars'])
    parser.add_argument('--states', nargs='+', default=list(STATES), choices=list(STATES))
    parser.add_argument('--optimizers', nargs='+', default=['adamw'], choices=list(OPTIMIZERS))
    parser.add_argument('--output', default=str(ROOT / 'benchmarks' / 'results' / 'state_precision_training.md'))
    parser.add_argument('--no-site-copy', action='store_true')
    args = parser.parse_args()
    lines = [measured('state_precision_training.py') + ': '
             f'seeds {args.seeds}, mean $\\pm$ standard deviation over them (and each seed); each optimizer '
             'with the learning rate and setting the benchmark tuned for it.',
             '',
             '| optimizer | workload | state | test loss (nats) | test accuracy |',
             '|---|---|---|---|---|']
    for optimizer in args.optimizers:
        for name in args.workloads:
            for state in args.states:
                start = time.time()
                with rounding(state):
                    runs = [train(name, optimizer, STATES[state], seed) for seed in args.seeds]
                losses, accuracies = [run[0] for run in runs], [run[1] for run in runs]
                settings = ', '.join(f'{key} {value:.3g}' if isinstance(value, float) else f'{key} {value}'
                                     for key, value in tuned(optimizer, name).items())
                lines.append(f'| {optimizer_class(optimizer).__name__} ({settings}) | {name} | {LABELS.get(state, state)} | '
                             f'{statistics.mean(losses):.4f} $\\pm$ {statistics.stdev(losses):.4f} '
                             f'({", ".join(f"{x:.4f}" for x in losses)}) | '
                             f'{100 * statistics.mean(accuracies):.2f}% $\\pm$ {100 * statistics.stdev(accuracies):.2f} |')
                print(lines[-1], f'({time.time() - start:.0f} s)', flush=True)
    table = '\n'.join(lines) + '\n'
    print(table)
    save_table(table, args.output, Path(args.output).name, site_copy=not args.no_site_copy)


if __name__ == '__main__':
    main()
