"""IDX / npz parsing on small files written here, and the paper's split."""

from __future__ import annotations

import numpy as np
import pytest

from slimtune.search._data import Split, mixed_order, resolve
from slimtune.search._errors import UsageError
from support.data import make_dataset, write_idx


@pytest.mark.parametrize("gz", [True, False])
def test_idx_folder_splits_like_the_paper(tmp_path, gz):
    source = resolve(str(make_dataset(tmp_path / "d", gz=gz)))
    source.check()
    train, val = source.train_val(val_size=20)
    assert train.x.shape == (100, 8, 8, 1) and val.x.shape == (20, 8, 8, 1)
    assert train.x.dtype == np.uint8 and train.y.dtype == np.int32
    # the last images of the training file in its mixed order (labels of this file: index % 3)
    assert list(val.y) == [i % 3 for i in mixed_order(120)[100:]]
    small, _ = source.train_val(val_size=20, train_subset=10)
    assert len(small.x) == 10
    assert source.test().x.shape == (30, 8, 8, 1)


def test_the_recheck_split_is_held_out_between_train_and_validation(tmp_path):
    source = resolve(str(make_dataset(tmp_path / "d")))  # labels: index % 3
    assert source.training_images() == 120
    train, val = source.train_val(val_size=20, holdout=30)
    recheck = source.recheck(20, 30)
    assert len(train.x) == 70 and len(recheck.x) == 30 and len(val.x) == 20
    order = mixed_order(120)
    assert list(recheck.y) == [i % 3 for i in order[70:100]]
    assert list(val.y) == [i % 3 for i in order[100:]]
    with pytest.raises(UsageError, match="--recheck-size 100 does not fit 120 training images"):
        source.train_val(val_size=20, holdout=100)


def test_the_mixed_order_spreads_every_held_out_split_over_the_whole_file():
    """A training file written in blocks (MNIST's is not in random order) must not put one
    block in validation and another in the recheck split."""
    order = mixed_order(60_000)
    assert sorted(order.tolist()) == list(range(60_000))
    for held_out in (order[-5000:], order[-10_000:-5000]):  # validation, recheck
        per_tenth = np.bincount(held_out // 6000, minlength=10)
        assert per_tenth.min() >= 480 and per_tenth.max() <= 520  # 500 each, +-4%
    assert np.array_equal(order, mixed_order(60_000))  # fixed: studies resume on the same split


def test_the_digest_follows_the_content_not_the_array(tmp_path):
    source = resolve(str(make_dataset(tmp_path / "d")))
    train, val = source.train_val(val_size=20)
    again, _ = resolve(str(make_dataset(tmp_path / "copy"))).train_val(val_size=20)
    assert train.digest == again.digest and len(train.digest) == 16
    assert val.digest != train.digest
    relabelled = Split(train.x, train.y.copy())
    relabelled.y[-1] = (relabelled.y[-1] + 1) % 3  # one label of 100
    assert relabelled.digest != train.digest
    repixelled = Split(train.x.copy(), train.y)
    repixelled.x[0, 0, 0, 0] ^= 1  # one bit of one pixel
    assert repixelled.digest != train.digest
    assert source.location("test").name.startswith("t10k-images")
    assert source.location("validation") == source.location("training")


def test_npz_folder(tmp_path):
    rng = np.random.default_rng(1)
    np.savez(
        tmp_path / "data.npz",
        x_train=rng.integers(0, 255, (50, 6, 6, 3), dtype=np.uint8),
        y_train=np.arange(50) % 4,
        x_test=np.zeros((5, 6, 6, 3), np.uint8),
        y_test=np.arange(5) % 4,
    )
    source = resolve(str(tmp_path))
    source.check()
    train, val = source.train_val(val_size=10)
    assert train.x.shape == (40, 6, 6, 3) and val.y.max() <= 3


def test_mnist_lookup_prefers_data_dir_then_env(tmp_path, monkeypatch, mnist_dir):
    monkeypatch.setenv("SLIMTUNE_DATA_DIR", str(tmp_path / "nowhere"))
    assert resolve("mnist", mnist_dir).files["x_train"].parent == mnist_dir
    with pytest.raises(UsageError, match="SLIMTUNE_DATA_DIR .*nowhere.* does not exist"):
        resolve("mnist")
    monkeypatch.setenv("SLIMTUNE_DATA_DIR", str(mnist_dir))
    source = resolve("mnist")
    source.check()
    train, val = source.train_val()
    assert (len(train.x), len(val.x)) == (55_000, 5_000)


def test_unknown_dataset_name(tmp_path):
    with pytest.raises(
        UsageError,
        match="--dataset 'cifar': no such folder: the path does not exist; use 'mnist' or the path",
    ):
        resolve("cifar")


def test_missing_file_is_named(tmp_path):
    folder = make_dataset(tmp_path / "d")
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(UsageError, match="missing file t10k-labels-idx1-ubyte"):
        resolve(str(folder))


def test_bad_magic_is_named(tmp_path):
    folder = make_dataset(tmp_path / "d")
    write_idx(
        folder / "train-images-idx3-ubyte.gz", np.zeros((120, 8, 8)), magic=b"\x12\x34\x56\x78"
    )
    with pytest.raises(UsageError, match=r"train-images-idx3-ubyte.gz: bad magic number 12345678"):
        resolve(str(folder)).check()


def test_truncated_file_is_named(tmp_path):
    folder = make_dataset(tmp_path / "d", gz=False)
    path = folder / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(UsageError, match=r"t10k-images-idx3-ubyte: truncated: header says 30x8x8"):
        resolve(str(folder)).check()


def test_corrupt_gzip_is_named(tmp_path):
    folder = make_dataset(tmp_path / "d")
    (folder / "train-labels-idx1-ubyte.gz").write_bytes(b"not gzip at all")
    with pytest.raises(UsageError, match=r"train-labels-idx1-ubyte.gz: unreadable"):
        resolve(str(folder)).check()


def test_image_and_label_counts_must_agree(tmp_path):
    folder = make_dataset(tmp_path / "d")
    write_idx(folder / "train-labels-idx1-ubyte.gz", np.arange(119) % 3)
    with pytest.raises(UsageError, match="holds 120 images but .* holds 119 labels"):
        resolve(str(folder)).check()


def test_check_does_not_keep_test_pixels(tmp_path, monkeypatch):
    """check() validates the test files without going through the reader that returns pixels."""
    import slimtune.search._data as data

    folder = make_dataset(tmp_path / "d")
    calls = []
    monkeypatch.setattr(data, "_read_idx", lambda path: calls.append(path))
    resolve(str(folder)).check()
    assert calls == []


def test_a_failed_mnist_download_names_the_network_error_and_creates_nothing(tmp_path, monkeypatch):
    import socket

    import slimtune.search._data as data

    with socket.socket() as closed:  # a port nothing listens on: the connection is refused
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setattr(data, "MNIST_URL", f"http://127.0.0.1:{port}/mnist.npz")
    monkeypatch.setattr(data, "SYSTEM_MNIST_DIR", tmp_path / "no-system-copy")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("SLIMTUNE_DATA_DIR", raising=False)
    with pytest.raises(
        UsageError,
        match=rf"could not download MNIST from http://127.0.0.1:{port}"
        r"/mnist.npz \(.*[Cc]onnection refused\); point slimtune",
    ):
        resolve("mnist")
    assert not any(tmp_path.iterdir())  # no ~/.keras: nothing is created before the file arrives
