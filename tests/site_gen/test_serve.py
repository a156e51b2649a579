"""`serve`: the site on 127.0.0.1, rebuilt when a source changes, and kept when a rebuild fails."""

import threading
import time
import urllib.request

from site_gen.serve import serve

SOURCES = ['pkg', 'README.md']


def fetch(port, path):
    with urllib.request.urlopen(f'http://127.0.0.1:{port}/{path}', timeout=5) as response:
        return response.read().decode()


def wait_for(condition, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_serve_rebuilds_a_changed_page_and_keeps_the_last_good_site_on_errors(small_site, capsys):
    stop, ports = threading.Event(), []
    thread = threading.Thread(target=serve, args=(small_site, SOURCES, small_site / 'html'),
                              kwargs=dict(port=0, poll=0.1, stop=stop, ready=ports.append), daemon=True)
    thread.start()
    try:
        assert wait_for(lambda: ports), 'server did not start'
        port = ports[0]
        assert 'Bias correction lives here.' in fetch(port, 'pkg/beta.html')

        beta = small_site / 'pkg/beta.py'
        beta.write_text(beta.read_text().replace('Bias correction lives here.', 'Now with momentum.'))
        assert wait_for(lambda: 'Now with momentum.' in fetch(port, 'pkg/beta.html'))

        beta.write_text('def broken(:\n')
        errors = []
        assert wait_for(lambda: errors.append(capsys.readouterr().err) or 'pkg/beta.py:1: syntax error' in ''.join(errors))
        assert 'still serving the last good site' in ''.join(errors)
        assert 'Now with momentum.' in fetch(port, 'pkg/beta.html')
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()
