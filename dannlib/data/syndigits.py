"""SynDigits: street-number-like digit crops rendered from fonts, after the paper's Syn Numbers."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from dannlib.config import data_root
from dannlib.data.base import Domain
from dannlib.data.cache import cached
from dannlib.data.validate import check_split

CACHE_VERSION = 1
SIZE = 32
CANVAS = 48  # render larger than the crop so rotated neighbours reach the edges
SPLIT_SIZES = {"train": 25_000, "test": 5_000}
# Text fonts that matplotlib ships (same on every machine, so the data are reproducible).
FONT_FILES = (
    "DejaVuSans.ttf",
    "DejaVuSans-Bold.ttf",
    "DejaVuSans-Oblique.ttf",
    "DejaVuSans-BoldOblique.ttf",
    "DejaVuSansMono.ttf",
    "DejaVuSansMono-Bold.ttf",
    "DejaVuSansMono-Oblique.ttf",
    "DejaVuSansMono-BoldOblique.ttf",
    "DejaVuSerif.ttf",
    "DejaVuSerif-Bold.ttf",
    "DejaVuSerif-Italic.ttf",
    "DejaVuSerif-BoldItalic.ttf",
    "STIXGeneral.ttf",
    "STIXGeneralBol.ttf",
    "STIXGeneralItalic.ttf",
    "STIXGeneralBolIta.ttf",
    "cmr10.ttf",
    "cmss10.ttf",
    "cmtt10.ttf",
    "cmb10.ttf",
)


def font_paths() -> list[Path]:
    """The TrueType fonts used for rendering (those of FONT_FILES that matplotlib ships)."""
    import matplotlib

    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    paths = [folder / name for name in FONT_FILES if (folder / name).is_file()]
    if not paths:
        raise FileNotFoundError(f"no fonts found in {folder}; reinstall matplotlib")
    return paths


@functools.lru_cache(maxsize=512)
def _font(path: Path, size: int):
    from PIL import ImageFont

    return ImageFont.truetype(str(path), size)


def render_mask(
    digits: str, centre: int, font_path: Path, size: int, gap: int, angle: float, shift: tuple
) -> np.ndarray:
    """SIZE x SIZE uint8 coverage of the string `digits`, with digit `centre` in the middle."""
    from PIL import Image, ImageDraw

    font = _font(font_path, size)
    widths = [font.getlength(d) for d in digits]
    _, top, _, bottom = font.getbbox(digits[centre], anchor="ls")
    half = CANVAS / 2
    x = half + shift[0] - widths[centre] / 2 - sum(widths[:centre]) - gap * centre
    baseline = half + shift[1] - (top + bottom) / 2
    image = Image.new("L", (CANVAS, CANVAS), 0)
    draw = ImageDraw.Draw(image)
    for d, w in zip(digits, widths, strict=True):
        draw.text((x, baseline), d, font=font, fill=255, anchor="ls")
        x += w + gap
    image = image.rotate(angle, resample=Image.Resampling.BILINEAR, center=(half, half))
    lo = (CANVAS - SIZE) // 2
    return np.asarray(image.crop((lo, lo, lo + SIZE, lo + SIZE)))


def _colours(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Background and text colours (n x 3 in [0, 255]) with a clear luminance difference."""
    weights = np.array([0.299, 0.587, 0.114])
    bg, fg = rng.uniform(0, 255, (2, n, 3))
    saturation = rng.uniform(0.15, 1, (2, n, 1))  # street signs are rarely fully saturated
    bg = (bg @ weights)[:, None] + saturation[0] * (bg - (bg @ weights)[:, None])
    fg = (fg @ weights)[:, None] + saturation[1] * (fg - (fg @ weights)[:, None])
    low = np.abs((fg - bg) @ weights) < 90
    fg[low] = 255 - bg[low]
    low = np.abs((fg - bg) @ weights) < 90
    fg[low] = np.where((bg[low] @ weights < 128)[:, None], 240.0, 15.0)
    return bg, fg


def syn_labels(n: int, seed: int = 0) -> torch.Tensor:
    """The labels `make_syn_digits(n, seed)` gives (its first draw), without rendering."""
    return torch.from_numpy(np.random.default_rng(seed).permutation(np.arange(n) % 10)).long()


def make_syn_digits(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """`n` images (N x 3 x 32 x 32 uint8) and balanced labels; deterministic for `seed`."""
    rng = np.random.default_rng(seed)
    fonts = font_paths()
    labels = rng.permutation(np.arange(n) % 10)  # syn_labels: keep this the first draw
    lengths = rng.choice([1, 2, 3], n, p=[0.3, 0.4, 0.3])
    centres = np.where(lengths == 3, 1, np.where(lengths == 2, rng.integers(0, 2, n), 0))
    others = rng.integers(0, 10, (n, 3))
    font_ids = rng.integers(0, len(fonts), n)
    sizes = rng.integers(20, 34, n)
    gaps = rng.integers(-1, 4, n)
    angles = np.clip(rng.normal(0, 6, n), -15, 15)
    shifts = rng.integers(-2, 3, (n, 2))
    masks = np.empty((n, SIZE, SIZE), dtype=np.uint8)
    for i in range(n):
        chars = [str(d) for d in others[i, : lengths[i]]]
        chars[centres[i]] = str(labels[i])
        masks[i] = render_mask(
            "".join(chars), centres[i], fonts[font_ids[i]], int(sizes[i]), int(gaps[i]),
            float(angles[i]), tuple(shifts[i]),
        )  # fmt: skip
    images = _paint(torch.from_numpy(masks).float().div_(255).unsqueeze(1), rng)
    return images, torch.from_numpy(labels).long()


def _paint(mask: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """Colour N x 1 x H x W coverage masks: shaded background, shadow, text, blur, noise."""
    n = len(mask)
    bg, fg = (torch.from_numpy(c).float().view(n, 3, 1, 1) for c in _colours(rng, n))
    ramp = torch.linspace(-1, 1, SIZE)
    theta = torch.from_numpy(rng.uniform(0, 2 * np.pi, n)).float().view(n, 1, 1, 1)
    gradient = torch.cos(theta) * ramp.view(1, 1, 1, -1) + torch.sin(theta) * ramp.view(1, 1, -1, 1)
    strength = torch.from_numpy(rng.uniform(0, 0.35, n)).float().view(n, 1, 1, 1)
    image = bg * (1 + strength * gradient)
    shadow = torch.roll(mask, shifts=(1, 1), dims=(2, 3)) * torch.from_numpy(
        rng.uniform(0, 0.6, n) * (rng.random(n) < 0.4)
    ).float().view(n, 1, 1, 1)
    image = image * (1 - shadow)
    image = image * (1 - mask) + fg * mask
    blurred = _blur(image)
    amount = torch.from_numpy(rng.uniform(0, 1, n)).float().view(n, 1, 1, 1)
    image = image + amount * (blurred - image)
    noise = torch.from_numpy(rng.standard_normal((n, 3, SIZE, SIZE))).float()
    image = image + noise * torch.from_numpy(rng.uniform(0, 10, n)).float().view(n, 1, 1, 1)
    return image.round_().clamp_(0, 255).to(torch.uint8)


def _blur(image: torch.Tensor) -> torch.Tensor:
    """Separable [1, 4, 6, 4, 1] / 16 blur of N x C x H x W images (edges replicated)."""
    weights = (1 / 16, 4 / 16, 6 / 16, 4 / 16, 1 / 16)
    padded = F.pad(image, (2, 2, 0, 0), mode="replicate")
    image = sum(w * padded[..., k : k + SIZE] for k, w in enumerate(weights))
    padded = F.pad(image, (0, 0, 2, 2), mode="replicate")
    return sum(w * padded[..., k : k + SIZE, :] for k, w in enumerate(weights))


def load_syn_digits(
    split: str = "train", root: str | Path | None = None, seed: int = 0, count: int | None = None
) -> Domain:
    """SynDigits `split` (3 x 32 x 32 uint8, balanced), generated once and cached under `root`."""
    check_split(split)
    count = SPLIT_SIZES[split] if count is None else count
    fonts = [p.name for p in font_paths()]
    render_seed = 2 * seed + (split == "test")  # test images never repeat train ones
    meta = {"version": CACHE_VERSION, "seed": render_seed, "count": count, "fonts": fonts}
    path = data_root(root) / "syn_digits" / f"{split}_seed{seed}_n{count}.pt"
    build = lambda: make_syn_digits(count, render_seed)
    x, y = cached(path, meta, build, (count, 3, SIZE, SIZE), syn_labels(count, render_seed))
    source = f"generated: {len(fonts)} matplotlib fonts (DejaVu, STIX, Computer Modern)"
    return Domain(x, y, {"name": "syn_digits", "split": split, "source": source})
