"""A labelled grid of sample images from a digit domain."""

from __future__ import annotations

import numpy as np
import torch

from dannlib.data.base import Domain
from dannlib.data.registry import balanced_subset, load_domain


def mosaic(x: torch.Tensor, ncols: int, pad: int = 2) -> np.ndarray:
    """uint8 N x C x H x W images tiled row by row into one H' x W' x 3 array (white gaps)."""
    x = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x
    n, _, h, w = x.shape
    nrows = -(-n // ncols)
    out = np.full((nrows * (h + pad) + pad, ncols * (w + pad) + pad, 3), 255, dtype=np.uint8)
    for i, image in enumerate(x.permute(0, 2, 3, 1).numpy()):
        r, c = divmod(i, ncols)
        out[
            pad + r * (h + pad) : (r + 1) * (h + pad), pad + c * (w + pad) : (c + 1) * (w + pad)
        ] = image
    return out


def show_gallery(
    domain: Domain | str,
    n: int = 40,
    ax=None,
    title: str | None = None,
    ncols: int = 10,
    seed: int = 0,
    **load_kwargs,
):
    """Draw `n` class-balanced samples sorted by label, each tagged; return the Figure.

    `domain` is a Domain or a domain name (loaded with `load_domain(name, **load_kwargs)`).
    """
    import matplotlib.pyplot as plt

    if isinstance(domain, str):
        domain = load_domain(domain, limit=max(n, 100), seed=seed, **load_kwargs)
    sample = balanced_subset(domain, n, seed)
    order = torch.argsort(sample.y, stable=True)
    x, y = sample.x[order], sample.y[order]
    if ax is None:
        nrows = -(-len(y) // ncols)
        _, ax = plt.subplots(figsize=(0.75 * ncols, 0.75 * nrows + 0.7), layout="constrained")
    ax.imshow(mosaic(x, ncols), interpolation="nearest")
    h, w = x.shape[-2:]
    for i, label in enumerate(y.tolist()):
        r, c = divmod(i, ncols)
        ax.text(
            2 + c * (w + 2) + 1, 2 + r * (h + 2) + 1, str(label), fontsize=7, va="top",
            ha="left", color="white", bbox={"facecolor": "black", "alpha": 0.6, "pad": 1, "lw": 0},
        )  # fmt: skip
    ax.set_axis_off()
    info = domain.info
    default = (
        f"{info.get('name', 'data')} ({info.get('split', '?')}, {h}x{w}): {len(y)} of "
        f"{len(domain)} images\n{info.get('source', 'source unknown')}"
    )
    ax.set_title(title or default, fontsize=9)
    return ax.figure
