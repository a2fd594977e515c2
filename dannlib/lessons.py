"""Each lesson's sizes per profile, in one table.

A lesson's parameters cell leaves its sizes as None; the setup cell fills them from here
(`settings("04", profile)`), and papermill can override any of them. scripts/train_checkpoints.py
reads the same table, so the runs it saves are the runs the lessons ask for.
"""

from __future__ import annotations

from types import SimpleNamespace

from dannlib.config import get_profile

# train / test: images per domain (None: all); *_steps: optimisation steps of one run;
# seeds: runs per method for the lesson's claims; embed: points per domain in 2-D plots
OFFLINE_PAIRS_05 = [
    "syn_digits->mnist",
    "syn_digits->mnist_m",
    "mnist->syn_digits",
    "mnist->uci_digits",
]

LESSONS: dict[str, dict[str, dict]] = {
    "04": {
        "quick": dict(train=1000, test=500, paper_steps=300, course_steps=1000, seeds=2, embed=200),
        "default": dict(
            train=None, test=2000, paper_steps=12_000, course_steps=3000, seeds=3, embed=500
        ),
        "paper": dict(
            train=None, test=None, paper_steps=12_000, course_steps=6000, seeds=5, embed=1000
        ),
    },
    # pairs: the offline pairs run (the real ones run whenever their data is on disk)
    "05": {
        "quick": dict(train=2000, test=1000, steps=400, seeds=3, pairs=["syn_digits->mnist_m"]),
        "default": dict(train=2000, test=1000, steps=1000, seeds=3, pairs=OFFLINE_PAIRS_05),
        "paper": dict(train=None, test=None, steps=20_000, seeds=3, pairs=OFFLINE_PAIRS_05),
    },
    # steps, embed: the watched digit run; seeds: moons runs per lambda; long_steps: the
    # longer lambda_max = 1 moons runs (the moons recipe trains 1,500 steps)
    "06": {
        "quick": dict(train=1000, test=500, steps=100, embed=100, seeds=2, long_steps=4500),
        "default": dict(train=3000, test=2000, steps=400, embed=150, seeds=4, long_steps=4500),
        "paper": dict(train=None, test=None, steps=3000, embed=300, seeds=10, long_steps=4500),
    },
}


def settings(lesson: str, profile: str | None = None) -> SimpleNamespace:
    """Lesson `lesson`'s sizes in `profile` (default: $DANNLIB_PROFILE), as attributes."""
    if lesson not in LESSONS:
        raise ValueError(f"no sizes for lesson {lesson!r}; lessons: {', '.join(LESSONS)}")
    name = get_profile(profile).name
    return SimpleNamespace(profile=name, **LESSONS[lesson][name])
