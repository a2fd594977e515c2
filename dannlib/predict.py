"""Classify a folder of image files with a trained model, converting each image like the data.

Conversion (`image_to_tensor`): the first frame; palette and transparency resolved by drawing
the image over black (the background of MNIST); 16-bit and float images scaled to 0-255;
resized to the model's size with the same antialiased bilinear resize as the datasets
(`dannlib.data.registry.resize_images`); channels made to match the model (grey replicated to
RGB, RGB to grey by luma, `to_channels`). Files are only ever opened and decoded by Pillow,
and only regular files are opened at all: FIFOs, devices and sockets are reported, never read.

The decoded images are kept at the model's size (about 3 KB each) and classified in batches,
so that a batch-norm model can read the folder as one domain (`adapt_bn`). The work per image
is bounded by both sides: a long thin image (1 x 39,000,000 pixels) is first reduced along its
long side. Folders are walked without recursion, however deep they are nested.
"""

from __future__ import annotations

import csv
import io
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from dannlib.data.registry import resize_images, to_channels
from dannlib.evaluation import class_logits
from dannlib.files import NotRegularFile, file_kind, one_line, open_regular, printable
from dannlib.models import DANN

MAX_PIXELS = 40_000_000  # larger images are refused before decoding (decompression bombs)
CSV_COLUMNS = ("path", "label", "confidence", "error")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # spreadsheets run cells starting so


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
    factors = (max(1, image.width // (4 * size)), max(1, image.height // (4 * size)))
    if max(factors) >= 2:  # shrink each side cheaply first; the antialiased resize does the rest
        image = image.reduce(factors)
    array = np.asarray(image, dtype=np.uint8)
    array = array[None] if array.ndim == 2 else array.transpose(2, 0, 1)
    x = torch.from_numpy(array.copy()).unsqueeze(0)  # a writable, contiguous copy
    return to_channels(resize_images(x, size), channels)[0]


def _open_regular(path: str | os.PathLike):
    """`path` opened for reading without ever blocking; ImageError unless a regular file."""
    try:
        return open_regular(path)
    except NotRegularFile:
        raise ImageError(
            f"not a regular file ({file_kind(path) or 'replaced while reading'})"
        ) from None
    except OSError as err:
        raise ImageError(f"cannot open: {err.strerror}") from None


def load_image(path: str | os.PathLike, size: int, channels: int, max_pixels: int = MAX_PIXELS):
    """The image file at `path` as a tensor (see image_to_tensor); ImageError if unusable.

    Images over `max_pixels` are refused from their header, before decoding. Pillow's own
    guard (89.5 MP) is replaced by this check meanwhile, so that a higher limit takes effect.
    """
    pillow_limit = Image.MAX_IMAGE_PIXELS
    try:
        with warnings.catch_warnings(), _open_regular(path) as f:
            warnings.simplefilter("ignore", UserWarning)  # e.g. "Corrupt EXIF data"
            Image.MAX_IMAGE_PIXELS = None  # the check below applies `max_pixels` instead
            with Image.open(f) as image:
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
    except Exception as err:  # decoders raise many kinds of errors on damaged files
        raise ImageError(f"unreadable or corrupt image: {_first_line(err)}") from None
    finally:
        Image.MAX_IMAGE_PIXELS = pillow_limit


def _first_line(err: BaseException) -> str:
    return f"{type(err).__name__}: {one_line(err, 200)}"


def display_path(path: Path, root: Path) -> str:
    """`path` relative to `root`, POSIX-style, on one line: undecodable bytes and control
    characters (a newline in a name) shown as backslash escapes."""
    try:
        path = path.relative_to(root)
    except ValueError:
        pass
    return printable(path.as_posix())


def find_files(folder: str | os.PathLike) -> Iterator[tuple[Path, str | None]]:
    """(path, None) for every non-hidden regular file under `folder`, recursively, sorted.

    Anything else comes with the reason it is skipped: (folder, reason) for sub-folders that
    cannot be listed, (path, reason) for FIFOs, devices, sockets and broken links, which are
    never opened. Symlinked folders are not followed; hidden files and folders (names starting
    with '.') are left out. The walk keeps its own stack, so any depth of nesting works.
    """
    stack = [Path(folder)]
    while stack:
        parent = stack.pop()
        try:
            with os.scandir(parent) as listing:
                entries = sorted(
                    (e for e in listing if not e.name.startswith(".")), key=lambda e: e.name
                )
        except OSError as err:
            yield parent, f"cannot list folder: {err.strerror}"
            continue
        folders = []
        for entry in sorted(entries, key=lambda e: e.name):
            try:
                is_folder = entry.is_dir(follow_symlinks=False)
            except OSError:
                is_folder = False
            if is_folder:
                folders.append(Path(entry.path))
                continue
            path = Path(entry.path)
            kind = file_kind(path)
            yield path, kind and f"not a regular file ({kind}); skipped"
        stack.extend(reversed(folders))


def classify(
    model: DANN, images: torch.Tensor, batch_size: int = 256, adapt_bn: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """(labels, probabilities of those labels) for a uint8 N x C x H x W batch.

    With `adapt_bn`, a batch-norm model normalises with the statistics of `images` as one
    domain (dannlib.evaluation.domain_batchnorm), as the course recipe evaluates.
    """
    if adapt_bn and model.has_batchnorm and len(images) < 2:
        warnings.warn(
            "one image: batch-norm statistics need at least two, so it is classified with the "
            "statistics stored in the model",
            stacklevel=2,
        )
        adapt_bn = False
    while adapt_bn and len(images) % batch_size == 1:  # no batch of one image for batch norm
        batch_size += 1
    probs = class_logits(model, images, batch_size, adapt_bn).softmax(1)
    confidence, labels = probs.max(1)
    return labels, confidence


def predict_folder(
    model: DANN,
    folder: str | os.PathLike,
    *,
    batch_size: int = 256,
    max_pixels: int = MAX_PIXELS,
    adapt_bn: bool = False,
) -> list[Prediction]:
    """A Prediction for every file under `folder` (see find_files), in sorted path order.

    `adapt_bn`: the folder's images are one domain for batch norm (see classify).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder} is not a folder of images")
    size, channels = model_input(model)
    results: list[Prediction] = []
    loaded: list[tuple[int, torch.Tensor]] = []
    for path, problem in find_files(folder):
        if problem is None:
            try:
                loaded.append((len(results), load_image(path, size, channels, max_pixels)))
            except ImageError as err:
                problem = str(err)
        results.append(Prediction(display_path(path, folder), error=problem))
    if loaded:
        images = torch.stack([x for _, x in loaded])
        labels, confidence = classify(model, images, batch_size, adapt_bn)
        for (i, _), label, p in zip(loaded, labels.tolist(), confidence.tolist(), strict=True):
            results[i] = Prediction(results[i].path, label, p)
    return results


def _cell(text: str) -> str:
    """`text` made safe for a spreadsheet: a leading = + - @ is quoted so it stays text."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def predictions_csv(predictions: list[Prediction]) -> str:
    """The predictions as CSV text with columns path, label, confidence, error.

    A cell starting with = + - @ (or a tab or carriage return) gets a leading apostrophe, so
    that a spreadsheet shows a file named '=cmd|...' as text instead of running it.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for p in predictions:
        confidence = "" if p.confidence is None else f"{p.confidence:.4f}"
        label = "" if p.label is None else p.label
        writer.writerow([_cell(p.path), label, confidence, _cell(p.error or "")])
    return out.getvalue()
