"""
---
title: Plots and tables
summary: Loss and schedule plots as byte-for-byte repeatable SVGs, and the Markdown tables the experiment pages include.
---

# Plots and tables

Every plot and table on the experiment pages is drawn from a committed summary, never from a
training run directly, so that building the site never retrains and redrawing an unchanged
summary changes no file.

The SVGs are deterministic: matplotlib's Agg backend, a fixed `svg.hashsalt` for element ids
and no date in the metadata.
"""

from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np


def moving_average(values: Sequence[float], window: int) -> np.ndarray:
    """The mean of each `window` consecutive values; `window` values shorter than the input."""
    values = np.asarray(values, dtype=float)
    window = max(1, min(window, len(values)))
    return np.convolve(values, np.ones(window) / window, mode='valid')


def figure(**subplots):
    """
    A new figure on the Agg backend with settings that make SVG output byte-for-byte repeatable;
    `subplots` go to `plt.subplots` (one axes of 8 by 4.5 inches unless they say otherwise).
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    plt.rcParams['svg.hashsalt'] = 'labml_opt'
    plt.rcParams['svg.fonttype'] = 'none'
    return plt.subplots(**{'figsize': (8, 4.5), **subplots})


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

    The table each experiment page shows: final training loss (mean of the last 20 steps), and
    validation loss and accuracy after the last epoch. Wall time is not in it: it changes from
    one run to the next, and a committed table must not (the times go to a file of their own,
    see [`write_timing`](results.html#write_timing)).
    """
    rows = []
    for run in runs:
        valid_loss = run['valid_loss'][-1] if run['valid_loss'] else None
        accuracy = run['valid_accuracy'][-1] if run['valid_accuracy'] else None
        rows.append([f'`{run["label"]}`', format_number(final_train_loss(run)), format_number(valid_loss),
                     '-' if accuracy is None else f'{100 * accuracy:.1f}%'])
    return markdown_table([first_column, 'final train loss', 'valid loss', 'valid accuracy'], rows)
