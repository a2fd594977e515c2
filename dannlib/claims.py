"""A lesson's claims about a method, stated so that a lesson that teaches something false fails.

`claim` checks a claim measured over several seeds (see `paired_difference` and
`success_rate`); when it does not hold it raises `ClaimFailed`, an AssertionError (so nbval
fails), which tells the student what was claimed, what was measured and what to try.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np


class ClaimFailed(AssertionError):
    """A lesson's claim did not hold on this run; the message says what to try."""


CLAIM_HINT = (
    "What to try: run the lesson in the default profile (more steps and seeds: PROFILE = "
    '"default" in the parameters cell), or with other seeds (SEED = 1, 2, ...) to see whether '
    "this was an unlucky draw. If it fails there too, something in the code has changed."
)


def _number(value) -> str:
    """A number (or a short sequence of numbers) formatted for a message."""
    if isinstance(value, (float, np.floating)):
        return f"{value:.3f}"
    if isinstance(value, (list, tuple, np.ndarray)):
        return "[" + ", ".join(_number(v) for v in value) + "]"
    return str(value)


def claim(condition, what: str, numbers: Mapping[str, object], hint: str | None = None) -> str:
    """Check a lesson's claim: return a one-line verdict, or raise ClaimFailed explaining it.

    `what` states the claim in words ("DANN beats source-only on the target"), `numbers` the
    measurements it rests on, `hint` what the student could try (default: CLAIM_HINT).
    """
    shown = "; ".join(f"{name} = {_number(value)}" for name, value in numbers.items())
    if bool(condition):
        return f"Claim holds: {what} ({shown})."
    raise ClaimFailed(
        f"The lesson claims: {what}.\nMeasured here: {shown}.\n"
        f"That does not hold on this run. {hint or CLAIM_HINT}"
    )


@dataclass(frozen=True)
class PairedDifference:
    """Per-seed differences a - b of two methods run on the same seeds."""

    diffs: np.ndarray

    @property
    def n(self) -> int:
        return len(self.diffs)

    @property
    def mean(self) -> float:
        return float(np.mean(self.diffs))

    @property
    def sem(self) -> float:
        """Standard error of the mean difference (0 for a single seed)."""
        return float(np.std(self.diffs, ddof=1) / math.sqrt(self.n)) if self.n > 1 else 0.0

    def lower(self, z: float = 2.0) -> float:
        """mean - z standard errors: the claim 'a beats b' asks that this exceed a margin."""
        return self.mean - z * self.sem

    def __str__(self) -> str:
        return f"{self.mean:+.3f} +- {self.sem:.3f} (mean +- s.e., {self.n} seeds)"


def paired_difference(a: Sequence[float], b: Sequence[float]) -> PairedDifference:
    """Differences a[i] - b[i] of two methods over the same seeds."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 1 or len(a) == 0:
        raise ValueError(
            f"give one number per seed for both methods (same length), got {a.shape} and {b.shape}"
        )
    return PairedDifference(a - b)


@dataclass(frozen=True)
class SuccessRate:
    """How many of n runs succeeded: the honest summary of a bimodal outcome."""

    successes: int
    n: int

    @property
    def rate(self) -> float:
        return self.successes / self.n

    def __str__(self) -> str:
        return f"{self.successes} of {self.n} runs"


def success_rate(values: Sequence[float], threshold: float) -> SuccessRate:
    """Count the runs whose value is at least `threshold` (e.g. target accuracy 0.8)."""
    values = np.asarray(values, dtype=float)
    if values.ndim != 1 or len(values) == 0:
        raise ValueError(f"give one number per run, got an array of shape {values.shape}")
    return SuccessRate(int((values >= threshold).sum()), len(values))
