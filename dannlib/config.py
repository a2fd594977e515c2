"""Profile names (quick / default / paper; their sizes: dannlib.lessons), the course's folders
and repository, seeds and device selection."""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import torch

PROFILE_NAMES = ("quick", "default", "paper")

# The course's repository: badges, Colab install cells, the README's links and clone hints all
# come from here (scripts/badges.py rewrites them). A fork changes this one line.
REPO_URL = "https://github.com/dann-course/dann-course"
REPO_BRANCH = "main"


def profile_name(name: str | None = None) -> str:
    """Resolve a profile name: the argument, else $DANNLIB_PROFILE, else 'default'."""
    name = name or os.environ.get("DANNLIB_PROFILE") or "default"
    if name not in PROFILE_NAMES:
        raise ValueError(f"unknown profile {name!r}; choose one of: {', '.join(PROFILE_NAMES)}")
    return name


def course_folder(name: str) -> Path | None:
    """`name` (e.g. data, checkpoints) in the course clone we are working in: the nearest of
    the working directory and its parents that holds both `notebooks/` and `name`/, as a path
    relative to the working directory (a notebook in notebooks/ and a command in the clone
    share it). None outside a clone of the course."""
    here = Path.cwd()
    for folder in (here, *here.parents):
        if (folder / "notebooks").is_dir() and (folder / name).is_dir():
            return Path(os.path.relpath(folder / name))
    return None


def data_root(root: str | os.PathLike | None = None) -> Path:
    """Where datasets live: the argument, else $DANNLIB_DATA, else the course's data folder
    (course_folder("data")); elsewhere (Colab without the course: /content) ./data, which the
    file browser shows."""
    chosen = root or os.environ.get("DANNLIB_DATA")
    if chosen:
        return Path(chosen).expanduser()
    return course_folder("data") or Path("data")


def set_seed(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a torch.Generator seeded the same way."""
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - seeds the legacy global RNG that sklearn uses
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def pick_device(preference: str | torch.device | None = "auto") -> torch.device:
    """`preference` if it names a device, else ("auto" or None) cuda, then mps, then cpu."""
    if preference not in (None, "auto"):
        return torch.device(preference)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")
