"""Small helpers the rest of dannlib shares: a number check whose error says what to pass,
NumPy conversion of tensors and arrays, and whether code runs on the main thread."""

from __future__ import annotations

import math
import threading
from numbers import Real

import numpy as np
import torch


def check_number(
    name: str, value, low: float, high: float | None = None, *, low_open: bool = False, hint=""
) -> None:
    """ValueError unless `value` is a finite real number, at least `low` (above it if
    `low_open`) and below `high`; the message names the range and ends with `hint`."""
    ok = isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value > low or (value == low and not low_open)) and (high is None or value < high)
    if not ok:
        wanted = (
            f"a number with {low:g} {'<' if low_open else '<='} {name} < {high:g}"
            if high is not None
            else f"a finite number {'>' if low_open else '>='} {low:g}"
        )
        raise ValueError(f"{name} must be {wanted}, got {value!r}" + (f"; {hint}" if hint else ""))


def as_numpy(x) -> np.ndarray:
    """A NumPy array from a tensor (detached, copied to the CPU) or anything array-like."""
    return x.detach().cpu().numpy() if torch.is_tensor(x) else np.asarray(x)


def as_rows(x) -> np.ndarray:
    """N x D float64 rows from N items of any shape (a 1-D input is one column); uint8 images
    become floats in [0, 1] (float32 / 255, as the networks read them)."""
    x = as_numpy(x)
    if x.dtype == np.uint8:
        x = x.astype(np.float32) / np.float32(255.0)
    return x.reshape(len(x), int(np.prod(x.shape[1:]))).astype(np.float64)  # also when N = 0


def on_main_thread() -> bool:
    """True in the program's main thread, the only one that may install signal handlers."""
    return threading.current_thread() is threading.main_thread()
