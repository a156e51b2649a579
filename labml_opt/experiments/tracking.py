"""
---
title: Tracking runs with labml, and showing progress
summary: Which labml writers a run uses (labml's app exactly when labml's own configuration names one), a console that stays plain text when it is not a terminal, and a progress line with the ETA of each run and of the whole command.
---

# Tracking runs with labml, and showing progress

## labml's app

labml can send every tracked value to its app, a web server that shows runs live. labml reads
the app's address from its own configuration: `app_url` in `.labml.yaml`, or else the
`labml_app_url` environment variable. An experiment here turns on labml's `app` writer exactly
when that configuration names an app, and never otherwise: so a user who sets it sees every run
there, and a user who does not sends nothing anywhere.

labml's app writer never gives up on an app that does not answer: its thread retries with
ever longer pauses, and since it is not a daemon thread the command never exits. So the address
is tried once, with a short timeout, before any training starts, and a dead one is an error that
names the setting and its value.

## The console

When standard output is a terminal, the progress of a run is one line redrawn in place. When it
is not (output redirected to a file, or a CI log), every line is plain text written once: no
colour codes, no carriage returns, so a log file holds one readable line per epoch.
labml prints its own messages (the run's uuid, its configs) through a console of its own that
always adds colour codes; [`plain_console`](#plain_console) replaces it with one that does not.
"""

import socket
import sys
import threading
import time
import uuid
from typing import Dict, Iterable, List, Optional, Set, TextIO, Tuple
from urllib.parse import urlparse

# How long the one connection attempt to labml's app may take, in seconds
APP_TIMEOUT = 3.


class AppUnreachable(RuntimeError):
    """labml's configuration names an app that does not answer."""


def app_setting() -> Optional[Tuple[str, str]]:
    """
    Where labml's configuration names its app, and the address: `('app_url in .labml.yaml', url)`,
    `('labml_app_url', url)`, or `None`. labml's own `Lab` has read both, in the same order.
    """
    import os

    from labml.internal.lab import lab_singleton
    lab = lab_singleton()
    if lab.app_configs is None:
        return None
    configured = (lab.configs.get('app_url') or '').strip()
    if configured:
        return 'app_url in .labml.yaml', configured
    return 'labml_app_url', os.environ.get('labml_app_url', '').strip()


def check_app(setting: Tuple[str, str]):
    """Connect once to the app's host and port, and fail with the setting's name if nothing answers."""
    name, url = setting
    parsed = urlparse(url)
    port = parsed.port or (443 if parsed.scheme == 'https' else 80)
    try:
        socket.create_connection((parsed.hostname, port), timeout=APP_TIMEOUT).close()
    except OSError as error:
        raise AppUnreachable(f'labml app at {url!r} ({name}) does not answer: {error}. Start the app, '
                             f'or remove the setting to track runs only under logs/') from None


def labml_writers() -> Set[str]:
    """
    <a id="labml_writers"></a>

    labml's `file` writer always (the runs under `logs/` are what the summaries are read from),
    and its `app` writer when labml's configuration names a reachable app. labml's `screen`
    writer is not used: [`Progress`](#Progress) shows the same values with the position and ETA.
    """
    setting = app_setting()
    if setting is None:
        return {'file'}
    check_app(setting)
    return {'file', 'app'}


def run_uuid() -> str:
    """
    <a id="run_uuid"></a>

    A new run's UUID, from the operating system's random numbers. labml's own is time-based
    (`uuid1`), and its clock state is copied into each worker process that the benchmark's
    `--jobs` forks: two workers that started a run in the same instant were given the same UUID,
    and the second found the first one's run directory in use.
    """
    return uuid.uuid4().hex


def wait_for_labml(timeout: float = 60.):
    """
    labml's `file` writer appends to `log.jsonl`, and its app writer sends to the app, from threads
    that finish after the run has ended. Wait for them, so that the run is complete on disk and in
    the app before anyone reads it.
    """
    from labml.internal.app import _AppTrackThread
    from labml.internal.tracker.writers.file import FileWriterThread
    for thread in threading.enumerate():
        if isinstance(thread, FileWriterThread):
            thread.join()
        elif isinstance(thread, _AppTrackThread):
            thread.join(timeout)
            if thread.is_alive():
                print(f'labml app at {thread.url.split("?")[0]} has not taken every value after {timeout:.0f} s; '
                      f'the run is complete under logs/', file=sys.stderr)


class PlainDestination:
    """
    <a id="plain_console"></a>

    A labml console destination for output that is not a terminal: the text without colour codes,
    and a line redrawn in place (labml's `is_reset`) replaced rather than written again, so each
    line is written once, when it ends. It writes to whatever `sys.stdout` is at the time, as
    labml's own console does.
    """

    def __init__(self):
        self.line = ''

    def log(self, parts: List, *, is_new_line: bool, is_reset: bool):
        text = ''.join(p if isinstance(p, str) else p[0] for p in parts)
        self.line = text if is_reset else self.line + text
        if is_new_line:
            sys.stdout.write(self.line.replace('\r', '') + '\n')
            sys.stdout.flush()
            self.line = ''


def plain_console():
    """Make labml's console plain text when standard output is not a terminal."""
    from labml.internal.logger import logger_singleton
    if not sys.stdout.isatty():
        # labml keeps its destinations in a private attribute and offers no setter.
        logger_singleton()._Logger__destinations = [PlainDestination()]


def format_duration(seconds: float) -> str:
    """`42 s`, `3 min 05 s`, `1 h 02 min`."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f'{seconds} s'
    if seconds < 3600:
        return f'{seconds // 60} min {seconds % 60:02d} s'
    return f'{seconds // 3600} h {seconds % 3600 // 60:02d} min'


class Progress:
    r"""
    <a id="Progress"></a>

    ## Progress and ETA

    The position of the current run in the command (`run 3/10`), its step and epoch, its latest
    values, and two estimates: the time left in this run and in the whole command. Both
    extrapolate the seconds per step measured in this process so far,
    $$\text{ETA} = \frac{t_{elapsed}}{s_{done}} \, s_{left},$$
    where steps skipped by a resume count neither as done nor as left. When `jobs` processes
    share the runs, each with a `Progress` of its own, the command's ETA is divided among them.
    """

    def __init__(self, name: str, steps: List[int], stream: Optional[TextIO] = None, jobs: int = 1):
        """`steps` lists the training steps of every run the command will make, in order."""
        self.name = name
        self.steps = steps
        self.jobs = jobs
        self.stream = stream or sys.stdout
        self.redraw = self.stream.isatty()
        self.started = time.monotonic()
        # Steps trained in this process: in the runs before the current one, and in it
        self.executed_before = 0
        self.executed = 0
        self.index = -1
        self.label = ''
        self.run_started = self.started
        self.run_first = 0
        self.last_drawn = 0.

    def start_run(self, index: int, label: str, first_step: int = 0):
        """Run `index` starts, or resumes at `first_step`."""
        self.executed_before, self.executed = self.executed_before + self.executed, 0
        self.index, self.label = index, label
        self.run_started, self.run_first = time.monotonic(), first_step
        self.line(f'{self.name}: run {index + 1}/{len(self.steps)} {label}'
                  + (f', resumed at step {first_step}' if first_step else ''), final=True)

    def skip_run(self, index: int, label: str):
        self.line(f'{self.name}: run {index + 1}/{len(self.steps)} {label}: completed before', final=True)

    def drop_runs(self, indices: Iterable[int]):
        """Runs that were planned but will not be made (a search that stopped early): the ETA leaves them out."""
        for i in indices:
            self.steps[i] = 0

    def eta(self, step: int) -> Tuple[str, str]:
        """The time left in the current run at `step`, and in the whole command."""
        now = time.monotonic()
        self.executed = step - self.run_first
        if self.executed <= 0:
            return '?', '?'
        left = self.steps[self.index] - step
        left_all = left + sum(self.steps[self.index + 1:])
        per_step = (now - self.run_started) / self.executed
        per_step_all = (now - self.started) / (self.executed_before + self.executed)
        return format_duration(per_step * left), format_duration(per_step_all * left_all / self.jobs)

    def update(self, step: int, values: Dict[str, float], where: str = '', final: bool = False):
        """
        Show `values` at training `step` of the current run, and `where` it is (`epoch 2/5`).
        A terminal redraws the line at most five times a second; elsewhere only a `final` line,
        such as the end of an epoch, is written.
        """
        if not final and (not self.redraw or time.monotonic() - self.last_drawn < 0.2):
            return
        self.last_drawn = time.monotonic()
        run_eta, all_eta = self.eta(step)
        total = self.steps[self.index]
        shown = ' '.join(f'{name} {value:.4g}' for name, value in values.items())
        self.line(f'  run {self.index + 1}/{len(self.steps)} {self.label}: {where + " " if where else ""}'
                  f'step {step}/{total} ({100 * step / max(1, total):.0f}%) {shown} | '
                  f'run ETA {run_eta} | all ETA {all_eta}', final)

    def line(self, text: str, final: bool):
        if self.redraw:
            # Back to the start of the line, the text, and erase what is left of a longer line.
            self.stream.write('\r' + text + '\x1b[K' + ('\n' if final else ''))
        else:
            self.stream.write(text + '\n')
        self.stream.flush()
