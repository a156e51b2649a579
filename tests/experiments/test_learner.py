import pytest
import torch
from torch import nn

import labml_opt.sophia
from labml_opt import Adam, SGD, ScheduleFreeSGD, Sophia
from labml_opt.experiments.data import Data
from labml_opt.experiments.learner import (AccumulateGradients, AvgStats, CancelBatch, CancelEpoch, CancelFit, Callback, Learner,
                                           ParamScheduler, Recorder, RefreshHessian, Runner, TrainEval,
                                           optimizer_callbacks)
from labml_opt.experiments.schedules import constant, linear


def tiny_data(n=20, batch_size=8, n_inputs=3):
    """`n` random points in 3 dimensions with 2 classes; a valid_fraction of 0.2 leaves 16 to train on."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(n, n_inputs, generator=generator).numpy()
    y = (x[:, 0] > 0).astype(int)
    return Data(x, y, valid_fraction=0.2, batch_size=batch_size, seed=0)


def tiny_learner(data, optimizer=SGD, **kwargs):
    torch.manual_seed(0)
    model = nn.Linear(data.n_inputs, 2)
    return Learner(model, optimizer(model.parameters(), **kwargs), nn.functional.cross_entropy, data)


class Log(Callback):
    """Records every event it sees, with a tag, into a shared list."""
    EVENTS = ('begin_fit', 'begin_epoch', 'begin_validate', 'begin_batch', 'after_pred', 'after_loss',
              'after_backward', 'after_step', 'after_batch', 'after_epoch', 'after_fit', 'after_cancel_batch',
              'after_cancel_epoch', 'after_cancel_fit')

    def __init__(self, tag, events, order=0, cancel=None):
        self.tag, self.events, self.order, self.cancel = tag, events, order, cancel
        for event in self.EVENTS:
            setattr(self, event, self.recorder(event))

    def recorder(self, event):
        def record(runner):
            self.events.append((self.tag, event))
            if self.cancel is not None and self.cancel[0] == event and self.cancel[1](runner):
                raise self.cancel[2]
        return record


def test_events_come_in_loop_order_and_callbacks_in_order_of_their_order():
    events = []
    data = tiny_data(n=20, batch_size=8)  # 16 training digits: 2 batches; 4 validation digits: 1 batch
    Runner(tiny_learner(data, lr=0.1), [Log('late', events, order=5), Log('early', events, order=-1)]).fit(1)
    early = [e for tag, e in events if tag == 'early']
    train_batch = ['begin_batch', 'after_pred', 'after_loss', 'after_backward', 'after_step', 'after_batch']
    valid_batch = ['begin_batch', 'after_pred', 'after_loss', 'after_batch']
    assert early == (['begin_fit', 'begin_epoch'] + train_batch * 2 + ['begin_validate'] + valid_batch
                     + ['after_epoch', 'after_fit'])
    assert [tag for tag, _ in events[:2]] == ['early', 'late']
    assert len(events) == 2 * len(early)


def test_cancel_batch_skips_the_step_but_after_batch_still_runs():
    events = []
    learner = tiny_learner(tiny_data(), lr=0.1)
    before = [p.clone() for p in learner.model.parameters()]
    cancel = ('after_backward', lambda runner: True, CancelBatch)
    Runner(learner, [Log('x', events, cancel=cancel)]).fit(1)
    names = [e for _, e in events]
    assert 'after_step' not in names
    assert names.count('after_cancel_batch') == 2 and names.count('after_batch') == 3
    assert all(torch.equal(p, q) for p, q in zip(before, learner.model.parameters()))


def test_cancel_epoch_skips_the_rest_of_the_epoch_and_validation():
    events = []
    cancel = ('after_batch', lambda runner: runner.in_train and runner.batch == 0, CancelEpoch)
    Runner(tiny_learner(tiny_data(), lr=0.1), [Log('x', events, cancel=cancel)]).fit(2)
    names = [e for _, e in events]
    assert names.count('after_cancel_epoch') == 2 and names.count('after_epoch') == 2
    assert 'begin_validate' not in names and names.count('after_step') == 2


def test_cancel_fit_stops_training_and_after_fit_still_runs():
    events = []
    cancel = ('after_step', lambda runner: runner.step == 2, CancelFit)
    runner = Runner(tiny_learner(tiny_data(), lr=0.1), [Log('x', events, cancel=cancel)])
    runner.fit(5)
    names = [e for _, e in events]
    assert names.count('after_step') == 3 and names[-2:] == ['after_cancel_fit', 'after_fit']
    assert runner.epoch == 1


def test_avg_stats_weights_each_batch_by_its_size():
    # 16 training digits in batches of 6, 6 and 4: the mean of batch means is not the epoch mean.
    data = tiny_data(n=20, batch_size=6)
    learner = tiny_learner(data, lr=0.)
    stats = AvgStats()
    runner = Runner(learner, [stats])
    runner.fit(1)
    with torch.no_grad():
        full_loss = nn.functional.cross_entropy(learner.model(data.x_train), data.y_train).item()
        full_accuracy = (learner.model(data.x_train).argmax(-1) == data.y_train).float().mean().item()
        batch_means = [nn.functional.cross_entropy(learner.model(xb), yb).item() for xb, yb in data.train_batches(0)]
    assert runner.stats['train']['loss'] == pytest.approx(full_loss, rel=1e-6)
    assert runner.stats['train']['accuracy'] == pytest.approx(full_accuracy)
    assert abs(sum(batch_means) / 3 - full_loss) > 1e-4
    assert stats.counts == {'train': 16, 'valid': 4}


def test_validation_runs_in_eval_mode_without_gradients():
    seen = []

    class Probe(Callback):
        order = 1

        def after_pred(self, runner):
            seen.append((runner.in_train, runner.learner.model.training, runner.pred.requires_grad))

    model = nn.Sequential(nn.Linear(3, 2), nn.Dropout(0.5))
    data = tiny_data()
    learner = Learner(model, SGD(model.parameters(), lr=0.1), nn.functional.cross_entropy, data)
    Runner(learner, [TrainEval(), Probe()]).fit(1)
    assert seen == [(True, True, True)] * 2 + [(False, False, False)]


def test_param_scheduler_sets_lr_per_group_and_beta1():
    data = tiny_data(n=40, batch_size=4)  # 32 training digits: 8 batches
    model = nn.Linear(3, 2)
    optimizer = Adam([{'params': [model.weight]}, {'params': [model.bias]}], lr=1e-3)
    seen = []

    class Probe(Callback):
        order = 2

        def begin_batch(self, runner):
            if runner.in_train:
                seen.append([(g['lr'], g['betas']) for g in runner.learner.optimizer.param_groups])

    recorder = Recorder()
    callbacks = [ParamScheduler('lr', [linear(0., 1.), constant(0.5)]), ParamScheduler('beta1', linear(0.9, 0.8)),
                 Probe(), recorder]
    Runner(Learner(model, optimizer, nn.functional.cross_entropy, data), callbacks).fit(2)
    assert len(seen) == 16
    assert seen[0][0][0] == 0. and seen[-1][0][0] == pytest.approx(1.)
    assert seen[5][0][0] == pytest.approx(5 / 15) and all(s[1][0] == 0.5 for s in seen)
    assert seen[0][0][1] == (0.9, 0.999) and seen[-1][1][1] == pytest.approx((0.8, 0.999))
    assert [lrs[0] for lrs in recorder.lrs] == [s[0][0] for s in seen]


def test_param_scheduler_rejects_an_unknown_hyper_parameter_listing_the_valid_ones():
    runner = Runner(tiny_learner(tiny_data(), lr=0.1), [ParamScheduler('beta1', linear(0.9, 0.8))])
    with pytest.raises(ValueError, match=r"Invalid hyper-parameter 'beta1' to schedule for SGD: must be one of ") as error:
        runner.fit(1)
    assert {'lr', 'momentum', 'weight_decay'} <= set(str(error.value).split(': must be one of ')[1].split(', '))


def fit_with_batches(batch_size, k, epochs=2, n=50, callbacks=()):
    # 40 training digits: 5 micro-batches of 8 (groups 2, 2, 1) or 3 batches of 16, 16 and 8.
    data = tiny_data(n=n, batch_size=batch_size)
    learner = tiny_learner(data, lr=0.5, momentum=0.9)
    stats = AvgStats()
    extra = [AccumulateGradients(k)] if k > 1 else []
    Runner(learner, [stats, *extra, *callbacks]).fit(epochs)
    return learner, stats


def test_accumulating_two_batches_of_8_steps_like_batches_of_16_including_the_short_last_group():
    small, small_stats = fit_with_batches(batch_size=8, k=2)
    large, large_stats = fit_with_batches(batch_size=16, k=1)
    for ours, theirs in zip(small.model.parameters(), large.model.parameters()):
        assert torch.allclose(ours, theirs, atol=1e-6)
    # The statistics see each batch's own loss, not the scaled one that backward sees.
    assert small_stats.averages('train')['loss'] == pytest.approx(large_stats.averages('train')['loss'], rel=1e-5)


def test_accumulation_steps_once_per_group():
    steps = []

    class Count(Callback):
        def after_step(self, runner):
            steps.append(runner.batch)

    fit_with_batches(batch_size=8, k=2, epochs=1, callbacks=[Count()])
    assert steps == [1, 3, 4]


def test_a_checkpoint_in_the_middle_of_a_group_keeps_its_gradients(tmp_path):
    from labml_opt.experiments.learner import Checkpointer, resume

    class Stop(Callback):
        order = 200

        def after_batch(self, runner):
            if runner.in_train and runner.epoch == 1 and runner.batch == 2:
                checkpointer.save(runner, runner.epoch, runner.batch + 1)
                raise CancelFit

    checkpointer = Checkpointer(tmp_path / 'checkpoint.pt')
    fit_with_batches(batch_size=8, k=2, callbacks=[Stop()])
    data = tiny_data(n=50, batch_size=8)
    learner = tiny_learner(data, lr=0.5, momentum=0.9)
    runner = Runner(learner, [AvgStats(), AccumulateGradients(2)])
    runner.fit(2, **resume(runner, tmp_path / 'checkpoint.pt'))
    straight, _ = fit_with_batches(batch_size=8, k=2)
    for ours, theirs in zip(learner.model.parameters(), straight.model.parameters()):
        assert torch.equal(ours, theirs)


def test_recorder_keeps_lr_and_loss_per_training_step_and_plots_them(tmp_path):
    data = tiny_data(n=40, batch_size=4)
    recorder = Recorder()
    Runner(tiny_learner(data, lr=0.1), [ParamScheduler('lr', linear(0.1, 0.01)), recorder]).fit(1)
    assert len(recorder.losses) == len(recorder.lrs) == 8
    assert recorder.lrs[0] == [0.1] and recorder.lrs[-1] == [pytest.approx(0.01)]
    recorder.plot_lr(tmp_path / 'lr.svg')
    recorder.plot_loss(tmp_path / 'loss.svg', smooth=3, log=True)
    assert b'<svg' in (tmp_path / 'lr.svg').read_bytes() and b'<svg' in (tmp_path / 'loss.svg').read_bytes()


class Modes(Callback):
    """Records, for each batch, whether it trains and whether the optimizer was in train mode."""

    def __init__(self):
        self.seen = []

    def after_pred(self, runner):
        self.seen.append((runner.in_train, runner.learner.optimizer.param_groups[0]['train_mode']))


def test_a_schedule_free_optimizer_trains_at_y_and_is_validated_at_the_average_x():
    data = tiny_data(n=40)
    learner = tiny_learner(data, ScheduleFreeSGD, lr=0.5)
    modes = Modes()
    # Without the switch to train mode, the first step raises: Schedule-Free starts in eval mode
    Runner(learner, [TrainEval(), modes]).fit(2)
    assert {in_train for in_train, _ in modes.seen} == {True, False}
    assert all(in_train == train_mode for in_train, train_mode in modes.seen)
    # After fit the parameters are x, the average; the schedule-free page's own train() moves them back to y
    x = [p.detach().clone() for p in learner.model.parameters()]
    learner.optimizer.train()
    z = [learner.optimizer.state[p]['z'] for p in learner.model.parameters()]
    beta = 0.9
    for p, x_, z_ in zip(learner.model.parameters(), x, z):
        assert torch.allclose(p, beta * x_ + (1 - beta) * z_)


def test_only_sophia_asks_the_loop_for_a_curvature_refresh():
    model = nn.Linear(3, 2)
    assert optimizer_callbacks(Adam(model.parameters()), 0) == []
    assert optimizer_callbacks(ScheduleFreeSGD(model.parameters()), 0) == []
    assert [type(c) for c in optimizer_callbacks(Sophia(model.parameters()), 0)] == [RefreshHessian]


def test_sophia_in_the_loop_takes_the_steps_of_the_papers_loop(monkeypatch):
    """
    `train_with_sophia` on Sophia's page is Algorithm 3; the loop with `RefreshHessian` must take
    the same steps when the sampled labels are the same draws.
    """
    draw = labml_opt.sophia.gnb_loss

    def same_draws(seed):
        generator = torch.Generator().manual_seed(seed)
        monkeypatch.setattr(labml_opt.sophia, 'gnb_loss', lambda logits, _=None: draw(logits, generator))

    data = tiny_data(n=200, batch_size=8)  # 160 training points: 20 steps, refreshed at steps 1, 11
    hyper = dict(lr=0.05, rho=0.05, weight_decay=0.)
    learner = tiny_learner(data, Sophia, **hyper)
    same_draws(7)
    refresh = RefreshHessian(every=10, seed=123)
    Runner(learner, [refresh]).fit(1)
    paper = tiny_learner(data, Sophia, **hyper)
    same_draws(7)
    labml_opt.sophia.train_with_sophia(paper.model, paper.optimizer, data.train_batches(0), k=10)
    for ours, theirs in zip(learner.model.parameters(), paper.model.parameters()):
        assert torch.equal(ours, theirs)
    assert refresh.seconds > 0
    hessian = learner.optimizer.state[next(learner.model.parameters())]['hessian']
    assert hessian.abs().sum() > 0


def test_a_curvature_refresh_leaves_accumulated_gradients_alone():
    data = tiny_data(n=40)
    learner = tiny_learner(data, Sophia)
    params = list(learner.model.parameters())
    for p in params:
        p.grad = torch.ones_like(p)
    runner = Runner(learner)
    runner.in_train, runner.step, runner.pred = True, 0, learner.model(torch.randn(4, 3))
    RefreshHessian().after_pred(runner)
    assert all(torch.equal(p.grad, torch.ones_like(p)) for p in params)
