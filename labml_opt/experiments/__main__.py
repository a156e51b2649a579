"""
---
title: Commands over all experiments
summary: Redraw every plot and table from the committed summaries, and list or clean up the runs under logs/.
---

# Commands over all experiments

```bash
python -m labml_opt.experiments redraw              # every plot and table, from the committed summaries
python -m labml_opt.experiments logs                # the runs under logs/, by command, and what can be resumed
python -m labml_opt.experiments logs --clean        # delete the checkpoints no resume needs
python -m labml_opt.experiments logs --older-than 7 # also delete the commands whose last run is a week old
```

This module sits at the top of the package: it imports the experiments, and nothing imports it.

labml keeps every run for ever, each with a checkpoint of the model and the optimizer's state
(about 3 MB for the MLP with Adam). A checkpoint is only needed to resume a run that did not
complete, so `--clean` deletes the checkpoints of completed runs, and of interrupted runs whose
resume has completed. `--older-than DAYS` deletes whole commands, every run of one
[invocation](runs.html#Invocation) together, so that no resumed run loses the interrupted run
it continues, and never one that can still be resumed. `--dry-run` lists what would go.
"""

import argparse
import json
import shutil
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Dict, List, Sequence

from labml_opt.experiments import benchmark, compare, one_cycle, sweep
from labml_opt.experiments.results import RESULTS, logs_path, read_configs, read_status

PROG = 'python -m labml_opt.experiments'


def redraw(args: argparse.Namespace):
    """Re-draw every experiment's plots and tables from its committed summary."""
    for module in (compare, sweep, one_cycle, benchmark):
        for path in module.render_results(args.results):
            print(path)


def run_directories(logs: Path) -> List[Path]:
    """Every labml run under `logs`, in any experiment."""
    return sorted(p.parent for p in Path(logs).glob('*/*/run.yaml'))


def size(path: Path) -> int:
    return sum(f.stat().st_size for f in Path(path).rglob('*') if f.is_file())


def logs(args: argparse.Namespace):
    """List the runs by command, and delete what `--clean` and `--older-than` ask for."""
    root = logs_path()
    runs = run_directories(root)
    by_invocation: Dict[str, List[Path]] = defaultdict(list)
    for path in runs:
        by_invocation[read_configs(path).get('invocation') or path.name].append(path)
    now = time.time()
    removed = 0
    for invocation, paths in sorted(by_invocation.items(), key=lambda item: max(p.stat().st_mtime for p in item[1])):
        statuses = {path: read_status(path / 'run_log.jsonl') for path in paths}
        completed = {(path.parent.name, read_configs(path).get('label')) for path in paths
                     if statuses[path] == 'completed'}
        resumable = [path for path in paths if statuses[path] != 'completed'
                     and (path.parent.name, read_configs(path).get('label')) not in completed
                     and (path / 'checkpoints' / 'checkpoint.pt').exists()]
        age = (now - max(p.stat().st_mtime for p in paths)) / 86400
        command = ' '.join(json.loads(read_configs(paths[0]).get('command_line') or '[]'))
        counts = ', '.join(f'{n} {s}' for s, n in sorted(Counter(statuses.values()).items()))
        print(f'{command or paths[0].parent.name}: {counts}, {size_text(sum(size(p) for p in paths))}, '
              f'{age:.1f} days old' + (f'; resume with --resume {resumable[-1].name}' if resumable else ''))
        if args.older_than is not None and age > args.older_than and not resumable:
            for path in paths:
                removed += remove(path, args.dry_run)
            continue
        if args.clean:
            for path in paths:
                checkpoints = path / 'checkpoints'
                if checkpoints.exists() and path not in resumable:
                    removed += remove(checkpoints, args.dry_run)
    if not runs:
        print(f'No runs under {root}')
    if args.clean or args.older_than is not None:
        print(f'{"Would free" if args.dry_run else "Freed"} {size_text(removed)}')


def size_text(n: int) -> str:
    return f'{n / 1e6:.1f} MB'


def remove(path: Path, dry_run: bool) -> int:
    """Delete `path` (or only say so), and return the bytes it held."""
    freed = size(path)
    print(f'  {"would delete" if dry_run else "deleting"} {path}')
    if not dry_run:
        shutil.rmtree(path)
    return freed


def main(argv: Sequence[str] = None):
    parser = argparse.ArgumentParser(prog=PROG, description='Commands over all experiments.')
    commands = parser.add_subparsers(dest='command', required=True)
    drawing = commands.add_parser('redraw', help='redraw the plots and tables of compare, sweep, one_cycle and '
                                                 'benchmark from their summaries, without training')
    drawing.add_argument('--results', type=Path, default=RESULTS,
                         help='folder with the summaries (default: %(default)s)')
    listing = commands.add_parser('logs', help='list the runs under logs/ by command, and clean up')
    listing.add_argument('--clean', action='store_true', help='delete the checkpoints that no resume needs')
    listing.add_argument('--older-than', type=float, default=None, metavar='DAYS',
                         help='delete every command whose last run is older than DAYS days, unless it can be resumed')
    listing.add_argument('--dry-run', action='store_true', help='only list what would be deleted')
    args = parser.parse_args(argv)
    if args.command == 'logs' and args.older_than is not None and not args.older_than >= 0:
        parser.error(f'argument --older-than: invalid value {args.older_than}: must be >= 0')
    {'redraw': redraw, 'logs': logs}[args.command](args)


if __name__ == '__main__':
    sys.exit(main())
