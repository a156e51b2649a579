"""
Time site_gen against Pycco 0.6.0 on the same files, in the same run, and check its math.

* **CPU time of a full build**, as commands in fresh processes (Python's start and imports
  included, and Node's CPU when MathJax runs), best of `--repeat`:
  - Pycco on the .py files of the default site (labml_opt/; it renders no README and no index,
    and typesets no math);
  - `python -m site_gen build` into an empty folder, with the formula cache warm (every page is
    rendered again, every formula comes from the cache), and with it empty (MathJax typesets
    every formula: the first build on a machine).
  The same for the build inside one process (`pycco.process()` against `site_gen.site.build()`).
* **A build with nothing changed**: wall time of the command (and its CPU time, which is what
  the wall time comes to on a machine that is not busy), and of `build()` in-process.
* **Chromium**: how long each page takes to be fully rendered (loaded, laid out, painted, its
  fonts in), headless, from file://; the slowest page and the median.
* **Math errors**: every formula of labml_opt and of the installed labml_nn package typeset by
  MathJax, and how many it could not typeset (the other errors of labml_nn's files, such as the
  images its package leaves out, are counted apart).
* How many math spans each generator keeps byte for byte in its HTML.

Run from the repository root (about two minutes; the first run also fills the formula cache):

    .venv/bin/python benchmarks/site_build.py
"""

import argparse
import contextlib
import html
import io
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from site_gen import typeset  # noqa: E402
from site_gen.cache import Formulas  # noqa: E402
from site_gen.config import load  # noqa: E402
from site_gen.parse import parse  # noqa: E402
from site_gen.render import Renderer  # noqa: E402
from site_gen.site import build, discover  # noqa: E402
from tests.site_gen.math_spans import math_spans  # noqa: E402

CHROMIUM = '/usr/bin/chromium'
CHROMIUM_FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
                  '--no-first-run']


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def command_cpu(args, env=None) -> float:
    """User and system CPU seconds of a command and everything it started."""
    before = children_cpu()
    subprocess.run(args, cwd=ROOT, check=True, capture_output=True, env=env)
    return children_cpu() - before


def in_process_cpu(run) -> float:
    """CPU seconds of `run()` in this process, plus those of the processes it started (Node)."""
    before, children = time.process_time(), children_cpu()
    run()
    return time.process_time() - before + children_cpu() - children


def wall(run) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def kept(spans, page):
    return sum(html.escape(span, quote=False) in page for span in spans)


def render_times(site: Path):
    """Milliseconds from navigation to a page fully rendered, for every page of the site."""
    from playwright.sync_api import sync_playwright
    times = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={'width': 1280, 'height': 900})
        pages = sorted(site.rglob('*.html'))
        page.goto(pages[0].as_uri())   # the shared CSS and fonts in the browser's cache, as when reading a site
        for path in pages:
            page.goto(path.as_uri(), wait_until='load')
            times[path.relative_to(site).as_posix()] = page.evaluate("""() => document.fonts.ready.then(() =>
                new Promise(done => requestAnimationFrame(() => requestAnimationFrame(() => done(performance.now())))))""")
        browser.close()
    return times


def math_errors(root: Path, sources):
    """Every formula of every source typeset, and what could not be: refused by the checks of tex.py, or by MathJax."""
    paths = discover(root, sources, root / 'no-such-output')
    renderer = Renderer(root, lambda path: None)
    formulas, errors = 0, []
    with typeset.MathJax(Formulas(typeset.engine())) as mathjax:
        rendered = []
        for path in paths:
            try:
                page = renderer.render(parse(path, (root / path).read_bytes()))
            except Exception as e:  # a file that does not parse has no formulas to count
                errors.append(f'{path}: {e}')
                continue
            rendered.append(page)
            # The checks of the TeX before MathJax: unclosed spans, unbalanced braces, refused macros.
            errors += [str(e) for e in page.errors if e.message.startswith(('unclosed', 'unbalanced', '\\'))]
        mathjax.typeset(span for page in rendered for s in page.sections for span in typeset.spans(s.prose))
        for page in rendered:
            formulas += len({span for s in page.sections for span in typeset.spans(s.prose)})
            errors += [str(e) for e in mathjax.page(page)[1]]
    return len(paths), formulas, errors


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('sources', nargs='*', default=list(load(ROOT).sources), metavar='SRC',
                        help='files or folders to build (default: %(default)s)')
    parser.add_argument('--repeat', type=int, default=3)
    parser.add_argument('--labml-nn', type=Path, metavar='FOLDER',
                        help="labml_nn's package folder (default: the installed one)")
    parser.add_argument('--no-browser', action='store_true', help='skip the Chromium timings')
    args = parser.parse_args()

    import pycco
    sources = discover(ROOT, args.sources, ROOT / 'html')
    python_files = [p for p in sources if p.endswith('.py')]
    os.chdir(ROOT)
    best = min

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        fresh = iter(range(10 ** 6))
        build_command = [sys.executable, '-m', 'site_gen', 'build', *args.sources, '--out']
        command_warm = best(command_cpu(build_command + [str(tmp / f'full{next(fresh)}')]) for _ in range(args.repeat + 1))
        command_cold = best(command_cpu(build_command + [str(tmp / f'full{next(fresh)}')],
                                        env=dict(os.environ, SITE_GEN_CACHE=str(tmp / f'cache{next(fresh)}')))
                            for _ in range(args.repeat))
        pycco_command = best(command_cpu([sys.executable, '-m', 'pycco.main', '-p', '-d', str(tmp / f'pycco{next(fresh)}'),
                                          *python_files]) for _ in range(args.repeat))
        in_process = best(in_process_cpu(lambda: build(ROOT, args.sources, tmp / f'full{next(fresh)}'))
                          for _ in range(args.repeat))
        with contextlib.redirect_stdout(io.StringIO()):
            pycco_in_process = best(in_process_cpu(lambda: pycco.process(list(python_files), outdir=str(tmp / 'pycco'),
                                                                         preserve_paths=True))
                                    for _ in range(args.repeat))
        site = tmp / 'site'
        build(ROOT, args.sources, site)
        pages = len(list(site.rglob('*.html')))
        noop = best(wall(lambda: build(ROOT, args.sources, site)) for _ in range(args.repeat))
        noop_command = best(wall(lambda: subprocess.run(build_command + [str(site)], cwd=ROOT, check=True,
                                                        capture_output=True)) for _ in range(args.repeat))
        noop_command_cpu = best(command_cpu(build_command + [str(site)]) for _ in range(args.repeat))
        startup = best(wall(lambda: subprocess.run([sys.executable, '-c', 'pass'], check=True)) for _ in range(args.repeat))

        ours_kept = pycco_kept = total = 0
        for path in python_files:
            spans = math_spans(parse(path, (ROOT / path).read_bytes()))
            total += len(spans)
            ours = Path(path).with_name('index.html') if path.endswith('__init__.py') else Path(path).with_suffix('.html')
            ours_kept += kept(spans, (site / ours).read_text(encoding='utf-8'))
            pycco_kept += kept(spans, (tmp / 'pycco' / path).with_suffix('.html').read_text(encoding='utf-8'))

        times = {} if args.no_browser else render_times(site)

    labml_nn = args.labml_nn
    if labml_nn is None:
        import labml_nn as package
        labml_nn = Path(package.__file__).parent
    opt_files, opt_formulas, opt_errors = math_errors(ROOT, args.sources)
    labml_nn = labml_nn.resolve()
    nn_files, nn_formulas, nn_errors = math_errors(labml_nn.parent, [labml_nn.name])
    nn_spans = sum(len(math_spans(parse(p, (labml_nn.parent / p).read_bytes())))
                   for p in discover(labml_nn.parent, [labml_nn.name], labml_nn.parent / 'no-such-output'))

    print(f'sources: {len(sources)} ({len(python_files)} .py), pages: {pages}, best of {args.repeat}; CPU = user + system, '
          f'Node included')
    print(f'pycco 0.6.0 command, same .py files       {pycco_command:7.3f} s CPU')
    print(f'site_gen build command, formulas cached  {command_warm:7.3f} s CPU   ratio {command_warm / pycco_command:5.2f}x')
    print(f'site_gen build command, empty cache      {command_cold:7.3f} s CPU   ratio {command_cold / pycco_command:5.2f}x')
    print(f'pycco.process() in-process               {pycco_in_process:7.3f} s CPU')
    print(f'site_gen build() in-process, cached      {in_process:7.3f} s CPU   ratio {in_process / pycco_in_process:5.2f}x')
    print(f'no-change build, command                 {noop_command:7.3f} s wall, {noop_command_cpu:.3f} s CPU '
          f'(of which {startup:.3f} s wall starting Python)')
    print(f'no-change build, in-process              {noop:7.3f} s wall')
    if times:
        slowest = max(times, key=times.get)
        print(f'Chromium, page fully rendered            {statistics.median(times.values()):7.0f} ms median, '
              f'{times[slowest]:.0f} ms slowest ({slowest}), {len(times)} pages')
    print(f'math errors, labml_opt                   {len(opt_errors)} in {opt_formulas} distinct formulas per page, '
          f'{opt_files} files')
    print(f'math errors, labml_nn                    {len(nn_errors)} in {nn_formulas} distinct formulas per page '
          f'({nn_spans} spans), {nn_files} files')
    for error in (opt_errors + nn_errors)[:20]:
        print(f'  {error}')
    print(f'math spans kept byte for byte: site_gen {ours_kept}/{total}, pycco {pycco_kept}/{total}')


if __name__ == '__main__':
    main()
