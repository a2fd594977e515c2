"""The `dann` command: train, evaluate and predict with digit models, and run the course.

This is the one module of dannlib that prints: results on stdout, problems on stderr.
Exit codes: 0 done; 1 the command could not be done (files, data, device, a failed notebook
or image); 2 the command line is wrong; 130 / 143 stopped by Ctrl-C / SIGTERM. Every problem
is one line on stderr; `--debug` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import csv
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
from dannlib.data.registry import DOMAINS
from dannlib.files import one_line
from dannlib.models import ARCHITECTURES
from dannlib.recipes import RECIPES
from dannlib.train import LR_SCHEDULES, MAX_BATCH_SIZE, MODES, OPTIMIZERS

ARCHS = tuple(a for a in ARCHITECTURES if a != "toy")  # the networks that take images
DIGIT_RECIPES = tuple(name for name, r in RECIPES.items() if r.arch in ARCHS)
NATIVE_28 = {"mnist", "mnist_m"}  # domains whose images are 28 x 28; other tasks use 32 x 32
PARTIAL = ".partial"  # suffix of the folder a run is written into until it is complete
RUN_FILES = {"model.pt", "history.json", "history.csv", "curves.png", "run.json"}


class UsageError(Exception):
    """A problem with the command line itself; reported as one line, exit code 2."""


class Failure(Exception):
    """A command that cannot be done here (e.g. an unavailable device); one line, exit code 1."""


class Terminated(SystemExit):
    """Raised by the SIGTERM handler of `dann train`: exit code 143 once the state is saved."""


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


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


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (plus where to find help), exit code 2."""

    def error(self, message: str):
        """Print `prog: error: message` on one line and exit with code 2."""
        self.exit(2, f"{self.prog}: error: {message} (see: {self.prog} --help)\n")


def _formatter(prog: str) -> argparse.HelpFormatter:
    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=30)


def _wrap(text: str) -> str:
    return textwrap.fill(text, 88)


def _examples(text: str) -> str:
    return "examples:\n" + textwrap.indent(textwrap.dedent(text).strip("\n"), "  ")


def _add_data_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data", metavar="DIR", help="dataset folder (default: $DANNLIB_DATA or ./data)"
    )
    p.add_argument(
        "--no-download",
        action="store_true",
        help="never download; use files on disk or the offline fallbacks",
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
        "complete. Ctrl-C or SIGTERM saves the last completed step and exits 130 or 143; the "
        "same command with --resume continues.",
        """
        dann train --source mnist --target mnist_m --recipe course --steps 1500 --out runs/dann
        dann train --source mnist --target mnist_m --mode source_only --epochs 10 \\
                   --out runs/source_only
        dann train --source mnist --target mnist_m --recipe course --steps 1500 --out runs/dann \\
                   --resume   (after an interruption)
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
        "--size", type=positive_int, help="image size (default: 28 for mnist/mnist_m, else 32)"
    )
    train.add_argument(
        "--limit", type=positive_int, help="training images per domain (default: the profile's)"
    )
    train.add_argument(
        "--test-limit", type=positive_int, help="test images per domain (default: the profile's)"
    )
    train.add_argument(
        "--profile",
        choices=PROFILE_NAMES,
        help="sizes when --steps/--limit are not given (default: $DANNLIB_PROFILE or default)",
    )
    train.add_argument("--batch-size", type=batch_size, help="per domain (the recipe's: 64)")
    train.add_argument("--optimizer", choices=OPTIMIZERS, help="default: the recipe's")
    train.add_argument("--lr", type=positive_float, help="learning rate (default: the recipe's)")
    train.add_argument("--lr-schedule", choices=LR_SCHEDULES, help="default: the recipe's")
    train.add_argument("--seed", type=int, default=0, help="random seed (0)")
    train.add_argument("--device", help="cpu, cuda, cuda:N or mps (default: the best available)")
    train.add_argument(
        "--out", metavar="DIR", help="output folder (default: runs/SOURCE-TARGET-MODE)"
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
        "accuracy of a checkpoint on a digit domain",
        "Print a saved model's accuracy on one domain and where that data came from. Batch "
        "norm is read as the checkpoint's recipe says (course: the domain's own statistics).",
        """
        dann evaluate --checkpoint runs/dann/model.pt --domain mnist_m
        dann evaluate --checkpoint runs/dann/model.pt --domain mnist --split train \\
                      --limit 1000""",
    )
    evaluate.add_argument("--checkpoint", required=True, metavar="PATH", help="model.pt from train")
    evaluate.add_argument("--domain", required=True, choices=DOMAINS, help="data to evaluate on")
    evaluate.add_argument(
        "--split", default="test", choices=("train", "test"), help="default: test"
    )
    evaluate.add_argument("--limit", type=positive_int, help="images (class-balanced subset)")
    evaluate.add_argument("--seed", type=int, default=0, help="seed of the --limit subset (0)")
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
    predict.add_argument("--checkpoint", required=True, metavar="PATH", help="model.pt from train")
    predict.add_argument("--images", required=True, metavar="FOLDER", help="folder of image files")
    predict.add_argument("--out", default="predictions.csv", metavar="CSV", help="predictions.csv")
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
    course.add_argument("--out", default="build", metavar="DIR", help="executed copies (build/)")
    course.add_argument("--only", nargs="+", metavar="NN", help="run only these (e.g. 03 04)")
    course.add_argument("--notebooks", metavar="DIR", help="notebooks folder (default: found)")
    course.add_argument(
        "--timeout",
        type=positive_int,
        default=DEFAULT_TIMEOUT,
        help=f"seconds per cell before it fails ({DEFAULT_TIMEOUT})",
    )
    course.add_argument("--no-progress", action="store_true", help="no progress bar")


def _say(*lines: str) -> None:
    for line in lines:
        print(line, flush=True)


def _warn(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _data_line(domain) -> str:
    info = domain.info
    return f"  {info['name']} {info['split']}: {len(domain):,} images, source: {info['source']}"


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


def _model_spec(arch: str, size: int, extra: dict | None = None) -> dict:
    """The spec of the digit network to train (`extra`: the recipe's own network arguments);
    UsageError if --size does not fit `arch`."""
    from dannlib.checkpoint import validate_spec

    kwargs = {"num_classes": 10, "in_channels": 3, "size": size, **(extra or {})}
    spec = {"arch": arch, "kwargs": kwargs}
    try:
        validate_spec(spec)
    except ValueError as err:
        raise UsageError(f"--size {size}: {err}") from None
    return spec


def _training_bytes(spec: dict, batch: int) -> int:
    """Rough memory one training step takes: activations (kept for backward, plus their
    gradients) of 2 x `batch` images, and weights, gradients and Adam's two moments."""
    import torch

    from dannlib.checkpoint import validate_spec

    shell = validate_spec(spec).eval()
    size, channels = spec["kwargs"]["size"], spec["kwargs"]["in_channels"]
    floats = [0]

    def count(module, inputs, output) -> None:
        floats[0] += output.numel() if isinstance(output, torch.Tensor) else 0

    leaves = [m for m in shell.modules() if not list(m.children())]
    hooks = [m.register_forward_hook(count) for m in leaves]
    shell(torch.zeros(1, channels, size, size, device="meta"))
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


def _check_batch(batch: int, spec: dict, data: list, device) -> None:
    """UsageError if --batch-size exceeds the training data or half the device's memory."""
    smallest = min(len(d) for d in data)
    if batch > smallest:
        raise UsageError(
            f"--batch-size {batch} is more than the {smallest:,} training images of a domain; "
            f"use --batch-size {smallest} or less, or more images (--limit)"
        )
    need, have = _training_bytes(spec, batch), _device_bytes(device)
    if have is not None and need > have / 2:
        raise UsageError(
            f"--batch-size {batch} would need about {need / 1e6:,.0f} MB of memory for one step, "
            f"more than half of the {have / 1e6:,.0f} MB here; use a smaller --batch-size"
        )


class RunFolder:
    """Where `dann train` writes: OUT.partial while training (resumable), renamed to OUT at the
    end, so OUT holds model, history and figure of one complete run or nothing new at all."""

    def __init__(self, out: Path, *, overwrite: bool, resume: bool, command: str):
        from dannlib.files import check_output

        self.out = check_output(out, folder=True, what="--out")
        partial = self.out.with_name(self.out.name + PARTIAL)
        self.partial = check_output(partial, folder=True, what="--out")
        self.checkpoint, self.command = self.partial / "model.pt", command
        for folder in (self.out, self.partial):
            _only_run_files(folder)
        if self.out.exists() and not overwrite:
            raise UsageError(
                f"--out {out} already holds a run; pass --overwrite to replace it when the new "
                "run is complete, or choose another --out"
            )
        if resume and not self.checkpoint.is_file():
            raise UsageError(f"--resume: no interrupted run to continue in {self.partial}")
        if self.partial.exists() and not (resume or overwrite):
            raise UsageError(
                f"{self.partial} holds an interrupted run: continue it with --resume, or start "
                "again with --overwrite"
            )
        self.resume = resume

    def start(self, settings: dict) -> None:
        """Create OUT.partial (emptied unless resuming) and record the run's settings."""
        from dannlib.files import atomic_write_text

        record = self.partial / "run.json"
        if self.resume:
            saved = json.loads(record.read_text(encoding="utf-8")) if record.is_file() else {}
            changed = sorted(k for k in settings if saved.get("settings", {}).get(k) != settings[k])
            if changed:
                raise UsageError(
                    f"--resume: {', '.join(changed)} differ from the interrupted run's; "
                    f"continue it with its own command: {saved.get('command', '?')} --resume"
                )
            return
        shutil.rmtree(self.partial, ignore_errors=True)
        self.partial.mkdir(parents=True)
        atomic_write_text(json.dumps({"command": self.command, "settings": settings}), record)

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
            f"{how}; progress up to the last completed step is saved in {self.checkpoint}. "
            f"To continue: {self.command}{resume}"
        )


def _only_run_files(folder: Path) -> None:
    """UsageError unless `folder` is new, empty or holds only what `dann train` writes, so
    that replacing it (--overwrite) can never delete anything else."""
    if not folder.is_dir():
        return
    names = {p.name for p in folder.iterdir()}
    others = sorted(n for n in names if n not in RUN_FILES and not _own_temp(n))
    if others:
        raise UsageError(
            f"{folder} holds files that dann train did not write ({', '.join(others[:3])}); "
            "it only replaces its own run folders: choose another --out"
        )


def _own_temp(name: str) -> bool:
    """True for the temp files of dannlib.files.atomic_path (.NAME.PID-RANDOM.tmp)."""
    return name.endswith(".tmp") and any(name.startswith(f".{f}.") for f in RUN_FILES)


def _exit_143(signum, frame) -> None:
    raise Terminated(143)


def cmd_train(args: argparse.Namespace) -> int:
    """`dann train`."""
    from dannlib.lessons import get_profile
    from dannlib.recipes import get_recipe

    profile, recipe = get_profile(args.profile), get_recipe(args.recipe)
    size = args.size or (28 if {args.source, args.target} <= NATIVE_28 else 32)
    arch = args.arch or recipe.arch
    spec = _model_spec(arch, size, recipe.model_kwargs if arch == recipe.arch else None)
    device = _device(args.device)
    steps = None if args.epochs else args.steps or profile.digits_steps
    changes = {k: getattr(args, k) for k in ("optimizer", "lr", "lr_schedule", "batch_size")}
    changes = {k: v for k, v in changes.items() if v is not None}  # the recipe's otherwise
    config = recipe.config.replace(
        steps=steps, epochs=args.epochs, mode=args.mode, seed=args.seed, **changes
    )
    out = Path(args.out or Path("runs", f"{args.source}-{args.target}-{args.mode}"))
    run = RunFolder(out, overwrite=args.overwrite, resume=args.resume, command=args.invocation)
    previous = signal.signal(signal.SIGTERM, _exit_143) if _on_main() else None
    try:
        return _train(args, profile, spec, config, device, run)
    except Terminated:
        _warn(f"dann train: {run.stopped('stopped by SIGTERM')}")
        return 143
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _train(args, profile, spec: dict, config, device, run: RunFolder) -> int:
    """Load the data, train into OUT.partial, then write the results and publish them."""
    from dannlib.config import set_seed
    from dannlib.data.registry import load_domain
    from dannlib.models import build_model
    from dannlib.train import fit

    size = spec["kwargs"]["size"]
    limit = args.limit or profile.digits_train
    test_limit = args.test_limit or profile.digits_test

    def load(name: str, split: str, n: int | None):
        return load_domain(
            name, split, root=args.data, download=not args.no_download, size=size, limit=n,
            seed=args.seed,
        )  # fmt: skip

    task = f"{args.source}->{args.target}"
    _say(f"task {task} ({size} x {size} RGB), profile {profile.name}; data:")
    source, target = load(args.source, "train", limit), load(args.target, "train", limit)
    source_test = load(args.source, "test", test_limit)
    target_test = load(args.target, "test", test_limit)
    _say(*(_data_line(d) for d in (source, target, source_test, target_test)))
    _check_batch(config.batch_size, spec, [source, target], device)
    settings = {"task": task, **spec, "limit": limit, "test_limit": test_limit}
    run.start({**settings, **config.to_dict()})

    set_seed(args.seed)
    model = build_model(spec["arch"], **spec["kwargs"]).to(device)
    length = f"{config.steps} steps" if config.steps else f"{config.epochs} epochs"
    _say(
        f"training {spec['arch']} net (recipe {args.recipe}), mode {config.mode}, {length}, "
        f"on {device}" + (", resuming" if run.resume else "")
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "training interrupted")  # said below, with the command
        history = fit(
            model,
            source,
            target,
            config,
            eval_sets={"source": source_test, "target": target_test},
            checkpoint=run.checkpoint,
            resume=run.checkpoint if run.resume else None,
            device=device,
            progress=not args.no_progress,
        )
    if history.interrupted:
        _warn(f"dann train: {run.stopped('interrupted')}")
        return 130
    run_config = {
        "task": task,
        "source": args.source,
        "target": args.target,
        "arch": spec["arch"],
        "size": size,
        "channels": 3,
        "profile": profile.name,
        "limit": limit,
        "test_limit": test_limit,
        "data": {"source": source.info, "target": target.info},
        "test_data": {"source": source_test.info, "target": target_test.info},
        **{k: v for k, v in history.meta.items() if k not in ("source", "target")},
    }
    _finish(run, model, run_config, history)
    _say(
        f"done: source test accuracy {history.last('source_acc'):.3f}, "
        f"target test accuracy {history.last('target_acc'):.3f} "
        f"after {history.evals['step'][-1]} steps",
        f"saved model.pt, history.json, history.csv, curves.png in {run.out}",
    )
    return 0


def _finish(run: RunFolder, model, run_config: dict, history) -> None:
    """Write model.pt (resumable), history.json/.csv and curves.png, then publish the folder;
    Ctrl-C and SIGTERM wait until that is done, so OUT is never half old, half new."""
    from dannlib import __version__
    from dannlib.checkpoint import read_checkpoint, save_checkpoint
    from dannlib.files import atomic_write_text

    record, folder = history.to_dict(), run.partial
    run_config = {**run_config, "dannlib_version": __version__}
    signals = {signal.SIGINT, signal.SIGTERM}
    can_block = _on_main() and hasattr(signal, "pthread_sigmask")  # not on Windows
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, signals) if can_block else None
    try:
        state = read_checkpoint(run.checkpoint)["train_state"]
        save_checkpoint(run.checkpoint, model, config=run_config, history=record, train_state=state)
        text = json.dumps({"config": run_config, "history": record}, indent=1)
        atomic_write_text(text, folder / "history.json")
        atomic_write_text(_history_csv(record), folder / "history.csv")
        _plot(history, run_config, folder / "curves.png")
        run.publish()
    finally:
        if blocked is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


def _on_main() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _plot(history, run_config: dict, path: Path) -> None:
    """The training curves as a PNG at `path`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from dannlib.files import atomic_path
    from dannlib.viz import plot_history, use_style

    mode = run_config["mode"]
    with plt.rc_context():  # the course style for this figure only
        use_style()
        keys = ["label_loss", "domain_loss", "domain_acc", "source_acc", "target_acc"]
        axes = plot_history({mode: history}, keys=keys)
        for ax in axes:
            ax.set_ylabel(ax.get_title())
        figure = axes[0].figure
        figure.suptitle(f"{run_config['task']}, {mode}, {run_config['arch']} net")
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

    model, payload = load_checkpoint(args.checkpoint)
    size, channels = model_input(model)
    data = load_domain(
        args.domain,
        args.split,
        root=args.data,
        download=not args.no_download,
        size=size,
        channels=channels,
        limit=args.limit,
        seed=args.seed,
    )
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
        raise UsageError(f"--images {args.images}: not a folder")
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
            'out: pip install "dannlib[notebooks]" (or -e ".[notebooks]" in the course clone)'
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
    ) or _out_of_memory(err)


def _out_of_memory(err: Exception) -> bool:
    import torch

    return isinstance(err, torch.OutOfMemoryError) or "can't allocate memory" in str(err)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `dann` command; returns the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    args.invocation = shlex.join(["dann", *argv])
    if hasattr(sys.stdout, "reconfigure"):  # any file name prints, whatever the locale
        sys.stdout.reconfigure(errors="backslashreplace")
    shown: set[str] = set()

    def show_warning(message, *_args, **_kwargs) -> None:
        text = one_line(message)
        if text not in shown:  # the same notice from several loads: once
            shown.add(text)
            _warn(f"dann {args.command}: warning: {text}")

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            warnings.showwarning = show_warning
            return COMMANDS[args.command](args)
    except UsageError as err:
        _warn(f"dann {args.command}: error: {one_line(err)}")
        return 2
    except KeyboardInterrupt:
        _warn(f"dann {args.command}: interrupted")
        return 130
    except Exception as err:
        if args.debug:
            raise
        if _out_of_memory(err):
            err = f"out of memory ({one_line(err, 120)}); use a smaller --batch-size"
        if isinstance(err, str) or _expected(err):
            _warn(f"dann {args.command}: error: {one_line(err)}")
        else:
            _warn(
                f"dann {args.command}: internal error: {type(err).__name__}: {one_line(err)} "
                f"(a bug in dannlib: rerun with --debug for the traceback and report it at "
                f"{REPO_URL}/issues)"
            )
        return 1


if __name__ == "__main__":
    sys.exit(main())
