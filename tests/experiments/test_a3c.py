import json
import math
import shutil
from pathlib import Path

import pytest
import torch

from labml_opt.experiments import a3c

RESULTS = Path(a3c.__file__).parent / 'results'


def test_n_step_returns_discount_back_from_the_bootstrap():
    # R_2 = 1 + 0.5 * 10, R_1 = 2 + 0.5 * R_2, R_0 = 0 + 0.5 * R_1
    returns = a3c.n_step_returns([0., 2., 1.], bootstrap=10., gamma=0.5)
    assert torch.equal(returns, torch.tensor([2.5, 5., 6.]))


def test_policy_step_makes_an_action_with_positive_advantage_more_likely():
    torch.manual_seed(0)
    configs = a3c.Configs(entropy_coef=0.)
    model = a3c.ActorCritic(4, 2, 8)
    observations = torch.randn(1, 4)
    with torch.no_grad():
        _, value = model(observations)
        before = model.actor(observations).softmax(-1)[0, 1]
    losses = a3c.a3c_loss(model, observations, torch.tensor([1]), value + 1., configs)
    losses['loss'].backward()
    with torch.no_grad():
        for param in model.parameters():
            param -= 0.1 * param.grad
        after = model.actor(observations).softmax(-1)[0, 1]
    assert after > before


def test_help_names_the_settings(capsys):
    with pytest.raises(SystemExit) as exit_info:
        a3c.parse_args(['--help'])
    assert exit_info.value.code == 0
    help_text = capsys.readouterr().out
    for option in ('--workers', '--total-steps', '--seed', '--lr', '--plot'):
        assert option in help_text


@pytest.mark.timeout(120)
def test_tiny_run_trains_one_shared_model_and_tracks_every_worker(labml_dir):
    configs = a3c.Configs(workers=2, total_steps=600, start_method='fork', timeout=90)
    summary = a3c.train(configs, labml_dir / 'results')

    # Every worker stops once the shared counter reaches the budget, after at most one rollout
    assert configs.total_steps <= summary['env_steps'] < configs.total_steps + configs.workers * configs.n_steps
    # The parent's optimizer counted the updates of both workers: one per rollout
    assert summary['optimizer_steps'] >= summary['env_steps'] / configs.n_steps
    assert summary['episodes'] >= 2 and not summary['solved']
    assert json.loads((labml_dir / 'results' / 'a3c_summary.json').read_text())['episodes'] == summary['episodes']
    svg = (labml_dir / 'results' / 'a3c_returns.svg').read_text()
    assert svg.startswith('<?xml') and '<dc:date>' not in svg

    runs = list((labml_dir / 'logs' / 'a3c').iterdir())
    assert len(runs) == 1
    tracked = ' '.join(path.read_text(errors='replace') for path in runs[0].rglob('*') if path.is_file())
    for name in ('episode_return.0', 'episode_return.1', 'policy_loss.1', 'value_loss.0', 'entropy.1'):
        assert name in tracked
    assert 'total_steps' in tracked


def fail(rank, *args):
    raise RuntimeError(f'worker {rank} fails on purpose')


def nan_loss(*args, **kwargs):
    loss = torch.tensor(math.nan, requires_grad=True)
    return dict(loss=loss, policy_loss=loss, value_loss=loss, entropy=loss)


@pytest.mark.timeout(60)
@pytest.mark.parametrize('name, replacement, steps, message', [
    ('worker', fail, 100, 'a3c: worker'),
    ('a3c_loss', nan_loss, 200, 'the loss became nan'),
])
def test_a_failing_worker_or_a_nan_loss_makes_the_command_exit_with_1(labml_dir, monkeypatch, capsys, name,
                                                                       replacement, steps, message):
    # Forked workers run the parent's patched module
    monkeypatch.setattr(a3c, name, replacement)
    code = a3c.main(['--start-method', 'fork', '--total-steps', str(steps), '--timeout', '30',
                     '--results', str(labml_dir / 'results')])
    assert code == 1
    assert message in capsys.readouterr().err
    assert not (labml_dir / 'results').exists()


def test_committed_plot_is_redrawn_byte_for_byte_from_the_committed_summary(tmp_path):
    shutil.copy(RESULTS / 'a3c_summary.json', tmp_path)
    assert a3c.main(['--plot', '--results', str(tmp_path)]) == 0
    for name in ('a3c_returns.svg', 'a3c_summary.md'):
        assert (tmp_path / name).read_bytes() == (RESULTS / name).read_bytes()

