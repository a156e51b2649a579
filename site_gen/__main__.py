"""
---
title: Command line
summary: python -m site_gen build | serve | check
---

# Command line

Run from the repository root. Paths are relative to the current directory.
"""

import argparse
import sys
import time
from pathlib import Path

from site_gen import BuildError
from site_gen.site import DEFAULT_SOURCES

DESCRIPTION = """\
Render annotated Python modules into a side-by-side HTML site: prose and equations on the
left, the code that computes them on the right. The site works offline, from file://.

commands:
  build   render SRC files and folders (default: labml_opt/ and README.md) into OUT (html/);
          only pages whose sources changed are rendered again
  serve   build, then serve OUT on http://127.0.0.1:PORT and rebuild when a source changes
  check   fail if OUT is stale, has a broken link, or has unbalanced math

Comments and docstrings are Markdown with LaTeX math ($...$, $$...$$, \\begin{align}...).
If any source has an error (syntax, unclosed $, unknown front-matter key, not UTF-8, ...),
every error is printed as file:line and nothing in OUT is changed.

examples:
  python -m site_gen build                 # then open html/index.html
  python -m site_gen build labml_opt/adam.py README.md --out /tmp/site
  python -m site_gen serve --port 8000
  python -m site_gen check
"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog='python -m site_gen', description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest='command', required=True, metavar='{build,serve,check}')
    for name, helptext in (('build', 'render the site'), ('serve', 'serve and rebuild on change'),
                           ('check', 'check links, math and freshness')):
        command = commands.add_parser(name, help=helptext, description=helptext)
        command.add_argument('sources', nargs='*', metavar='SRC', default=list(DEFAULT_SOURCES),
                             help='files or folders to render (default: %(default)s)')
        command.add_argument('--out', type=Path, default=Path('html'), metavar='OUT',
                             help='output folder (default: html)')
        if name == 'serve':
            command.add_argument('--port', type=int, default=8000, help='port on 127.0.0.1 (default: 8000)')
    args = parser.parse_args(argv)

    try:
        if args.command == 'build':
            from site_gen.site import build
            start = time.perf_counter()
            report = build(Path.cwd(), args.sources, args.out)
            for warning in report.warnings:
                print(f'site_gen: warning: {warning}', file=sys.stderr)
            print(f'site_gen: {report.pages} pages, rendered {len(report.rendered)}, wrote {len(report.written)} '
                  f'files, removed {len(report.removed)} in {time.perf_counter() - start:.2f}s -> {args.out}/')
            return 0
        if args.command == 'check':
            from site_gen.check import check
            problems = check(Path.cwd(), args.sources, args.out)
            for problem in problems:
                print(f'site_gen: {problem}', file=sys.stderr)
            print(f'site_gen: check {"failed: " + str(len(problems)) + " problems" if problems else "passed"}')
            return 1 if problems else 0
        from site_gen.serve import serve
        serve(Path.cwd(), args.sources, args.out, args.port)
        return 0
    except BuildError as e:
        for error in e.errors:
            print(f'site_gen: {error}', file=sys.stderr)
        print(f'site_gen: {len(e.errors)} error(s); {args.out}/ was not changed', file=sys.stderr)
        return 1


if __name__ == '__main__':
    sys.exit(main())
