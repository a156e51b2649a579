"""
---
title: The run store
summary: Reads labml's runs from logs/, finds the runs of one invocation, and keeps a small, repeatable summary of them next to the pages, with wall-clock times in a file of their own.
---

# The run store

labml writes each run to `logs/<experiment>/<run uuid>/`:

* `run.yaml`: name, comment, start time, git commit;
* `configs.yaml`: the configs the run recorded, each as `{value: ...}` among other keys;
* `log.jsonl`: the tracked values. Each line holds the values flushed at one time, as
  `{"track": {"loss.train": [[step, [value, ...]], ...], ...}}`, so one indicator is spread
  over many lines, and all of them must be merged;
* `run_log.jsonl`: how the run ended: `completed`, `interrupted` or `crashed`.

[`read_run`](#read_run) turns that into one [`Run`](#Run). Every run also records the
*invocation* it belongs to, the one command that made it and its siblings, so that
[`invocation_runs`](#invocation_runs) finds exactly the runs of one command, and never mixes
in a run that another command made with other settings.

The experiments then keep a small *summary* of those runs (per-step training loss, learning
rate, per-epoch validation), committed under `results/` next to the pages, so that building the
site never retrains. A summary holds nothing that changes between two identical runs: no run
uuid, no date, no wall-clock time. Rerunning the reference command rewrites the same bytes and
leaves git clean. Wall-clock times go to a [file of their own](#write_timing), which git ignores.

This module and [the plots](plots.html) are the bottom of the package: they import nothing
from it. Redrawing every plot and table from the committed summaries is a command of the
[package](index.html): `python -m labml_opt.experiments redraw`.
"""

import argparse
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import yaml

RESULTS = Path(__file__).parent / 'results'

# Configs that differ between two identical runs, or do not change what a run computes;
# they stay in labml's records but are left out of the committed summaries.
VOLATILE_CONFIGS = ('resumed_from', 'invocation', 'command_line', 'threads')


def logs_path() -> Path:
    """Where labml keeps its runs: `logs/` next to the `.labml.yaml` that labml found."""
    from labml import lab
    return Path(lab.get_experiments_path())


def results_folder(args: argparse.Namespace, parser: argparse.ArgumentParser,
                   ignore: Sequence[str] = ()) -> Path:
    """
    Where an experiment writes its summary, plots and tables. The files next to the pages are the
    reference runs, so only a run with every setting at its default writes there. A shorter or
    otherwise changed run (`--epochs 1`, a few `--optimizers`, another `--seed`) writes under
    `logs/results/` instead, so that trying something never rewrites what the site shows.
    `--results` names a folder explicitly; `ignore` lists options that do not change the runs.
    """
    if args.results is not None:
        return args.results
    defaults = vars(parser.parse_args([]))
    skipped = {'results', *ignore}
    changed = [name for name, value in vars(args).items() if name not in skipped and value != defaults.get(name)]
    return logs_path() / 'results' if changed else RESULTS


# One tracked value: steps and values, in step order.
Series = Tuple[List[int], List[float]]


@dataclass
class Run:
    """
    <a id="Run"></a>

    One labml run as it is on disk.
    """
    uuid: str
    path: Path
    info: Dict[str, Any]
    configs: Dict[str, Any]
    status: str
    series: Dict[str, Series] = field(default_factory=dict)

    def values(self, name: str) -> List[float]:
        return self.series.get(name, ([], []))[1]


def read_log(path: Path) -> Dict[str, Series]:
    """
    Merge every line of a `log.jsonl` into one series per indicator. A step that was saved with
    several values (several `tracker.add` calls before one save) gets their mean.
    """
    points: Dict[str, Dict[int, float]] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if not line.strip():
                continue
            for name, entries in json.loads(line).get('track', {}).items():
                for step, values in entries:
                    points.setdefault(name, {})[int(step)] = float(np.mean(values))
    return {name: (sorted(by_step), [by_step[s] for s in sorted(by_step)]) for name, by_step in points.items()}


def read_status(path: Path) -> str:
    """The last status in `run_log.jsonl`; `running` if there is none (or the process was killed)."""
    status = 'running'
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                status = json.loads(line).get('status', status)
    return status


def read_configs(path: Path) -> Dict[str, Any]:
    """The configs of the run in directory `path`, as plain values."""
    configs_file = Path(path) / 'configs.yaml'
    raw = yaml.safe_load(configs_file.read_text()) if configs_file.exists() else {}
    return {k: v.get('value') if isinstance(v, dict) else v for k, v in (raw or {}).items()}


def read_run(path: Path, follow_resume: bool = True) -> Run:
    """
    <a id="read_run"></a>

    Read the run in directory `path`. A run that was resumed from another records its uuid in
    the config `resumed_from`; with `follow_resume`, the earlier run's values for the steps
    before the resume are put in front, so the series covers the whole of training.
    """
    path = Path(path)
    if not (path / 'run.yaml').exists():
        raise FileNotFoundError(f'Not a labml run (no run.yaml): {path}')
    info = yaml.safe_load((path / 'run.yaml').read_text()) or {}
    configs = read_configs(path)
    run = Run(uuid=path.name, path=path, info=info, configs=configs,
              status=read_status(path / 'run_log.jsonl'), series=read_log(path / 'log.jsonl'))
    earlier = configs.get('resumed_from')
    if follow_resume and earlier:
        before = read_run(path.parent / earlier)
        for name, (steps, values) in before.series.items():
            first = run.series.get(name, ([float('inf')], []))[0]
            first = first[0] if first else float('inf')
            kept = [(s, v) for s, v in zip(steps, values) if s < first]
            later_steps, later_values = run.series.get(name, ([], []))
            run.series[name] = ([s for s, _ in kept] + later_steps, [v for _, v in kept] + later_values)
    return run


def find_run(logs: Path, uuid: str) -> Path:
    """
    The directory of run `uuid`, in any experiment under `logs`. A uuid is letters, digits, `_`
    and `-` only, so that `*` or `../x` never names some other directory.
    """
    valid = re.fullmatch(r'[\w-]+', uuid) is not None
    matches = sorted(p for p in Path(logs).glob(f'*/{uuid}') if (p / 'run.yaml').exists()) if valid else []
    if not matches:
        raise FileNotFoundError(f'No run {uuid!r} under {logs}')
    return matches[0]


def runs_of(logs: Path, experiment: str, invocation: str) -> List[Path]:
    """The directories of the runs of `experiment` that `invocation` made, oldest first."""
    paths = [p for p in (Path(logs) / experiment).glob('*/') if (p / 'run.yaml').exists()
             and read_configs(p).get('invocation') == invocation]
    return sorted(paths, key=lambda p: (p / 'run.yaml').stat().st_mtime)


def invocation_runs(logs: Path, experiment: str, invocation: str) -> Dict[str, Run]:
    """
    <a id="invocation_runs"></a>

    The completed run of each `label` that `invocation` made in `experiment`, joined with the
    interrupted runs it resumed. Runs of other invocations, however recent, are not looked at.
    """
    runs = [read_run(p) for p in runs_of(logs, experiment, invocation)]
    return {r.configs.get('label', r.uuid): r for r in runs if r.status == 'completed'}


def round_floats(values: Sequence[float], digits: int = 5) -> List[float]:
    """Round to `digits` significant digits: plenty for a plot, and a small, stable JSON file."""
    return [float(f'{v:.{digits}g}') for v in values]


def summarize(run: Run) -> Dict[str, Any]:
    """The part of a run that plots and tables need, and nothing that changes between identical runs."""
    return {
        'label': run.configs.get('label', run.uuid),
        'configs': {k: v for k, v in run.configs.items() if k not in VOLATILE_CONFIGS},
        'loss': round_floats(run.values('loss.train')),
        'lr': round_floats(run.values('lr')),
        'momentum': round_floats(run.values('momentum')),
        'valid_loss': round_floats(run.values('loss.valid')),
        'valid_accuracy': round_floats(run.values('accuracy.valid')),
    }


def wall_time(run: Run) -> Optional[float]:
    """Seconds the run spent in the training loop, interrupted parts included."""
    wall = run.values('time.fit')
    return round(wall[-1], 2) if wall else None


def write_summary(name: str, runs: Sequence[Dict[str, Any]], command: str, results: Path = RESULTS) -> Path:
    """Write `results/<name>_summary.json`: the runs' summaries and the command that made them."""
    results.mkdir(parents=True, exist_ok=True)
    path = results / f'{name}_summary.json'
    # One run per line: small, and a re-run shows in a diff as the runs that changed.
    header = {'experiment': name, 'command': command}
    lines = [f' {json.dumps(key)}: {json.dumps(value)},' for key, value in header.items()]
    body = ',\n'.join('  ' + json.dumps(run) for run in runs)
    path.write_text('{\n' + '\n'.join(lines) + '\n "runs": [\n' + body + '\n ]\n}\n')
    return path


def write_timing(name: str, timing: Dict[str, Any], results: Path = RESULTS) -> Path:
    """
    <a id="write_timing"></a>

    Write `results/<name>_timing.json`: wall-clock seconds, which differ on every run, and so
    live apart from the summary (`.gitignore` keeps them out of git).
    """
    results.mkdir(parents=True, exist_ok=True)
    path = results / f'{name}_timing.json'
    path.write_text(json.dumps(timing, indent=1) + '\n')
    return path


def read_summary(name: str, results: Path = RESULTS) -> Dict[str, Any]:
    path = results / f'{name}_summary.json'
    if not path.exists():
        raise FileNotFoundError(f'No summary {path}: run the experiment first')
    return json.loads(path.read_text())
