"""
---
title: Serve and rebuild
summary: A local server on 127.0.0.1 that rebuilds the pages whose sources changed.
---

# Serve

`serve()` builds the site, serves it on `127.0.0.1`, and polls the sources twice a second.
When a file changes, the build runs again; it is incremental, so only changed pages are
rendered. A build error is printed and the last good site keeps being served.
"""

import functools
import sys
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Dict

from site_gen import BuildError
from site_gen.site import PACKAGE, build


def serve(root: Path, sources=None, out: Path = Path('html'), port: int = 8000,
          poll: float = 0.5, stop: threading.Event = None, ready=None):
    """
    Serve `out` until interrupted (or until `stop` is set). `ready(port)` is called once the
    server listens; `port=0` picks a free port.
    """
    root, out = Path(root).resolve(), Path(out).resolve()
    rebuild(root, sources, out)
    handler = functools.partial(QuietHandler, directory=str(out))
    server = ThreadingHTTPServer(('127.0.0.1', port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    print(f'site_gen: serving {out} on http://127.0.0.1:{server.server_port}/ (Ctrl-C to stop)')
    if ready:
        ready(server.server_port)
    stop = stop or threading.Event()
    seen = snapshot(root, sources)
    try:
        while not stop.wait(poll):
            now = snapshot(root, sources)
            if now != seen:
                seen = now
                rebuild(root, sources, out)
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
        server.server_close()


def rebuild(root: Path, sources, out: Path):
    try:
        report = build(root, sources, out)
        if report.rendered:
            print(f'site_gen: rendered {", ".join(report.rendered)}')
    except BuildError as e:
        print(f'site_gen: build failed, still serving the last good site:\n{e}', file=sys.stderr)


def snapshot(root: Path, sources) -> Dict[str, float]:
    """Modification times of everything a build reads: sources, their folders' files, and the generator's own."""
    times = {}
    for source in list(sources or ['.']) + [PACKAGE]:
        path = root / source
        for file in ([path] if path.is_file() else path.rglob('*') if path.is_dir() else []):
            if file.is_file() and '__pycache__' not in file.parts:
                times[str(file)] = file.stat().st_mtime_ns
    return times


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass
