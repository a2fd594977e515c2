"""Argument checks shared by the data loaders: each raises an error that says what to pass."""

from __future__ import annotations

import torch

SPLITS = ("train", "test")


def check_choice(name: str, value, choices) -> None:
    """ValueError unless `value` is one of `choices`."""
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; choose one of: {', '.join(map(str, choices))}")


def check_split(split: str) -> None:
    """ValueError unless `split` is 'train' or 'test'."""
    check_choice("split", split, SPLITS)


def check_count(name: str, value, allow_none: bool = False) -> None:
    """ValueError unless `value` is a positive whole number (or None, if `allow_none`)."""
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        none = " or None" if allow_none else ""
        raise ValueError(f"{name} must be a positive whole number{none}, got {value!r}")


def check_seed(seed) -> None:
    """ValueError unless `seed` is a whole number from 0 to 2**63 - 1."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise ValueError(f"seed must be a whole number from 0 to 2**63 - 1, got {seed!r}")


def check_images(x, caller: str) -> None:
    """TypeError/ValueError unless `x` is a uint8 N x C x H x W tensor with C, H, W > 0."""
    if not isinstance(x, torch.Tensor) or x.dtype != torch.uint8:
        got = x.dtype if isinstance(x, torch.Tensor) else type(x).__name__
        raise TypeError(
            f"{caller} expects uint8 images (N x C x H x W, values 0-255), got {got}; convert "
            "float images in [0, 1] with (x * 255).round().to(torch.uint8)"
        )
    if x.dim() != 4 or 0 in x.shape[1:]:
        raise ValueError(
            f"{caller} expects images shaped N x C x H x W, got {tuple(x.shape)}; add a "
            "channel axis to N x H x W greyscale images with x.unsqueeze(1)"
        )
