"""Classify a folder of image files with a trained model, converting each image like the data.

Conversion (`image_to_tensor`): the first frame; palette and transparency resolved by drawing
the image over black (the background of MNIST); 16-bit and float images scaled to 0-255;
resized to the model's size with the same antialiased bilinear resize as the datasets
(`dannlib.data.registry.resize_images`); channels made to match the model (grey replicated to
RGB, RGB to grey by luma, `to_channels`). Files are only ever opened and decoded by Pillow.
"""

from __future__ import annotations

import csv
import io
import os
import warnings
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from dannlib.data.base import to_float
from dannlib.data.registry import resize_images, to_channels
from dannlib.models import DANN

MAX_PIXELS = 40_000_000  # larger images are refused before decoding (decompression bombs)
CSV_COLUMNS = ("path", "label", "confidence", "error")


class ImageError(ValueError):
    """A file that cannot be classified; the message says why."""


@dataclass(frozen=True)
class Prediction:
    """One file's outcome: a label and its probability, or the reason it was not classified."""

    path: str
    label: int | None = None
    confidence: float | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True if the file was classified."""
        return self.error is None


def model_input(model: DANN) -> tuple[int, int]:
    """(size, in_channels) of the images a digit model expects, from its spec."""
    kwargs = model.spec.get("kwargs", {})
    if "size" not in kwargs or "in_channels" not in kwargs:
        raise ValueError(
            f"a '{model.spec.get('arch')}' model does not take images (its spec has no size or "
            "in_channels); predict needs a digit model (arch mnist, modern or svhn)."
        )
    return int(kwargs["size"]), int(kwargs["in_channels"])


def _grey_levels(image: Image.Image) -> np.ndarray:
    """H x W uint8 from a 16-bit integer or float single-channel image."""
    values = np.asarray(image, dtype=np.float64)
    values = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
    if image.mode == "F":
        scale = 255.0 if values.size and values.min() >= 0 and values.max() <= 1 else 1.0
    elif image.mode.startswith("I;16") or (values.size and values.max() > 255):
        scale = 255.0 / 65535.0
    else:
        scale = 1.0
    return np.clip(np.round(values * scale), 0, 255).astype(np.uint8)


def _plain_image(image: Image.Image) -> Image.Image:
    """`image` as mode L (grey sources) or RGB, transparency drawn over black."""
    if image.mode in ("I", "F") or image.mode.startswith("I;16"):
        return Image.fromarray(_grey_levels(image), "L")
    if image.mode in ("1", "L", "RGB"):
        return image.convert("L") if image.mode == "1" else image
    try:
        rgba = image.convert("RGBA")
    except ValueError:
        try:
            rgba = image.convert("RGB").convert("RGBA")
        except ValueError as err:
            raise ImageError(f"unsupported image mode {image.mode!r}") from err
    opaque = Image.alpha_composite(Image.new("RGBA", image.size, (0, 0, 0, 255)), rgba)
    return opaque.convert("L" if image.mode in ("LA", "La") else "RGB")


def image_to_tensor(image: Image.Image, size: int, channels: int) -> torch.Tensor:
    """A PIL image as a uint8 `channels` x `size` x `size` tensor, converted like the datasets."""
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    if size < 1:
        raise ValueError(f"size must be positive, got {size}")
    if image.width < 1 or image.height < 1:
        raise ImageError(f"image has no pixels ({image.width} x {image.height})")
    image = _plain_image(image)
    factor = min(image.width, image.height) // (4 * size)
    if factor >= 2:  # shrink big photos cheaply first; the antialiased resize does the rest
        image = image.reduce(factor)
    array = np.asarray(image, dtype=np.uint8)
    array = array[None] if array.ndim == 2 else array.transpose(2, 0, 1)
    x = torch.from_numpy(array.copy()).unsqueeze(0)  # a writable, contiguous copy
    return to_channels(resize_images(x, size), channels)[0]


def load_image(path: str | os.PathLike, size: int, channels: int, max_pixels: int = MAX_PIXELS):
    """The image file at `path` as a tensor (see image_to_tensor); ImageError if unusable."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # e.g. "Corrupt EXIF data"
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                pixels = image.width * image.height
                if pixels > max_pixels:
                    raise ImageError(
                        f"image too large: {image.width} x {image.height} = {pixels:,} pixels, "
                        f"over the limit of {max_pixels:,}"
                    )
                image.load()
                return image_to_tensor(image, size, channels)
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError("not an image file Pillow can read") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise ImageError(f"image too large (decompression bomb guard): {err}") from None
    except Exception as err:  # decoders raise many kinds of errors on damaged files
        raise ImageError(f"unreadable or corrupt image: {_first_line(err)}") from None


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0]}" if text else type(err).__name__


def display_path(path: Path, root: Path) -> str:
    """`path` relative to `root`, POSIX-style; undecodable bytes shown as backslash escapes."""
    try:
        path = path.relative_to(root)
    except ValueError:
        pass
    return os.fsencode(path.as_posix()).decode("utf-8", errors="backslashreplace")


def find_files(
    folder: str | os.PathLike, skip: Collection[Path] = ()
) -> Iterator[tuple[Path, str | None]]:
    """(path, None) for every non-hidden file under `folder`, recursively, in sorted order.

    Sub-folders that cannot be listed come as (folder, reason); symlinked folders are not
    followed; hidden files and folders (names starting with '.') and `skip` are left out.
    """
    errors: list[OSError] = []
    for parent, dirs, files in os.walk(folder, onerror=errors.append):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            path = Path(parent, name)
            if not name.startswith(".") and not (skip and _resolved(path) in skip):
                yield path, None
        while errors:
            err = errors.pop()
            yield Path(err.filename or parent), f"cannot list folder: {err.strerror}"


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # symlink loops
        return path


@torch.inference_mode()
def classify(model: DANN, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(labels, probabilities of those labels) for a uint8 N x C x H x W batch."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    probs = model.label_head(model.features(to_float(images.to(device)))).softmax(1)
    model.train(was_training)
    confidence, labels = probs.max(1)
    return labels.cpu(), confidence.cpu()


def predict_folder(
    model: DANN,
    folder: str | os.PathLike,
    *,
    batch_size: int = 256,
    max_pixels: int = MAX_PIXELS,
    skip: Collection[Path] = (),
) -> list[Prediction]:
    """A Prediction for every file under `folder` (see find_files), in sorted path order."""
    folder = Path(folder)
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder} is not a folder of images")
    size, channels = model_input(model)
    results: list[Prediction] = []
    pending: list[tuple[int, torch.Tensor]] = []

    def flush() -> None:
        labels, confidence = classify(model, torch.stack([x for _, x in pending]))
        for (i, _), label, p in zip(pending, labels.tolist(), confidence.tolist(), strict=True):
            results[i] = Prediction(results[i].path, label, p)
        pending.clear()

    for path, problem in find_files(folder, {_resolved(Path(p)) for p in skip}):
        shown = display_path(path, folder)
        if problem is None:
            try:
                pending.append((len(results), load_image(path, size, channels, max_pixels)))
            except ImageError as err:
                problem = str(err)
        results.append(Prediction(shown, error=problem))
        if len(pending) >= batch_size:
            flush()
    if pending:
        flush()
    return results


def predictions_csv(predictions: list[Prediction]) -> str:
    """The predictions as CSV text with columns path, label, confidence, error."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for p in predictions:
        confidence = "" if p.confidence is None else f"{p.confidence:.4f}"
        writer.writerow([p.path, "" if p.label is None else p.label, confidence, p.error or ""])
    return out.getvalue()
