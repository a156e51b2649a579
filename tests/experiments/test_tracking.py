"""
labml's app writer, the plain console and the progress line.

The labml app is played by a loopback HTTP server that records what labml sends it.
"""
import io
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from labml_opt.experiments import a3c, compare, tracking
from labml_opt.experiments.runs import RunSpec, train_run


class Recorder(BaseHTTPRequestHandler):
    """Answers every POST as labml's app does when all is well, and keeps the request."""

    def do_POST(self):
        body = self.rfile.read(int(self.headers['Content-Length']))
        self.server.requests.append((urlparse(self.path), json.loads(body)))
        answer = b'{}'
        self.send_response(200)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


@pytest.fixture
def app():
    server = ThreadingHTTPServer(('127.0.0.1', 0), Recorder)
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def app_url(server) -> str:
    return f'http://127.0.0.1:{server.server_address[1]}/api/v1/default'


def configure_app(how: str, url: str, monkeypatch):
    """Name the app as a user would: `app_url` in labml's configuration, or the environment."""
    from labml import lab
    if how == 'app_url':
        lab.configure({'app_url': url})
    else:
        monkeypatch.setenv('labml_app_url', url)
        # labml reads the environment when it (re)reads its configuration, as at the start of a process
        lab.configure({})


def tracked(requests, name: str) -> list:
    """Every `(step, value)` of indicator `name` that reached the app."""
    return [point for _, packet in requests for data in packet if name in data.get('track', {})
            for point in zip(data['track'][name]['step'], data['track'][name]['value'])]


def test_app_setting_is_read_from_labml_yaml_by_labml_itself(tmp_path, monkeypatch):
    import labml.internal.lab as internal_lab
    monkeypatch.delenv('labml_app_url', raising=False)
    (tmp_path / '.labml.yaml').write_text('app_url: http://127.0.0.1:5005/api/v1/default\n')
    monkeypatch.setattr(internal_lab, '_internal', internal_lab.Lab(tmp_path))
    assert tracking.app_setting() == ('app_url in .labml.yaml', 'http://127.0.0.1:5005/api/v1/default')
    (tmp_path / '.labml.yaml').write_text('check_repo_dirty: false\n')
    monkeypatch.setattr(internal_lab, '_internal', internal_lab.Lab(tmp_path))
    assert tracking.app_setting() is None


@pytest.mark.timeout(60)
@pytest.mark.parametrize('how', ['app_url', 'labml_app_url'])
def test_a_short_run_sends_its_metrics_to_the_configured_app(labml_dir, idx_dir, app, monkeypatch, how):
    configure_app(how, app_url(app), monkeypatch)
    assert tracking.labml_writers() == {'file', 'app'}
    result = train_run(RunSpec(experiment='app', label='adam', optimizer='adam', data=str(idx_dir), epochs=2,
                               batch_size=32))
    paths = {url.path for url, _ in app.requests}
    assert paths == {'/api/v1/default/track'}
    assert {parse_qs(url.query)['run_uuid'][0] for url, _ in app.requests} == {result.uuid}
    # Every training step's loss, and both epochs' validation, reached the app
    assert sorted(step for step, _ in tracked(app.requests, 'loss.train')) == list(range(24))
    assert len(tracked(app.requests, 'loss.valid')) == 2
    assert any(data.get('configs', {}).get('optimizer', {}).get('value') == 'adam'
               for _, packet in app.requests for data in packet)
    assert any(data.get('status', {}).get('status') == 'completed' for _, packet in app.requests for data in packet)


@pytest.mark.timeout(60)
def test_a3c_sends_its_episodes_to_the_configured_app(labml_dir, app, monkeypatch):
    configure_app('labml_app_url', app_url(app), monkeypatch)
    a3c.train(a3c.Configs(workers=2, total_steps=300, start_method='fork', timeout=50), None)
    assert tracked(app.requests, 'episode_return.0') and tracked(app.requests, 'episode_return.1')


@pytest.mark.timeout(60)
def test_without_an_app_url_nothing_is_sent_and_the_run_ends(labml_dir, idx_dir, app):
    assert tracking.app_setting() is None and tracking.labml_writers() == {'file'}
    compare.main(['--data', str(idx_dir), '--epochs', '1', '--batch-size', '32', '--optimizers', 'adam',
                  '--no-summary'])
    assert app.requests == []
    assert len(list((labml_dir / 'logs' / 'compare').iterdir())) == 1


def unused_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.mark.timeout(60)
@pytest.mark.parametrize('how', ['app_url', 'labml_app_url'])
def test_an_app_that_does_not_answer_is_refused_before_training(labml_dir, idx_dir, monkeypatch, capsys, how):
    url = f'http://127.0.0.1:{unused_port()}/api/v1/default'
    configure_app(how, url, monkeypatch)
    with pytest.raises(SystemExit) as exit_info:
        compare.main(['--data', str(idx_dir), '--epochs', '1', '--optimizers', 'adam'])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert f'labml app at {url!r}' in error and ('.labml.yaml' if how == 'app_url' else 'labml_app_url') in error
    assert not (labml_dir / 'logs' / 'compare').exists()


def test_output_that_is_not_a_terminal_is_plain_lines_with_positions_and_etas(labml_dir, idx_dir, capsys):
    compare.main(['--data', str(idx_dir), '--epochs', '2', '--batch-size', '32', '--optimizers', 'sgd,adam',
                  '--no-summary'])
    out = capsys.readouterr().out
    assert '\x1b' not in out and '\r' not in out
    progress = [line for line in out.splitlines() if 'ETA' in line]
    # One line per epoch of each run, each with its run's position and both ETAs
    assert [line.split(':')[0].strip() for line in progress] == ['run 1/2 sgd'] * 2 + ['run 2/2 adam'] * 2
    assert all('epoch' in line and '| run ETA ' in line and '| all ETA ' in line for line in progress)
    # labml's own messages (the run's uuid) come through, without their colour codes
    assert out.count('compare: ') >= 2


class Terminal(io.StringIO):
    def isatty(self):
        return True


class Clock:
    def __init__(self):
        self.now = 100.

    def __call__(self):
        return self.now


def test_progress_extrapolates_the_time_per_step_to_the_run_and_to_the_command(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(tracking.time, 'monotonic', clock)
    stream = Terminal()
    progress = tracking.Progress('compare', [10, 20, 30], stream)
    progress.start_run(0, 'sgd')
    clock.now += 5
    # 5 of 10 steps in 5 s: 5 s left in this run, and 5 + 20 + 30 = 55 steps left in all
    assert progress.eta(5) == ('5 s', '55 s')
    progress.start_run(1, 'adam', first_step=8)
    clock.now += 4
    # A resumed run counts only its own steps: 2 steps in 4 s, 10 left in it; 7 steps in 9 s overall
    assert progress.eta(10) == ('20 s', f'{round(9 / 7 * 40)} s')
    progress.update(10, {'loss': 0.5}, 'epoch 1/2', final=True)
    assert stream.getvalue().endswith('\r  run 2/3 adam: epoch 1/2 step 10/20 (50%) loss 0.5 | run ETA 20 s | '
                                      'all ETA 51 s\x1b[K\n')


def test_a_terminal_line_is_redrawn_in_place_and_plain_output_skips_the_redraws(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(tracking.time, 'monotonic', clock)
    terminal, plain = Terminal(), io.StringIO()
    for stream in (terminal, plain):
        progress = tracking.Progress('compare', [10], stream)
        progress.start_run(0, 'sgd')
        for step in range(1, 4):
            clock.now += 1
            progress.update(step, {'loss': 1. / step}, 'epoch 1/1')
        progress.update(3, {'loss': 0.3}, 'epoch 1/1', final=True)
    assert terminal.getvalue().count('\r') == 5 and terminal.getvalue().count('\n') == 2
    assert '\r' not in plain.getvalue() and '\x1b' not in plain.getvalue()
    assert plain.getvalue().count('\n') == 2 and 'step 3/10' in plain.getvalue().splitlines()[-1]


def test_labml_lines_redrawn_in_place_are_written_once_without_colours(capsys):
    from labml.logger import Text
    destination = tracking.PlainDestination()
    destination.log([('loss: ', None), ('1.0', Text.value)], is_new_line=False, is_reset=True)
    destination.log([('loss: ', None), ('0.5', Text.value)], is_new_line=False, is_reset=True)
    destination.log([' done'], is_new_line=True, is_reset=False)
    assert capsys.readouterr().out == 'loss: 0.5 done\n'


@pytest.mark.parametrize('seconds,text', [(0.4, '0 s'), (59.6, '1 min 00 s'), (125, '2 min 05 s'),
                                          (3725, '1 h 02 min')])
def test_durations_read_as_people_write_them(seconds, text):
    assert tracking.format_duration(seconds) == text
