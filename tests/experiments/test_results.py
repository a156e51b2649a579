import json

import numpy as np
import pytest

from labml_opt.experiments.plots import final_train_loss, moving_average, plot_series, results_table
from labml_opt.experiments.results import read_log, read_run


def test_read_log_merges_every_line_and_averages_values_saved_at_one_step(tmp_path):
    path = tmp_path / 'log.jsonl'
    lines = [{'track': {'loss.train': [[0, [2.0]], [1, [1.0, 3.0]]]}, 'time': 1.},
             {'track': {'loss.train': [[2, [0.5]]], 'loss.valid': [[2, [0.7]]]}, 'time': 2.}]
    path.write_text('\n'.join(json.dumps(line) for line in lines) + '\n\n')
    series = read_log(path)
    assert series['loss.train'] == ([0, 1, 2], [2.0, 2.0, 0.5])
    assert series['loss.valid'] == ([2], [0.7])


def test_read_run_refuses_a_directory_that_is_not_a_run(tmp_path):
    with pytest.raises(FileNotFoundError, match='no run.yaml'):
        read_run(tmp_path)


def test_moving_average_is_the_mean_of_each_window():
    assert moving_average([1, 2, 3, 4, 5], 2).tolist() == [1.5, 2.5, 3.5, 4.5]
    assert moving_average([1, 2], 10).tolist() == [1.5]


def test_results_table_reports_the_last_epoch_and_the_mean_of_the_last_losses():
    run = {'label': 'adam', 'loss': list(np.linspace(2, 0, 40)), 'valid_loss': [0.5, 0.25],
           'valid_accuracy': [0.9, 0.955]}
    assert final_train_loss(run) == pytest.approx(np.mean(np.linspace(2, 0, 40)[-20:]))
    table = results_table([run], 'optimizer').splitlines()
    assert table[0] == '| optimizer | final train loss | valid loss | valid accuracy |'
    assert table[2] == f'| `adam` | {final_train_loss(run):.4g} | 0.25 | 95.5% |'


def test_plots_are_svg_without_a_date_and_identical_when_redrawn(tmp_path):
    series = {'a': [3., 2., 1.5, 1.], 'b': [3., 1., 0.5, 0.2]}
    first = plot_series(series, tmp_path / 'x.svg', ylabel='loss', smooth=2, log=True).read_bytes()
    second = plot_series(series, tmp_path / 'x.svg', ylabel='loss', smooth=2, log=True).read_bytes()
    assert first == second and b'<svg' in first and b'dc:date' not in first


def test_committed_plots_and_tables_are_what_the_committed_summaries_draw(tmp_path):
    import shutil

    from labml_opt.experiments.__main__ import main
    from labml_opt.experiments.results import RESULTS
    for summary in RESULTS.glob('*_summary.json'):
        shutil.copy(summary, tmp_path)
    main(['redraw', '--results', str(tmp_path)])
    drawn = sorted(p.name for p in tmp_path.iterdir() if p.suffix in ('.svg', '.md'))
    assert 'compare_loss.svg' in drawn and 'sweep_lr_range.md' in drawn and 'one_cycle_table.md' in drawn
    for name in drawn:
        assert (tmp_path / name).read_bytes() == (RESULTS / name).read_bytes(), name


def reference_parser():
    import argparse
    from labml_opt.experiments.runs import common_arguments
    parser = argparse.ArgumentParser()
    common_arguments(parser)
    parser.add_argument('--optimizers', default='sgd,adam')
    return parser


@pytest.mark.parametrize('argv', [['--epochs', '1'], ['--optimizers', 'adam'], ['--seed', '3'], ['--data', 'sklearn']])
def test_a_changed_run_writes_its_results_under_logs_not_next_to_the_pages(labml_dir, argv):
    from labml_opt.experiments.results import logs_path, results_folder
    parser = reference_parser()
    assert results_folder(parser.parse_args(argv), parser) == logs_path() / 'results'


def test_only_the_reference_settings_or_an_explicit_folder_write_next_to_the_pages(labml_dir, tmp_path):
    from labml_opt.experiments.results import RESULTS, results_folder
    parser = reference_parser()
    assert results_folder(parser.parse_args([]), parser) == RESULTS
    assert results_folder(parser.parse_args(['--threads', '2']), parser, ignore=('threads',)) == RESULTS
    assert results_folder(parser.parse_args(['--epochs', '1', '--results', str(tmp_path)]), parser) == tmp_path


def test_a3c_with_other_settings_keeps_the_committed_run(labml_dir):
    from labml_opt.experiments import a3c
    from labml_opt.experiments.results import RESULTS, logs_path
    assert a3c.parse_args([]).results == RESULTS
    assert a3c.parse_args(['--timeout', '5']).results == RESULTS
    assert a3c.parse_args(['--total-steps', '1000']).results == logs_path() / 'results'
