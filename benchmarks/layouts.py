"""
A step on convolution weights, contiguous and in `channels_last`.

A weight in `channels_last` is dense but not contiguous; the fast path takes it
[in memory order](../labml_opt/fast.py). Each row times one optimizer on the weights of a stack of
convolutions in one layout, and compares it with `torch.optim.AdamW(fused=True)` on the same
weights, the two stepped in turn (`optimizer_step.py`'s `paired_ratio`), so that both see the same
machine.

    python benchmarks/layouts.py                  # 16 convolutions of 256 x 256 x 3 x 3
    python benchmarks/layouts.py --layers 4 --steps 10

The Markdown table is written to `benchmarks/results/layouts.md` and copied to
`labml_opt/results/layouts.md`, which the fast path's page includes.
"""

import argparse
import sys
import warnings
from pathlib import Path
from typing import Callable, Dict, List

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import labml_opt  # noqa: E402
from optimizer_step import paired_ratio, time_steps  # noqa: E402
from tables import measured, save_table  # noqa: E402

LAYOUTS = {'contiguous': torch.contiguous_format, 'channels_last': torch.channels_last}
# `fused=True` takes the fast path at any size, as torch's `fused` does
OURS: Dict[str, Callable[[List[torch.Tensor]], torch.optim.Optimizer]] = {
    'ours AdamW': lambda params: labml_opt.AdamW(params, lr=1e-3, fused=True),
    'ours AdamW, bfloat16 state': lambda params: labml_opt.AdamW(params, lr=1e-3, fused=True,
                                                                 state_dtype=torch.bfloat16),
    'torch AdamW foreach': lambda params: torch.optim.AdamW(params, lr=1e-3, foreach=True),
}


def weights(layers: int, layout: torch.memory_format) -> List[torch.Tensor]:
    """The weights and biases of `layers` convolutions of 256 channels, with gradients, in `layout`."""
    generator = torch.Generator().manual_seed(0)
    params = []
    for _ in range(layers):
        weight = torch.randn(256, 256, 3, 3, generator=generator).to(memory_format=layout).requires_grad_()
        bias = torch.randn(256, generator=generator).requires_grad_()
        for param in (weight, bias):
            param.grad = torch.empty_like(param).copy_(torch.randn(param.shape, generator=generator))
        params += [weight, bias]
    return params


def fused(params: List[torch.Tensor]) -> torch.optim.Optimizer:
    """The reference of every row: torch's fused AdamW."""
    return torch.optim.AdamW(params, lr=1e-3, fused=True)


def median_step(make: Callable, params: List[torch.Tensor], steps: int) -> float:
    """Median seconds of a step of `make`'s optimizer, after two steps."""
    optimizer = make(params)
    optimizer.step(), optimizer.step()
    return time_steps(optimizer, steps)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--layers', type=int, default=16, help='convolutions of 256 x 256 x 3 x 3 (default 16)')
    parser.add_argument('--steps', type=int, default=30, help='timed steps of each optimizer (default 30)')
    parser.add_argument('--output', default='benchmarks/results/layouts.md')
    args = parser.parse_args()
    if args.layers < 1 or args.steps < 2:
        parser.error(f'--layers must be >= 1 and --steps >= 2 (got {args.layers} and {args.steps})')
    rows = []
    for layout_name, layout in LAYOUTS.items():
        for name, make in OURS.items():
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter('always', labml_opt.fast.FastPathWarning)
                params = weights(args.layers, layout)
                ratio = paired_ratio(make, fused, params, args.steps)
                ours, theirs = median_step(make, params, args.steps), median_step(fused, params, args.steps)
            note = '; '.join(sorted({str(w.message) for w in caught})) or ''
            rows.append(f'| {layout_name} | {name} | {ours * 1e3:.1f} | {theirs * 1e3:.1f} | {ratio:.2f} | {note} |')
            print(rows[-1], flush=True)
    numel = sum(p.numel() for p in weights(args.layers, torch.contiguous_format))
    table = (f'{measured("layouts.py")}: torch {torch.__version__}, {torch.get_num_threads()} threads, '
             f'{args.layers} convolutions of 256 x 256 x 3 x 3 ({numel / 1e6:.1f}M parameters); median of '
             f'{args.steps} steps; "/ torch fused" is the median ratio of {args.steps} pairs of steps taken one '
             f'right after the other on the same weights.\n\n'
             '| layout | optimizer | ms | torch fused ms | / torch fused | fast path warnings |\n'
             '|---|---|---|---|---|---|\n' + '\n'.join(rows) + '\n')
    save_table(table, args.output, 'layouts.md')
    print(table)


if __name__ == '__main__':
    main()
