"""
Bad input is refused before anything trains, naming the option, its value and the valid range;
a loss that is no longer finite stops the command with a non-zero exit.
"""
import dataclasses

import numpy as np
import pytest

from labml_opt.experiments import a3c, compare
from labml_opt.experiments.data import Data
from labml_opt.experiments.results import read_status

from .conftest import write_idx


@pytest.fixture
def idx_dir_with_a_stray_label(idx_dir):
    from sklearn.datasets import load_digits
    labels = load_digits().target[:400].astype(np.uint8)
    labels[17] = 12
    write_idx(idx_dir / 'train-labels-idx1-ubyte', labels)
    return idx_dir


def test_labels_outside_the_class_range_are_refused_before_training(labml_dir, idx_dir_with_a_stray_label, capsys):
    with pytest.raises(SystemExit) as exit_info:
        compare.main(['--data', str(idx_dir_with_a_stray_label), '--optimizers', 'adam'])
    assert exit_info.value.code == 2
    assert (f"argument --data: invalid value '{idx_dir_with_a_stray_label}': 1 labels are outside the class range "
            f"0 to 9, such as 12") in capsys.readouterr().err
    assert not (labml_dir / 'logs').exists()


@pytest.mark.parametrize('label', [-1, 10, 2.5])
def test_data_refuses_a_label_outside_its_classes(label):
    y = np.arange(20) % 10
    y = y.astype(float) if isinstance(label, float) else y
    y[3] = label
    with pytest.raises(ValueError, match=f'outside the class range 0 to 9, such as {label}'):
        Data(np.zeros((20, 4)), y)


def test_data_keeps_ten_classes_when_the_digits_hold_fewer():
    assert Data(np.zeros((20, 4)), np.arange(20) % 3).n_classes == 10


@pytest.mark.parametrize('value,message', [
    ('abc', "Invalid --set 'adam.lr=abc': 'abc' is not a number"),
    ('1e999', "Invalid --set 'adam.lr=1e999': '1e999' is not finite"),
    ('[0.1]', "Invalid --set 'adam.lr=[0.1]': '[0.1]' is not a number, True/False or a tuple of numbers"),
])
def test_a_set_value_that_is_not_a_number_is_refused(labml_dir, capsys, value, message):
    with pytest.raises(SystemExit) as exit_info:
        compare.main(['--optimizers', 'adam', '--set', f'adam.lr={value}'])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert not (labml_dir / 'logs').exists()


def test_a_set_value_of_the_wrong_shape_is_refused_naming_the_optimizer(labml_dir, capsys):
    with pytest.raises(SystemExit):
        compare.main(['--optimizers', 'adam', '--set', 'adam.betas=0.9'])
    assert "Invalid hyper-parameters {'betas': 0.9} for adam" in capsys.readouterr().err


# One value outside the range of every numeric option of a3c
A3C_BAD = {
    'workers': '0', 'total_steps': '0', 'n_steps': '0', 'gamma': '1.5', 'lr': '0', 'value_coef': '-1',
    'entropy_coef': '-0.1', 'grad_clip': '0', 'd_hidden': '0', 'goal': 'nan', 'window': '0', 'seed': '-1',
    'timeout': '0',
}


def test_every_numeric_a3c_setting_has_a_range():
    numeric = {f.name for f in dataclasses.fields(a3c.Configs) if f.type in (int, float, 'int', 'float')}
    assert numeric == set(a3c.RANGES) == set(A3C_BAD)


@pytest.mark.parametrize('name,value', [*A3C_BAD.items(), ('lr', 'nan'), ('gamma', 'inf'), ('timeout', 'inf')])
def test_a3c_options_out_of_range_are_refused_with_the_range(labml_dir, capsys, name, value):
    with pytest.raises(SystemExit) as exit_info:
        a3c.main([f'--{name.replace("_", "-")}', value])
    assert exit_info.value.code == 2
    # The value as the option's type reads it: `0` is `0.0` for a float option
    shown = float(value) if a3c.Configs.__dataclass_fields__[name].type in (float, 'float') else value
    assert (f'argument --{name.replace("_", "-")}: invalid value {shown}: must be {a3c.RANGES[name][1]}'
            in capsys.readouterr().err)
    assert not (labml_dir / 'logs').exists()


def test_a_loss_that_becomes_nan_stops_the_command_with_exit_code_1(labml_dir, idx_dir, capsys):
    results = labml_dir / 'results'
    with pytest.raises(SystemExit) as exit_info:
        compare.main(['--data', str(idx_dir), '--batch-size', '32', '--optimizers', 'sgd,adam',
                      '--set', 'sgd.lr=1e6', '--results', str(results)])
    assert exit_info.value.code == 1
    error = capsys.readouterr().err
    assert "compare: run 'sgd'" in error and 'loss became' in error and 'a smaller learning rate' in error
    runs = list((labml_dir / 'logs' / 'compare').iterdir())
    # adam never starts, and nothing is summarised
    assert len(runs) == 1 and read_status(runs[0] / 'run_log.jsonl') != 'completed'
    assert not results.exists()
