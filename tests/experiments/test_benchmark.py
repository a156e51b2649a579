import json
import math
import os
import re
import signal

import numpy as np
import pytest
import torch
from torch import nn

from labml_opt.experiments import benchmark
from labml_opt.experiments.benchmark import Chars, Digits, Outcome, Workload


def test_the_text_splits_into_contiguous_disjoint_parts_and_targets_are_the_next_characters():
    data = Chars(seed=0, steps=3)
    assert len(data.train) + len(data.valid) + len(data.test) > 460_000
    assert len(data.train) == pytest.approx(8 * len(data.test), rel=0.01)
    from pydoc_data.topics import topics
    text = '\n\n'.join(topics[key] for key in sorted(topics))
    decoded = ''.join(data.vocabulary[i] for i in data.test[:200].tolist())
    assert decoded == text[len(data.train) + len(data.valid):][:200]
    x, y = next(data.train_batches(0))
    assert x.shape == y.shape == (32, 64) and torch.equal(x[:, 1:], y[:, :-1])


def test_batches_are_paired_by_seed_and_the_test_windows_never_change():
    first, again, other = Chars(seed=1, steps=2), Chars(seed=1, steps=2), Chars(seed=2, steps=2)
    for (a, _), (b, _), (c, _) in zip(first.train_batches(0), again.train_batches(0), other.train_batches(0)):
        assert torch.equal(a, b) and not torch.equal(a, c)
    assert all(torch.equal(a[0], c[0]) for a, c in zip(first.test_batches(), other.test_batches()))


def rows(x: torch.Tensor) -> set:
    return {bytes(row.numpy().tobytes()) for row in x}


def test_the_digits_test_split_is_the_same_for_every_seed_and_never_trained_or_validated_on():
    one, two = Digits(seed=1), Digits(seed=2)
    # The same digits, normalised with each seed's own training pixels
    assert torch.equal(one.y_test, two.y_test) and len(one.x_test) == 750
    assert torch.allclose(one.x_test * one.std + one.mean, two.x_test * two.std + two.mean, atol=1e-3)
    assert len(one.x_valid) == 638 and len(one.x_train) == 3612
    test = rows(one.x_test)
    assert not test & rows(one.x_train) and not test & rows(one.x_valid)
    assert rows(one.x_valid) != rows(two.x_valid)


def fake_runs(valid, test):
    """A stand-in for `one_run`: the final validation and test loss of each learning rate."""
    def one_run(workload, name, lr, hyper, seed, progress, index, invocation):
        outcome = Outcome(name, lr, seed, hyper, curve=[(10, valid[round(lr, 8)], 1.)], test_loss=test[round(lr, 8)])
        calls.append((name, lr, seed))
        return outcome
    calls = []
    return one_run, calls


def test_tuning_chooses_on_validation_loss_with_the_same_grid_for_every_optimizer_and_reports_other_seeds(
        labml_dir, monkeypatch):
    factors = [0.1, 1., 10.]
    assert benchmark.centre('sgd') == 0.1 and benchmark.centre('adam') == 1e-3
    lrs = {round(benchmark.centre(n) * f, 8) for n in ('sgd', 'adam') for f in factors}
    # The centre of each grid is best on validation, the largest rate on the test split
    valid = {lr: 1. if lr in (0.1, 1e-3) else 2. for lr in lrs}
    test = {lr: 0. if lr in (1., 1e-2) else 1. for lr in lrs}
    one_run, calls = fake_runs(valid, test)
    monkeypatch.setattr(benchmark, 'one_run', one_run)
    invocation = benchmark.Invocation('test', benchmark.COMMAND, [])
    outcomes = benchmark.benchmark([Workload('chars', 1, 1)], ['sgd', 'adam'], factors, seeds=[1, 2, 3],
                                   invocation=invocation)
    for name in ('sgd', 'adam'):
        grid = [(lr, seed) for n, lr, seed in calls if n == name and seed == 0]
        reported = [(lr, seed) for n, lr, seed in calls if n == name and seed != 0]
        assert len(grid) == len(factors) * (1 if name == 'sgd' else 2)
        assert reported == [(benchmark.centre(name), seed) for seed in (1, 2, 3)]
    assert len(outcomes['chars']) == (3 + 3) + (6 + 3)


def searched(valid_of_lr, name, extend, factors=(0.1, 1., 10.), hyper_loss=lambda hyper: 0.):
    """The tuning runs and the reported rate of `name` when the validation loss at `lr` is `valid_of_lr(lr)`."""
    calls = []

    def one_run(workload, name, lr, hyper, seed, progress, index, invocation):
        calls.append((lr, hyper, seed, index))
        return Outcome(name, lr, seed, hyper, curve=[(10, valid_of_lr(lr) + hyper_loss(hyper), 1.)], test_loss=1.)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(benchmark, 'one_run', one_run)
        benchmark.benchmark([Workload('chars', 1, 1)], [name], list(factors), seeds=[1, 2],
                            invocation=benchmark.Invocation('test', benchmark.COMMAND, []), extend=extend)
    tuning = [(lr, hyper) for lr, hyper, seed, _ in calls if seed == 0]
    reported = {lr for lr, _, seed, _ in calls if seed != 0}
    assert len(reported) == 1
    return tuning, reported.pop(), [index for *_, index in calls]


def test_a_best_rate_at_the_edge_of_the_grid_extends_it_half_a_decade_at_a_time_up_to_the_same_cap():
    # sgd's grid is 0.01, 0.1 and 1; the validation loss is lowest at 10, a decade above it
    def valid(lr):
        return abs(math.log10(lr) - 1)
    tuning, chosen, indices = searched(valid, 'sgd', extend=3)
    rates = [lr for lr, _ in tuning]
    assert rates[3:] == pytest.approx([10 ** 0.5, 10., 10 ** 1.5]) and chosen == pytest.approx(10.)
    # The places of the runs: the grid and the extensions, then the two reported seeds
    assert indices == [0, 1, 2, 3, 4, 5, 6, 7]
    tuning, chosen, indices = searched(valid, 'sgd', extend=1)
    assert len(tuning) == 4 and chosen == pytest.approx(10 ** 0.5)
    # The same at the bottom, and no extension where the best is inside the grid
    tuning, chosen, _ = searched(lambda lr: abs(math.log10(lr) + 3), 'sgd', extend=3)
    assert [lr for lr, _ in tuning][3:] == pytest.approx([10 ** -2.5, 10 ** -3, 10 ** -3.5])
    tuning, chosen, indices = searched(lambda lr: abs(math.log10(lr) + 1), 'sgd', extend=3)
    assert len(tuning) == 3 and chosen == pytest.approx(0.1)
    # The reserved places of the unused extensions are skipped
    assert indices == [0, 1, 2, 6, 7]


def test_a_rate_beyond_the_edge_that_diverges_ends_the_search():
    tuning, chosen, _ = searched(lambda lr: math.inf if lr > 1.5 else -lr, 'sgd', extend=3)
    assert len(tuning) == 4 and chosen == 1.


def test_a_grid_that_diverges_everywhere_is_searched_below_its_smallest_rate():
    tuning, chosen, _ = searched(lambda lr: math.inf if lr > 0.005 else -lr, 'sgd', extend=3)
    assert len(tuning) == 5 and chosen == pytest.approx(10 ** -2.5)


def test_the_search_extends_the_rates_of_the_chosen_second_hyper_parameter_only():
    # adam's grid: four rates at each of two betas; the second betas are better, and at the top edge
    second = benchmark.SECOND['adam'][1][1]
    tuning, chosen, _ = searched(lambda lr: -lr, 'adam', extend=2,
                                 hyper_loss=lambda hyper: -1. if list(hyper['betas']) == list(second) else 0.)
    assert len(tuning) == 8 and all(list(hyper['betas']) == list(second) for _, hyper in tuning[6:])
    assert chosen == pytest.approx(1e-2 * 10)


def test_every_optimizer_has_a_second_hyper_parameter_or_is_said_to_have_none():
    from labml_opt.experiments.runs import hyper_parameters, takes_hyper_parameters
    import inspect
    assert set(benchmark.SECOND) | set(benchmark.NO_SECOND) == set(benchmark.OPTIMIZERS)
    for name, (key, values) in benchmark.SECOND.items():
        assert key in hyper_parameters(name) and len(values) == 2
        # The first value is the one the experiments use: the optimizer's default, or ours
        default = benchmark.OPTIMIZERS[name].get(key, inspect.signature(takes_hyper_parameters(name))
                                                 .parameters[key].default)
        assert values[0] == default, name


def models_and_batches():
    """The two workloads' models, at their real sizes, each with a batch of random inputs and targets."""
    generator = torch.Generator().manual_seed(0)
    digits = torch.randn(32, 784, generator=generator), torch.randint(0, 10, (32,), generator=generator)
    chars = torch.randint(0, 103, (4, 65), generator=generator)
    return [(benchmark.MLP(784, 256, 10), digits), (benchmark.CharTransformer(103), (chars[:, :-1], chars[:, 1:]))]


@pytest.mark.parametrize('name', list(benchmark.OPTIMIZERS))
def test_every_optimizer_is_built_for_both_models_and_moves_every_parameter(name):
    from labml_opt.experiments.runs import make_optimizer
    torch.manual_seed(0)
    for model, (x, y) in models_and_batches():
        optimizer = make_optimizer(name, model, {})
        benchmark.set_mode(benchmark.Learner(model, optimizer, benchmark.sequence_loss, None), True)
        before = [p.detach().clone() for p in model.parameters()]
        for _ in range(3):
            optimizer.zero_grad()
            loss = benchmark.sequence_loss(model(x), y)
            loss.backward()
            optimizer.step()
        assert torch.isfinite(loss)
        for (param_name, param), old in zip(model.named_parameters(), before):
            assert torch.isfinite(param).all() and not torch.equal(param, old), f'{name}: {param_name}'


@pytest.mark.parametrize('name', ['lion', 'muon'])
def test_an_optimizer_by_name_takes_options_that_are_not_hyper_parameters(name):
    # As benchmarks/state_precision_training.py builds them, with their state in bfloat16 (Muon's
    # through its groups)
    from labml_opt.experiments.runs import make_optimizer
    optimizer = make_optimizer(name, benchmark.MLP(784, 256, 10), {}, state_dtype=torch.bfloat16, seed=3)
    assert (optimizer.state_dtype, optimizer.seed) == (torch.bfloat16, 3)


def test_muon_takes_the_hidden_matrices_and_adamw_every_other_parameter_once():
    from labml_opt.experiments.runs import muon_param_groups
    expected_muon = [{'layers.0.weight', 'layers.2.weight'},
                     {f'blocks.{i}.{layer}.weight' for i in range(2) for layer in ('qkv', 'project', 'mlp.0', 'mlp.2')}]
    for (model, _), muon_names in zip(models_and_batches(), expected_muon):
        names = {id(param): name for name, param in model.named_parameters()}
        muon, adam = muon_param_groups(model, lr=0.02, adam_lr_ratio=0.5)
        assert muon['use_muon'] and not adam['use_muon'] and adam['lr'] == 0.01
        grouped = [names[id(param)] for group in (muon, adam) for param in group['params']]
        # Every parameter in exactly one group
        assert sorted(grouped) == sorted(names.values())
        assert {names[id(param)] for param in muon['params']} == muon_names
        assert all(param.dim() == 2 for param in muon['params'])
    # Embeddings, positions, the head, biases and norms go to AdamW
    assert {'embedding.weight', 'position', 'head.weight', 'head.bias', 'norm.weight', 'blocks.0.norm1.bias'} <= {
        names[id(param)] for param in adam['params']}


def test_state_bytes_counts_every_tensor_an_optimizer_keeps_but_its_step_counts():
    import labml_opt
    layer = nn.Linear(30, 20, bias=False)
    for optimizer, expected in [(labml_opt.Adam(layer.parameters()), 8.),
                                # Adafactor's statistics of a 20 x 30 matrix: a row and a column
                                (labml_opt.Adafactor(layer.parameters()), 4 * (20 + 30) / 600),
                                # SOAP's two moments, and its lists of statistics and eigenbases, 20 x 20 and 30 x 30
                                (labml_opt.SOAP(layer.parameters(), precondition_frequency=1),
                                 8 + 2 * 4 * (20 * 20 + 30 * 30) / 600)]:
        for _ in range(2):
            optimizer.zero_grad()
            layer(torch.randn(4, 30)).square().sum().backward()
            optimizer.step()
        assert benchmark.state_bytes(optimizer) == pytest.approx(expected), type(optimizer).__name__


def test_a_diverging_grid_point_is_an_outcome_not_the_end_of_the_benchmark(labml_dir):
    progress = benchmark.Progress('benchmark', [6])
    outcome = benchmark.one_run(Workload('chars', epochs=2, steps=3), 'sgd', 1e9, {}, 0, progress, 0,
                                benchmark.Invocation('test', benchmark.COMMAND, []))
    assert outcome.diverged and 'loss became' in outcome.diverged
    assert math.isinf(outcome.final_valid) and math.isinf(outcome.test_loss)
    # A resume reads it back rather than training it again
    done = benchmark.completed(Workload('chars', epochs=2, steps=3), benchmark.Invocation('test', benchmark.COMMAND, []))
    assert list(done) == ['sgd lr=1e+09 seed=0'] and done['sgd lr=1e+09 seed=0'].diverged == outcome.diverged


@pytest.mark.parametrize('stats,tied', [
    ({'adam': (1.00, 0.02), 'sgd': (1.01, 0.01), 'adagrad': (1.20, 0.01)}, ['sgd']),
    ({'adam': (1.00, 0.001), 'sgd': (1.01, 0.001)}, []),
])
def test_the_verdict_calls_differences_within_one_standard_deviation_a_tie(stats, tied):
    text = benchmark.verdict('mnist', stats, 'loss', edges=['sgd'])
    assert text.startswith('* **mnist**: `adam` has the lowest mean test loss, 1.0000 ± ')
    assert ('a tie' in text) == bool(tied) and all(f'`{n}`' in text.split('lowest')[1] for n in tied)
    assert '`adagrad`' not in text
    assert 'The tuned learning rate of `sgd` is at the edge of the grid' in text


def test_a_tiny_benchmark_writes_repeatable_results_apart_from_its_timing(labml_dir, monkeypatch, capsys):
    monkeypatch.setitem(benchmark.WORKLOADS, 'quick', {'chars': Workload('chars', epochs=2, steps=4)})
    monkeypatch.setitem(benchmark.LR_FACTORS, 'quick', [1., 10.])
    for folder in ('first', 'second'):
        benchmark.main(['--quick', '--workloads', 'chars', '--optimizers', 'sgd,adam', '--seeds', '2',
                        '--results', str(labml_dir / folder)])
    names = ['benchmark_summary.json', 'benchmark_chars_table.md', 'benchmark_verdict.md', 'benchmark_chars_loss.svg',
             'benchmark_chars_lr.svg', 'benchmark_chars_target.svg']
    for name in names:
        assert (labml_dir / 'first' / name).read_bytes() == (labml_dir / 'second' / name).read_bytes(), name
    summary = json.loads((labml_dir / 'first' / 'benchmark_summary.json').read_text())
    adam = summary['workloads']['chars']['optimizers']['adam']
    assert len(adam['grid']) == 4 and len(adam['test_loss']) == 2 and adam['state_bytes_per_parameter'] == 8
    assert {json.dumps(point['betas']) for point in adam['grid']} == {'[0.9, 0.999]', '[0.9, 0.99]'}
    assert 'seconds' not in json.dumps(summary)
    timing = json.loads((labml_dir / 'first' / 'benchmark_timing.json').read_text())
    assert timing['chars']['adam']['seconds_per_step'] > 0
    # sgd: 2 grid points + 2 seeds; adam: 2 x 2 grid points + 2 seeds; each a labml run, twice
    assert len(list((labml_dir / 'logs' / 'benchmark_chars').iterdir())) == 2 * (4 + 6)
    out = capsys.readouterr().out
    assert 'run 10/10' in out and 'all ETA' in out and '\x1b' not in out


def test_runs_started_in_the_same_instant_get_their_own_directories(labml_dir, monkeypatch):
    # Two workers forked by `--jobs` share labml's time-based UUID state: in the same instant it
    # gives both the same UUID, as it does every run here
    import labml.experiment
    monkeypatch.setattr(labml.experiment, 'generate_uuid', lambda: 'f' * 32)
    monkeypatch.setitem(benchmark.WORKLOADS, 'quick', {'chars': Workload('chars', epochs=1, steps=2)})
    monkeypatch.setitem(benchmark.LR_FACTORS, 'quick', [1.])
    monkeypatch.setitem(benchmark.EXTEND, 'quick', 0)
    benchmark.main(['--quick', '--workloads', 'chars', '--optimizers', 'sgd', '--seeds', '2',
                    '--results', str(labml_dir / 'results')])
    # One grid point and two seeds, each a run of its own
    assert len(list((labml_dir / 'logs' / 'benchmark_chars').iterdir())) == 3


def test_two_jobs_write_the_results_of_one(labml_dir, monkeypatch):
    monkeypatch.setitem(benchmark.WORKLOADS, 'quick', {'chars': Workload('chars', epochs=2, steps=4)})
    monkeypatch.setitem(benchmark.LR_FACTORS, 'quick', [1., 10.])
    # With one rate beyond the edge of each grid, where the best is at its edge
    monkeypatch.setitem(benchmark.EXTEND, 'quick', 1)
    for jobs in ('1', '2'):
        benchmark.main(['--quick', '--workloads', 'chars', '--optimizers', 'muon,sgd,adam', '--seeds', '2',
                        '--jobs', jobs, '--results', str(labml_dir / jobs)])
    for name in ('benchmark_summary.json', 'benchmark_chars_table.md', 'benchmark_verdict.md'):
        assert (labml_dir / '1' / name).read_bytes() == (labml_dir / '2' / name).read_bytes(), name
    assert json.loads((labml_dir / '2' / 'benchmark_timing.json').read_text())['runs_at_a_time'] == 2
    summary = json.loads((labml_dir / '1' / 'benchmark_summary.json').read_text())
    rows = summary['workloads']['chars']['optimizers']
    # muon: 2 x 2 grid points, sgd 2, adam 4, each with at most one more; then 2 seeds; each a labml run, twice
    assert [len(rows[n]['grid']) - base for n, base in (('muon', 4), ('sgd', 2), ('adam', 4))] != [0, 0, 0]
    assert all(len(rows[n]['grid']) - base in (0, 1) for n, base in (('muon', 4), ('sgd', 2), ('adam', 4)))
    runs = sum(len(row['grid']) + 2 for row in rows.values())
    assert len(list((labml_dir / 'logs' / 'benchmark_chars').iterdir())) == 2 * runs
    assert summary['extra_rates'] == 1


def test_the_quick_benchmark_and_changed_settings_never_write_next_to_the_page(labml_dir, monkeypatch):
    from labml_opt.experiments.results import RESULTS
    written = []
    monkeypatch.setattr(benchmark, 'benchmark', lambda *args, **kwargs: written.append(args) or {})
    monkeypatch.setattr(benchmark, 'summarize', lambda outcomes, seeds: ({'workloads': {}}, {}))
    committed = {path.name: path.read_bytes() for path in RESULTS.glob('benchmark_*')}
    for argv in (['--quick'], ['--seeds', '4'], ['--workloads', 'mnist']):
        benchmark.main(argv)
        assert (labml_dir / 'logs' / 'results' / 'benchmark_summary.json').exists()
        assert {path.name: path.read_bytes() for path in RESULTS.glob('benchmark_*')} == committed


@pytest.mark.parametrize('argv,message', [
    (['--seeds', '1'], 'argument --seeds: invalid value 1: must be >= 2'),
    (['--workloads', 'mnist,cifar'], "Unknown workload 'cifar': choose from mnist, chars"),
    (['--optimizers', 'adamm'], "Unknown optimizer 'adamm'"),
])
def test_bad_benchmark_options_are_refused_before_training(labml_dir, capsys, argv, message):
    with pytest.raises(SystemExit):
        benchmark.main(argv)
    assert message in capsys.readouterr().err
    assert not (labml_dir / 'logs').exists()


TINY = ['--quick', '--workloads', 'chars', '--optimizers', 'adam', '--seeds', '2']
FILES = ['benchmark_summary.json', 'benchmark_chars_table.md', 'benchmark_verdict.md', 'benchmark_chars_loss.svg']


@pytest.mark.parametrize('speed', [[], ['--jobs', '2']], ids=['as-it-was', 'two-jobs'])
def test_an_interrupted_benchmark_resumes_to_the_results_of_a_straight_one(labml_dir, monkeypatch, capsys,
                                                                           sigint_default, speed):
    monkeypatch.setitem(benchmark.WORKLOADS, 'quick', {'chars': Workload('chars', epochs=2, steps=4)})
    # A resume replays the search beyond the edge of the grid from the runs it reads back
    monkeypatch.setitem(benchmark.EXTEND, 'quick', 1)
    show = benchmark.ShowProgress.after_batch

    def after_batch(self, runner):
        show(self, runner)
        if self.index == 3 and runner.in_train and runner.step == 2:
            os.kill(os.getpid(), signal.SIGINT)

    with monkeypatch.context() as patch:
        patch.setattr(benchmark.ShowProgress, 'after_batch', after_batch)
        with pytest.raises(SystemExit) as exit_info:
            benchmark.main(TINY + ['--results', str(labml_dir / 'a')])
    assert exit_info.value.code == 130
    uuid = re.search(r'--resume (\w+)', capsys.readouterr().err).group(1)
    assert not (labml_dir / 'a').exists()
    with pytest.raises(SystemExit):
        benchmark.main(['--resume', uuid, '--seeds', '4'])
    assert 'cannot be combined with --seeds' in capsys.readouterr().err
    benchmark.main(['--resume', uuid, *speed])
    out = capsys.readouterr().out
    # The 3 runs completed before Ctrl-C (the grid) are read back; the interrupted one and the rest are trained
    # (forked workers print their lines past pytest's capture)
    if not speed:
        assert out.count(': completed before') == 3
    benchmark.main(TINY + ['--results', str(labml_dir / 'b')])
    for name in FILES:
        assert (labml_dir / 'a' / name).read_bytes() == (labml_dir / 'b' / name).read_bytes(), name
    with pytest.raises(SystemExit) as exit_info:
        benchmark.main(['--resume', uuid])
    assert exit_info.value.code == 2 and 'nothing to resume' in capsys.readouterr().err


def test_a_reported_seed_that_diverged_ranks_its_optimizer_last_and_the_table_says_so(tmp_path):
    def outcome(name, lr, seed, final, diverged=''):
        curve = [(10, 3., 1.)] + ([] if diverged else [(20, final, 2.)])
        return Outcome(name, lr, seed, {}, curve=curve, test_loss=math.inf if diverged else final,
                       test_accuracy=0. if diverged else 0.5, diverged=diverged)

    runs = [outcome('sgd', 0.1, 0, 2.), outcome('sgd', 1., 0, 2.5), outcome('sgd', 0.1, 1, 2.1),
            outcome('sgd', 0.1, 2, 2.2),
            outcome('momentum', 0.01, 0, 1.5), outcome('momentum', 0.01, 1, 1.5), outcome('momentum', 0.01, 2, 1.6),
            outcome('adam', 1e-3, 0, 1.), outcome('adam', 1e-2, 0, 1.5), outcome('adam', 1e-3, 1, 1.1),
            outcome('adam', 1e-3, 2, 0, diverged='the training loss became nan')]
    summary, _ = benchmark.summarize({'chars': runs}, seeds=[1, 2])
    # The median of the worst seeds' final losses: 1.6, 2.2 and infinity
    assert summary['workloads']['chars']['target_valid_loss'] == 2.2
    benchmark.render(summary, tmp_path)
    rows = (tmp_path / 'benchmark_chars_table.md').read_text().splitlines()[2:]
    # Adam's one finished seed is the best of all, but a diverged seed puts it last
    assert [row.split(' | ')[0] for row in rows] == ['| `momentum`', '| `sgd`', '| `adam`']
    assert '(1 diverged)' in rows[2] and '| 20 (1 of 2 seeds) |' in rows[2] and '| 20 |' in rows[1]
    verdict = (tmp_path / 'benchmark_verdict.md').read_text()
    assert '`momentum` has the lowest mean test bits per character' in verdict
    assert (tmp_path / 'benchmark_chars_loss.svg').exists()



def cielab(rgb) -> np.ndarray:
    """CIE L*a*b* of an sRGB colour (D65 white), where a distance of about 2 is just noticeable."""
    c = np.array(rgb[:3], dtype=float)
    c = np.where(c > 0.04045, ((c + 0.055) / 1.055) ** 2.4, c / 12.92)
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]) @ c
    xyz /= np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def test_no_two_optimizers_of_the_loss_plot_look_alike():
    # Two lines of one style are at least 25 apart in L*a*b* (tab20's pairs of shades were 22 to 46)
    names = list(benchmark.OPTIMIZERS)
    looks = [(benchmark.line_style(i), cielab(benchmark.colour(i))) for i in range(len(names))]
    for i, (style, lab) in enumerate(looks):
        for j in range(i):
            if looks[j][0] == style:
                assert np.linalg.norm(lab - looks[j][1]) >= 25, (names[i], names[j])
