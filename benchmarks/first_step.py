"""
The cost of the first step, and the steady step, on real model shapes.

Each measurement runs in a fresh process, so that nothing compiled or imported earlier helps it:

* **cold**: an empty Inductor cache and an empty `HOME`, as on a new machine;
* **warm**: the cache that the cold run left, as on every later run.

The model shapes are GPT-2 small's (148 tensors, 124M parameters, all in one param group) and a
deeper model of 500 tensors. Each row compares `labml_opt.AdamW` with `torch.optim.AdamW(fused=True)`,
measured in the same process after the first step, the steady steps taken in turn, each optimizer
on its own clones of the same tensors.

    python benchmarks/first_step.py               # both models, cold and warm
    python benchmarks/first_step.py --models gpt2 --steps 5

The Markdown table is written to `benchmarks/results/first_step.md` and copied to
`labml_opt/results/first_step.md`, which the fast path's page includes.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Tuple
from tables import measured, save_table

ROOT = Path(__file__).resolve().parent.parent


def gpt2_small() -> List[Tuple[int, ...]]:
    """The parameter shapes of GPT-2 small: embeddings, 12 blocks, the final layer norm."""
    shapes = [(50257, 768), (1024, 768)]
    for _ in range(12):
        shapes += [(768,), (768,), (768, 2304), (2304,), (768, 768), (768,),
                   (768,), (768,), (768, 3072), (3072,), (3072, 768), (768,)]
    return shapes + [(768,), (768,)]


def deep_500() -> List[Tuple[int, ...]]:
    """500 tensors: embeddings and 42 blocks of GPT-2's 12 tensors at width 512, cut at 500."""
    shapes = [(32000, 512), (1024, 512)]
    for _ in range(42):
        shapes += [(512,), (512,), (512, 1536), (1536,), (512, 512), (512,),
                   (512,), (512,), (512, 2048), (2048,), (2048, 512), (512,)]
    return shapes[:500]


MODELS = {'gpt2': gpt2_small, 'deep500': deep_500}


def child(model: str, steps: int):
    """Measure in this process and print one JSON line."""
    start = time.perf_counter()
    import torch
    import labml_opt
    imported = time.perf_counter() - start
    generator = torch.Generator().manual_seed(0)
    shapes = MODELS[model]()
    values = [torch.randn(shape, generator=generator) for shape in shapes]
    grads = [torch.randn(shape, generator=generator) * 1e-2 for shape in shapes]

    def clones() -> List[torch.Tensor]:
        # Each optimizer steps tensors made the same way, clones of the same values. Made another
        # way (drawn for one, cloned from those for the other), the same code on both sides
        # measured 3-7% apart, by which set it was given.
        tensors = [value.clone().requires_grad_() for value in values]
        for tensor, grad in zip(tensors, grads):
            tensor.grad = grad.clone()
        return tensors

    params, copies = clones(), clones()
    result: Dict[str, float] = dict(import_s=imported, tensors=len(params),
                                    params_m=sum(p.numel() for p in params) / 1e6)
    optimizers = {'ours': lambda: labml_opt.AdamW(params), 'torch_fused': lambda: torch.optim.AdamW(copies, fused=True)}
    for name, make in list(optimizers.items()):
        optimizer = optimizers[name] = make()
        start = time.perf_counter()
        optimizer.step()
        result[f'{name}_first_s'] = time.perf_counter() - start
    # The steady steps interleaved, one of each in turn, so that both see the same load
    times: Dict[str, List[float]] = {name: [] for name in optimizers}
    for _ in range(steps):
        for name, optimizer in optimizers.items():
            start = time.perf_counter()
            optimizer.step()
            times[name].append(time.perf_counter() - start)
    for name in optimizers:
        result[f'{name}_step_ms'] = 1e3 * statistics.median(times[name])
    # Each step of ours against torch's step next to it: a shared machine's load drifts, and a
    # pair sees about the same load where the medians of the two columns need not
    result['ratio'] = statistics.median(ours / theirs for ours, theirs in zip(times['ours'], times['torch_fused']))
    print(json.dumps(result))


def measure(model: str, steps: int, cache: str) -> Dict[str, float]:
    # A fresh HOME too, so that no other cache under ~/.cache helps the cold run
    env = dict(os.environ, TORCHINDUCTOR_CACHE_DIR=cache, HOME=cache)
    output = subprocess.run([sys.executable, __file__, '--child', model, '--steps', str(steps)], env=env,
                            check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--models', default='gpt2,deep500')
    parser.add_argument('--steps', type=int, default=20)
    parser.add_argument('--child')
    parser.add_argument('--output', default=str(ROOT / 'benchmarks' / 'results' / 'first_step.md'))
    args = parser.parse_args()
    if args.child:
        child(args.child, args.steps)
        return
    lines = [measured('first_step.py') + '; each cell a fresh process.',
             '',
             '| model | tensors | params | cache | first step, ours s | first step, torch fused s '
             '| step, ours ms | step, torch fused ms | ours / torch |',
             '|---|---|---|---|---|---|---|---|---|']
    for model in args.models.split(','):
        cache = tempfile.mkdtemp(prefix='labml_opt_first_step_')
        try:
            for label in ('cold', 'warm'):
                r = measure(model, args.steps, cache)
                print(label, r, flush=True)
                lines.append(f'| {model} | {r["tensors"]} | {r["params_m"]:.0f}M | {label} | {r["ours_first_s"]:.2f} '
                             f'| {r["torch_fused_first_s"]:.2f} | {r["ours_step_ms"]:.1f} | {r["torch_fused_step_ms"]:.1f} '
                             f'| {r["ratio"]:.2f} |')
        finally:
            shutil.rmtree(cache, ignore_errors=True)
    lines += ['', 'The first step of ours includes recording and compiling the update (cold) or loading it '
              'from the cache (warm), and importing the compiler; both first steps include allocating the '
              'state (two tensors of the model\'s size). "ours / torch" is the median over the steady '
              'steps of each of our steps divided by torch\'s step taken next to it.']
    table = '\n'.join(lines) + '\n'
    print(table)
    save_table(table, args.output, 'first_step.md')


if __name__ == '__main__':
    main()
