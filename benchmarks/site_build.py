"""
Time site_gen against Pycco 0.6.0 on the same files, in the same run.

* a full build of the default site (labml_opt/ and README.md) into an empty folder
* a no-op rebuild of the same folder, in-process and as the `python -m site_gen build` command
* Pycco on the same .py files (it renders no README and no index, and loads no math engine)
* how many math spans each keeps byte for byte in its HTML

Each timing is the best of `--repeat` runs. Run from the repository root:

    .venv/bin/python benchmarks/site_build.py
"""

import argparse
import contextlib
import html
import io
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from site_gen.parse import parse  # noqa: E402
from site_gen.config import load  # noqa: E402
from site_gen.site import build, discover  # noqa: E402
from tests.site_gen.math_spans import math_spans  # noqa: E402


def best_of(repeat, run):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def kept(spans, page):
    return sum(html.escape(span, quote=False) in page for span in spans)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('sources', nargs='*', default=list(load(ROOT).sources), metavar='SRC',
                        help='files or folders to build (default: %(default)s)')
    parser.add_argument('--repeat', type=int, default=3)
    args = parser.parse_args()

    import pycco
    sources = discover(ROOT, args.sources, ROOT / 'html')
    python_files = [p for p in sources if p.endswith('.py')]
    os.chdir(ROOT)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        fresh = iter(range(args.repeat))
        full = best_of(args.repeat, lambda: build(ROOT, args.sources, tmp / f'full{next(fresh)}'))
        site = tmp / 'full0'
        pages = len(list(site.rglob('*.html')))
        noop = best_of(args.repeat, lambda: build(ROOT, args.sources, site))
        command = best_of(args.repeat, lambda: subprocess.run(
            [sys.executable, '-m', 'site_gen', 'build', *args.sources, '--out', str(site)], cwd=ROOT, check=True,
            capture_output=True))
        startup = best_of(args.repeat, lambda: subprocess.run([sys.executable, '-c', 'pass'], check=True))
        with contextlib.redirect_stdout(io.StringIO()):
            pycco_time = best_of(args.repeat, lambda: pycco.process(list(python_files), outdir=str(tmp / 'pycco'),
                                                                    preserve_paths=True))

        ours_kept = pycco_kept = total = 0
        for path in python_files:
            spans = math_spans(parse(path, (ROOT / path).read_bytes()))
            total += len(spans)
            ours = Path(path).with_name('index.html') if path.endswith('__init__.py') else Path(path).with_suffix('.html')
            ours_kept += kept(spans, (site / ours).read_text(encoding='utf-8'))
            pycco_kept += kept(spans, (tmp / 'pycco' / path).with_suffix('.html').read_text(encoding='utf-8'))

    print(f'sources: {len(sources)} ({len(python_files)} .py), pages: {pages}, best of {args.repeat}')
    print(f'site_gen full build            {full:7.3f} s')
    print(f'site_gen no-op build           {noop:7.3f} s in-process')
    print(f'python -m site_gen build no-op {command:7.3f} s (of which {startup:.3f} s is starting Python)')
    print(f'pycco 0.6.0, same .py files    {pycco_time:7.3f} s')
    print(f'ratio full / pycco             {full / pycco_time:7.2f}x')
    print(f'ratio no-op / pycco            {noop / pycco_time:7.2f}x')
    print(f'ratio no-op command / pycco    {command / pycco_time:7.2f}x')
    print(f'math spans kept byte for byte: site_gen {ours_kept}/{total}, pycco {pycco_kept}/{total}')


if __name__ == '__main__':
    main()
