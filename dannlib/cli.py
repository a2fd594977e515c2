"""The `dann` command: train, evaluate and predict with digit models, and run the course.

A thin layer over the library. The tasks and their image sizes come from the data registry,
the data from `domain_pair` / `load_domain` (`--data course` or `real`, as a lesson's DATA),
the network and its settings from a recipe, a profile's sizes from lesson 04's row of
dannlib.lessons, and the training from `fit`, whose record of the run (settings and data) is
the checkpoint's "config": a run trained here is a run dannlib.saved_runs accepts when its data
and settings match. What is the command's own: the run folder (written as OUT.partial under a
lock, published whole), the CSV, the figure and the checks of the command line.

This is the one module of dannlib that prints: results on stdout, problems on stderr, control
characters shown as escapes. Exit codes: 0 done; 1 the command could not be done (files, data,
device, a failed notebook or image, another run writing the same folder); 2 the command line is
wrong; 130 / 143 stopped by Ctrl-C / SIGTERM. Every problem is one line on stderr; `--debug`
shows the traceback instead.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import io
import json
import os
import shlex
import shutil
import signal
import sys
import textwrap
import warnings
from pathlib import Path

from dannlib.config import PROFILE_NAMES, REPO_URL
from dannlib.data.registry import DATA_CHOICES, DATASETS, DOMAINS, TASKS
from dannlib.files import NotRegularFile, one_line, open_own_file, printable
from dannlib.models import ARCHITECTURES
from dannlib.recipes import RECIPES
from dannlib.train import LR_SCHEDULES, MAX_BATCH_SIZE, MODES, OPTIMIZERS

ARCHS = tuple(a for a in ARCHITECTURES if a != "toy")  # the networks that take images
DIGIT_RECIPES = tuple(name for name, r in RECIPES.items() if r.arch in ARCHS)
PROFILE_LESSON = "04"  # `--profile` sizes: lesson 04's (dannlib.lessons.LESSONS)
PARTIAL = ".partial"  # suffix of the folder a run is written into until it is complete
RUN_FILES = {"model.pt", "history.json", "history.csv", "curves.png", "run.json"}
FINISHED = {"history.csv", "curves.png"}  # written once training is done; run.json: until then
MESSAGE_LIMIT = 10_000  # characters of an error line: long paths (two of 4,096) are shown whole


class UsageError(Exception):
    """A problem with the command line itself; reported as one line, exit code 2."""


class Failure(Exception):
    """A command that cannot be done here (e.g. an unavailable device); one line, exit code 1."""


class Terminated(SystemExit):
    """Raised by the SIGTERM handler of `dann train`: exit code 143 once the state is saved."""


def whole_number(low: int):
    """An argparse type: a whole number >= `low`."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a whole number >= {low}, got {text!r}"
            ) from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
        return value

    return parse


positive_int, seed = whole_number(1), whole_number(0)


def batch_size(text: str) -> int:
    """argparse type: an integer from 1 to MAX_BATCH_SIZE."""
    value = positive_int(text)
    if value > MAX_BATCH_SIZE:
        raise argparse.ArgumentTypeError(
            f"at most {MAX_BATCH_SIZE} images per batch, got {value:,} (the paper uses 64)"
        )
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def path(text: str) -> str:
    """argparse type: a path that is not empty (an empty one would silently mean the default)."""
    if not text:
        raise argparse.ArgumentTypeError("an empty path; name a file or folder")
    return text


class _DataFolder(str):
    """A folder given to --data, which named the data folder before --data-dir did."""


def data_choice(text: str) -> str:
    """argparse type: 'course' or 'real'; an existing folder is taken as the deprecated
    `--data DIR` (main() says to use --data-dir)."""
    if text in DATA_CHOICES:
        return text
    if text and os.path.isdir(text):
        return _DataFolder(text)
    raise argparse.ArgumentTypeError(
        f"choose from {', '.join(map(repr, DATA_CHOICES))}, got {printable(text)!r} "
        "(the data folder is --data-dir)"
    )


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (plus where to find help), exit code 2."""

    def error(self, message: str):
        """Print `prog: error: message` on one line and exit with code 2."""
        self.exit(2, f"{self.prog}: error: {printable(message)} (see: {self.prog} --help)\n")


def _formatter(prog: str) -> argparse.HelpFormatter:
    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=30)


def _wrap(text: str) -> str:
    return textwrap.fill(text, 88)


def _examples(text: str) -> str:
    return "examples:\n" + textwrap.indent(textwrap.dedent(text).strip("\n"), "  ")


def _add_data_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data",
        type=data_choice,
        default="course",
        metavar="{course,real}",
        help="course (default): the course's own data, the same on every machine, offline; "
        "real: the published datasets, downloaded into --data-dir (SVHN and USPS need it)",
    )
    p.add_argument(
        "--data-dir",
        type=path,
        metavar="DIR",
        help="dataset folder (default: $DANNLIB_DATA, else the course's data/, else ./data)",
    )
    p.add_argument(
        "--no-download",
        action="store_true",
        help="with --data real: never download, use only the files in --data-dir",
    )


def _command(sub, name: str, help: str, description: str, examples: str):
    """A subcommand parser with the options every command has (--debug)."""
    p = sub.add_parser(
        name,
        help=help,
        description=_wrap(description),
        formatter_class=_formatter,
        epilog=_examples(examples),
    )
    p.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    return p


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `dann` and its subcommands."""
    parser = Parser(
        prog="dann",
        description=_wrap(
            "Domain-Adversarial Neural Networks on digits: train, evaluate, predict, "
            "and run the course notebooks."
        ),
        formatter_class=_formatter,
        epilog=_examples("""
            dann train --source mnist --target mnist_m --recipe course --out runs/dann
            dann evaluate --checkpoint runs/dann/model.pt --domain mnist_m
            dann predict --checkpoint runs/dann/model.pt --images my_digits/ --out predictions.csv
            dann course --profile quick
            dann COMMAND --help   (options of one command)"""),
    )
    from dannlib import __version__

    parser.add_argument("--version", action="version", version=f"dannlib {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _train_parser(sub)
    _evaluate_parser(sub)
    _predict_parser(sub)
    _course_parser(sub)
    return parser


def _train_parser(sub) -> None:
    train = _command(
        sub,
        "train",
        "train a digit model and save checkpoint, history and curves",
        "Train on labelled SOURCE images and unlabelled TARGET images with a recipe (a network "
        "and its settings; other options override them), then save model.pt (checkpoint), "
        "history.json, history.csv and curves.png into --out. The run is written into "
        "OUT.partial first (with a checkpoint at every evaluation) and renamed to OUT when "
        "complete; a second run on the same --out is refused while one is running. Ctrl-C or "
        "SIGTERM saves the last completed step and exits 130 or 143; the same command with "
        "--resume continues. The tasks (SOURCE->TARGET): " + ", ".join(TASKS) + ".",
        """
        dann train --source mnist --target mnist_m --recipe course --steps 1500 --out runs/dann
        dann train --source mnist --target mnist_m --mode source_only --epochs 10 \\
                   --out runs/source_only
        dann train --source mnist --target mnist_m --recipe course --steps 1500 --out runs/dann \\
                   --resume   (after an interruption)
        dann train --source svhn --target mnist --data real --recipe course --out runs/svhn
        dann train --source mnist --target mnist_m --steps 3 --limit 200 --out runs/smoke""",
    )
    train.add_argument("--source", required=True, choices=DOMAINS, help="labelled domain")
    train.add_argument("--target", required=True, choices=DOMAINS, help="unlabelled domain")
    train.add_argument(
        "--recipe",
        default="paper",
        choices=DIGIT_RECIPES,
        help="network and settings (default: paper; course: modern net, Adam, per-domain BN)",
    )
    train.add_argument("--mode", default="dann", choices=MODES, help="default: dann")
    length = train.add_mutually_exclusive_group()
    length.add_argument("--epochs", type=positive_int, help="passes over the larger domain")
    length.add_argument(
        "--steps", type=positive_int, help="optimisation steps (default: the profile's)"
    )
    train.add_argument("--arch", choices=ARCHS, help="network (default: the recipe's)")
    train.add_argument(
        "--size", type=positive_int, help="image size (default: the task's, 28 or 32)"
    )
    train.add_argument(
        "--limit", type=positive_int, help="training images per domain (default: the profile's)"
    )
    train.add_argument(
        "--test-limit",
        type=positive_int,
        help="test images per domain (default: the profile's, else --limit)",
    )
    train.add_argument(
        "--profile",
        choices=PROFILE_NAMES,
        help="lesson 04's sizes when --steps/--limit/--test-limit are not given; a run the "
        "lesson loads saved in that profile trains at its stand-in length (quick paper: 200 "
        "steps) (default: $DANNLIB_PROFILE or default)",
    )
    train.add_argument("--batch-size", type=batch_size, help="per domain (the recipe's: 32)")
    train.add_argument("--optimizer", choices=OPTIMIZERS, help="default: the recipe's")
    train.add_argument("--lr", type=positive_float, help="learning rate (default: the recipe's)")
    train.add_argument("--lr-schedule", choices=LR_SCHEDULES, help="default: the recipe's")
    train.add_argument("--seed", type=seed, default=0, help="seed of the training (0)")
    train.add_argument(
        "--data-seed",
        type=seed,
        default=0,
        help="the data's random draw: the --limit subset, MNIST-M's and SynDigits' images "
        "(0, as the lessons)",
    )
    train.add_argument("--device", help="cpu, cuda, cuda:N or mps (default: the best available)")
    train.add_argument(
        "--out", type=path, metavar="DIR", help="output folder (default: runs/SOURCE-TARGET-MODE)"
    )
    train.add_argument(
        "--overwrite", action="store_true", help="replace an existing --out folder when done"
    )
    train.add_argument(
        "--resume", action="store_true", help="continue the interrupted run in OUT.partial"
    )
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_data_options(train)


def _evaluate_parser(sub) -> None:
    evaluate = _command(
        sub,
        "evaluate",
        "print a checkpoint's accuracy on a domain",
        "Print a saved model's accuracy on one domain and where that data came from. Batch "
        "norm is read as the checkpoint's recipe says (course: the domain's own statistics).",
        """
        dann evaluate --checkpoint runs/dann/model.pt --domain mnist_m
        dann evaluate --checkpoint runs/dann/model.pt --domain mnist --split train \\
                      --limit 1000
        dann evaluate --checkpoint runs/svhn/model.pt --domain mnist --data real""",
    )
    evaluate.add_argument(
        "--checkpoint", required=True, type=path, metavar="PATH", help="model.pt from train"
    )
    evaluate.add_argument("--domain", required=True, choices=DOMAINS, help="data to evaluate on")
    evaluate.add_argument(
        "--split", default="test", choices=("train", "test"), help="default: test"
    )
    evaluate.add_argument("--limit", type=positive_int, help="images (class-balanced subset)")
    evaluate.add_argument(
        "--data-seed",
        "--seed",
        dest="seed",
        type=seed,
        default=0,
        help="the data's random draw: the --limit subset, MNIST-M's and SynDigits' images (0)",
    )
    _add_data_options(evaluate)


def _predict_parser(sub) -> None:
    predict = _command(
        sub,
        "predict",
        "classify a folder of image files",
        "Classify every image file under FOLDER (recursively; hidden files and folders are "
        "skipped), converted like the training data: resized to the model's input size, "
        "grey/RGB as the model expects, transparency drawn over black. Anything that is not a "
        "regular file (FIFOs, devices) is skipped unread. Writes a CSV (UTF-8) with columns "
        "path,label,confidence,error; --out must be a new path or a regular file, not the "
        "checkpoint and not inside FOLDER. Files that cannot be classified are listed with the "
        "reason on stderr and in the error column. Batch norm is read as the checkpoint's "
        "recipe says (course: the folder's images are one domain). Exit code 0 if every file "
        "was classified, 1 if any was not.",
        """
        dann predict --checkpoint runs/dann/model.pt --images my_digits/
        dann predict --checkpoint runs/dann/model.pt --images scans/ --out scans.csv""",
    )
    predict.add_argument(
        "--checkpoint", required=True, type=path, metavar="PATH", help="model.pt from train"
    )
    predict.add_argument(
        "--images", required=True, type=path, metavar="FOLDER", help="folder of image files"
    )
    predict.add_argument(
        "--out", type=path, default="predictions.csv", metavar="CSV", help="predictions.csv"
    )
    predict.add_argument("--batch-size", type=batch_size, default=256, help="images per batch")
    predict.add_argument(
        "--max-pixels", type=positive_int, default=None, help="refuse larger images (40,000,000)"
    )


def _course_parser(sub) -> None:
    from dannlib.course import DEFAULT_TIMEOUT

    course = _command(
        sub,
        "course",
        "execute the course notebooks in order (papermill)",
        "Execute every notebook NN_*.ipynb of the course in order with papermill (working "
        "directory: the notebooks folder; PROFILE passed as a parameter and as "
        "$DANNLIB_PROFILE), save the executed copies into --out (a folder outside the "
        "notebooks folder) and print a summary. Exit code 0 if every notebook ran, 1 otherwise.",
        """
        dann course --profile quick
        dann course --only 03 04 --out build/
        dann course --notebooks path/to/notebooks --profile default --timeout 3600""",
    )
    course.add_argument("--profile", default="quick", choices=PROFILE_NAMES, help="default: quick")
    course.add_argument(
        "--out", type=path, default="build", metavar="DIR", help="executed copies (build/)"
    )
    course.add_argument("--only", nargs="+", metavar="NN", help="run only these (e.g. 03 04)")
    course.add_argument(
        "--notebooks", type=path, metavar="DIR", help="notebooks folder (default: found)"
    )
    course.add_argument(
        "--timeout",
        type=positive_int,
        default=DEFAULT_TIMEOUT,
        help=f"seconds per cell before it fails ({DEFAULT_TIMEOUT})",
    )
    course.add_argument("--no-progress", action="store_true", help="no progress bar")


def _say(*lines: str) -> None:
    for line in lines:
        print(printable(line), flush=True)


def _warn(line: str) -> None:
    print(printable(line), file=sys.stderr, flush=True)


def _data_line(domain) -> str:
    info = domain.info
    return f"  {info['name']} {info['split']}: {len(domain):,} images, source: {info['source']}"


def _course_data_only(names, data: str) -> None:
    """UsageError for a dataset that is not part of the course data, before any work."""
    for name in names:
        dataset = DATASETS[name]
        if data == "course" and not dataset.course:
            raise UsageError(
                f"{name} is not part of the course data; pass --data real to use the published "
                f"{name.upper()} ({dataset.published}; downloaded into --data-dir unless "
                "--no-download)"
            )


def _history_csv(history: dict) -> str:
    """One row per step; evaluation columns filled on the steps where evaluations ran."""
    steps, evals = history["steps"], history["evals"]
    step_keys = [k for k in steps if k != "step"]
    eval_keys = [k for k in evals if k != "step"]
    rows: dict[int, dict] = {}
    for i, step in enumerate(steps.get("step", [])):
        rows.setdefault(step, {}).update({k: steps[k][i] for k in step_keys})
    for i, step in enumerate(evals.get("step", [])):
        rows.setdefault(step, {}).update({k: evals[k][i] for k in eval_keys})
    out = io.StringIO()
    writer = csv.DictWriter(out, ["step", *step_keys, *eval_keys], lineterminator="\n")
    writer.writeheader()
    for step in sorted(rows):
        writer.writerow({"step": step, **rows[step]})
    return out.getvalue()


def _device(name: str | None):
    """The torch.device for --device; UsageError for unknown names, Failure if unavailable."""
    import torch

    from dannlib.config import pick_device

    try:
        device = pick_device(name)
    except RuntimeError:
        raise UsageError(
            f"--device {name!r}: unknown device; use cpu, cuda, cuda:N or mps"
        ) from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if (device.index or 0) >= count:
            raise Failure(
                f"--device {name}: no such CUDA device here ({count} found; a CPU-only PyTorch "
                "or no NVIDIA driver?); use --device cpu"
            )
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise Failure(f"--device {name}: Apple's MPS is not available here; use --device cpu")
    elif device.type != "cpu":
        raise UsageError(f"--device {name}: dann trains on cpu, cuda or mps")
    return device


def _network(recipe, size: int):
    """The recipe's network for `size` x `size` images, built on the meta device (checked,
    nothing allocated); UsageError if it cannot take that size."""
    from dannlib.checkpoint import validate_spec

    try:
        return validate_spec({"arch": recipe.arch, "kwargs": {**recipe.model_kwargs, "size": size}})
    except ValueError as err:
        raise UsageError(f"--size {size}: {err}") from None


def _training_bytes(shell, batch: int) -> int:
    """Rough memory one training step takes: activations (kept for backward, plus their
    gradients) of 2 x `batch` images, and weights, gradients and Adam's two moments."""
    import torch

    size, channels = shell.spec["kwargs"]["size"], shell.spec["kwargs"]["in_channels"]
    floats = [0]

    def count(module, inputs, output) -> None:
        floats[0] += output.numel() if isinstance(output, torch.Tensor) else 0

    leaves = [m for m in shell.modules() if not list(m.children())]
    hooks = [m.register_forward_hook(count) for m in leaves]
    shell.eval()(torch.zeros(1, channels, size, size, device="meta"))
    for hook in hooks:
        hook.remove()
    weights = sum(p.numel() for p in shell.parameters())
    return 4 * (2 * 2 * batch * floats[0] + 4 * weights)


def _device_bytes(device) -> int | None:
    """Total memory of `device` (the machine's RAM for the CPU), or None if unknown."""
    import torch

    if device.type == "cuda":
        return torch.cuda.get_device_properties(device.index or 0).total_memory
    if device.type == "cpu":
        try:
            return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError, AttributeError):
            return None
    return None


def _check_data(pair, batch: int, shell, device) -> None:
    """Failure for an empty split; UsageError if --batch-size exceeds the training data or
    half the device's memory."""
    for domain in pair.values():
        if len(domain) == 0:
            split = domain.info.get("split")
            raise Failure(f"{domain.name} {split} holds no images: nothing to train or test on")
    smallest = min(len(pair.source), len(pair.target))
    if batch > smallest:
        raise UsageError(
            f"--batch-size {batch} is more than the {smallest:,} training images of a domain; "
            f"use --batch-size {smallest} or less, or more images (--limit)"
        )
    need, have = _training_bytes(shell, batch), _device_bytes(device)
    if have is not None and need > have / 2:
        raise UsageError(
            f"--batch-size {batch} would need about {need / 1e6:,.0f} MB of memory for one step, "
            f"more than half of the {have / 1e6:,.0f} MB here; use a smaller --batch-size"
        )


class RunFolder:
    """Where `dann train` writes: OUT.partial while training (resumable), renamed to OUT at the
    end, so OUT holds model, history and figure of one complete run or nothing new at all.
    A lock beside OUT (.OUT.lock) is held from the checks to the end, so a second run on the
    same OUT is refused before it trains."""

    def __init__(self, out: str, *, overwrite: bool, resume: bool, command: str):
        from dannlib.files import check_output

        if not Path(out).resolve().name:
            raise UsageError(
                f"--out {printable(out)}: the root folder cannot hold a run; name a new folder"
            )
        if Path(out).name.endswith(PARTIAL):
            raise UsageError(
                f"--out {printable(out)}: names ending in {PARTIAL} are where dann train keeps "
                "unfinished runs; choose another name"
            )
        self.out = check_output(out, folder=True, what="--out")
        partial = self.out.with_name(self.out.name + PARTIAL)
        self.partial = check_output(partial, folder=True, what="--out")
        self.checkpoint, self.command = self.partial / "model.pt", command
        self.overwrite, self.resume = overwrite, resume

    @contextlib.contextmanager
    def locked(self):
        """Hold OUT's lock, check OUT and OUT.partial under it, then run the block."""
        path = self.out.with_name(f".{self.out.name}.lock")
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = _lock(path, f"--out {printable(self.out)}")
        try:
            self._check()
            yield self
        finally:
            with contextlib.suppress(OSError):
                os.unlink(path)  # under the lock: a waiting run then locks a new file
            os.close(fd)

    def _check(self) -> None:
        """UsageError unless OUT and OUT.partial allow what was asked (new, --overwrite,
        --resume)."""
        for folder in (self.out, self.partial):
            _only_run_files(folder)
        shown, partial = printable(self.out), printable(self.partial)
        if self.out.exists() and not self.overwrite:
            raise UsageError(
                f"--out {shown} already holds a run; pass --overwrite to replace it when the new "
                "run is complete, or choose another --out"
            )
        names = {p.name for p in self.partial.iterdir()} if self.partial.is_dir() else set()
        if names & FINISHED and "run.json" not in names:
            raise UsageError(
                f"{partial} holds a finished run, not an interrupted one (saved with --out "
                f"{partial}?); rename it: dann train neither continues nor deletes it"
            )
        if self.resume and not self.checkpoint.is_file():
            raise UsageError(f"--resume: no interrupted run to continue in {partial}")
        if names and not (self.resume or self.overwrite):
            raise UsageError(
                f"{partial} holds an interrupted run: continue it with --resume, or start "
                "again with --overwrite"
            )

    def start(self, record: dict) -> None:
        """Create OUT.partial (emptied unless resuming) holding run.json, the command that
        started the run. Resuming: UsageError unless the interrupted run was trained alike
        (`record`: this run's, dannlib.train_config.run_record; the library's one rule)."""
        from dannlib.checkpoint import read_checkpoint
        from dannlib.files import atomic_write_text
        from dannlib.train_config import differences

        if self.resume:
            changed = differences(read_checkpoint(self.checkpoint)["config"], record)
            if changed:
                command = _read_json(self.partial / "run.json").get("command")
                how = (
                    f"continue it with its own command: {printable(command)} --resume"
                    if isinstance(command, str) and command
                    else "continue it with the options it was started with"
                )
                raise UsageError(
                    f"--resume: {', '.join(changed)} differ from the interrupted run's; {how}, "
                    "or start again with --overwrite"
                )
            return
        shutil.rmtree(self.partial, ignore_errors=True)
        self.partial.mkdir(parents=True)
        atomic_write_text(json.dumps({"command": self.command}), self.partial / "run.json")

    @contextlib.contextmanager
    def resuming(self):
        """A checkpoint refused while resuming (damaged, another network) says how to start
        again instead."""
        from dannlib.checkpoint import CheckpointError

        try:
            yield
        except CheckpointError as err:
            if not self.resume:
                raise
            raise Failure(
                f"{one_line(err, MESSAGE_LIMIT)} (to start again instead: --overwrite)"
            ) from None

    def publish(self) -> None:
        """Replace OUT by the complete OUT.partial (signals wait until it is done)."""
        (self.partial / "run.json").unlink(missing_ok=True)
        old = self.out.with_name(f".{self.out.name}.old-{os.getpid()}")
        if self.out.exists():
            os.rename(self.out, old)
        os.rename(self.partial, self.out)
        shutil.rmtree(old, ignore_errors=True)

    def stopped(self, how: str) -> str:
        """The message after an interruption: what was saved and the command that continues."""
        resume = "" if " --resume" in self.command else " --resume"
        if not self.checkpoint.is_file():
            return f"{how} before training started; nothing was saved"
        return (
            f"{how}; progress up to the last completed step is saved in "
            f"{printable(self.checkpoint)}. "
            f"To continue: {self.command}{resume}"
        )


def _lock(path: Path, what: str) -> int:
    """An open file descriptor of `path` holding its exclusive lock; Failure if another
    process holds it. The lock goes with the process (a killed run leaves none). A link or
    anything but a regular file at `path` is refused, never written through."""
    while True:
        holder = ""
        try:
            fd = open_own_file(path, os.O_RDWR)
        except NotRegularFile:
            raise Failure(
                f"cannot lock {what}: {printable(path)} is not a regular file; remove it"
            ) from None
        except OSError as err:
            raise Failure(
                f"cannot lock {what}: {printable(path)}: {err.strerror}; remove it"
            ) from None
        try:
            if os.name == "nt":
                import msvcrt

                msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            else:
                import fcntl

                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            with contextlib.suppress(OSError):
                holder = os.read(fd, 20).decode(errors="replace").strip()
            os.close(fd)
            raise Failure(
                f"another dann train{f' (process {holder})' if holder.isdigit() else ''} is "
                f"writing to {what}; wait until it ends, or choose another --out"
            ) from None
        try:
            current = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            current = False
        if current:  # not a file its last holder removed while we waited for it
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
            return fd
        os.close(fd)


def _read_json(path: Path) -> dict:
    """`path`'s JSON object, or {} if it is missing or damaged."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}


def _only_run_files(folder: Path) -> None:
    """UsageError unless `folder` is new, empty or holds only what `dann train` writes, so
    that replacing it (--overwrite) can never delete anything else."""
    if not folder.is_dir():
        return
    names = {p.name for p in folder.iterdir()}
    others = sorted(n for n in names if n not in RUN_FILES and not _own_temp(n))
    if others:
        raise UsageError(
            f"{printable(folder)} holds files that dann train did not write "
            f"({', '.join(map(printable, others[:3]))}); it only replaces its own run "
            "folders: choose another --out"
        )


def _own_temp(name: str) -> bool:
    """True for the temp files of dannlib.files.atomic_path (.NAME.PID-RANDOM.tmp)."""
    return name.endswith(".tmp") and any(name.startswith(f".{f}.") for f in RUN_FILES)


def _exit_143(signum, frame) -> None:
    raise Terminated(143)


def cmd_train(args: argparse.Namespace) -> int:
    """`dann train`."""
    from dannlib.lessons import settings
    from dannlib.recipes import get_recipe

    task = f"{args.source}->{args.target}"
    if task not in TASKS:
        raise UsageError(f"{task} is not one of dannlib's tasks: {', '.join(TASKS)}")
    _course_data_only((args.source, args.target), args.data)
    recipe = get_recipe(args.recipe)
    if args.arch and args.arch != recipe.arch:  # another network, the recipe's settings
        recipe = dataclasses.replace(recipe, arch=args.arch, model_kwargs={})
    sizes = settings(PROFILE_LESSON, args.profile)
    shell = _network(recipe, args.size or TASKS[task])
    device = _device(args.device)
    # a run the lesson loads saved in this profile is trained here at its stand-in length
    steps = getattr(sizes, f"{recipe.name}_stand_in", None) or getattr(
        sizes, f"{recipe.name}_steps", sizes.course_steps
    )
    changes = {k: getattr(args, k) for k in ("optimizer", "lr", "lr_schedule", "batch_size")}
    changes = {k: v for k, v in changes.items() if v is not None}  # the recipe's otherwise
    config = recipe.config.replace(
        steps=None if args.epochs else args.steps or steps,
        epochs=args.epochs,
        mode=args.mode,
        seed=args.seed,
        **changes,
    )
    out = args.out or str(Path("runs", f"{args.source}-{args.target}-{args.mode}"))
    run = RunFolder(out, overwrite=args.overwrite, resume=args.resume, command=args.invocation)
    previous = signal.signal(signal.SIGTERM, _exit_143) if _on_main() else None
    try:
        with run.locked():
            return _train(args, task, sizes, recipe, shell, config, device, run)
    except Terminated:
        _warn(f"dann train: {run.stopped('stopped by SIGTERM')}")
        return 143
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _train(args, task: str, sizes, recipe, shell, config, device, run: RunFolder) -> int:
    """Load the data, train into OUT.partial, then write the results and publish them."""
    from dannlib.config import set_seed
    from dannlib.data.registry import domain_pair
    from dannlib.train import fit
    from dannlib.train_config import data_note, run_record

    size = shell.spec["kwargs"]["size"]
    limit, test_limit = args.limit or sizes.train, args.test_limit or sizes.test
    _say(f"task {task} ({size} x {size}), profile {sizes.profile}, {args.data} data:")
    pair = domain_pair(
        task,
        data=args.data,
        root=args.data_dir,
        download=not args.no_download,
        limit=limit,
        test_limit=test_limit,
        size=size,
        seed=args.data_seed,
    )
    _say(*(_data_line(domain) for domain in pair.values()))
    _check_data(pair, config.batch_size, shell, device)
    with run.resuming():
        run.start(run_record(config, pair.source, pair.target))

    set_seed(args.seed)
    model = recipe.build_model(size=size).to(device)
    length = f"{config.steps} steps" if config.steps else f"{config.epochs} epochs"
    _say(
        f"training {recipe.arch} net (recipe {args.recipe}), mode {config.mode}, {length}, "
        f"on {device}" + (", resuming" if run.resume else "")
    )
    with warnings.catch_warnings(), run.resuming():
        warnings.filterwarnings("ignore", "training interrupted")  # said below, with the command
        history = fit(
            model,
            pair.source,
            pair.target,
            config,
            eval_sets={"source": pair.source_test, "target": pair.target_test},
            checkpoint=run.checkpoint,
            resume=run.checkpoint if run.resume else None,
            device=device,
            progress=not args.no_progress,
        )
    if history.interrupted:
        _warn(f"dann train: {run.stopped('interrupted')}")
        return 130
    record = {  # fit's record of the run (settings, source and target data), and the command's
        **history.config,
        "task": task,
        "data": args.data,
        "data_seed": args.data_seed,
        "arch": recipe.arch,
        "size": size,
        "profile": sizes.profile,
        "limit": limit,
        "test_limit": test_limit,
        "test_data": {"source": data_note(pair.source_test), "target": data_note(pair.target_test)},
    }
    _finish(run, model, record, history)
    _say(
        f"done: source test accuracy {history.last('source_acc'):.3f}, "
        f"target test accuracy {history.last('target_acc'):.3f} "
        f"after {history.evals['step'][-1]} steps",
        f"saved model.pt, history.json, history.csv, curves.png in {run.out}",
    )
    return 0


def _finish(run: RunFolder, model, record: dict, history) -> None:
    """Write model.pt (resumable), history.json/.csv and curves.png, then publish the folder;
    Ctrl-C and SIGTERM wait until that is done, so OUT is never half old, half new."""
    from dannlib import __version__
    from dannlib.checkpoint import read_checkpoint, save_checkpoint
    from dannlib.files import atomic_write_text

    history_dict, folder = history.to_dict(), run.partial
    record = {**record, "dannlib_version": __version__}
    signals = {signal.SIGINT, signal.SIGTERM}
    can_block = _on_main() and hasattr(signal, "pthread_sigmask")  # not on Windows
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, signals) if can_block else None
    try:
        state = read_checkpoint(run.checkpoint)["train_state"]
        save_checkpoint(
            run.checkpoint, model, config=record, history=history_dict, train_state=state
        )
        text = json.dumps({"config": record, "history": history_dict}, indent=1)
        atomic_write_text(text, folder / "history.json")
        atomic_write_text(_history_csv(history_dict), folder / "history.csv")
        _plot(history, record, folder / "curves.png")
        run.publish()
    finally:
        if blocked is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


def _on_main() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _plot(history, record: dict, path: Path) -> None:
    """The training curves as a PNG at `path`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from dannlib.files import atomic_path
    from dannlib.viz import plot_history, use_style

    mode = record["mode"]
    with plt.rc_context():  # the course style for this figure only
        use_style()
        keys = ["label_loss", "domain_loss", "domain_acc", "source_acc", "target_acc"]
        axes = plot_history({mode: history}, keys=keys)
        for ax in axes:
            ax.set_ylabel(ax.get_title())
        figure = axes[0].figure
        figure.suptitle(f"{record['task']}, {mode}, {record['arch']} net")
        figure.tight_layout()
        with atomic_path(path) as tmp:
            figure.savefig(tmp, format="png", dpi=100)
        plt.close(figure)


def _adapt_bn(payload: dict) -> bool:
    """Whether the checkpoint's recipe reads batch norm with each domain's own statistics."""
    return bool(payload.get("config", {}).get("adapt_bn", False))


def cmd_evaluate(args: argparse.Namespace) -> int:
    """`dann evaluate`."""
    from dannlib.checkpoint import load_checkpoint
    from dannlib.data.registry import load_domain
    from dannlib.evaluation import evaluate
    from dannlib.predict import model_input

    _course_data_only([args.domain], args.data)
    model, payload = load_checkpoint(args.checkpoint)
    size, channels = model_input(model)
    data = load_domain(
        args.domain,
        args.split,
        data=args.data,
        root=args.data_dir,
        download=not args.no_download,
        size=size,
        channels=channels,
        limit=args.limit,
        seed=args.seed,
    )
    if len(data) == 0:
        raise Failure(f"{args.domain} {args.split} holds no images: nothing to evaluate")
    adapt_bn = _adapt_bn(payload)
    result = evaluate(model, data, adapt_bn=adapt_bn)
    own = adapt_bn and model.has_batchnorm
    bn = ", batch norm with this domain's own statistics" if own else ""
    _say(
        _data_line(data),
        f"accuracy {result['acc']:.4f} ({round(result['acc'] * len(data)):,} of {len(data):,}), "
        f"mean cross-entropy {result['loss']:.4f}{bn}",
    )
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    """`dann predict`."""
    from dannlib.checkpoint import load_checkpoint
    from dannlib.files import atomic_write_text, check_output
    from dannlib.predict import MAX_PIXELS, model_input, predict_folder, predictions_csv

    images = Path(args.images)
    if not images.is_dir():
        raise UsageError(f"--images {printable(args.images)}: not a folder")
    out = check_output(args.out, protect=[args.checkpoint], outside=[images], what="--out")
    model, payload = load_checkpoint(args.checkpoint)
    size, channels = model_input(model)
    predictions = predict_folder(
        model,
        images,
        batch_size=args.batch_size,
        max_pixels=args.max_pixels or MAX_PIXELS,
        adapt_bn=_adapt_bn(payload),
    )
    atomic_write_text(predictions_csv(predictions), out, hint="Choose another --out.")
    failed = [p for p in predictions if not p.ok]
    for p in failed:
        _warn(f"dann predict: skipped {p.path}: {p.error}")
    kind = "grey" if channels == 1 else "RGB"
    _say(
        f"classified {len(predictions) - len(failed):,} of {len(predictions):,} files "
        f"({size} x {size} {kind}); {len(failed):,} failed; wrote {args.out}"
    )
    if not predictions:
        _warn(f"dann predict: no files found under {images}")
    return 1 if failed or not predictions else 0


NOTEBOOK_TOOLS = ("papermill", "nbformat", "ipykernel")  # what running the lessons needs


def cmd_course(args: argparse.Namespace) -> int:
    """`dann course`."""
    import importlib.util

    from dannlib.course import find_notebooks_dir, run_course, select_notebooks

    missing = [name for name in NOTEBOOK_TOOLS if importlib.util.find_spec(name) is None]
    if missing:
        raise Failure(
            f"running the lessons needs {', '.join(missing)}, which the core install leaves "
            'out: in the course clone, pip install -e ".[notebooks]"; elsewhere, '
            f'pip install "dannlib[notebooks] @ git+{REPO_URL}"'
        )
    folder = find_notebooks_dir(args.notebooks)
    try:
        notebooks = select_notebooks(folder, args.only)
    except ValueError as err:
        raise UsageError(f"--only: {err}") from None
    _say(
        f"running {len(notebooks)} notebooks from {folder} (profile {args.profile}) into {args.out}"
    )
    results = run_course(
        notebooks,
        args.out,
        profile=args.profile,
        progress=not args.no_progress,
        timeout=args.timeout,
    )
    width = max(len(r.notebook.name) for r in results)
    _say("", f"{'notebook':<{width}}  status   seconds", "-" * (width + 18))
    for r in results:
        _say(f"{r.notebook.name:<{width}}  {r.status:<7} {r.seconds:8.1f}")
    failed = [r for r in results if not r.ok]
    for r in failed:
        _warn(f"dann course: {r.notebook.name} failed: {r.error}")
    total = sum(r.seconds for r in results)
    _say("-" * (width + 18), f"{len(results) - len(failed)} of {len(results)} ran in {total:.0f} s")
    return 1 if failed else 0


COMMANDS = {
    "train": cmd_train,
    "evaluate": cmd_evaluate,
    "predict": cmd_predict,
    "course": cmd_course,
}


def _expected(err: Exception) -> bool:
    """True for the errors a user can meet and act on (their message says what to do)."""
    from dannlib.data.download import DatasetUnavailable

    return isinstance(
        err, (Failure, DatasetUnavailable, ValueError, OSError, FloatingPointError, MemoryError)
    )


def _out_of_memory(err: Exception) -> bool:
    import torch

    return isinstance(err, torch.OutOfMemoryError) or "can't allocate memory" in str(err)


def _write_failed(err: Exception) -> bool:
    """True for torch.save's error when a write fails (a full disk, a file-size limit)."""
    text = str(err)
    return isinstance(err, RuntimeError) and (
        "PytorchStreamWriter" in text or "enforce fail at inline_container" in text
    )


def _message(err: Exception) -> str:
    """The line a user sees for `err`: 'error: ' what happened and, where known, what to do;
    'internal error: ' for a bug."""
    text = one_line(err, MESSAGE_LIMIT)
    if _out_of_memory(err):
        return f"error: out of memory ({one_line(err, 120)}); use a smaller --batch-size"
    if _write_failed(err):
        return (
            "error: a file could not be written (is the disk full, or a file-size limit "
            f"reached?): {one_line(err, 120)}; free some space or write elsewhere"
        )
    if _expected(err):
        return f"error: {text}"
    return (
        f"internal error: {type(err).__name__}: {text} (a bug in dannlib: rerun with --debug "
        f"for the traceback and report it at {REPO_URL}/issues)"
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `dann` command; returns the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    args.invocation = shlex.join(["dann", *argv])
    if hasattr(sys.stdout, "reconfigure"):  # any file name prints, whatever the locale
        sys.stdout.reconfigure(errors="backslashreplace")
    shown: set[str] = set()

    def show_warning(message, *_args, **_kwargs) -> None:
        text = one_line(message, MESSAGE_LIMIT)
        if text not in shown:  # the same notice from several loads: once
            shown.add(text)
            _warn(f"dann {args.command}: warning: {text}")

    if isinstance(getattr(args, "data", None), _DataFolder):
        show_warning("--data DIR is deprecated (--data chooses course or real); use --data-dir")
        args.data_dir, args.data = args.data_dir or str(args.data), "course"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            warnings.showwarning = show_warning
            return COMMANDS[args.command](args)
    except UsageError as err:
        _warn(f"dann {args.command}: error: {one_line(err, MESSAGE_LIMIT)}")
        return 2
    except KeyboardInterrupt:
        _warn(f"dann {args.command}: interrupted")
        return 130
    except Exception as err:
        if args.debug:
            raise
        _warn(f"dann {args.command}: {_message(err)}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
