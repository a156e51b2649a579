"""
Our AdamW's compiled step on 8-bit state, as it is and as it was before two changes, in one process.

* `before`: the loop as it was: compiled by Inductor alone (each part a loop over the whole
  tensor, the new moments in buffers of its size), with the codes decoded by counting their
  leading bits with comparisons, the sign of $m_t$ chosen by `torch.where`, dequantized through
  the flat tensor, and the nearest code read from two tables;
* `now, Inductor alone`: the page's code as it is now, compiled by Inductor alone;
* `now`: the same, under `fast.one_pass_per_row`: one loop over the rows of 256, the new moments
  of a row in local buffers;
* torch's `AdamW(fused=True)` in float32, for scale.

All four take the same steps from the same values; the three 8-bit loops must leave the same
codes, scales and parameters, to the bit, which is checked. Then, rounds interleaved, the time of
a step: CPU time on one thread (`time.process_time`) on 262,144 elements, which fit in the cache,
and wall time on all threads on 50M; the median over the rounds of each one's time over torch's.

    python benchmarks/eight_bit_loop.py            # 262,144 elements, one thread
    python benchmarks/eight_bit_loop.py --large    # 50M elements, all threads
"""

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import labml_opt  # noqa: E402
from labml_opt import fast, low_precision  # noqa: E402


def magnitude_by_comparisons(pattern: torch.Tensor, bits: int) -> torch.Tensor:
    """The decoding before: $F$ as the number of powers of two at most $c$, one comparison each."""
    fraction_bits = torch.zeros_like(pattern)
    for bit in range(1, bits):
        fraction_bits = fraction_bits + (pattern >= (1 << bit)).int()
    top = (1 << fraction_bits).float()
    numerator = 9 * (pattern.float() + 1) - 8 * top
    denominator = (1 << bits) * low_precision.power_of_five(bits - fraction_bits)
    return torch.where(pattern > 0, numerator / denominator, 0.)


def code_values_before(codes: torch.Tensor, code_map: str) -> torch.Tensor:
    """The values of codes before: the sign of a value of the signed map chosen by `torch.where`."""
    position = codes.to(torch.int32)
    if code_map == 'unsigned':
        return magnitude_by_comparisons(position, 8)
    positive = position >= 128
    magnitude = magnitude_by_comparisons(torch.where(positive, position - 128, 127 - position), 7)
    return torch.where(positive, magnitude, -magnitude)


def dequantize_before(codes: torch.Tensor, absmax: torch.Tensor, code_map: str) -> torch.Tensor:
    """Dequantization before: through the flat tensor, whole blocks or not."""
    blocks = low_precision.as_blocks(code_values_before(codes.reshape(-1), code_map)) * absmax.unsqueeze(1)
    return blocks.view(-1)[:codes.numel()].view(codes.shape)


def nearest_code_before(self, normalized: torch.Tensor) -> torch.Tensor:
    """The nearest code before: $J_b$ and $M_b$ read from two tables, apart."""
    magnitude = normalized.abs().clamp(max=1) if self.signed else normalized.clamp(0, 1)
    bucket = ((magnitude.view(torch.int32) >> 16) - self.first).clamp(0, len(self.midpoint) - 1)
    below, midpoint = self.below[bucket], self.midpoint[bucket]
    above = (magnitude > midpoint).int()
    if not self.signed:
        return (below >> 1) + above
    on_or_above = above | ((below & 1) & (magnitude == midpoint).int())
    return torch.where(normalized > 0, 128 + (below >> 1) + above, 127 - (below >> 1) - on_or_above)


TABLES_BEFORE = [table for code in low_precision.NEAREST_CODE.values() for table in (code.below, code.midpoint)]
ALONE = lambda blocks: contextlib.nullcontext()  # noqa: E731
NOW = (low_precision.dequantize, low_precision.NearestCode.__call__, low_precision.TABLES, fast.one_pass_per_row)
# name: the dequantization, the nearest code, its tables, and how the loop over rows is compiled
VARIANTS = {'before': (dequantize_before, nearest_code_before, TABLES_BEFORE, ALONE),
            'now, Inductor alone': NOW[:3] + (ALONE,), 'now': NOW}


def use(dequantize, nearest_code, tables, one_pass_per_row):
    low_precision.dequantize, low_precision.NearestCode.__call__ = dequantize, nearest_code
    # (a loop takes its tables when it is compiled or loaded)
    low_precision.TABLES, fast.one_pass_per_row = tables, one_pass_per_row


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--large', action='store_true', help='50M elements on all threads')
    parser.add_argument('--rounds', type=int, default=11)
    args = parser.parse_args()
    numel = 196 * (1 << 18) if args.large else 1 << 18
    steps = 5 if args.large else 20
    if not args.large:
        torch.set_num_threads(1)
    clock = time.perf_counter if args.large else time.process_time
    generator = torch.Generator().manual_seed(0)
    start = torch.randn(numel, generator=generator)
    grads = [torch.randn(numel, generator=generator) for _ in range(3)]
    optimizers = {}
    for name, variant in VARIANTS.items():
        # Each compiled in a cache of its own, so that none finds another's loop (a path without
        # spaces, which the C++ compiler's command line would split)
        fast.CACHE_DIR, fast.KERNELS = tempfile.mkdtemp(prefix='eight_bit_loop_'), {}
        use(*variant)
        param = start.clone().requires_grad_()
        optimizer = labml_opt.AdamW([{'params': [param], 'fast': True}], state_dtype='8bit')
        for grad in grads:
            param.grad = grad
            optimizer.step()
        optimizers[name] = (optimizer, param)
    use(*NOW)
    reference, reference_param = optimizers['before']
    for name, (optimizer, param) in optimizers.items():
        state, before = optimizer.state[param], reference.state[reference_param]
        assert torch.equal(param, reference_param) and all(
            torch.equal(value, before[key]) for key, value in state.items() if isinstance(value, torch.Tensor)), name
    param = start.clone().requires_grad_()
    optimizers['torch fused'] = (torch.optim.AdamW([param], fused=True), param)
    times = {name: [] for name in optimizers}
    for _ in range(args.rounds):
        for name, (optimizer, param) in optimizers.items():
            param.grad = grads[0]
            began = clock()
            for _ in range(steps):
                optimizer.step()
            times[name].append((clock() - began) / steps * 1e3)
    what = f'{numel:,} elements, ' + ('wall time, all threads' if args.large else 'CPU time, one thread')
    print(f'{what}: median ms per step, and median of the ratios to torch fused')
    for name in optimizers:
        ratio = statistics.median(a / b for a, b in zip(times[name], times['torch fused']))
        print(f'{name:20s} {statistics.median(times[name]):8.3f} ms  {ratio:6.2f}x')


if __name__ == '__main__':
    main()
