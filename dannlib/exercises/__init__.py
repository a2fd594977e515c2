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
import linecache
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

import dannlib


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


def _where(err: BaseException) -> str:
    """' at `line`' for the innermost frame of `err` outside the installed packages and
    dannlib (the student's own code), or '' if there is none."""
    skip = (str(Path(dannlib.__file__).resolve().parent), sys.prefix, sys.base_prefix)
    for frame in reversed(traceback.extract_tb(err.__traceback__)):
        path = Path(frame.filename)
        where = str(path.resolve()) if path.exists() else ""
        if not any(where.startswith(s) for s in skip):
            line = (frame.line or linecache.getline(frame.filename, frame.lineno)).strip()
            return f" at `{line}`" if line else ""
    return ""


def student_error(
    err: BaseException, who: str, hints: Sequence[tuple[str, str]] = (), usage: str | None = None
) -> CheckFailed:
    """A CheckFailed for an error raised inside the student's code: the error, the student's
    line, and a hint: the first of `hints` (text to look for in "Type: message", hint) that
    matches, else `usage` (how the function is called)."""
    text = f"{type(err).__name__}: {str(err).strip().splitlines()[0] if str(err).strip() else ''}"
    hint = next((h for key, h in hints if key.lower() in text.lower()), usage)
    return CheckFailed(
        f"{who} raised {type(err).__name__}{_where(err)}: {text.split(': ', 1)[1]}"
        + (f"\nHint: {hint}" if hint else "")
    )


def call(
    fn: Callable,
    *args,
    who: str = "your function",
    hints: Sequence[tuple[str, str]] = (),
    usage: str | None = None,
    **kwargs,
):
    """`fn(*args, **kwargs)`, an error raised inside it (but the stub's NotImplementedError)
    turned into a CheckFailed with a hint (see `student_error`)."""
    try:
        return fn(*args, **kwargs)
    except CheckFailed:
        raise
    except Exception as err:
        if is_unsolved(err):
            raise
        raise student_error(err, who, hints, usage) from None


def close(a, b, tol: float = 1e-6) -> bool:
    """True if two tensors, arrays or numbers agree to `tol` (absolute and relative)."""
    a = torch.as_tensor(a, dtype=torch.float64)
    b = torch.as_tensor(b, dtype=torch.float64)
    return a.shape == b.shape and torch.allclose(a, b, rtol=tol, atol=tol)
