"""SynDigits: font-rendered street-number-like digits; shapes, balance, determinism, cache."""

import torch

from dannlib.data.syndigits import font_paths, load_syn_digits, make_syn_digits


def test_shapes_balance_and_dtype():
    x, y = make_syn_digits(60, seed=0)
    assert x.shape == (60, 3, 32, 32) and x.dtype == torch.uint8 and y.dtype == torch.int64
    assert torch.bincount(y, minlength=10).tolist() == [6] * 10


def test_deterministic_for_a_seed_and_seeds_differ():
    a, ya = make_syn_digits(30, seed=5)
    b, yb = make_syn_digits(30, seed=5)
    c, _ = make_syn_digits(30, seed=6)
    assert torch.equal(a, b) and torch.equal(ya, yb) and not torch.equal(a, c)


def test_images_have_visible_text_not_flat_colour():
    x, _ = make_syn_digits(50, seed=1)
    spread = x.float().std(dim=(1, 2, 3))
    assert spread.min() > 8  # every image has contrast (text on background)
    centre = x[:, :, 10:22, 12:20].float().std(dim=(1, 2, 3))
    assert (centre > 10).float().mean() > 0.9  # the labelled digit sits in the middle


def test_fonts_come_from_matplotlib():
    fonts = font_paths()
    assert len(fonts) >= 10 and all(p.suffix == ".ttf" and p.is_file() for p in fonts)


def test_load_caches_and_keeps_splits_apart(tmp_path):
    train = load_syn_digits("train", root=tmp_path, count=40)
    again = load_syn_digits("train", root=tmp_path, count=40)
    test = load_syn_digits("test", root=tmp_path, count=40)
    assert torch.equal(train.x, again.x) and not torch.equal(train.x, test.x)
    assert len(list((tmp_path / "syn_digits").glob("*.pt"))) == 2
    assert train.info["source"].startswith("generated:") and train.info["name"] == "syn_digits"
