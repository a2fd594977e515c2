import numpy as np
import pytest
import torch

from dannlib.config import data_root, pick_device, profile_name, set_seed
from dannlib.data.base import Domain, to_float
from dannlib.data.toy import moons, moons_pair, rotate, shifted_gaussians


def test_profile_from_argument_and_environment(monkeypatch):
    monkeypatch.setenv("DANNLIB_PROFILE", "paper")
    assert profile_name() == "paper"
    assert profile_name("quick") == "quick"
    monkeypatch.delenv("DANNLIB_PROFILE")
    assert profile_name() == "default"
    with pytest.raises(ValueError, match="quick, default, paper"):
        profile_name("fast")


def test_data_root(monkeypatch, tmp_path):
    monkeypatch.setenv("DANNLIB_DATA", str(tmp_path))
    assert data_root() == tmp_path
    assert data_root("elsewhere").name == "elsewhere"


def test_set_seed_and_device():
    set_seed(5)
    a = torch.rand(3)
    g = set_seed(5)
    assert torch.equal(a, torch.rand(3))
    assert torch.equal(torch.rand(2, generator=g), torch.rand(2, generator=set_seed(5)))
    assert pick_device("cpu").type == "cpu"


def test_auto_device_prefers_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device() == pick_device("auto") == torch.device("cuda")
    assert pick_device("cpu") == torch.device("cpu")  # a named device wins
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert pick_device() == torch.device("mps")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert pick_device(None) == torch.device("cpu")


def test_rotate_about_centre():
    x = np.array([[1.0, 0.0], [-1.0, 0.0]])
    assert np.allclose(rotate(x, 90), [[0.0, 1.0], [0.0, -1.0]])
    assert np.allclose(rotate(x, 90, center=[1.0, 0.0]), [[1.0, 0.0], [1.0, -2.0]])


def test_moons_are_seeded_balanced_and_rotated():
    a, b = moons(200, 35, seed=1), moons(200, 35, seed=1)
    assert torch.equal(a.x, b.x) and a.y.bincount().tolist() == [100, 100]
    assert not torch.equal(moons(200, 0, seed=1).x, a.x)
    pair = moons_pair(100, 30)
    assert set(pair) == {"source", "target", "source_test", "target_test"}
    assert pair["target"].info["source"].startswith("generated")


def test_shifted_gaussians_share_the_labelling_rule():
    d = shifted_gaussians(400, shift=2.0, seed=0, label_noise=0.0)
    for dom in d.values():
        x, y = dom.x.numpy(), dom.y.numpy()
        assert np.array_equal(y, (x[:, 1] > np.abs(x[:, 0])).astype(int))
    assert d["target"].x.mean(0)[0] > d["source"].x.mean(0)[0] + 1.0


def test_domain_checks_and_conversion():
    with pytest.raises(ValueError, match="rows"):
        Domain(torch.zeros(3, 2), torch.zeros(2))
    d = Domain(torch.full((4, 1, 2, 2), 255, dtype=torch.uint8), torch.arange(4), {"name": "x"})
    assert d.info["count"] == 4 and len(d.head(2)) == 2 and d.num_classes == 4
    assert to_float(d.x).max() == 1.0
    with pytest.raises(TypeError, match="uint8"):
        to_float(torch.zeros(2, dtype=torch.int32))


def test_to_float_gives_channels_last_images_with_the_same_values():
    x = torch.randint(0, 256, (5, 3, 7, 6), dtype=torch.uint8)
    out = to_float(x)
    assert out.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(out, x.float() / 255)
    features = torch.rand(5, 4)  # not images: returned as they are
    assert to_float(features).is_contiguous() and torch.equal(to_float(features), features)
