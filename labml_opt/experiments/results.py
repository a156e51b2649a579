"""
---
title: Reading runs and plotting results
summary: Reads labml's runs from logs/, keeps a small summary of the reference runs, and draws loss and schedule plots (SVG) and Markdown tables from it.
---

# Reading runs and plotting results

labml writes each run to `logs/<experiment>/<run uuid>/`:

* `run.yaml`: name, comment, start time, git commit;
* `configs.yaml`: the configs the run recorded, each as `{value: ...}` among other keys;
* `log.jsonl`: the tracked values. Each line holds the values flushed at one time, as
  `{"track": {"loss.train": [[step, [value, ...]], ...], ...}}`, so one indicator is spread
  over many lines, and all of them must be merged;
* `run_log.jsonl`: how the run ended: `completed`, `interrupted` or `crashed`.

[`read_run`](#read_run) turns that into one [`Run`](#Run). The experiments then keep a small
*summary* of the runs they made (per-step training loss, learning rate, per-epoch validation,
wall time), committed under `results/` next to the pages, so that building the site never
retrains. Plots and tables are drawn from a summary.

The SVGs are deterministic: matplotlib's Agg backend, a fixed `svg.hashsalt` for element ids
and no date in the metadata, so re-rendering an unchanged summary changes no file.

Re-draw every plot and table from the committed summaries with

```bash
python -m labml_opt.experiments.results
```
"""

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import yaml

RESULTS = Path(__file__).parent / 'results'


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
    configs_file = path / 'configs.yaml'
    raw = yaml.safe_load(configs_file.read_text()) if configs_file.exists() else {}
    configs = {k: v.get('value') if isinstance(v, dict) else v for k, v in (raw or {}).items()}
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
    """The directory of run `uuid`, in any experiment under `logs`."""
    matches = sorted(Path(logs).glob(f'*/{uuid}'))
    if not matches:
        raise FileNotFoundError(f'No run {uuid!r} under {logs}')
    return matches[0]


def latest_runs(logs: Path, experiment: str, status: str = 'completed') -> Dict[str, Run]:
    """
    The latest run with `status` for each `label` config of `experiment`, so that re-running one
    optimizer replaces only its own entry in a summary.
    """
    runs = [read_run(p) for p in sorted((Path(logs) / experiment).glob('*/')) if (p / 'run.yaml').exists()]
    runs = [r for r in runs if r.status == status]
    runs.sort(key=lambda r: (str(r.info.get('trial_date')), str(r.info.get('trial_time')), r.path.stat().st_mtime))
    return {r.configs.get('label', r.uuid): r for r in runs}


def round_floats(values: Sequence[float], digits: int = 5) -> List[float]:
    """Round to `digits` significant digits: plenty for a plot, and a small, stable JSON file."""
    return [float(f'{v:.{digits}g}') for v in values]


def summarize(run: Run) -> Dict[str, Any]:
    """The part of a run that plots and tables need."""
    wall = run.values('time.fit')
    return {
        'label': run.configs.get('label', run.uuid),
        'uuid': run.uuid,
        'configs': run.configs,
        'loss': round_floats(run.values('loss.train')),
        'lr': round_floats(run.values('lr')),
        'momentum': round_floats(run.values('momentum')),
        'valid_loss': round_floats(run.values('loss.valid')),
        'valid_accuracy': round_floats(run.values('accuracy.valid')),
        'wall_time': round(wall[-1], 2) if wall else None,
    }


def write_summary(name: str, runs: Sequence[Dict[str, Any]], command: str, note: str = '',
                  results: Path = RESULTS) -> Path:
    """Write `results/<name>_summary.json`: the runs' summaries, the command, and a note on timing."""
    results.mkdir(parents=True, exist_ok=True)
    path = results / f'{name}_summary.json'
    # One run per line: small, and a re-run shows in a diff as the runs that changed.
    header = {'experiment': name, 'command': command, 'note': note}
    lines = [f' {json.dumps(key)}: {json.dumps(value)},' for key, value in header.items()]
    body = ',\n'.join('  ' + json.dumps(run) for run in runs)
    path.write_text('{\n' + '\n'.join(lines) + '\n "runs": [\n' + body + '\n ]\n}\n')
    return path


def read_summary(name: str, results: Path = RESULTS) -> Dict[str, Any]:
    path = results / f'{name}_summary.json'
    if not path.exists():
        raise FileNotFoundError(f'No summary {path}: run the experiment first')
    return json.loads(path.read_text())


def moving_average(values: Sequence[float], window: int) -> np.ndarray:
    """The mean of each `window` consecutive values; `window` values shorter than the input."""
    values = np.asarray(values, dtype=float)
    window = max(1, min(window, len(values)))
    return np.convolve(values, np.ones(window) / window, mode='valid')


def figure():
    """A new figure on the Agg backend with settings that make SVG output byte-for-byte repeatable."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    plt.rcParams['svg.hashsalt'] = 'labml_opt'
    plt.rcParams['svg.fonttype'] = 'none'
    return plt.subplots(figsize=(8, 4.5))


def save(fig, path: Path):
    import matplotlib.pyplot as plt
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, format='svg', metadata={'Date': None, 'Creator': 'labml_opt'})
    plt.close(fig)


def plot_series(series: Dict[str, Sequence[float]], path: Path, *, ylabel: str, xlabel: str = 'step',
                title: str = '', smooth: int = 1, log: bool = False, raw: bool = True,
                x: Optional[Dict[str, Sequence[float]]] = None, logx: bool = False,
                ylim: Optional[Tuple[Optional[float], Optional[float]]] = None) -> Path:
    r"""
    <a id="plot_series"></a>

    Plot one line per entry of `series` and save it as an SVG at `path`.

    * `smooth` > 1 draws the moving average over that many steps, with the raw values
      faint behind it (unless `raw` is false); a noisy loss is hard to compare by eye otherwise
    * `log` uses a log scale for $y$, where both the early losses and the late ones are readable
    * `x` gives each series its own $x$ values (default: $0, 1, 2, \dots$); `logx` puts them on a log scale
    """
    fig, ax = figure()
    for i, (label, values) in enumerate(series.items()):
        values = np.asarray(values, dtype=float)
        xs = np.asarray(x[label], dtype=float) if x is not None else np.arange(len(values))
        color = f'C{i % 10}'
        if smooth > 1 and len(values) > 1:
            if raw:
                ax.plot(xs, values, color=color, alpha=0.2, linewidth=0.8)
            averaged = moving_average(values, smooth)
            ax.plot(xs[len(values) - len(averaged):], averaged, color=color, label=label, linewidth=1.5)
        else:
            ax.plot(xs, values, color=color, label=label, linewidth=1.5)
    if log:
        ax.set_yscale('log')
    if logx:
        ax.set_xscale('log')
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel + (f' (moving average of {smooth})' if smooth > 1 else ''))
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    if len(series) > 1 or smooth > 1:
        ax.legend(fontsize='small', ncol=2)
    save(fig, Path(path))
    return Path(path)


def format_number(value: Optional[float], digits: int = 4) -> str:
    return '-' if value is None else f'{value:.{digits}g}'


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    lines += ['| ' + ' | '.join(str(c) for c in row) + ' |' for row in rows]
    return '\n'.join(lines) + '\n'


def final_train_loss(run: Dict[str, Any], window: int = 20) -> Optional[float]:
    """The mean training loss over the last `window` steps: a single last batch is too noisy."""
    loss = run['loss']
    return float(np.mean(loss[-window:])) if loss else None


def results_table(runs: Sequence[Dict[str, Any]], first_column: str = 'run') -> str:
    """
    <a id="results_table"></a>

    The table each experiment page shows: final training loss (mean of the last 20 steps),
    validation loss and accuracy after the last epoch, and wall time of the run.
    """
    rows = []
    for run in runs:
        valid_loss = run['valid_loss'][-1] if run['valid_loss'] else None
        accuracy = run['valid_accuracy'][-1] if run['valid_accuracy'] else None
        rows.append([f'`{run["label"]}`', format_number(final_train_loss(run)), format_number(valid_loss),
                     '-' if accuracy is None else f'{100 * accuracy:.1f}%', format_number(run['wall_time'], 3)])
    return markdown_table([first_column, 'final train loss', 'valid loss', 'valid accuracy', 'wall time (s)'], rows)


def main(argv: Sequence[str] = None):
    """Re-draw every experiment's plots and tables from its committed summary."""
    import argparse
    from labml_opt.experiments import compare, one_cycle, sweep
    parser = argparse.ArgumentParser(prog='python -m labml_opt.experiments.results',
                                     description='Redraw the plots and tables of compare, sweep and one_cycle '
                                                 'from their summaries, without training.')
    parser.add_argument('--results', type=Path, default=RESULTS, help='folder with the summaries (default: %(default)s)')
    args = parser.parse_args(argv)
    for module in (compare, sweep, one_cycle):
        for path in module.render_results(args.results):
            print(path)


if __name__ == '__main__':
    main()
