"""Helpers for tests of lessons and their runs: cells that watch for training, reading the
executed notebook, and which saved runs git tracks. (A module beside the tests, imported by
them; not a test file.)"""

from __future__ import annotations

import re
import subprocess
from functools import cache
from pathlib import Path

import nbformat

# Put before a lesson's first cell: any torch optimizer step stops the lesson, so "it loaded
# its saved runs" is checked by what ran, not by what the lesson prints.
NO_TRAINING = """\
from torch.optim.optimizer import register_optimizer_step_pre_hook


def _no_training(optimizer, args, kwargs):
    raise RuntimeError("NO-TRAINING CHECK: a torch optimizer step ran (the lesson is training)")


_no_training_hook = register_optimizer_step_pre_hook(_no_training)
"""

# Put before a lesson's first cell and COUNT_REPORT after its last: how many optimizer steps ran.
COUNT_STEPS = """\
from torch.optim.optimizer import register_optimizer_step_pre_hook

_optimizer_steps = [0]


def _count_step(optimizer, args, kwargs):
    _optimizer_steps[0] += 1


_count_hook = register_optimizer_step_pre_hook(_count_step)
"""
COUNT_REPORT = 'print(f"OPTIMIZER STEPS: {_optimizer_steps[0]}")'
STEPS_PRINTED = re.compile(r"OPTIMIZER STEPS: (\d+)")


def watched(nb: nbformat.NotebookNode, before: str, after: str | None = None):
    """A copy of `nb` with cell `before` first and cell `after` (if any) last."""
    nb = nbformat.from_dict(nb)
    nb.cells.insert(0, nbformat.v4.new_code_cell(before))
    if after is not None:
        nb.cells.append(nbformat.v4.new_code_cell(after))
    return nb


def text(cell) -> str:
    """What a cell printed or displayed as text."""
    return "".join(
        o.get("text", "") + o.get("data", {}).get("text/plain", "") for o in cell.get("outputs", [])
    )


def errors(nb: nbformat.NotebookNode) -> list[tuple[int, str, str]]:
    """(cell, exception, message) of every error outside cells tagged raises-exception."""
    return [
        (i, o.ename, o.evalue)
        for i, c in enumerate(nb.cells)
        if "raises-exception" not in c.get("metadata", {}).get("tags", [])
        for o in c.get("outputs", [])
        if o.output_type == "error"
    ]


def optimizer_steps(nb: nbformat.NotebookNode) -> int:
    """The count COUNT_REPORT printed."""
    found = STEPS_PRINTED.findall(text(nb.cells[-1]))
    assert found, "the lesson did not reach its last cell"
    return int(found[0])


ROOT = Path(__file__).resolve().parents[1]


@cache
def committed_runs() -> frozenset[str] | None:
    """The files git tracks under checkpoints/, relative to the course (None outside a git
    checkout)."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "checkpoints"], cwd=ROOT, capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return frozenset(out.stdout.split())
