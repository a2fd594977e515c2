"""Run the wrong and right answers against one lesson's checkers (black box) as JSON lines.

    PYTHONPATH=<lesson owner's worktree> python tests/wrong_answers/report.py 03 [tree-name]
    PYTHONPATH=<lesson 03's worktree> python tests/wrong_answers/report.py training [tree-name]
    python tests/wrong_answers/report.py table results/*.jsonl   # the Markdown table

The answers are loaded from this folder by file path, so `dannlib` (and its checkers) come from
PYTHONPATH. Each line: lesson, exercise, kind (wrong/right/stub), label, outcome (OK, CheckFailed,
not done yet, not ok, raw <Error>, raw in student code <Error>), message, seconds.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
import time
import traceback
import warnings
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent

# exercise key in the answer module -> (checker name, how to call it)
EXERCISES = {
    "01": [
        ("IMPORTANCE_WEIGHTS", "check_importance_weights"),
        ("ESS", "check_effective_sample_size"),
    ],
    "02": [
        ("GRL", "check_grl"),
        ("LAMBDA", "check_lambda_schedule"),
        ("DOMAIN_LOSS", "check_domain_loss"),
        ("CLASS_LOSS", "check_class_loss"),
        ("OPTIMIZER", "check_optimizer"),
    ],
    "03": [("DANN_STEP", "check_dann_step"), ("TRAIN", "check_dann_loop")],
    "04": [
        ("DOMAIN_FEATURES", "check_domain_features"),
        ("PROXY_A_DISTANCE", "check_proxy_a_distance"),
    ],
    "05": [("PAIRED_GAIN", "check_paired_gain"), ("CURVE_SUMMARY", "check_curve_summary")],
    "06": [("REVERSE_VALIDATION", "check_reverse_validation"), ("SELECTION", "check_selection")],
}


def _stub(*args, **kwargs):
    raise NotImplementedError("Student exercise: (the stub, unsolved)")


def _load_answers(lesson: str):
    spec = importlib.util.spec_from_file_location(f"answers{lesson}", HERE / f"lesson{lesson}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _call(checker, key: str, fn):
    """Call the checker as the notebook does; OPTIMIZER answers build the optimiser first."""
    if key != "OPTIMIZER":
        return checker(fn)
    from dannlib import build_model, set_seed

    set_seed(0)
    model = build_model("toy")
    try:
        optimizer = fn(model)
    except Exception as err:  # the student's own code failed before the check was called
        raise _StudentCodeError(err) from err
    return checker(model, optimizer)


class _StudentCodeError(Exception):
    pass


def _outcome(result) -> tuple[str, str]:
    text = str(result)
    ok = getattr(result, "ok", None)
    if ok is True:
        return "OK", text
    if "not done yet" in text.lower():
        return "not done yet", text
    return f"not ok (returned, ok={ok!r})", text


def main(lesson: str, tree: str) -> None:
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    exercises = importlib.import_module(f"dannlib.exercises.lesson{lesson}")
    from dannlib.exercises import CheckFailed

    answers = _load_answers(lesson)
    for key, check_name in EXERCISES[lesson]:
        checker = getattr(exercises, check_name, None)
        # the stub as an unsolved student leaves it (an optimiser is not an exercise stub)
        rows = [] if key == "OPTIMIZER" else [("stub", "stub (NotImplementedError)", _stub)]
        rows += [("wrong", label, fn) for label, fn in getattr(answers, f"WRONG_{key}")]
        rows += [("right", label, fn) for label, fn in getattr(answers, f"RIGHT_{key}")]
        for kind, label, fn in rows:
            t0 = time.perf_counter()
            if checker is None:
                outcome, message = (
                    "no checker",
                    f"dannlib.exercises.lesson{lesson} has no {check_name}",
                )
            else:
                try:
                    outcome, message = _outcome(_call(checker, key, fn))
                except CheckFailed as err:
                    outcome, message = "CheckFailed", str(err)
                except _StudentCodeError as err:
                    cause = err.__cause__
                    outcome = f"raw in student code {type(cause).__name__}"
                    message = str(cause)
                except Exception as err:
                    outcome, message = f"raw {type(err).__name__}", str(err)
                    where = traceback.extract_tb(err.__traceback__)[-1]
                    message += f" [at {Path(where.filename).name}:{where.lineno}]"
            row = {
                "tree": tree,
                "lesson": lesson,
                "exercise": key,
                "checker": check_name,
                "kind": kind,
                "label": label,
                "answer": getattr(fn, "__name__", ""),
                "mistake": (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else "",
                "outcome": outcome,
                "message": " ".join(message.split()),
                "seconds": round(time.perf_counter() - t0, 2),
            }
            print(json.dumps(row), flush=True)


# lesson 03's check_training(loop, step, ...): (kind, step label, loop label); None: dannlib's loop
TRAINING_PAIRS = [
    ("right", "model(x, lam), zero_grad first", "indexes .x/.y, to_float"),
    ("right", "torch.split, zero_grad(set_to_none=False)", "seeds torch, lambdas precomputed"),
    ("right", "torch.split, zero_grad(set_to_none=False)", None),
    ("wrong", "two forward passes", "indexes .x/.y, to_float"),
    ("wrong", "returns tensors", "indexes .x/.y, to_float"),
    ("wrong", "model(x, lam), zero_grad first", "model.eval() before training"),
    ("wrong", "ones(len(x_lab)) for the target", "indexes .x/.y, to_float"),
    ("wrong", "model(x, lam), zero_grad first", "p = step/(steps-1)"),
]


def training(tree: str, steps: int = 1500) -> None:
    """Lesson 03's whole-run check on pairs of step and loop answers, as JSON lines."""
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    from dannlib.data.toy import moons_pair
    from dannlib.exercises import CheckFailed
    from dannlib.exercises import lesson03 as exercises

    answers = _load_answers("03")
    step_fns = dict(answers.WRONG_DANN_STEP + answers.RIGHT_DANN_STEP)
    loop_fns = dict(answers.WRONG_TRAIN + answers.RIGHT_TRAIN)
    data = moons_pair(300, angle=35, seed=0)
    for kind, step, loop in TRAINING_PAIRS:
        t0 = time.perf_counter()
        loop_fn = exercises.train_loop if loop is None else loop_fns[loop]
        try:
            result = exercises.check_training(
                loop_fn, step_fns[step], data["source"], data["target"], steps=steps, seed=0
            )
            outcome, message = _outcome(result)
        except CheckFailed as err:
            outcome, message = "CheckFailed", str(err)
        except Exception as err:
            outcome, message = f"raw {type(err).__name__}", str(err)
        row = {
            "tree": tree,
            "lesson": "03",
            "exercise": "TRAINING (check_training)",
            "checker": "check_training",
            "kind": kind,
            "label": f"step: {step} + loop: {loop or 'library train_loop'}",
            "outcome": outcome,
            "message": " ".join(message.split()),
            "seconds": round(time.perf_counter() - t0, 1),
        }
        print(json.dumps(row), flush=True)


def verdict(row: dict) -> str:
    """What the outcome means: a wrong answer accepted or crashing raw, a right one rejected."""
    ok, raw = row["outcome"] == "OK", row["outcome"].startswith("raw")
    if row["kind"] == "wrong":
        if ok:
            return "ACCEPTED"
        if raw:
            return "raw (student code)" if "student code" in row["outcome"] else "RAW"
        return ""
    if row["kind"] == "right":
        return "" if ok else "RIGHT REJECTED"
    return "" if row["outcome"] == "not done yet" else "stub: " + row["outcome"]


def table(paths: list[str]) -> str:
    """The Markdown table of JSON-lines result files (message cut at 120 characters)."""
    lines = [
        "| lesson | exercise | kind | label | outcome | verdict | message (first 120 chars) |",
        "|---|---|---|---|---|---|---|",
    ]
    for path in paths:
        for line in Path(path).read_text().splitlines():
            r = json.loads(line)
            cells = [r["lesson"], r["exercise"], r["kind"], r["label"], r["outcome"], verdict(r)]
            cells.append(r["message"][:120])
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    if sys.argv[1] == "table":
        print(table(sys.argv[2:]))
    elif sys.argv[1] == "training":
        training(sys.argv[2] if len(sys.argv) > 2 else "")
    else:
        main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "")
