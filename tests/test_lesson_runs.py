"""tests/lesson_runs.py: the cells that forbid or count training do so in a real kernel."""

import nbformat
from lesson_runs import COUNT_REPORT, COUNT_STEPS, NO_TRAINING, errors, optimizer_steps, watched
from nbclient import NotebookClient

TRAIN = """\
import torch

w = torch.zeros(2, requires_grad=True)
optimizer = torch.optim.SGD([w], lr=0.1)
for _ in range(3):
    optimizer.zero_grad()
    (w - 1).pow(2).sum().backward()
    optimizer.step()
print("trained")
"""


def run(nb, folder):
    client = NotebookClient(
        nb, kernel_name="python3", allow_errors=True, resources={"metadata": {"path": str(folder)}}
    )
    return client.execute()


def lesson(source: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("print('no training here')"),
        nbformat.v4.new_code_cell(source),
    ]
    return nb


def test_no_training_stops_at_the_first_optimizer_step_and_counting_counts(tmp_path):
    stopped = run(watched(lesson(TRAIN), NO_TRAINING), tmp_path)
    ((cell, ename, evalue),) = errors(stopped)
    assert (cell, ename) == (2, "RuntimeError") and "NO-TRAINING CHECK" in evalue
    assert errors(run(watched(lesson("x = 1"), NO_TRAINING), tmp_path)) == []
    counted = run(watched(lesson(TRAIN), COUNT_STEPS, COUNT_REPORT), tmp_path)
    assert errors(counted) == [] and optimizer_steps(counted) == 3
