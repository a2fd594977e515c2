"""Exercise checkers, one module per lesson (`lesson01` ... `lesson06`).

A checker runs the student's function beside dannlib's and returns a `Verdict`, a one-line
string for the notebook to print with `.ok` telling whether the answer passed:

- the answer matches: "OK: ..." and `.ok` is True;
- the stub still raises `NotImplementedError("Student exercise: ...")`: "not done yet: ..."
  and `.ok` is False, so a student copy runs on under Run All and the lesson carries on with
  dannlib's version (`verdict.use(mine, dannlibs)`);
- a wrong answer raises `CheckFailed`, whose message names the likely mistake and what to
  change.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch


class CheckFailed(AssertionError):
    """An exercise check failed; the message says what to fix."""


class Verdict(str):
    """A checker's one-line verdict (a str) that also says whether the answer passed (`ok`)."""

    ok: bool

    def __new__(cls, message: str, ok: bool) -> Verdict:
        verdict = super().__new__(cls, message)
        verdict.ok = ok
        return verdict

    def use(self, mine, dannlibs):
        """`mine` if the exercise passed, else dannlib's version, so the lesson can go on."""
        return mine if self.ok else dannlibs


def is_unsolved(err: BaseException) -> bool:
    """True for the NotImplementedError an exercise stub raises ("Student exercise: ...")."""
    return isinstance(err, NotImplementedError) and str(err).startswith("Student exercise")


def checker(name: str, todo: str) -> Callable[[Callable[..., str]], Callable[..., Verdict]]:
    """Make a check function return a Verdict: its message when the answer passes, "not done
    yet" when the student's `name` still raises the stub's NotImplementedError. `todo` says in
    a few words what to write."""

    def wrap(check: Callable[..., str]) -> Callable[..., Verdict]:
        @functools.wraps(check)
        def run(*args, **kwargs) -> Verdict:
            try:
                return Verdict(check(*args, **kwargs), ok=True)
            except NotImplementedError as err:
                if not is_unsolved(err):
                    raise
                return Verdict(
                    f"not done yet: write `{name}` ({todo}). Until then the lesson uses "
                    "dannlib's version.",
                    ok=False,
                )

        return run

    return wrap


def close(a, b, tol: float = 1e-6) -> bool:
    """True if two tensors, arrays or numbers agree to `tol` (absolute and relative)."""
    a = torch.as_tensor(a, dtype=torch.float64)
    b = torch.as_tensor(b, dtype=torch.float64)
    return a.shape == b.shape and torch.allclose(a, b, rtol=tol, atol=tol)
