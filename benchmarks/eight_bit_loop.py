"""
Our AdamW's compiled step on 8-bit state, as it is and as it was before the nearest code was
computed and its choices made in mask registers, in one process.

* `before`: the loop of commit `a3ac130`: one pass per row, with the nearest code read from a
  table of 64-bit entries indexed by the top 16 bits of each value, one lane at a time. Its
  `NearestCode` and tables are that commit's `labml_opt/low_precision.py`, read with `git show`;
  the loop is compiled as it was then, without checks of the table positions, and called
  directly, with its tables passed in;
* `now`: the page's code as it is: the nearest code computed, no table, the denominator of a
  decoded code from three choices, and the loop's choices made in mask registers;
* torch's `AdamW(fused=True)` in float32, for scale.

All take the same steps from the same values; the two 8-bit loops must leave the same codes,
scales and parameters, to the bit, which is checked. Then, rounds interleaved, the time of a
step: CPU time on one thread (`time.process_time`) on 262,144 elements, which fit in the cache,
and wall time on all threads on 50M; the median of each one's time, and the median over the
rounds of its time over torch's and over `before`'s.

    python benchmarks/eight_bit_loop.py            # 262,144 elements, one thread
    python benchmarks/eight_bit_loop.py --large    # 50M elements, all threads
"""

import argparse
import contextlib
import statistics
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import labml_opt  # noqa: E402
from labml_opt import fast, low_precision  # noqa: E402

# The commit whose loop is `before`
BEFORE = 'a3ac130'


def module_at(commit: str, path: str, name: str) -> types.ModuleType:
    """The module at `path` as it was at `commit`."""
    source = subprocess.run(['git', 'show', f'{commit}:{path}'], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    module = types.ModuleType(name)
    exec(compile(source, f'{commit}:{path}', 'exec'), module.__dict__)
    return module


class WithTables(fast.WithExtras):
    """`fast.WithExtras` as it was at `BEFORE`: an extra is a scratch tensor or one of `TABLES`."""
    TABLES = []

    def __init__(self, function, plan, extras):
        super().__init__(function, plan, [extra for extra in extras if extra[0] == 'scratch'])
        made = iter(self.extras)
        self.extras = [self.TABLES[extra[1]] if extra[0] == 'table' else next(made) for extra in extras]

    def __call__(self, *args):
        args = list(args)
        length = args[self.length]
        made = [extra if isinstance(extra, torch.Tensor) else
                torch.empty([-size * length if size < 0 else size for size in extra[1]], dtype=extra[0])
                for extra in self.extras]
        for slot, k in self.slots:
            args[slot] = made[k]
        self.function(*args)
        return made


@contextlib.contextmanager
def with_tables(tables):
    """
    Compile a loop that reads `tables` as the fast path did at `BEFORE`: no check of a table
    position, the tables passed to the C++ function as extra arguments, and the choices made as
    `at::vec` makes them, not in mask registers.
    """
    extra_argument, masks_in_registers = fast.extra_argument, fast.masks_in_registers

    def table_or_scratch(arg, numel, unit):
        for k, table in enumerate(tables):
            if arg.dtype == table.dtype and arg.shape == table.shape and torch.equal(arg, table):
                return ['table', k]
        return extra_argument(arg, numel, unit)

    WithTables.TABLES = tables
    fast.extra_argument, fast.WithExtras, fast.masks_in_registers = table_or_scratch, WithTables, contextlib.nullcontext
    try:
        with torch._inductor.config.patch(assert_indirect_indexing=False):
            yield
    finally:
        fast.extra_argument, fast.WithExtras, fast.masks_in_registers = extra_argument, WithTables.__bases__[0], masks_in_registers


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
    before = module_at(BEFORE, 'labml_opt/low_precision.py', 'low_precision_before')
    now = dict(low_precision.NEAREST_CODE)
    # name: the nearest code of each map, and how the loop is compiled and called
    variants = {'before': (before.NEAREST_CODE, with_tables(before.TABLES)), 'now': (now, contextlib.nullcontext())}
    optimizers = {}
    for name, (nearest_code, compiled) in variants.items():
        # Each compiled in a cache of its own, so that none finds another's loop (a path without
        # spaces, which the C++ compiler's command line would split)
        fast.CACHE_DIR, fast.KERNELS = tempfile.mkdtemp(prefix='eight_bit_loop_'), {}
        low_precision.NEAREST_CODE.update(nearest_code)
        param = start.clone().requires_grad_()
        optimizer = labml_opt.AdamW([{'params': [param], 'fast': True}], state_dtype='8bit')
        with compiled:
            for grad in grads:
                param.grad = grad
                optimizer.step()
        # Each 8-bit loop is called directly, not through Inductor's graph
        assert all(kernels.sized(numel).plan is not None for kernels in fast.KERNELS.values()), name
        optimizers[name] = (optimizer, param)
    low_precision.NEAREST_CODE.update(now)
    reference, reference_param = optimizers['before']
    for name, (optimizer, param) in optimizers.items():
        state, before_state = optimizer.state[param], reference.state[reference_param]
        assert torch.equal(param, reference_param) and all(
            torch.equal(value, before_state[key]) for key, value in state.items() if isinstance(value, torch.Tensor)), name
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
    print(f'{what}: median ms per step, and medians of the ratios to torch fused and to before')
    for name in optimizers:
        ratio = statistics.median(a / b for a, b in zip(times[name], times['torch fused']))
        to_before = statistics.median(a / b for a, b in zip(times[name], times['before']))
        print(f'{name:12s} {statistics.median(times[name]):8.3f} ms  {ratio:6.2f}x torch  {to_before:6.3f}x before')


if __name__ == '__main__':
    main()
