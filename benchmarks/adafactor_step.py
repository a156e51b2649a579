"""
Time Adafactor's step against `torch.optim.Adafactor`'s for-loop and fused Adam: in CPU time on one
thread, which a shared machine disturbs least, and in wall time on all of the machine's threads.
Each step of ours is timed next to one of each of the others, which goes first alternating, and
the table gives the median of those ratios.

Two models of about the same size: `optimizer_step.py`'s (16 matrices of 1024 rows and 4 vectors),
whose matrices of 12 MiB fit in the L3 cache, and two matrices of 8192 x 3072 (96 MiB each), which
do not. Adam's floor is 28 bytes per parameter and Adafactor's 24 (see the Adafactor page): at
the same bandwidth, Adafactor at its floor takes 0.86 of the time of Adam at its own.

A second table prices a pass by what it reads and writes, on 50M `float32` elements on all
threads: a sum, which reads one tensor; `mul_`, which reads one and writes it back; and passes that
read two, three and four tensors (fused Adam's). It says what this machine charges for the bytes
that the floor counts.

    python benchmarks/adafactor_step.py
    python benchmarks/adafactor_step.py --sizes 10 --pairs 5

The Markdown table is written to `benchmarks/results/adafactor_step.md` and copied to
`labml_opt/results/adafactor_step.md`, which the Adafactor page includes.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import labml_opt  # noqa: E402
from optimizer_step import make_params  # noqa: E402
from tables import measured, save_table  # noqa: E402


def large_matrices(seed: int = 0):
    """Two 8192 x 3072 matrices and a bias, with gradients of the size `make_params` gives."""
    generator = torch.Generator().manual_seed(seed)
    params = [torch.randn(shape, generator=generator).requires_grad_() for shape in [(8192, 3072)] * 2 + [(3072,)]]
    for param in params:
        param.grad = torch.randn(param.shape, generator=generator) * 1e-2
    return params


def ratios(params, pairs: int, clock):
    """Median seconds of our step by `clock`, and the medians of its ratios to torch's for-loop and to fused Adam."""
    optimizers = {'ours': labml_opt.Adafactor(params), 'torch': torch.optim.Adafactor(params, foreach=False),
                  'adam': torch.optim.Adam(params, fused=True)}
    for optimizer in optimizers.values():
        optimizer.step()
        optimizer.step()
    times = {name: [] for name in optimizers}
    for pair in range(pairs):
        for name in (list(optimizers) if pair % 2 == 0 else list(optimizers)[::-1]):
            start = clock()
            optimizers[name].step()
            times[name].append(clock() - start)
    ratio = {name: statistics.median(a / b for a, b in zip(times['ours'], times[name])) for name in ('torch', 'adam')}
    return statistics.median(times['ours']), ratio['torch'], ratio['adam']


def pass_costs(numel: int, rounds: int):
    """
    Median wall time of passes over `numel` elements that read and write different numbers of
    tensors, each timed in turn in every round: rows of (what it does, tensors read, tensors
    written, seconds).
    """
    generator = torch.Generator().manual_seed(0)
    x, y, z = (torch.randn(numel, generator=generator) for _ in range(3))
    # Fused Adam on 20 tensors of the same total size
    params = [torch.randn(numel // 20, generator=generator).requires_grad_() for _ in range(20)]
    for param in params:
        param.grad = torch.randn(param.shape, generator=generator)
    adam = torch.optim.Adam(params, fused=True)
    adam.step()
    passes = [('`x.sum()`', 1, 0, lambda: x.sum()),
              ('`x.mul_(1)`', 1, 1, lambda: x.mul_(1.)),
              ('`torch.dot(x, y)`', 2, 0, lambda: torch.dot(x, y)),
              ('`x.add_(y, alpha=a)`', 2, 1, lambda: x.add_(y, alpha=1e-9)),
              ('`x.addcmul_(y, z, value=a)`', 3, 1, lambda: x.addcmul_(y, z, value=1e-9)),
              ('fused Adam', 4, 3, adam.step)]
    times = [[] for _ in passes]
    for _ in range(rounds):
        for (_, _, _, run), spent in zip(passes, times):
            start = time.perf_counter()
            run()
            spent.append(time.perf_counter() - start)
    return [(name, reads, writes, statistics.median(spent)) for (name, reads, writes, _), spent in zip(passes, times)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--sizes', default='10,50', help="sizes of optimizer_step.py's model, in millions")
    parser.add_argument('--pairs', type=int, default=15, help='steps of each optimizer timed')
    parser.add_argument('--output', default=str(ROOT / 'benchmarks' / 'results' / 'adafactor_step.md'))
    args = parser.parse_args()
    threads = torch.get_num_threads()
    sizes = [float(size) for size in args.sizes.split(',')]
    models = [(f"{size:g}M, optimizer_step.py's", make_params(int(size * 1e6))) for size in sizes]
    models.append(('50M, two 8192 x 3072', large_matrices()))
    lines = [measured('adafactor_step.py') + f': torch {torch.__version__}, median of {args.pairs} pairs.', '',
             '| model | threads | ours ms | ours / torch for-loop | ours / Adam fused '
             '| % of floor at Adam\'s bandwidth |',
             '|---|---|---|---|---|---|']
    for name, params in models:
        for count, clock, kind in ((1, time.process_time, 'CPU'), (threads, time.perf_counter, 'wall')):
            torch.set_num_threads(count)
            ours, to_torch, to_adam = ratios(params, args.pairs, clock)
            # Adam fused runs at about its floor: ours at the floor would be 24 / 28 of its time
            lines.append(f'| {name} | {count}, {kind} time | {ours * 1e3:.1f} | {to_torch:.2f} | {to_adam:.2f} | '
                         f'{100 * 24 / 28 / to_adam:.0f}% |')
            print(lines[-1], flush=True)
    torch.set_num_threads(threads)
    lines += ['', f'A pass over 50M `float32` elements on {threads} threads, median of {args.pairs} rounds:', '',
              '| pass | tensors read | tensors written | ms | ms per tensor read |', '|---|---|---|---|---|']
    for name, reads, writes, seconds in pass_costs(50_000_000, args.pairs):
        lines.append(f'| {name} | {reads} | {writes} | {seconds * 1e3:.1f} | {seconds * 1e3 / reads:.1f} |')
        print(lines[-1], flush=True)
    table = '\n'.join(lines) + '\n'
    save_table(table, args.output, 'adafactor_step.md')


if __name__ == '__main__':
    main()
