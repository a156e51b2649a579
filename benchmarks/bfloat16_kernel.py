"""
The compiled loop of an AdamW step alone, with `float32` and with `bfloat16` state, on a tensor
that fits in the cache of one core: the CPU time of the loop's arithmetic, loads and stores,
without the memory and without the step's Python. The loops are those the fast path compiles
for tensors of at least `PARALLEL_NUMEL` elements (on all threads, here run on one) and for
smaller ones; each is called as the step calls it, with the same arguments. One thread,
`time.process_time`, 50 calls per round, rounds interleaved, median of the rounds.

    python benchmarks/bfloat16_kernel.py                    # 131,072 elements, 1.5 MB in bfloat16
    python benchmarks/bfloat16_kernel.py --numel 1048576
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import labml_opt  # noqa: E402
from labml_opt import fast  # noqa: E402


def captured_call(state_dtype, numel: int):
    """The loop of an AdamW step on `numel` elements and the arguments the step passes to it."""
    param = torch.randn(numel, requires_grad=True)
    param.grad = torch.randn(numel) * 1e-2
    optimizer = labml_opt.AdamW([{'params': [param], 'fast': True}], weight_decay=1e-2, state_dtype=state_dtype)
    calls = []
    call = fast.Kernel.__call__
    fast.Kernel.__call__ = lambda kernel, *args: calls.append((kernel, args)) or call(kernel, *args)
    try:
        optimizer.step()
        optimizer.step()
    finally:
        fast.Kernel.__call__ = call
    kernel, args = calls[-1]
    return lambda: call(kernel, *args)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--numel', type=int, default=1 << 17)
    parser.add_argument('--rounds', type=int, default=15)
    args = parser.parse_args()
    torch.set_num_threads(1)
    calls = {f'{name} state': captured_call(dtype, args.numel)
             for name, dtype in (('float32', None), ('bfloat16', torch.bfloat16))}
    times = {name: [] for name in calls}
    for _ in range(args.rounds):
        for name, call in calls.items():
            start = time.process_time()
            for _ in range(50):
                call()
            times[name].append((time.process_time() - start) / 50)
    for name, values in times.items():
        print(f'AdamW loop, {name:15s} {statistics.median(values) * 1e6:7.1f} us CPU per call on {args.numel} elements')


if __name__ == '__main__':
    main()
