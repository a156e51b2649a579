import json
import os
import signal

import pytest
import torch

from labml_opt.experiments import compare, one_cycle, sweep
from labml_opt.experiments.learner import Callback
from labml_opt.experiments.results import read_run
from labml_opt.experiments.runs import Interrupted, RunSpec, logs_path, resume_run, train_run


class PressCtrlC(Callback):
    """
    Sends this process a real SIGINT, as Ctrl-C in a terminal would: after training step `step`,
    or after the first validation batch of epoch `validating`.
    """

    def __init__(self, step=None, validating=None):
        self.step, self.validating = step, validating

    def after_step(self, runner):
        if runner.step == self.step:
            os.kill(os.getpid(), signal.SIGINT)

    def after_pred(self, runner):
        if not runner.in_train and runner.epoch == self.validating and runner.batch == 0:
            os.kill(os.getpid(), signal.SIGINT)


def test_tiny_run_lands_in_the_temporary_labml_directory_and_loss_falls(labml_dir, idx_dir):
    spec = RunSpec(experiment='tiny', label='adam', optimizer='adam', data=str(idx_dir), epochs=2, batch_size=32)
    result = train_run(spec)
    assert logs_path() == labml_dir / 'logs' and result.path.parent == labml_dir / 'logs' / 'tiny'
    run = read_run(result.path)
    assert run.status == 'completed'
    assert run.configs['optimizer'] == 'adam' and run.configs['label'] == 'adam'
    steps, losses = run.series['loss.train']
    assert steps == list(range(24)) and len(run.values('accuracy.valid')) == 2
    assert sum(losses[-4:]) < 0.5 * sum(losses[:4])
    assert run.values('loss.valid')[-1] == pytest.approx(result.stats['valid']['loss'], rel=1e-5)


@pytest.mark.parametrize('press', [PressCtrlC(step=17), PressCtrlC(validating=0)], ids=['training', 'validating'])
def test_resume_after_ctrl_c_ends_with_the_same_weights_as_an_uninterrupted_run(labml_dir, idx_dir, press,
                                                                               sigint_default):
    spec = RunSpec(experiment='resume', label='momentum', optimizer='momentum', hyper={'lr': 0.05},
                   data=str(idx_dir), epochs=3, batch_size=32)
    with pytest.raises(KeyboardInterrupt):
        train_run(spec, callbacks=[press])
    interrupted = read_run(next((labml_dir / 'logs' / 'resume').iterdir()))
    assert interrupted.status == 'interrupted'
    assert (interrupted.path / 'checkpoints' / 'checkpoint.pt').exists()
    # The handler the run started with is back
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler

    resumed = resume_run(interrupted.uuid)
    straight = train_run(spec)
    for ours, theirs in zip(resumed.model.parameters(), straight.model.parameters()):
        assert torch.equal(ours, theirs)
    # The reader joins the two halves of the interrupted run into one series.
    joined, whole = read_run(resumed.path), read_run(straight.path)
    assert joined.configs['resumed_from'] == interrupted.uuid
    assert joined.series['loss.train'] == whole.series['loss.train']
    assert joined.values('accuracy.valid') == whole.values('accuracy.valid')


def test_ctrl_c_checkpoints_even_when_the_process_started_with_sigint_ignored(labml_dir, idx_dir):
    # As in a backgrounded `make test`: the shell starts the process with SIGINT ignored
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        spec = RunSpec(experiment='ignored', label='adam', optimizer='adam', data=str(idx_dir), epochs=2,
                       batch_size=32)
        with pytest.raises(Interrupted) as interrupted:
            train_run(spec, callbacks=[PressCtrlC(step=5)])
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)
    path = labml_dir / 'logs' / 'ignored' / interrupted.value.uuid
    assert read_run(path).status == 'interrupted' and (path / 'checkpoints' / 'checkpoint.pt').exists()


def test_unknown_optimizer_is_refused_before_training_listing_the_choices(labml_dir, capsys):
    with pytest.raises(SystemExit):
        compare.main(['--optimizers', 'sgd,adamm'])
    error = capsys.readouterr().err
    assert "Unknown optimizer 'adamm': choose from sgd, momentum, adagrad, adadelta, rmsprop, adam" in error
    assert not (labml_dir / 'logs').exists()


@pytest.mark.parametrize('module,argv,message', [
    (compare, ['--optimizers', 'adam', '--set', 'adam.lr=-1'], 'Invalid lr -1 for Adam: must be >= 0'),
    (compare, ['--optimizers', 'adam', '--set', 'adam.lrr=1'], "Invalid hyper-parameter 'lrr' for adam: choose from lr"),
    (compare, ['--optimizers', 'adam', '--set', 'sgd.lr=1'], "optimizer 'sgd' is not in this run; choose from adam"),
    (sweep, ['--eps', '1e-8,-1'], 'Invalid eps -1.0 for RMSprop'),
    (sweep, ['--parts', 'eps'], "Unknown part 'eps': choose from rmsprop_eps, adagrad_init, lr_range"),
    (one_cycle, ['--max-lr', 'adam=0'], 'the learning rate must be > 0'),
    (one_cycle, ['--max-lr', 'adamm=0.1'], "Unknown optimizer 'adamm': choose from sgd"),
    (compare, ['--epochs', '0'], 'argument --epochs: invalid value 0'),
    (one_cycle, ['--max-lr', 'muon=0.02'], "Invalid optimizer 'muon' for a schedule"),
    (sweep, ['--parts', 'lr_range', '--range-optimizers', 'muon'], "Invalid optimizer 'muon' for a schedule"),
    (compare, ['--optimizers', 'muon', '--set', 'muon.adam_lr_ratio=-1'], 'Invalid lr -0.02 for'),
])
def test_bad_hyper_parameters_are_refused_before_training(labml_dir, capsys, module, argv, message):
    with pytest.raises(SystemExit):
        module.main(argv)
    assert message in capsys.readouterr().err
    assert not (labml_dir / 'logs').exists()


def test_compare_writes_runs_summary_table_and_repeatable_plots(labml_dir, idx_dir):
    results = labml_dir / 'results'
    compare.main(['--data', str(idx_dir), '--epochs', '2', '--batch-size', '32', '--optimizers', 'sgd,adam',
                  '--results', str(results)])
    assert len(list((labml_dir / 'logs' / 'compare').iterdir())) == 2
    summary = json.loads((results / 'compare_summary.json').read_text())
    assert [run['label'] for run in summary['runs']] == ['sgd', 'adam']
    adam = summary['runs'][1]
    assert len(adam['loss']) == 24 and adam['loss'][-1] < adam['loss'][0]
    assert all(run['configs']['seed'] == 0 for run in summary['runs'])
    table = (results / 'compare_table.md').read_text()
    assert table.startswith('| optimizer | final train loss |') and '| `adam` |' in table
    plots = {name: (results / name).read_bytes() for name in ('compare_loss.svg', 'compare_loss_log.svg')}
    assert all(b'dc:date' not in svg and svg.startswith(b'<?xml') for svg in plots.values())
    compare.render_results(results)
    assert plots == {name: (results / name).read_bytes() for name in plots}


def test_range_test_and_one_cycle_record_their_schedules(labml_dir, idx_dir):
    results = labml_dir / 'results'
    common = ['--data', str(idx_dir), '--batch-size', '32', '--results', str(results)]
    sweep.main(common + ['--parts', 'lr_range', '--range-optimizers', 'adam', '--range-epochs', '2'])
    one_cycle.main(common + ['--max-lr', 'momentum=0.05', '--epochs', '1'])
    lr_range = json.loads((results / 'sweep_lr_range_summary.json').read_text())['runs'][0]
    assert lr_range['lr'][0] == pytest.approx(1e-6)
    assert all(b > a for a, b in zip(lr_range['lr'], lr_range['lr'][1:]))
    # Adam blows up before lr = 10: the range test stops early, at the first step where the
    # bias-corrected moving average of the loss exceeds 4 times its lowest value so far.
    losses, averages, average = lr_range['loss'], [], 0.
    for t, loss in enumerate(losses, 1):
        average = 0.9 * average + 0.1 * loss
        averages.append(average / (1 - 0.9 ** t))
    assert len(losses) < 24 and lr_range['lr'][-1] < 10
    assert averages[-1] > 4 * min(averages)
    assert all(a <= 4 * min(averages[:i + 1]) for i, a in enumerate(averages[:-1]))
    cycled = json.loads((results / 'one_cycle_summary.json').read_text())['runs'][1]
    assert cycled['label'] == 'momentum one-cycle'
    assert max(cycled['lr']) == pytest.approx(0.05, rel=0.02) and cycled['lr'][-1] < 1e-5
    assert min(cycled['momentum']) == pytest.approx(0.85, abs=0.01) and cycled['momentum'][0] == pytest.approx(0.95)
    for name in ('sweep_lr_range.svg', 'sweep_lr_range.md', 'one_cycle_loss.svg', 'one_cycle_schedule.svg',
                 'one_cycle_table.md'):
        assert (results / name).stat().st_size > 0
