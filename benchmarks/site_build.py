"""
Time site_gen against Pycco 0.6.0 on the same files, in the same run, and check its math.

* **CPU time of a full build**, as commands in fresh processes (Python's start and imports
  included, and Node's CPU when MathJax runs): Pycco on the .py files of the default site
  (labml_opt/; it renders no README and no index, and typesets no math), against
  `python -m site_gen build` into an empty folder, with the formula cache warm (every page is
  rendered again, every formula comes from the cache), and with it empty (MathJax typesets
  every formula: the first build on a machine). The same for the build inside one process
  (`pycco.process()` against `site_gen.site.build()`). The machine may be shared, so each
  site_gen run is paired with a Pycco run right after it, and the median of the pairs' ratios
  is reported next to the best times.
* **A build with nothing changed**: wall time of the command (and its CPU time, which is what
  the wall time comes to on a machine that is not busy), and of `build()` in-process.
* **Chromium**: how long each page takes to be fully rendered (loaded, laid out, painted, its
  fonts in), headless, from file://, the median of `--repeat` loads; the slowest page and the
  median page, and where the slowest page's time goes.
* **Math errors**: every formula of labml_opt and of the installed labml_nn package typeset by
  MathJax, and how many it could not typeset (the other errors of labml_nn's files, such as the
  images its package leaves out, are counted apart).
* How many math spans each generator keeps byte for byte in its HTML.

The load average is written next to the numbers. Run from the repository root (a few minutes);
the table goes to `benchmarks/results/site_build.md`:

    .venv/bin/python benchmarks/site_build.py
"""

import argparse
import contextlib
import datetime
import html
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Dict, List

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


def render_times(site: Path, rounds: int, trace: Path):
    """
    For every page of the site: the milliseconds from navigation to the page fully rendered
    (median of `rounds` loads, rounds interleaved), and the CPU time of the renderer's main
    thread in one more load, traced, by stage. On a busy machine the first is mostly waiting
    for a core; the second is the page's own work.
    """
    from playwright.sync_api import sync_playwright
    times: Dict[str, List[float]] = {}
    costs: Dict[str, Dict[str, float]] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={'width': 1280, 'height': 900})
        page.add_init_script(RENDERED)
        pages = sorted(site.rglob('*.html'))
        open_page(page, pages[0])   # the shared CSS and fonts in the browser's cache, as when reading a site
        for _ in range(rounds):
            for path in pages:
                times.setdefault(path.relative_to(site).as_posix(), []).append(open_page(page, path)["rendered"])
        for path in pages:
            browser.start_tracing(page=page, path=str(trace), categories=TRACE_CATEGORIES)
            open_page(page, path)
            browser.stop_tracing()
            costs[path.relative_to(site).as_posix()] = main_thread_cpu(trace)
        browser.close()
    return {name: statistics.median(values) for name, values in times.items()}, costs


# Chromium's trace events of page loading, each with the CPU time of its thread (`tdur`).
TRACE_CATEGORIES = ['toplevel', 'devtools.timeline', 'blink', 'loading', 'disabled-by-default-devtools.timeline']
STAGES = {'parse': ['ParseHTML'], 'style': ['UpdateLayoutTree'], 'layout': ['Layout'], 'paint': ['PrePaint', 'Paint'],
          'script': ['EvaluateScript', 'FunctionCall']}


def main_thread_cpu(trace: Path) -> Dict[str, float]:
    """Milliseconds of CPU of the renderer's main thread in a trace: all its tasks, and by stage."""
    events = json.loads(trace.read_text())
    events = events['traceEvents'] if isinstance(events, dict) else events
    main = Counter((e.get('pid'), e.get('tid')) for e in events if e.get('name') in ('ParseHTML', 'Layout')).most_common(1)[0][0]
    own = [e for e in events if (e.get('pid'), e.get('tid')) == main and e.get('ph') == 'X']

    def cpu(names) -> float:
        return sum(e.get('tdur', 0) for e in own if e['name'] in names) / 1000

    return dict({'total': cpu({'RunTask'})}, **{stage: cpu(set(names)) for stage, names in STAGES.items()})


# Run in every page before its own scripts. Once the page has loaded and its fonts are in, the
# page notes the time right after its next frame is painted: a task queued from a frame's
# requestAnimationFrame runs when that frame's style, layout and paint are done. The page itself
# takes the time, so neither the round trip to Playwright nor the wait for a later frame is counted.
RENDERED = """window.siteGenRendered = new Promise(done => addEventListener('load', () =>
    document.fonts.ready.then(() => requestAnimationFrame(() => {
        const channel = new MessageChannel();
        channel.port1.onmessage = () => done(performance.now());
        channel.port2.postMessage(null);
    }))));"""


def open_page(page, path: Path) -> Dict[str, float]:
    """Open a page; milliseconds from navigation to loaded, and to fully rendered (loaded, fonts in, painted)."""
    page.goto(path.as_uri(), wait_until='load')
    return page.evaluate("""() => window.siteGenRendered.then(rendered =>
        ({rendered, loaded: performance.getEntriesByType('navigation')[0].loadEventEnd}))""")


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


def load_average() -> str:
    return ' '.join(f'{value:.2f}' for value in os.getloadavg())


def paired(rounds: int, ours, theirs):
    """
    `ours()` and `theirs()` in turns, `rounds` times: the best of each, and the median of the
    ratios of the pairs, each pair run back to back under about the same load.
    """
    pairs = [(ours(), theirs()) for _ in range(rounds)]
    return (min(a for a, _ in pairs), min(b for _, b in pairs), statistics.median(a / b for a, b in pairs))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('sources', nargs='*', default=list(load(ROOT).sources), metavar='SRC',
                        help='files or folders to build (default: %(default)s)')
    parser.add_argument('--repeat', type=int, default=5, help='rounds of each measurement (default: %(default)s)')
    parser.add_argument('--labml-nn', type=Path, metavar='FOLDER',
                        help="labml_nn's package folder (default: the installed one)")
    parser.add_argument('--no-browser', action='store_true', help='skip the Chromium timings')
    parser.add_argument('--output', type=Path, default=ROOT / 'benchmarks' / 'results' / 'site_build.md',
                        help='where the Markdown table goes (default: %(default)s)')
    args = parser.parse_args()

    import pycco
    sources = discover(ROOT, args.sources, ROOT / 'html')
    python_files = [p for p in sources if p.endswith('.py')]
    os.chdir(ROOT)
    load_before = load_average()
    started = datetime.datetime.now(datetime.timezone.utc)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        fresh = iter(range(10 ** 6))
        build_command = [sys.executable, '-m', 'site_gen', 'build', *args.sources, '--out']
        command_cpu(build_command + [str(tmp / 'warm-up')])   # the formula cache filled, the files in the page cache

        def pycco_command():
            return command_cpu([sys.executable, '-m', 'pycco.main', '-p', '-d', str(tmp / f'pycco{next(fresh)}'),
                                *python_files])

        def quiet_pycco():
            with contextlib.redirect_stdout(io.StringIO()):
                pycco.process(list(python_files), outdir=str(tmp / 'pycco'), preserve_paths=True)

        warm = paired(args.repeat, lambda: command_cpu(build_command + [str(tmp / f'full{next(fresh)}')]), pycco_command)
        cold = paired(args.repeat, lambda: command_cpu(build_command + [str(tmp / f'full{next(fresh)}')],
                                                       env=dict(os.environ, SITE_GEN_CACHE=str(tmp / f'cache{next(fresh)}'))),
                      pycco_command)
        in_process = paired(args.repeat, lambda: in_process_cpu(lambda: build(ROOT, args.sources, tmp / f'full{next(fresh)}')),
                            lambda: in_process_cpu(quiet_pycco))
        site = tmp / 'site'
        build(ROOT, args.sources, site)
        pages = len(list(site.rglob('*.html')))
        noop_walls = [wall(lambda: subprocess.run(build_command + [str(site)], cwd=ROOT, check=True, capture_output=True))
                      for _ in range(args.repeat)]
        noop_cpu = min(command_cpu(build_command + [str(site)]) for _ in range(args.repeat))
        noop_in_process = min(wall(lambda: build(ROOT, args.sources, site)) for _ in range(args.repeat))
        startup = min(wall(lambda: subprocess.run([sys.executable, '-c', 'pass'], check=True)) for _ in range(args.repeat))
        load_builds = load_average()

        ours_kept = pycco_kept = total = 0
        for path in python_files:
            spans = math_spans(parse(path, (ROOT / path).read_bytes()))
            total += len(spans)
            ours = Path(path).with_name('index.html') if path.endswith('__init__.py') else Path(path).with_suffix('.html')
            ours_kept += kept(spans, (site / ours).read_text(encoding='utf-8'))
            pycco_kept += kept(spans, (tmp / 'pycco' / path).with_suffix('.html').read_text(encoding='utf-8'))

        browser = None if args.no_browser else render_times(site, args.repeat, tmp / 'trace.json')
        load_browser = load_average()

    labml_nn = args.labml_nn
    if labml_nn is None:
        import labml_nn as package
        labml_nn = Path(package.__file__).parent
    opt_files, opt_formulas, opt_errors = math_errors(ROOT, args.sources)
    labml_nn = labml_nn.resolve()
    nn_files, nn_formulas, nn_errors = math_errors(labml_nn.parent, [labml_nn.name])
    nn_spans = sum(len(math_spans(parse(p, (labml_nn.parent / p).read_bytes())))
                   for p in discover(labml_nn.parent, [labml_nn.name], labml_nn.parent / 'no-such-output'))

    def met(ok: bool) -> str:
        return 'yes' if ok else '**no**'

    lines = [
        f'Measured {started:%Y-%m-%d %H:%M} UTC with `python benchmarks/site_build.py --repeat {args.repeat}`, '
        f'on {os.cpu_count()} cores shared with other work: load average (1, 5, 15 min) {load_before} at the start, '
        f'{load_builds} after the builds, {load_browser} after Chromium. '
        f'{len(sources)} sources ({len(python_files)} .py), {pages} pages. CPU = user + system of the command and '
        f'its children (Node included), best of {args.repeat}; each site_gen run is paired with a Pycco 0.6.0 run '
        f'on the same .py files right after it, and "median ratio" is the median of the pairs\' ratios.',
        '',
        '| measure | site_gen | Pycco 0.6.0 | ratio (best) | median ratio | target | met |',
        '|---|---|---|---|---|---|---|',
    ]
    for name, (ours, theirs, ratio) in (('full build, command, formulas cached, CPU s', warm),
                                        ('full build, command, empty formula cache, CPU s', cold),
                                        ('full build, in-process, formulas cached, CPU s', in_process)):
        target = name.startswith('full build, command, formulas')
        lines.append(f'| {name} | {ours:.3f} | {theirs:.3f} | {ours / theirs:.2f} | {ratio:.2f} | '
                     f'{"≤ 0.7" if target else ""} | {met(ratio <= 0.7) if target else ""} |')
    lines.append(f'| no-change build, command, wall s | {min(noop_walls):.3f} (median {statistics.median(noop_walls):.3f}; '
                 f'CPU {noop_cpu:.3f}; Python starting: {startup:.3f}) | | | | < 0.3 | {met(min(noop_walls) < 0.3)} |')
    lines.append(f'| no-change build, in-process, wall s | {noop_in_process:.3f} | | | | | |')
    if browser:
        medians, costs = browser
        slowest = max(medians, key=medians.get)
        busiest = max(costs, key=lambda name: costs[name]['total'])
        lines.append(f'| Chromium, page fully rendered, ms | slowest {medians[slowest]:.0f} ({slowest}), '
                     f'median {statistics.median(medians.values()):.0f}, {len(medians)} pages | | | | < 200 | '
                     f'{met(medians[slowest] < 200)} |')
        lines.append(f'| Chromium, CPU of the main thread, ms | most {costs[busiest]["total"]:.0f} ({busiest}), '
                     f'median {statistics.median(c["total"] for c in costs.values()):.0f} | | | | | |')
    lines += [f'| math errors, labml_opt | {len(opt_errors)} in {opt_formulas} distinct formulas per page, '
              f'{opt_files} files | | | | 0 | {met(not opt_errors)} |',
              f'| math errors, labml_nn | {len(nn_errors)} in {nn_formulas} distinct formulas per page ({nn_spans} spans), '
              f'{nn_files} files | | | | 0 | {met(not nn_errors)} |',
              f'| math spans kept byte for byte | {ours_kept}/{total} | {pycco_kept}/{total} | | | | |', '']
    if browser:
        lines += [f'Fully rendered: loaded, fonts in, the next frame painted, timed by the page itself; from file://, 1280x900, the shared assets '
                  f'cached. On a busy machine that time is mostly waiting for a core: the CPU time of the '
                  f'renderer\'s main thread in a traced load is the page\'s own work. Slowest page, {slowest}: '
                  + ', '.join(f'{stage} {value:.0f}' for stage, value in costs[slowest].items()) + ' ms of CPU; busiest, '
                  f'{busiest}: ' + ', '.join(f'{stage} {value:.0f}' for stage, value in costs[busiest].items()) + ' ms.', '']
    lines += [f'- {error}' for error in (opt_errors + nn_errors)[:20]]
    table = '\n'.join(lines).rstrip('\n') + '\n'
    print(table)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(table, encoding='utf-8')


if __name__ == '__main__':
    main()
