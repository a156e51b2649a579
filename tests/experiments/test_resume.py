"""
Results that cannot be corrupted: Ctrl-C, `--resume`, checkpoints, repeatable summaries, and the
`logs` command.
"""
import json
import os
import re
import signal

import pytest
import torch

from labml_opt.experiments import compare, learner, sweep
from labml_opt.experiments.__main__ import main as experiments_main
from labml_opt.experiments.learner import BadCheckpoint, load_checkpoint
from labml_opt.experiments.results import read_configs, read_status
from labml_opt.experiments.runs import OPTIMIZERS, RunSpec, train_run


def press_ctrl_c(monkeypatch, run: int, step: int):
    """Send this process a real SIGINT after training step `step` of run `run` of a command."""
    show = learner.ShowProgress.after_batch

    def after_batch(self, runner):
        show(self, runner)
        if self.index == run and runner.in_train and runner.step == step:
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(learner.ShowProgress, 'after_batch', after_batch)


def runs_in(labml_dir, experiment='compare'):
    folder = labml_dir / 'logs' / experiment
    return sorted(folder.iterdir()) if folder.exists() else []


def interrupt(labml_dir, monkeypatch, capsys, argv, run=1, step=7) -> str:
    """Run `compare` with `argv`, press Ctrl-C in run `run`, and return the uuid it says to resume."""
    with monkeypatch.context() as patch:
        press_ctrl_c(patch, run, step)
        with pytest.raises(SystemExit) as exit_info:
            compare.main(argv)
    assert exit_info.value.code == 130
    error = capsys.readouterr().err
    uuid = re.search(r'--resume (\w+)', error).group(1)
    assert f'compare: interrupted. Resume with:\n  python -m labml_opt.experiments.compare --resume {uuid}' in error
    return uuid


def tiny(idx_dir, results, optimizers='sgd,adam,momentum'):
    return ['--data', str(idx_dir), '--epochs', '2', '--batch-size', '32', '--optimizers', optimizers,
            '--results', str(results)]


RESULT_FILES = ('compare_summary.json', 'compare_table.md', 'compare_loss.svg', 'compare_loss_log.svg')


def test_resume_finishes_every_run_of_the_command_and_writes_what_a_straight_command_writes(
        labml_dir, idx_dir, monkeypatch, capsys, sigint_default):
    interrupted = labml_dir / 'interrupted'
    uuid = interrupt(labml_dir, monkeypatch, capsys, tiny(idx_dir, interrupted))
    assert read_status(labml_dir / 'logs' / 'compare' / uuid / 'run_log.jsonl') == 'interrupted'
    assert not interrupted.exists()
    # A newer command with other settings completes an `adam` run that must not be mixed in
    compare.main(['--data', str(idx_dir), '--epochs', '1', '--batch-size', '32', '--optimizers', 'adam',
                  '--results', str(labml_dir / 'other')])

    # The resume carries the interrupted command's options: its data, epochs and results folder
    compare.main(['--resume', uuid])
    compare.main(tiny(idx_dir, labml_dir / 'straight'))
    for name in RESULT_FILES:
        assert (interrupted / name).read_bytes() == (labml_dir / 'straight' / name).read_bytes(), name
    summary = json.loads((interrupted / 'compare_summary.json').read_text())
    assert [run['label'] for run in summary['runs']] == ['sgd', 'adam', 'momentum']
    assert {run['configs']['epochs'] for run in summary['runs']} == {2}
    # sgd, completed before Ctrl-C, is not trained again; adam continues; momentum starts
    invocation = read_configs(labml_dir / 'logs' / 'compare' / uuid)['invocation']
    ours = [read_configs(path) for path in runs_in(labml_dir) if read_configs(path)['invocation'] == invocation]
    assert sorted(configs['label'] for configs in ours) == ['adam', 'adam', 'momentum', 'sgd']
    assert [c['resumed_from'] for c in ours if c['label'] == 'adam' and c['resumed_from']] == [uuid]


def test_ctrl_c_before_the_first_checkpoint_of_a_later_run_resumes_the_whole_command(
        labml_dir, idx_dir, monkeypatch, capsys, sigint_default):
    # Ctrl-C in the very first step of the second run
    uuid = interrupt(labml_dir, monkeypatch, capsys, tiny(idx_dir, labml_dir / 'a', 'sgd,adam'), run=1, step=0)
    compare.main(['--resume', uuid])
    compare.main(tiny(idx_dir, labml_dir / 'b', 'sgd,adam'))
    for name in RESULT_FILES:
        assert (labml_dir / 'a' / name).read_bytes() == (labml_dir / 'b' / name).read_bytes(), name


def finished_run(labml_dir, idx_dir) -> str:
    """The uuid of a command's only run, completed."""
    before = set(runs_in(labml_dir))
    compare.main(['--data', str(idx_dir), '--epochs', '1', '--batch-size', '32', '--optimizers', 'adam',
                  '--no-summary'])
    new, = set(runs_in(labml_dir)) - before
    return new.name


@pytest.mark.parametrize('target,extra,message', [
    ('', [], "argument --resume: invalid value '': give the uuid of a run"),
    ('0123abc', [], "argument --resume: invalid value '0123abc': no run with that uuid under"),
    ('*', [], "argument --resume: invalid value '*': no run with that uuid under"),
    ('FINISHED', [], 'whose runs have all completed: nothing to resume'),
    ('FINISHED', ['--epochs', '3'], 'argument --resume: cannot be combined with --epochs'),
])
def test_bad_resume_targets_are_refused_before_training(labml_dir, idx_dir, capsys, target, extra, message):
    uuid = finished_run(labml_dir, idx_dir)
    before = runs_in(labml_dir)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        compare.main(['--resume', uuid if target == 'FINISHED' else target, *extra])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert runs_in(labml_dir) == before


def test_a_run_is_resumed_only_by_the_command_that_made_it(labml_dir, idx_dir, capsys):
    uuid = finished_run(labml_dir, idx_dir)
    with pytest.raises(SystemExit):
        sweep.main(['--resume', uuid])
    assert f'run {uuid} was made by `python -m labml_opt.experiments.compare`; resume it with that command' \
           in capsys.readouterr().err


@pytest.mark.parametrize('damage', ['cut short', 'not a checkpoint'])
def test_a_damaged_checkpoint_is_refused_before_training(labml_dir, idx_dir, monkeypatch, capsys, sigint_default,
                                                         damage):
    uuid = interrupt(labml_dir, monkeypatch, capsys, tiny(idx_dir, labml_dir / 'results', 'adam'), run=0)
    checkpoint = labml_dir / 'logs' / 'compare' / uuid / 'checkpoints' / 'checkpoint.pt'
    if damage == 'cut short':
        checkpoint.write_bytes(checkpoint.read_bytes()[:1000])
    else:
        torch.save({'weights': torch.zeros(2)}, checkpoint)
    before = runs_in(labml_dir)
    with pytest.raises(SystemExit) as exit_info:
        compare.main(['--resume', uuid])
    assert exit_info.value.code == 2
    assert f'Checkpoint {checkpoint}' in capsys.readouterr().err
    assert runs_in(labml_dir) == before


class Payload:
    """Unpickling this would run code of the file's choosing."""

    def __reduce__(self):
        return os.system, ('echo pwned',)


def test_checkpoints_are_loaded_with_weights_only(tmp_path):
    path = tmp_path / 'checkpoint.pt'
    torch.save({'epoch': 0, 'batch': 0, 'model': {}, 'optimizer': {}, 'callbacks': {}, 'x': Payload()}, path)
    with pytest.raises(BadCheckpoint, match='cannot be read'):
        load_checkpoint(path)


@pytest.mark.parametrize('name', list(OPTIMIZERS))
def test_every_optimizers_checkpoint_loads_with_weights_only(labml_dir, idx_dir, name):
    result = train_run(RunSpec(experiment='checkpoints', label=name, optimizer=name, data=str(idx_dir), epochs=1,
                               batch_size=128, accumulate=2))
    state = load_checkpoint(result.path / 'checkpoints' / 'checkpoint.pt')
    assert state['spec']['optimizer'] == name
    # Plain SGD keeps no state, as torch.optim.SGD keeps none; every other optimizer here does
    assert bool(state['optimizer']['state']) == (name != 'sgd')


def test_identical_commands_write_identical_results_and_keep_wall_clock_apart(labml_dir, idx_dir):
    for folder in ('first', 'second'):
        compare.main(tiny(idx_dir, labml_dir / folder, 'sgd,adam'))
    for name in RESULT_FILES:
        assert (labml_dir / 'first' / name).read_bytes() == (labml_dir / 'second' / name).read_bytes(), name
    summary = (labml_dir / 'first' / 'compare_summary.json').read_text()
    for path in runs_in(labml_dir):
        assert path.name not in summary
    timing = json.loads((labml_dir / 'first' / 'compare_timing.json').read_text())
    assert set(timing['runs_seconds_in_training_loop']) == {'sgd', 'adam'}
    assert all(seconds > 0 for seconds in timing['runs_seconds_in_training_loop'].values())


def test_timing_files_next_to_the_pages_are_ignored_by_git():
    import subprocess
    from labml_opt.experiments.results import RESULTS
    ignored = subprocess.run(['git', 'check-ignore', str(RESULTS / 'compare_timing.json')],
                             capture_output=True, text=True, cwd=RESULTS)
    assert ignored.returncode == 0


def test_logs_clean_keeps_only_the_checkpoints_a_resume_needs(labml_dir, idx_dir, monkeypatch, capsys,
                                                              sigint_default):
    uuid = interrupt(labml_dir, monkeypatch, capsys, tiny(idx_dir, labml_dir / 'a', 'sgd,adam'))
    finished = finished_run(labml_dir, idx_dir)
    capsys.readouterr()
    experiments_main(['logs', '--clean', '--dry-run'])
    listing = capsys.readouterr().out
    assert f'resume with --resume {uuid}' in listing and 'Would free' in listing
    assert all((path / 'checkpoints').exists() for path in runs_in(labml_dir))

    experiments_main(['logs', '--clean'])
    kept = [path.name for path in runs_in(labml_dir) if (path / 'checkpoints').exists()]
    assert kept == [uuid]
    # Commands older than 0 days go, except the one that can still be resumed
    experiments_main(['logs', '--older-than', '0'])
    left = {path.name for path in runs_in(labml_dir)}
    assert uuid in left and finished not in left and len(left) == 2
    compare.main(['--resume', uuid])
    assert (labml_dir / 'a' / 'compare_summary.json').exists()
