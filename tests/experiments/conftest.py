"""
Shared fixtures: labml pointed at a temporary directory, and tiny MNIST-format data.
"""
import gzip
import struct
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture
def labml_dir(tmp_path, monkeypatch):
    """
    A temporary labml project: its own `.labml.yaml`, with runs under `tmp_path/logs`, and no
    labml app unless a test names one (the `labml_app_url` of the environment running the tests
    is removed). labml keeps the project root in a singleton, so it is set here and dropped
    afterwards, leaving the next user of labml to find its own root again.

    labml reads `.labml.yaml` above the file that creates a run, which is this repository's;
    `lab.configure` adds settings on top of that file's, as more lines in it would.
    """
    import labml.internal.lab as internal_lab
    from labml import lab

    (tmp_path / '.labml.yaml').write_text('check_repo_dirty: false\n')
    monkeypatch.setenv('HOME', str(tmp_path))
    monkeypatch.delenv('labml_app_url', raising=False)
    internal_lab._internal = None
    lab.configure({'path': str(tmp_path)})
    yield tmp_path
    internal_lab._internal = None


@pytest.fixture
def sigint_default():
    """Ctrl-C raises KeyboardInterrupt in this test, whatever handler pytest was started with."""
    import signal
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def write_idx(path: Path, array: np.ndarray, magic_type: int = 0x08):
    """Write `array` (unsigned bytes) as an IDX file, gzipped when the name ends in `.gz`."""
    header = bytes([0, 0, magic_type, array.ndim]) + struct.pack(f'>{array.ndim}I', *array.shape)
    raw = header + array.astype(np.uint8).tobytes()
    opener = gzip.open if path.suffix == '.gz' else open
    with opener(path, 'wb') as f:
        f.write(raw)


@pytest.fixture
def idx_dir(tmp_path):
    """
    400 real digits (scikit-learn's 8x8 ones, scaled to bytes) written as MNIST IDX files,
    images gzipped and labels not, as a tiny stand-in for full MNIST.
    """
    from sklearn.datasets import load_digits
    digits = load_digits()
    images = (digits.images[:400] * 255 / 16).round().astype(np.uint8)
    directory = tmp_path / 'mnist'
    directory.mkdir()
    write_idx(directory / 'train-images-idx3-ubyte.gz', images)
    write_idx(directory / 'train-labels-idx1-ubyte', digits.target[:400].astype(np.uint8))
    return directory


@pytest.fixture(autouse=True)
def one_thread():
    """The tiny models here run fastest on one thread, on a machine shared with other jobs."""
    import torch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
