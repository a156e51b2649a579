"""
Time one optimizer step, at the memory-bandwidth floor and against the alternatives.

For each optimizer and model size, in one process:

* labml_opt's default `step()` (the fast path: groups this large take it automatically) and the
  same code as written (`fast=False` in the param group);
* a user's subclass of Adam that overrides one hook, `get_mv`, with the same math written its own
  way: the fast path compiles the override, and it should step as fast as Adam;
* `torch.optim`'s for-loop (`foreach=False`), `foreach=True` and `fused=True` implementations,
  where torch has them;
* labml_nn's implementation, where it has the algorithm;
* the machine's in-place bandwidth (`a.mul_(s)` on a tensor as large as the model), from which
  each algorithm's floor follows: the bytes it must read and write per parameter, divided by it.

Times are medians over `--steps` steps after warm-up; with `--rounds` > 1 every variant is timed
once per round, rounds interleaved, and the median of the rounds is reported. The first step of the
default path, which compiles (or loads from the Inductor cache), is reported separately.

    python benchmarks/optimizer_step.py                  # 10M and 50M parameters
    python benchmarks/optimizer_step.py --quick          # 10M, fewer optimizers and steps
    python benchmarks/optimizer_step.py --sizes 10 --optimizers Adam,SGD
    python benchmarks/optimizer_step.py --rounds 3 --skip "as written,labml_nn"   # ours against torch only

The Markdown table is written to `benchmarks/results/optimizer_step.md` and copied to
`labml_opt/results/optimizer_step.md`, which the optimizers' index page includes.
"""

import argparse
import gc
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import labml_opt  # noqa: E402
import labml_opt.fast  # noqa: E402
from tables import measured, save_table  # noqa: E402

# Bytes read and written per parameter by the least any implementation can do, in float32:
# Adam reads theta, g, m, v and writes theta, m, v.
TENSOR_PASSES = {
    'Adam': 7, 'AdamW': 7, 'AMSGrad': 9, 'RAdam': 7, 'AdaBelief': 7,
    'SGD': 5, 'Adagrad': 5, 'RMSprop': 5, 'NAdam': 7, 'Adamax': 7, 'Adadelta': 8, 'SharedAdam': 7,
    # Sophia's step reads theta, g, m, h and writes theta, m; refreshing h is a separate pass every k steps
    'Sophia': 6, 'AdamWarmup': 7, 'AdamWarmupCosineDecay': 7, 'Noam': 7, 'AdamSubclass': 7,
    # Lion reads theta, g, m and writes theta, m; AdEMAMix adds the slow average to Adam's three;
    # Schedule-Free reads y, g, z (and v for AdamW) and writes y, z (and v)
    'Lion': 5, 'AdEMAMix': 9, 'ScheduleFreeSGD': 5, 'ScheduleFreeAdamW': 7,
    # Rprop reads theta, g, the last gradient and the step sizes, and writes the three; ASGD reads
    # theta, g and the average, and writes theta and the average
    'Rprop': 7, 'ASGD': 5,
    # Muon's element-wise part reads theta, g, b and writes theta, b; its matrix products, not memory,
    # set its time. Adafactor's row and column state is small, but each of its three passes needs the
    # sums of the one before: the row and column means of g^2 (and RMS(theta)) read g and theta; the
    # clipping's RMS(U) needs the new means and reads g again; the step reads g and theta, writes theta.
    'Muon': 5, 'Adafactor': 6,
    # LAMB's trust ratio needs the norm of the whole step before any weight moves: one pass reads
    # theta, g, m, v and writes m, v; a second reads theta, m, v and writes theta
    'LAMB': 10,
    # Prodigy's estimate reads g, theta, theta_0 and sigma and writes sigma; its step reads theta, g,
    # m, v and writes theta, m, v
    'Prodigy': 12,
    # SOAP moves Adam's bytes, and more in its matrix products, which bound its time instead
    'SOAP': 7,
}
# The optimizers that torch does not have: their reference packages take the "torch" columns, as
# (for-loop, foreach) implementations
REFERENCE_PACKAGES = ('Lion', 'AdEMAMix', 'ScheduleFreeSGD', 'ScheduleFreeAdamW', 'LAMB', 'Prodigy', 'SOAP')
# torch's Muon, and these reference packages, have a for-loop only (no `foreach` keyword)
FOR_LOOP_ONLY = ('Muon', 'Prodigy', 'SOAP')
# Optimizers that never take the fast path: their default is the code as written
AS_WRITTEN_ONLY = ('SOAP',)
# Optimizers whose step time is that of their matrix products, the same in every implementation, not
# that of memory: they are timed at the smallest size only (at 50M, SOAP's step takes about 12 s)
MATRIX_BOUND = ('Muon', 'SOAP')


def matrices(params: List[torch.Tensor]) -> List[torch.Tensor]:
    """Muon trains the model's matrices: its 16 weight matrices, not its 4 biases."""
    return [p for p in params if p.ndim == 2]


class AdamSubclass(labml_opt.Adam):
    """A user's variant that overrides `get_mv`, with Adam's math written another way."""

    def get_mv(self, state, numbers, grad):
        m, v = state['exp_avg'], state['exp_avg_sq']
        m.mul_(numbers.beta1).add_(grad * (1 - numbers.beta1))
        v.lerp_(grad.square(), 1 - numbers.beta2)
        return m, v


def labml_nn_optimizer(name: str) -> Optional[Callable]:
    """labml_nn's class for `name`, if it has one, built with the arguments used below."""
    try:
        from labml_nn.optimizers import WeightDecay
        from labml_nn.optimizers.ada_belief import AdaBelief
        from labml_nn.optimizers.adam import Adam
        from labml_nn.optimizers.amsgrad import AMSGrad
        from labml_nn.optimizers.adam_warmup import AdamWarmup
        from labml_nn.optimizers.adam_warmup_cosine_decay import AdamWarmupCosineDecay
        from labml_nn.optimizers.noam import Noam
        from labml_nn.optimizers.radam import RAdam
        from labml_nn.optimizers.sophia import Sophia
    except ImportError:
        return None
    return {
        'Adam': lambda params: Adam(params, lr=1e-3, eps=1e-8),
        'AdamW': lambda params: Adam(params, lr=1e-3, eps=1e-8, weight_decay=WeightDecay(1e-2, weight_decouple=True)),
        'AMSGrad': lambda params: AMSGrad(params, lr=1e-3, eps=1e-8),
        'RAdam': lambda params: RAdam(params, lr=1e-3, eps=1e-8),
        'AdaBelief': lambda params: AdaBelief(params, lr=1e-3, eps=1e-16),
        'AdamWarmup': lambda params: AdamWarmup(params, lr=1e-3, eps=1e-8, warmup=2000),
        'AdamWarmupCosineDecay': lambda params: AdamWarmupCosineDecay(params, lr=1e-3, eps=1e-8, warmup=2000,
                                                                      total_steps=100_000),
        'Noam': lambda params: Noam(params, lr=1., betas=(0.9, 0.98), eps=1e-9, warmup=4000, d_model=512),
        'Sophia': lambda params: Sophia(params, lr=1e-3, betas=(0.965, 0.99), eps=1e-15, rho=0.04,
                                        weight_decay=WeightDecay(0.1, weight_decouple=True)),
    }.get(name)


def training(optimizer: torch.optim.Optimizer) -> torch.optim.Optimizer:
    """Schedule-Free optimizers, ours and the reference's, step only in train mode."""
    if hasattr(optimizer, 'train'):
        optimizer.train()
    return optimizer


def reference_package(name: str, foreach: bool) -> Callable:
    """The reference package's implementation of `name`, for-loop or foreach."""
    import lion_pytorch
    import lion_pytorch.foreach
    import prodigyopt
    import pytorch_optimizer
    import schedulefree
    return {
        'Lion': lambda p: (lion_pytorch.foreach.Lion if foreach else lion_pytorch.Lion)(p, lr=1e-4),
        'AdEMAMix': lambda p: pytorch_optimizer.AdEMAMix(p, lr=1e-3, foreach=foreach),
        'LAMB': lambda p: pytorch_optimizer.Lamb(p, lr=1e-3, foreach=foreach),
        'Prodigy': lambda p: prodigyopt.Prodigy(p),
        'SOAP': lambda p: pytorch_optimizer.SOAP(p),
        'ScheduleFreeSGD': lambda p: training(schedulefree.SGDScheduleFree(p, lr=1.0, foreach=foreach)),
        'ScheduleFreeAdamW': lambda p: training(schedulefree.AdamWScheduleFree(p, lr=2.5e-3, foreach=foreach)),
    }[name]


def variants(name: str) -> Dict[str, Callable]:
    """Every implementation of optimizer `name` to time, as functions of a list of parameters."""
    ours = {
        'Adam': lambda g: labml_opt.Adam(g, lr=1e-3),
        'AdamW': lambda g: labml_opt.AdamW(g, lr=1e-3, weight_decay=1e-2),
        'AMSGrad': lambda g: labml_opt.AMSGrad(g, lr=1e-3),
        'RAdam': lambda g: labml_opt.RAdam(g, lr=1e-3),
        'AdaBelief': lambda g: labml_opt.AdaBelief(g, lr=1e-3),
        'SGD': lambda g: labml_opt.SGD(g, lr=1e-3, momentum=0.9),
        'Adagrad': lambda g: labml_opt.Adagrad(g, lr=1e-2),
        'RMSprop': lambda g: labml_opt.RMSprop(g, lr=1e-2),
        'NAdam': lambda g: labml_opt.NAdam(g, lr=1e-3),
        'Adamax': lambda g: labml_opt.Adamax(g, lr=1e-3),
        'Adadelta': lambda g: labml_opt.Adadelta(g, lr=1.0),
        # Adam with its state in shared memory, against torch's Adam: the same algorithm
        'SharedAdam': lambda g: labml_opt.SharedAdam(g, lr=1e-3),
        'Sophia': lambda g: labml_opt.Sophia(g, lr=1e-3),
        # Adam with a learning-rate schedule: torch's Adam is the same step, with the schedule outside it
        'AdamWarmup': lambda g: labml_opt.AdamWarmup(g, lr=1e-3, warmup=2000),
        'AdamWarmupCosineDecay': lambda g: labml_opt.AdamWarmupCosineDecay(g, lr=1e-3, warmup=2000,
                                                                             total_steps=100_000),
        'Noam': lambda g: labml_opt.Noam(g),
        'AdamSubclass': lambda g: AdamSubclass(g, lr=1e-3),
        'Rprop': lambda g: labml_opt.Rprop(g),
        'ASGD': lambda g: labml_opt.ASGD(g),
        'Lion': lambda g: labml_opt.Lion(g, lr=1e-4),
        'AdEMAMix': lambda g: labml_opt.AdEMAMix(g, lr=1e-3),
        'LAMB': lambda g: labml_opt.LAMB(g, lr=1e-3),
        'Prodigy': lambda g: labml_opt.Prodigy(g),
        'SOAP': lambda g: labml_opt.SOAP(g),
        'ScheduleFreeSGD': lambda g: training(labml_opt.ScheduleFreeSGD(g, lr=1.0)),
        'ScheduleFreeAdamW': lambda g: training(labml_opt.ScheduleFreeAdamW(g, lr=2.5e-3)),
        'Muon': lambda g: labml_opt.Muon([dict(group, params=matrices(group['params'])) for group in g], lr=0.02),
        'Adafactor': lambda g: labml_opt.Adafactor(g),
    }[name]
    torch_make, fused = {
        'Adam': (lambda p, **k: torch.optim.Adam(p, lr=1e-3, **k), True),
        'AdamW': (lambda p, **k: torch.optim.AdamW(p, lr=1e-3, weight_decay=1e-2, **k), True),
        'AMSGrad': (lambda p, **k: torch.optim.Adam(p, lr=1e-3, amsgrad=True, **k), True),
        'RAdam': (lambda p, **k: torch.optim.RAdam(p, lr=1e-3, **k), False),
        'AdaBelief': (None, False),
        'SGD': (lambda p, **k: torch.optim.SGD(p, lr=1e-3, momentum=0.9, **k), True),
        'Adagrad': (lambda p, **k: torch.optim.Adagrad(p, lr=1e-2, **k), True),
        'RMSprop': (lambda p, **k: torch.optim.RMSprop(p, lr=1e-2, **k), False),
        'NAdam': (lambda p, **k: torch.optim.NAdam(p, lr=1e-3, **k), False),
        'Adamax': (lambda p, **k: torch.optim.Adamax(p, lr=1e-3, **k), False),
        'Adadelta': (lambda p, **k: torch.optim.Adadelta(p, lr=1.0, **k), False),
        'SharedAdam': (lambda p, **k: torch.optim.Adam(p, lr=1e-3, **k), True),
        'Sophia': (None, False),
        'AdamWarmup': (lambda p, **k: torch.optim.Adam(p, lr=1e-3, **k), True),
        'AdamWarmupCosineDecay': (lambda p, **k: torch.optim.Adam(p, lr=1e-3, **k), True),
        'Noam': (lambda p, **k: torch.optim.Adam(p, lr=1e-3, betas=(0.9, 0.98), eps=1e-9, **k), True),
        'AdamSubclass': (lambda p, **k: torch.optim.Adam(p, lr=1e-3, **k), True),
        'Rprop': (lambda p, **k: torch.optim.Rprop(p, **k), False),
        'ASGD': (lambda p, **k: torch.optim.ASGD(p, **k), False),
        'Muon': (lambda p, **k: torch.optim.Muon(matrices(p), lr=0.02), False),
        'Adafactor': (lambda p, **k: torch.optim.Adafactor(p, **k), False),
        **{reference: (lambda p, foreach: reference_package(name, foreach)(p), False) for reference in REFERENCE_PACKAGES},
    }[name]
    result = {'default': lambda p: ours([{'params': p}])}
    if name not in AS_WRITTEN_ONLY:
        result['as written'] = lambda p: ours([{'params': p, 'fast': False}])
    if torch_make is not None:
        result['torch for-loop'] = lambda p: torch_make(p, foreach=False)
        if name not in FOR_LOOP_ONLY:
            result['torch foreach'] = lambda p: torch_make(p, foreach=True)
        if fused:
            result['torch fused'] = lambda p: torch_make(p, fused=True)
    nn_make = labml_nn_optimizer(name)
    if nn_make is not None:
        result['labml_nn'] = nn_make
    return result


def make_params(numel: int, seed: int = 0) -> List[torch.Tensor]:
    """About `numel` parameters shaped like a model: 16 matrices with 1024 rows, and 4 biases."""
    generator = torch.Generator().manual_seed(seed)
    columns = max(1, (numel - 4 * 1024) // (16 * 1024))
    shapes = [(1024, columns)] * 16 + [(1024,)] * 4
    params = []
    for shape in shapes:
        param = torch.randn(shape, generator=generator).requires_grad_()
        param.grad = torch.randn(shape, generator=generator) * 1e-2
        params.append(param)
    return params


def bandwidth(numel: int, repeats: int = 7) -> float:
    """
    In-place read-modify-write bandwidth in bytes per second: `a.mul_(s)` reads and writes 4 B per
    element. `a` is as large as $\theta, g, m, v$ together, so that caches do not flatter it.
    """
    a = torch.rand(4 * numel)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        a.mul_(1.0000001)
        times.append(time.perf_counter() - start)
    return 2 * 4 * a.numel() / statistics.median(times[1:])


def time_steps(optimizer: torch.optim.Optimizer, steps: int) -> float:
    """Median seconds per step; the caller has already taken the warm-up step."""
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        optimizer.step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(name: str, variant: str, make: Callable, params: List[torch.Tensor], steps: int,
            first_steps: Dict[str, str]) -> float:
    """Build a fresh optimizer over `params`, take one warm-up step, and time `steps` more."""
    from torch._dynamo.utils import counters
    optimizer = make(params)
    before = dict(counters['inductor'])
    kernels = len(labml_opt.fast.KERNELS)
    start = time.perf_counter()
    optimizer.step()
    first = time.perf_counter() - start
    if variant == 'default' and name not in first_steps:
        # Whether the first step compiled (Inductor ran), or loaded a saved loop (it did not)
        missed = counters['inductor']['fxgraph_cache_miss'] - before.get('fxgraph_cache_miss', 0)
        how = ' compiled' if missed else ' cached' if len(labml_opt.fast.KERNELS) > kernels else ''
        first_steps[name] = f'{first:.1f}{how}'

    optimizer.step()
    result = time_steps(optimizer, steps)
    del optimizer
    gc.collect()
    return result


def paired_ratio(make_ours: Callable, make_theirs: Callable, params: List[torch.Tensor], pairs: int) -> float:
    """
    The median, over `pairs` pairs of steps taken one right after the other, of our step's time
    divided by the other's. On a shared machine the load changes from second to second; two
    steps next to each other see nearly the same load, so their ratio is steadier than the ratio of
    two medians measured a few seconds apart. Which one goes first alternates.
    """
    ours, theirs = make_ours(params), make_theirs(params)
    for optimizer in (ours, theirs, ours, theirs):
        optimizer.step()
    ratios = []
    for pair in range(pairs):
        order = (ours, theirs) if pair % 2 == 0 else (theirs, ours)
        times = {}
        for optimizer in order:
            start = time.perf_counter()
            optimizer.step()
            times[id(optimizer)] = time.perf_counter() - start
        ratios.append(times[id(ours)] / times[id(theirs)])
    del ours, theirs
    gc.collect()
    return statistics.median(ratios)


def l3_cache_bytes() -> Optional[int]:
    """The size of the last-level cache on Linux, to say when a working set fits in it."""
    try:
        size = Path('/sys/devices/system/cpu/cpu0/cache/index3/size').read_text().strip()
    except OSError:
        return None
    units = {'K': 1 << 10, 'M': 1 << 20, 'G': 1 << 30}
    return int(size[:-1]) * units[size[-1]] if size[-1] in units else int(size)


def fmt(seconds: Optional[float]) -> str:
    return '' if seconds is None else f'{seconds * 1e3:.1f}'


# The variants besides the default, in the order of the table's columns, and their headings
COLUMNS = {'as written': 'ours as written', 'torch for-loop': 'torch for-loop', 'torch foreach': 'torch foreach',
           'torch fused': 'torch fused', 'labml_nn': 'labml_nn'}
OPTIONAL_VARIANTS = tuple(COLUMNS)


def run(sizes: List[float], names: List[str], steps: int, rounds: int, skip: Sequence[str] = ()) -> str:
    lines = []
    say = print
    cache = labml_opt.fast.CACHE_DIR
    l3 = l3_cache_bytes()
    # (the vector instructions decide much of a compiled loop's arithmetic: AVX2 or AVX512)
    machine = f'{platform.machine()} with {torch.backends.cpu.get_cpu_capability()}'
    machine += f', {l3 / 2 ** 20:.0f} MiB L3 cache' if l3 else ''
    header = [
        measured('optimizer_step.py') + ':',
        f'torch {torch.__version__}, {torch.get_num_threads()} threads, {machine}; '
        f'median of {steps} steps per round, median of {rounds} round(s). '
        'The machine is shared: other processes add noise, mostly to the slower columns.',
        '',
    ]
    lines += header
    all_names = names
    for size in sizes:
        names = [name for name in all_names if name not in MATRIX_BOUND or size == min(sizes)]
        numel_target = int(size * 1e6)
        params = make_params(numel_target)
        numel = sum(p.numel() for p in params)
        per_round: Dict[str, Dict[str, List[float]]] = {name: {} for name in names}
        first_steps: Dict[str, str] = {}
        # Measured before each optimizer in each round, so that it sees the same load as they do
        bandwidths = []
        for round_index in range(rounds):
            for name in names:
                bandwidths.append(bandwidth(numel))
                say(f'{numel / 1e6:.1f}M params, in-place bandwidth {bandwidths[-1] / 1e9:.1f} GB/s', flush=True)
                for variant, make in variants(name).items():
                    if variant in skip:
                        continue
                    t = measure(name, variant, make, params, steps, first_steps)
                    per_round[name].setdefault(variant, []).append(t)
                    say(f'  round {round_index + 1} {name:10s} {variant:15s} {t * 1e3:8.1f} ms', flush=True)
        bytes_per_second = statistics.median(bandwidths)
        # The columns of the variants that were timed; those left out with `--skip` are not shown
        timed = [v for v in OPTIONAL_VARIANTS if any(v in per_round[name] for name in names)]
        lines += [f'### {numel / 1e6:.1f}M parameters (20 tensors), in-place bandwidth '
                  f'{bytes_per_second / 1e9:.1f} GB/s (median of {len(bandwidths)})', '',
                  '| optimizer | floor ms | **ours** ms | ' + ''.join(f'{COLUMNS[v]} | ' for v in timed) +
                  'ours / best torch | % of floor | first step s |',
                  '|---|---|---|' + '---|' * len(timed) + '---|---|---|']
        for name in names:
            medians = {variant: statistics.median(times) for variant, times in per_round[name].items()}
            floor = TENSOR_PASSES[name] * 4 * numel / bytes_per_second
            torch_variants = [v for v in ('torch for-loop', 'torch foreach', 'torch fused') if v in medians]
            default = medians['default']
            ratio = ''
            if torch_variants:
                # Against torch's fastest: the largest of the ratios to each, in steps paired with it
                # (which is fastest is itself a measurement, and medians a few seconds apart can pick wrong)
                makers = variants(name)
                paired = {v: paired_ratio(makers['default'], makers[v], params, steps * rounds) for v in torch_variants}
                ratio = f'{max(paired.values()):.2f}'
                say(f'  {name:10s} paired: ' + ', '.join(f'{v} {r:.2f}' for v, r in paired.items()), flush=True)
            lines.append(
                f'| {name} | {fmt(floor)} | **{fmt(default)}** | ' + ''.join(f'{fmt(medians.get(v))} | ' for v in timed) +
                f'{ratio} | {100 * floor / default:.0f}% | {first_steps.get(name, "")} |')
        left_out = [name for name in all_names if name not in names]
        if left_out:
            lines += ['', f'{", ".join(left_out)}: timed at {min(sizes):g}M only: their steps take the time '
                          'of their matrix products, not of memory.']
        lines.append('')
        del params
        gc.collect()
    lines += [
        '"ours / best torch" is the largest, over the torch columns, of the median ratio of our step to a step '
        'of that column taken right after it (or before: the order alternates), over as many pairs as steps '
        'were timed in all rounds. '
        'The floor is the bytes an algorithm must move per parameter in float32 (Adam: read '
        '$\\theta, g, m, v$, write $\\theta, m, v$: 28 B) divided by the in-place bandwidth. '
        f'"ours" is the default `step()`, which takes the [fast path](fast.html) for groups of at least '
        f'{labml_opt.fast.MIN_NUMEL / 1e6:.1f}M elements; '
        '"ours as written" is the same code run one operation at a time. "first step" is the default path\'s '
        'first step in seconds: it compiles ("compiled") or loads the compiled loop from the cache '
        f'(`{cache}`, "cached"), or neither when it reuses a loop compiled for an earlier optimizer '
        'with the same update in this process. For ' + ', '.join(REFERENCE_PACKAGES) + ', which torch does not '
        'have, the torch columns time their reference packages (lion-pytorch, pytorch-optimizer, schedulefree, '
        'prodigyopt), for-loop and foreach (where the package has one). AdamSubclass is a user\'s subclass of Adam that overrides `get_mv`, '
        'timed against torch\'s Adam. Muon trains the 16 matrices only (torch\'s Muon refuses the biases), and its '
        'time is its matrix products\', not memory\'s: its "% of floor" is no measure of it. '
        '[benchmarks/first_step.py](fast.html#first-step) measures the first step in '
        'fresh processes, with an empty cache and a warm one, on GPT-2\'s shapes. '
        'Where the working set (about 7 tensors of the model\'s size for Adam) fits in the L3 cache, '
        'the floor, measured on a buffer of the same size, is not a hard bound, and times below it occur; '
        'the largest size is the one limited by main memory.',
    ]
    return '\n'.join(lines) + '\n'


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--sizes', default='10,50', help='model sizes in millions of parameters')
    parser.add_argument('--optimizers', default=','.join(TENSOR_PASSES), help='comma-separated names')
    parser.add_argument('--steps', type=int, default=10, help='timed steps per variant and round')
    parser.add_argument('--rounds', type=int, default=1, help='interleaved rounds; the median is reported')
    parser.add_argument('--quick', action='store_true', help='10M only, Adam/SGD, 5 steps')
    parser.add_argument('--skip', default='', help='comma-separated variants not to time, from: ' +
                        ', '.join(OPTIONAL_VARIANTS) + ' (the slow ones, "as written,labml_nn", take most of the time)')
    parser.add_argument('--output', default=str(ROOT / 'benchmarks' / 'results' / 'optimizer_step.md'))
    parser.add_argument('--no-site-copy', action='store_true',
                        help='do not copy the table to labml_opt/results/optimizer_step.md')
    args = parser.parse_args()
    sizes = [float(s) for s in args.sizes.split(',')]
    names = args.optimizers.split(',')
    steps = args.steps
    if args.quick:
        sizes, names, steps = [10.], ['Adam', 'SGD'], 5
    unknown = [name for name in names if name not in TENSOR_PASSES]
    if unknown:
        parser.error(f'unknown optimizers {unknown}; choose from {sorted(TENSOR_PASSES)}')
    skip = [v.strip() for v in args.skip.split(',') if v.strip()]
    unknown = [v for v in skip if v not in OPTIONAL_VARIANTS]
    if unknown:
        parser.error(f'unknown variants {unknown} in --skip; choose from {list(OPTIONAL_VARIANTS)}')
    table = run(sizes, names, steps, args.rounds, skip)
    print(table)
    save_table(table, args.output, 'optimizer_step.md', site_copy=not args.no_site_copy)


if __name__ == '__main__':
    main()
