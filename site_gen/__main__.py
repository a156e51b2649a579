"""
---
title: Command line
summary: site-gen build | serve | check, on any tree, from anywhere.
---

# Command line

`site-gen` (installed with the package; `python -m site_gen` is the same) takes files and folders
by relative, absolute or `../` path. Page paths are relative to a root: `--root`, else the
deepest folder that holds everything named (a folder named alone is its own root). With nothing named, the `sources` of the nearest
`pyproject.toml`'s `[tool.site_gen]` table are built, relative to its folder, else the current
folder.
"""

import argparse
import os
import sys
import time
from pathlib import Path
from typing import List, Optional

from site_gen import BuildError, SiteError
from site_gen import config as configuration

DESCRIPTION = """\
Render annotated Python modules into a side-by-side HTML site: prose and equations on the
left, the code that computes them on the right. The site works offline, from file://.

commands:
  build   render SRC files and folders into OUT (default: html/); only pages whose sources
          changed are rendered again
  serve   build, then serve OUT on http://127.0.0.1:PORT and rebuild when a source changes
  check   fail if OUT is stale, has a broken link or unsafe URL, or has unbalanced math

SRC may be relative, absolute or ../ paths. Without SRC, the `sources` of [tool.site_gen] in the
nearest pyproject.toml are built (else the current folder). Page paths are relative to --root,
by default the deepest folder that holds every SRC. [tool.site_gen] also sets the site name,
the base URL of canonical links, the repository and branch of "view source" links, and an
exclude list.

Comments and docstrings are Markdown with LaTeX math ($...$, $$...$$, \\begin{align}...).
If any source has an error (syntax, unclosed $, missing image, not UTF-8, ...), every error of
every file is printed as file:line and nothing in OUT is changed; with --keep-going, every
good page is built, the bad ones are left out, and the exit status is still 1.

examples:
  site-gen build                                   # then open html/index.html
  site-gen build labml_opt/adam.py README.md --out /tmp/site
  site-gen build ../other/project/pkg --root ../other/project --out /tmp/other
  site-gen serve --port 8000
  site-gen check
"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog='site-gen', description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest='command', required=True, metavar='{build,serve,check}')
    for name, helptext in (('build', 'render the site'), ('serve', 'serve and rebuild on change'),
                           ('check', 'check links, URLs, math and freshness')):
        command = commands.add_parser(name, help=helptext, description=helptext)
        command.add_argument('sources', nargs='*', metavar='SRC',
                             help='files or folders to render (default: [tool.site_gen] sources, else .)')
        command.add_argument('--out', type=Path, default=Path('html'), metavar='OUT',
                             help='output folder (default: html)')
        command.add_argument('--root', type=Path, metavar='ROOT',
                             help='page paths are relative to this folder (default: the common parent of SRC)')
        if name == 'build':
            command.add_argument('--keep-going', action='store_true',
                                 help='build every good page even if some files have errors (still exits 1)')
        if name == 'serve':
            command.add_argument('--port', type=int, default=8000, help='port on 127.0.0.1 (default: 8000)')
    args = parser.parse_args(argv)

    try:
        root, sources = locate(args.sources, args.root)
        if args.command == 'build':
            from site_gen.site import build
            start = time.perf_counter()
            report = build(root, sources, args.out, keep_going=args.keep_going)
            for note in report.notes:
                print(f'site_gen: note: {note}', file=sys.stderr)
            for warning in report.warnings:
                print(f'site_gen: warning: {warning}', file=sys.stderr)
            for error in report.errors:
                print(f'site_gen: {error}', file=sys.stderr)
            print(f'site_gen: {report.pages} pages, rendered {len(report.rendered)}, wrote {len(report.written)} '
                  f'files, removed {len(report.removed)} in {time.perf_counter() - start:.2f}s -> {args.out}/')
            if report.errors:
                files = sorted({e.path for e in report.errors})
                print(f'site_gen: {len(report.errors)} error(s) in {len(files)} file(s); their pages were left out',
                      file=sys.stderr)
                return 1
            return 0
        if args.command == 'check':
            from site_gen.check import check
            problems = check(root, sources, args.out)
            for problem in problems:
                print(f'site_gen: {problem}', file=sys.stderr)
            print(f'site_gen: check {"failed: " + str(len(problems)) + " problems" if problems else "passed"}')
            return 1 if problems else 0
        from site_gen.serve import serve
        serve(root, sources, args.out, args.port)
        return 0
    except BuildError as e:
        for error in e.errors:
            print(f'site_gen: {error}', file=sys.stderr)
        print(f'site_gen: {len(e.errors)} error(s); {args.out}/ was not changed', file=sys.stderr)
        return 1
    except (SiteError, RuntimeError) as e:
        # RuntimeError: the math engine could not be started or stopped (no Node.js, say).
        print(f'site_gen: {e}', file=sys.stderr)
        return 1


def locate(named: List[str], root: Optional[Path]):
    """
    The root and the sources, as absolute paths. Named sources are relative to the current
    folder; without any, the configuration's are relative to its folder.
    """
    if named:
        sources = [Path(source).resolve() for source in named]
    else:
        config, project = configuration.find(root or Path.cwd())
        sources = [(project / source).resolve() for source in config.sources] or [(root or Path.cwd()).resolve()]
        root = root or (project if config.sources else Path.cwd())
    if root is None:
        root = Path(os.path.commonpath([source if source.is_dir() else source.parent for source in sources]))
    return Path(root).resolve(), [str(source) for source in sources]


if __name__ == '__main__':
    sys.exit(main())
