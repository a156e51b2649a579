"""
The error of 8-bit optimizer state against float32, ours beside torchao's `AdamW8bit`, on the same
gradients: `labml_opt.figures.quantization_errors` for each, and for bfloat16 state beside them.

    python benchmarks/quantization_error.py
    python benchmarks/quantization_error.py --steps 1000

The Markdown table is written to `benchmarks/results/quantization_error.md` and copied to
`labml_opt/results/quantization_error.md`, which the low-precision page includes.
"""

import argparse
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import labml_opt  # noqa: E402
from labml_opt.figures import quantization_errors  # noqa: E402
from tables import measured, save_table  # noqa: E402

LR, WEIGHT_DECAY = 1e-3, 1e-2


def torchao_adamw8bit(params):
    from torchao.optim import AdamW8bit
    return AdamW8bit(params, lr=LR, weight_decay=WEIGHT_DECAY)


VARIANTS = {
    'ours AdamW, 8-bit state': lambda p: labml_opt.AdamW(p, lr=LR, weight_decay=WEIGHT_DECAY, state_dtype='8bit'),
    'torchao AdamW8bit': torchao_adamw8bit,
    'ours AdamW, bfloat16 state': lambda p: labml_opt.AdamW(p, lr=LR, weight_decay=WEIGHT_DECAY,
                                                            state_dtype=torch.bfloat16),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--steps', type=int, default=200)
    parser.add_argument('--seeds', type=int, default=3, help='gradient sequences; the table shows each error as mean over them')
    parser.add_argument('--output', default=str(ROOT / 'benchmarks' / 'results' / 'quantization_error.md'))
    parser.add_argument('--no-site-copy', action='store_true')
    args = parser.parse_args()
    lines = [measured('quantization_error.py') + ': '
             f'{args.steps} steps, mean of {args.seeds} gradient sequences (min and max in brackets).',
             '',
             '| AdamW | error of $m_t$ | error of $v_t$ | error of $\\theta_t - \\theta_0$ |',
             '|---|---|---|---|']
    for name, make in VARIANTS.items():
        runs = [quantization_errors(make, steps=args.steps, seed=seed) for seed in range(args.seeds)]
        cells = []
        for key in ('exp_avg', 'exp_avg_sq', 'param'):
            values = [run[key] for run in runs]
            cells.append(f'{100 * sum(values) / len(values):.2f}% ({100 * min(values):.2f}-{100 * max(values):.2f})')
        lines.append(f'| {name} | ' + ' | '.join(cells) + ' |')
        print(lines[-1], flush=True)
    table = '\n'.join(lines) + '\n'
    print(table)
    save_table(table, args.output, 'quantization_error.md', site_copy=not args.no_site_copy)


if __name__ == '__main__':
    main()
