"""Image-folder prediction: conversion like the datasets, every bad file reported, no crashes."""

from __future__ import annotations

import csv
import io
import os
import struct
import tempfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from PIL import Image

from dannlib.checkpoint import save_checkpoint
from dannlib.cli import main
from dannlib.data.registry import resize_images, to_channels
from dannlib.models import build_model
from dannlib.predict import (
    CSV_COLUMNS,
    ImageError,
    classify,
    image_to_tensor,
    load_image,
    model_input,
    predict_folder,
    predictions_csv,
)

FUZZ = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height (the pixel data is a stub)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 9))
        + chunk(b"IEND", b"")
    )


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model("mnist", in_channels=3, size=28).eval()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, model):
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "model.pt", model)


@pytest.fixture
def mixed_folder(tmp_path):
    """Good images of every kind (some nested) and bad files of every kind."""
    rng = np.random.default_rng(0)
    root = tmp_path / "images"
    (root / "nested" / "deeper").mkdir(parents=True)
    Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8), "L").save(root / "grey.png")
    Image.fromarray(rng.integers(0, 256, (45, 61, 3), dtype=np.uint8)).save(root / "nested/rgb.jpg")
    rgba = rng.integers(0, 256, (30, 20, 4), dtype=np.uint8)
    Image.fromarray(rgba, "RGBA").save(root / "nested" / "rgba.png")
    palette = Image.fromarray(rng.integers(0, 256, (33, 33, 3), dtype=np.uint8)).convert("P")
    palette.save(root / "nested" / "deeper" / "palette.gif")
    Image.fromarray(rng.integers(0, 256, (400, 300, 3), dtype=np.uint8)).save(root / "big.bmp")
    (root / "notes.txt").write_text("not an image")
    whole = (root / "grey.png").read_bytes()
    (root / "truncated.png").write_bytes(whole[: len(whole) // 2])
    (root / "nested" / "huge.png").write_bytes(png_header_only(100_000, 100_000))
    (root / "empty.jpg").write_bytes(b"")
    (root / ".hidden.png").write_bytes(b"skipped")
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text("skipped")
    os.symlink(root / "missing.png", root / "dangling.png")
    return root


GOOD = {"grey.png", "nested/rgb.jpg", "nested/rgba.png", "nested/deeper/palette.gif", "big.bmp"}
BAD = {"notes.txt", "truncated.png", "nested/huge.png", "empty.jpg", "dangling.png"}


def test_conversion_matches_the_datasets():
    """Grey is replicated, RGB goes to grey by luma, sizes use the datasets' resize."""
    rng = np.random.default_rng(1)
    grey = rng.integers(0, 256, (40, 40), dtype=np.uint8)
    expected = to_channels(resize_images(torch.from_numpy(grey)[None, None], 28), 3)[0]
    assert torch.equal(image_to_tensor(Image.fromarray(grey, "L"), 28, 3), expected)
    rgb = rng.integers(0, 256, (28, 28, 3), dtype=np.uint8)
    as_grey = image_to_tensor(Image.fromarray(rgb), 28, 1)
    assert as_grey.shape == (1, 28, 28) and as_grey.dtype == torch.uint8
    assert torch.equal(as_grey, to_channels(torch.from_numpy(rgb).permute(2, 0, 1)[None], 1)[0])


def test_transparency_is_drawn_over_black_and_16_bit_is_scaled():
    rgba = np.zeros((28, 28, 4), dtype=np.uint8)
    rgba[..., :3] = 255  # white, but fully transparent except one opaque square
    rgba[10:18, 10:18, 3] = 255
    x = image_to_tensor(Image.fromarray(rgba, "RGBA"), 28, 3)
    assert x[:, 0, 0].tolist() == [0, 0, 0] and x[:, 14, 14].tolist() == [255, 255, 255]
    deep = Image.fromarray(np.full((28, 28), 65535, dtype=np.uint16))
    assert image_to_tensor(deep, 28, 1).unique().tolist() == [255]


def test_predict_folder_gives_the_models_labels(tmp_path, model):
    """Images saved losslessly and read back are classified exactly as the tensors are."""
    x = torch.randint(
        0, 256, (12, 3, 28, 28), generator=torch.Generator().manual_seed(0), dtype=torch.uint8
    )
    for i, image in enumerate(x):
        Image.fromarray(image.permute(1, 2, 0).numpy()).save(tmp_path / f"{i:02d}.png")
    predictions = predict_folder(model, tmp_path, batch_size=5)
    labels, confidence = classify(model, x)
    assert [p.path for p in predictions] == [f"{i:02d}.png" for i in range(12)]
    assert [p.label for p in predictions] == labels.tolist()
    assert np.allclose([p.confidence for p in predictions], confidence.numpy())


def test_cli_reports_every_bad_file(mixed_folder, checkpoint, tmp_path, capsys):
    out = tmp_path / "out" / "predictions.csv"
    code = main(
        [
            "predict",
            "--checkpoint",
            str(checkpoint),
            "--images",
            str(mixed_folder),
            "--out",
            str(out),
        ]
    )
    captured = capsys.readouterr()
    assert code == 1
    rows = {r["path"]: r for r in read_csv(out)}
    assert set(rows) == GOOD | BAD
    for name in GOOD:
        assert rows[name]["error"] == "" and 0 <= int(rows[name]["label"]) <= 9
        assert 0.0 < float(rows[name]["confidence"]) <= 1.0
    for name in BAD:
        assert rows[name]["error"] and rows[name]["label"] == "" and rows[name]["confidence"] == ""
        assert f"skipped {name}: " in captured.err
    assert "not an image" in rows["notes.txt"]["error"]
    assert "truncated" in rows["truncated.png"]["error"]
    assert "too large" in rows["nested/huge.png"]["error"]
    assert "classified 5 of 10 files" in captured.out
    assert list(out.parent.iterdir()) == [out]  # atomic write: no temporary file left


def test_cli_exit_0_when_all_good_and_max_pixels(mixed_folder, checkpoint, tmp_path, capsys):
    for name in BAD:
        (mixed_folder / name).unlink()
    out = tmp_path / "predictions.csv"
    args = [
        "predict",
        "--checkpoint",
        str(checkpoint),
        "--images",
        str(mixed_folder),
        "--out",
        str(out),
    ]
    assert main(args) == 0
    assert main(args) == 0
    assert {r["path"] for r in read_csv(out)} == GOOD
    assert main([*args, "--max-pixels", "1000"]) == 1  # 3 of the 5 are over 1,000 pixels
    rows = {r["path"]: r for r in read_csv(out)}
    assert rows["grey.png"]["error"] == ""
    assert "too large: 300 x 400 = 120,000 pixels" in rows["big.bmp"]["error"]
    capsys.readouterr()


def test_cli_bad_folder_and_empty_folder(checkpoint, tmp_path, capsys):
    code = main(["predict", "--checkpoint", str(checkpoint), "--images", str(tmp_path / "nope")])
    assert code == 2
    (tmp_path / "empty").mkdir()
    out = tmp_path / "p.csv"
    code = main(
        [
            "predict",
            "--checkpoint",
            str(checkpoint),
            "--images",
            str(tmp_path / "empty"),
            "--out",
            str(out),
        ]
    )
    assert code == 1
    assert out.read_text() == ",".join(CSV_COLUMNS) + "\n"
    assert "no files found" in capsys.readouterr().err


def test_hostile_file_names_are_only_ever_data(tmp_path, checkpoint, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    images = tmp_path / "images"
    images.mkdir()
    names = [
        "$(touch pwned).png",
        "a;touch pwned2;.png",
        'comma, "quote".png',
        "new\nline.png",
        "=cmd|' -C calc'!A0.png",
    ]
    pixel = Image.fromarray(np.zeros((5, 5), dtype=np.uint8), "L")
    for name in names:
        pixel.save(images / name, format="PNG")
    raw = os.fsencode(images) + b"/bad-\xff-bytes.png"
    with open(raw, "wb") as f:
        pixel.save(f, format="PNG")
    assert main(["predict", "--checkpoint", str(checkpoint), "--images", "images"]) == 0
    paths = [r["path"] for r in read_csv(tmp_path / "predictions.csv")]
    shown = [*names[:3], "new\\nline.png", "'=cmd|' -C calc'!A0.png", "bad-\\xff-bytes.png"]
    assert sorted(paths) == sorted(shown)  # one line each; a formula stays text
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "pwned2").exists()
    capsys.readouterr()


def test_toy_checkpoint_is_refused(tmp_path, capsys):
    toy = save_checkpoint(tmp_path / "toy.pt", build_model("toy"))
    code = main(["predict", "--checkpoint", str(toy), "--images", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1 and len(err.strip().splitlines()) == 1 and "digit model" in err
    with pytest.raises(ValueError, match="digit model"):
        model_input(build_model("toy"))


MODES = [
    "1",
    "L",
    "P",
    "RGB",
    "RGBA",
    "LA",
    "La",
    "RGBa",
    "PA",
    "CMYK",
    "YCbCr",
    "LAB",
    "HSV",
    "RGBX",
    "I",
    "I;16",
    "F",
]


@st.composite
def pil_images(draw):
    """Images of every mode, odd shapes, and extreme values (NaN and inf for float images)."""
    h = draw(st.integers(1, 70))
    w = draw(st.integers(1, 70))
    mode = draw(st.sampled_from(MODES))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    if mode == "F":
        scale = draw(st.sampled_from([1.0, 255.0, 1e6, -5.0]))
        values = (rng.random((h, w)) * scale).astype(np.float32)
        if draw(st.booleans()):
            values[0, 0] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
        return Image.fromarray(values, "F")
    if mode == "I":
        high = draw(st.sampled_from([2, 256, 65536, 2**31 - 1]))
        return Image.fromarray(rng.integers(-5, high, (h, w), dtype=np.int32), "I")
    if mode == "I;16":
        return Image.fromarray(rng.integers(0, 65536, (h, w), dtype=np.uint16))
    rgba = Image.fromarray(rng.integers(0, 256, (h, w, 4), dtype=np.uint8), "RGBA")
    try:
        return rgba.convert(mode)
    except ValueError:
        return rgba.convert("RGB").convert(mode)


@FUZZ
@given(image=pil_images(), size=st.sampled_from([1, 7, 28, 32]), channels=st.sampled_from([1, 3]))
def test_fuzz_image_to_tensor(image, size, channels):
    try:
        x = image_to_tensor(image, size, channels)
    except ImageError:
        return  # a clear, handled refusal is fine
    assert x.shape == (channels, size, size) and x.dtype == torch.uint8


def _save(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def _encoded(image: Image.Image, fmt: str) -> bytes | None:
    """`image` saved as `fmt` (as RGB if the format cannot hold its mode); None if neither works."""
    try:
        return _save(image, fmt)
    except (OSError, ValueError, KeyError):
        pass
    try:
        return _save(image.convert("RGB"), fmt)
    except (OSError, ValueError, KeyError):
        return None


@FUZZ
@given(
    image=pil_images(),
    fmt=st.sampled_from(["PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP"]),
    damage=st.sampled_from(["none", "truncate", "flip", "garbage"]),
    where=st.floats(0, 1),
    junk=st.binary(min_size=0, max_size=64),
)
def test_fuzz_files_on_disk(tmp_path, model, image, fmt, damage, where, junk):
    """Valid, truncated, bit-flipped and garbage files: a tensor or an ImageError, nothing else."""
    data = _encoded(image, fmt)
    assume(data is not None)
    cut = int(where * len(data))
    if damage == "truncate":
        data = data[:cut]
    elif damage == "flip":
        data = data[:cut] + bytes([data[cut] ^ 0xFF]) + data[cut + 1 :] if cut < len(data) else data
    elif damage == "garbage":
        data = junk
    folder = Path(tempfile.mkdtemp(dir=tmp_path))  # one per example: hypothesis reuses tmp_path
    path = folder / f"file.{fmt.lower()}"
    path.write_bytes(data)
    try:
        x = load_image(path, 28, 3)
    except ImageError as err:
        assert str(err)
    else:
        assert x.shape == (3, 28, 28) and x.dtype == torch.uint8
    predictions = predict_folder(model, folder)
    assert len(predictions) == 1 and (predictions[0].ok or predictions[0].error)
    assert predictions_csv(predictions).startswith("path,label,confidence,error\n")


@pytest.mark.parametrize("adapt_bn", [True, False])
def test_cli_reads_batch_norm_as_the_checkpoints_recipe(tmp_path, capsys, adapt_bn):
    """course recipe (adapt_bn): the folder's images are one domain for batch norm."""
    torch.manual_seed(0)
    model = build_model("modern").eval()
    with torch.no_grad():  # running statistics far from the images', so the two readings differ
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.fill_(3.0)
    path = save_checkpoint(tmp_path / "m.pt", model, config={"adapt_bn": adapt_bn})
    x = torch.randint(0, 256, (20, 3, 28, 28), generator=torch.Generator().manual_seed(1))
    x = x.to(torch.uint8)
    folder = tmp_path / "images"
    folder.mkdir()
    for i, image in enumerate(x):
        Image.fromarray(image.permute(1, 2, 0).numpy()).save(folder / f"{i:02d}.png")
    out = tmp_path / "p.csv"
    assert (
        main(["predict", "--checkpoint", str(path), "--images", str(folder), "--out", str(out)])
        == 0
    )
    labels, confidence = classify(model, x, adapt_bn=adapt_bn)
    _, other = classify(model, x, adapt_bn=not adapt_bn)
    assert not torch.allclose(confidence, other)  # the test can tell the two readings apart
    rows = read_csv(out)
    assert [int(r["label"]) for r in rows] == labels.tolist()
    assert [float(r["confidence"]) for r in rows] == pytest.approx(confidence.tolist(), abs=1e-4)
    capsys.readouterr()
