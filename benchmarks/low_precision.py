"""
Time an AdamW step with low-precision state against torch's fused AdamW in float32, and measure
the state's bytes per parameter.

In one process, on the parameters of `optimizer_step.py` (16 matrices and 4 biases), rounds
interleaved so that every variant sees the same load:

* torch's `AdamW(fused=True)` in float32;
* our AdamW with float32 state, and with `state_dtype=torch.bfloat16` (both the default `step()`,
  which compiles the page's code for groups this large), and with `state_dtype='8bit'`, which the
  fast path compiles too, for tensors of whole blocks of 256, as all the matrices here are;
* torchao's `AdamW8bit` and optimi's `AdamW` (float32 parameters, its for-each path), beside them;
* the in-place bandwidth, from which each floor follows: 28 bytes per parameter for float32 state,
  20 for bfloat16 state, 16 and two scales per 256 parameters for 8-bit state.

With `--parameters bfloat16` the parameters and gradients are `bfloat16`, and the variants are
those of training in `bfloat16`: torch's fused AdamW (its state in `bfloat16` too, rounded to
nearest, no compensation), ours with `kahan_sum=True` on each kind of state, compiled and (on
`bfloat16` state) as written, and optimi's AdamW with `kahan_sum=True`.

    python benchmarks/low_precision.py                 # 50M parameters
    python benchmarks/low_precision.py --size 10 --rounds 1
    python benchmarks/low_precision.py --parameters bfloat16

The Markdown table is written to `benchmarks/results/low_precision.md` (`low_precision_bfloat16.md`)
and copied to `labml_opt/results/`, whose tables the low-precision page includes.
"""

import argparse
import gc
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / 'benchmarks'))

import labml_opt  # noqa: E402
from optimizer_step import bandwidth, make_params  # noqa: E402
from tables import measured, save_table  # noqa: E402

LR, WEIGHT_DECAY = 1e-3, 1e-2


def torchao_adamw8bit(params):
    from torchao.optim import AdamW8bit
    return AdamW8bit(params, lr=LR, weight_decay=WEIGHT_DECAY)


def optimi_adamw(params, kahan_sum: bool = False):
    import optimi
    return optimi.AdamW(params, lr=LR, weight_decay=WEIGHT_DECAY, foreach=True, kahan_sum=kahan_sum)


def ours(**options):
    """Our AdamW with `options`; `fast=False` in them runs the page's code as written."""
    fast = options.pop('fast', None)
    return lambda p: labml_opt.AdamW([{'params': p, 'fast': fast}], lr=LR, weight_decay=WEIGHT_DECAY, **options)


# name: (make, bytes moved per parameter by the least any implementation can do, or None), for
# float32 parameters; the first is the reference of the "/ torch fused" column
VARIANTS: Dict[str, tuple] = {
    'torch AdamW fused, float32 state': (lambda p: torch.optim.AdamW(p, lr=LR, weight_decay=WEIGHT_DECAY, fused=True), 28),
    'ours AdamW, float32 state': (lambda p: labml_opt.AdamW(p, lr=LR, weight_decay=WEIGHT_DECAY), 28),
    'ours AdamW, bfloat16 state': (lambda p: labml_opt.AdamW(p, lr=LR, weight_decay=WEIGHT_DECAY,
                                                             state_dtype=torch.bfloat16), 20),
    # $\theta$, $g$ read and $\theta$ written, 12 bytes; $m$ and $v$ read and written, 1 byte each;
    # and their scales, 4 bytes per 256 values each way
    'ours AdamW, 8-bit state': (lambda p: labml_opt.AdamW(p, lr=LR, weight_decay=WEIGHT_DECAY, state_dtype='8bit'),
                                16 + 16 / 256),
    'torchao AdamW8bit': (torchao_adamw8bit, None),
    'optimi AdamW (foreach), float32 state': (optimi_adamw, 28),
}

# For `bfloat16` parameters: $\theta$ read and written and $g$ read, 6 bytes; Kahan's compensation
# read and written, 4; and the state's
VARIANTS_BFLOAT16: Dict[str, tuple] = {
    'torch AdamW fused, bfloat16 state, no compensation': (
        lambda p: torch.optim.AdamW(p, lr=LR, weight_decay=WEIGHT_DECAY, fused=True), 6 + 8),
    'ours AdamW, kahan_sum, float32 state': (ours(kahan_sum=True, state_dtype=torch.float32), 10 + 16),
    'ours AdamW, kahan_sum, bfloat16 state': (ours(kahan_sum=True), 10 + 8),
    'ours AdamW, kahan_sum, bfloat16 state, as written': (ours(kahan_sum=True, fast=False), 10 + 8),
    'ours AdamW, kahan_sum, 8-bit state': (ours(kahan_sum=True, state_dtype='8bit'), 10 + 4 + 16 / 256),
    'optimi AdamW (foreach), kahan_sum, bfloat16 state': (lambda p: optimi_adamw(p, kahan_sum=True), 10 + 8),
}


# Variants timed over `--slow-steps` steps: they take seconds per step at 50M parameters
SLOW = ('torchao AdamW8bit', 'ours AdamW, kahan_sum, bfloat16 state, as written')


def tensor_bytes(value) -> int:
    """Bytes of a state tensor, including the inner tensors of a tensor subclass (torchao's 8-bit state)."""
    if not isinstance(value, torch.Tensor):
        return 0
    if hasattr(value, '__tensor_flatten__'):
        names, _ = value.__tensor_flatten__()
        return sum(tensor_bytes(getattr(value, name)) for name in names)
    return value.numel() * value.element_size()


def state_bytes_per_param(optimizer: torch.optim.Optimizer, params: List[torch.Tensor]) -> float:
    total = sum(tensor_bytes(value) for param in params for value in optimizer.state[param].values())
    return total / sum(param.numel() for param in params)


def time_steps(optimizer: torch.optim.Optimizer, steps: int) -> List[float]:
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        optimizer.step()
        times.append(time.perf_counter() - start)
    return times


def run(size: float, steps: int, slow_steps: int, rounds: int, parameters: str = 'float32',
        say: Callable = print) -> str:
    variants = VARIANTS_BFLOAT16 if parameters == 'bfloat16' else VARIANTS
    params = make_params(int(size * 1e6))
    if parameters == 'bfloat16':
        params = [torch.nn.Parameter(param.detach().bfloat16()) for param in params]
        for param in params:
            param.grad = torch.randn_like(param)
    numel = sum(param.numel() for param in params)
    optimizers = {}
    state_bytes = {}
    for name, (make, _) in variants.items():
        optimizer = make(params)
        # Two steps of warm-up: the first creates the state and compiles or loads the loop
        optimizer.step()
        optimizer.step()
        optimizers[name] = optimizer
        state_bytes[name] = state_bytes_per_param(optimizer, params)
        say(f'{name}: ready, {state_bytes[name]:.2f} state bytes per parameter', flush=True)
    times: Dict[str, List[float]] = {name: [] for name in variants}
    bandwidths = []
    for round_index in range(rounds):
        for name, optimizer in optimizers.items():
            bandwidths.append(bandwidth(numel))
            slow = name in SLOW
            times[name].append(statistics.median(time_steps(optimizer, slow_steps if slow else steps)))
            say(f'  round {round_index + 1} {name:50s} {times[name][-1] * 1e3:8.1f} ms '
                f'(bandwidth {bandwidths[-1] / 1e9:.1f} GB/s)', flush=True)
    bytes_per_second = statistics.median(bandwidths)
    torch_time = statistics.median(times[next(iter(variants))])
    lines = [
        measured('low_precision.py') + ':',
        f'torch {torch.__version__}, {torch.get_num_threads()} threads, {torch.backends.cpu.get_cpu_capability()} '
        f'vector instructions; {numel / 1e6:.1f}M {parameters} parameters in '
        f'20 tensors; median of {steps} steps ({slow_steps} for {", ".join(name for name in SLOW if name in variants)}) '
        f'per round, median of {rounds} round(s), rounds '
        f'interleaved; in-place bandwidth {bytes_per_second / 1e9:.1f} GB/s (median of {len(bandwidths)}). '
        'The machine is shared: other processes add noise.',
        '',
        '| AdamW | state bytes / param | floor bytes / param | floor ms | ms | / torch fused | % of floor |',
        '|---|---|---|---|---|---|---|',
    ]
    for name, (_, floor_bytes) in variants.items():
        t = statistics.median(times[name])
        floor = floor_bytes * numel / bytes_per_second if floor_bytes else None
        lines.append(f'| {name} | {state_bytes[name]:.2f} | {f"{floor_bytes:.4g}" if floor_bytes else ""} | '
                     f'{"" if floor is None else f"{floor * 1e3:.1f}"} | {t * 1e3:.1f} | {t / torch_time:.2f} | '
                     f'{"" if floor is None else f"{100 * floor / t:.0f}%"} |')
    return '\n'.join(lines) + '\n'


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--size', type=float, default=50, help='model size in millions of parameters')
    parser.add_argument('--steps', type=int, default=10, help='timed steps per variant and round')
    parser.add_argument('--slow-steps', type=int, default=2, help='timed steps of the slow variants per round')
    parser.add_argument('--rounds', type=int, default=3, help='interleaved rounds; the median is reported')
    parser.add_argument('--parameters', choices=['float32', 'bfloat16'], default='float32',
                        help='the dtype of the parameters and gradients')
    parser.add_argument('--output', default=None,
                        help='default benchmarks/results/low_precision.md, or low_precision_bfloat16.md')
    parser.add_argument('--no-site-copy', action='store_true',
                        help='do not copy the table to labml_opt/results/ under the name of --output')
    args = parser.parse_args()
    name = 'low_precision.md' if args.parameters == 'float32' else 'low_precision_bfloat16.md'
    output = args.output or str(ROOT / 'benchmarks' / 'results' / name)
    table = run(args.size, args.steps, args.slow_steps, args.rounds, args.parameters)
    print(table)
    save_table(table, output, Path(output).name, site_copy=not args.no_site_copy)


if __name__ == '__main__':
    main()
