"""The `dann` command: train, evaluate and predict with digit models, and run the course.

This is the one module of dannlib that prints: results on stdout, problems on stderr.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import textwrap
import warnings
from pathlib import Path

from dannlib.config import PROFILE_NAMES
from dannlib.data.registry import DOMAINS
from dannlib.models import ARCHITECTURES
from dannlib.train import MODES, OPTIMIZERS

ARCHS = tuple(a for a in ARCHITECTURES if a != "toy")  # the networks that take images
NATIVE_28 = {"mnist", "mnist_m"}  # domains whose images are 28 x 28; other tasks use 32 x 32


class UsageError(Exception):
    """A problem with what the user asked for; reported as one line, exit code 2."""


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
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
            dann train --source mnist --target mnist_m --mode dann --epochs 5 --out runs/dann
            dann evaluate --checkpoint runs/dann/model.pt --domain mnist_m
            dann predict --checkpoint runs/dann/model.pt --images my_digits/ --out predictions.csv
            dann course --profile quick
            dann COMMAND --help   (options of one command)"""),
    )
    from dannlib import __version__

    parser.add_argument("--version", action="version", version=f"dannlib {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    train = sub.add_parser(
        "train",
        help="train a digit model and save checkpoint, history and curves",
        description=_wrap(
            "Train on labelled SOURCE images and unlabelled TARGET images, then save "
            "model.pt (checkpoint), history.json, history.csv and curves.png into --out."
        ),
        formatter_class=_formatter,
        epilog=_examples("""
            dann train --source mnist --target mnist_m --mode dann --epochs 10 --out runs/dann
            dann train --source mnist --target mnist_m --mode source_only --epochs 10 \\
                       --out runs/source_only
            dann train --source mnist --target mnist_m --arch modern --optimizer adam \\
                       --lr 1e-3 --steps 2000 --out runs/modern
            dann train --source mnist --target mnist_m --steps 3 --limit 200 --out runs/smoke"""),
    )
    train.add_argument("--source", required=True, choices=DOMAINS, help="labelled domain")
    train.add_argument("--target", required=True, choices=DOMAINS, help="unlabelled domain")
    train.add_argument("--mode", default="dann", choices=MODES, help="default: dann")
    length = train.add_mutually_exclusive_group()
    length.add_argument("--epochs", type=positive_int, help="passes over the larger domain")
    length.add_argument(
        "--steps", type=positive_int, help="optimisation steps (default: the profile's)"
    )
    train.add_argument("--arch", default="mnist", choices=ARCHS, help="network (default: mnist)")
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
    train.add_argument("--batch-size", type=positive_int, default=64, help="per domain (64)")
    train.add_argument("--optimizer", default="sgd", choices=OPTIMIZERS, help="default: sgd")
    train.add_argument("--lr", type=positive_float, default=0.01, help="learning rate (0.01)")
    train.add_argument("--seed", type=int, default=0, help="random seed (0)")
    train.add_argument("--device", help="cpu, cuda, mps (default: the best available)")
    train.add_argument(
        "--out", metavar="DIR", help="output folder (default: runs/SOURCE-TARGET-MODE)"
    )
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_data_options(train)

    evaluate = sub.add_parser(
        "evaluate",
        help="accuracy of a checkpoint on a digit domain",
        description=_wrap(
            "Print a saved model's accuracy on one domain and where that data came from."
        ),
        formatter_class=_formatter,
        epilog=_examples("""
            dann evaluate --checkpoint runs/dann/model.pt --domain mnist_m
            dann evaluate --checkpoint runs/dann/model.pt --domain mnist --split train \\
                          --limit 1000"""),
    )
    evaluate.add_argument("--checkpoint", required=True, metavar="PATH", help="model.pt from train")
    evaluate.add_argument("--domain", required=True, choices=DOMAINS, help="data to evaluate on")
    evaluate.add_argument(
        "--split", default="test", choices=("train", "test"), help="default: test"
    )
    evaluate.add_argument("--limit", type=positive_int, help="images (class-balanced subset)")
    evaluate.add_argument("--seed", type=int, default=0, help="seed of the --limit subset (0)")
    _add_data_options(evaluate)

    predict = sub.add_parser(
        "predict",
        help="classify a folder of image files",
        description=_wrap(
            "Classify every image file under FOLDER (recursively; hidden files and "
            "folders are skipped), converted like the training data: resized to the model's input "
            "size, grey/RGB as the model expects, transparency drawn over black. Writes a CSV with "
            "columns path,label,confidence,error. Files that cannot be classified are listed with "
            "the reason on stderr and in the error column. Exit code 0 if every file was "
            "classified, 1 if any was not."
        ),
        formatter_class=_formatter,
        epilog=_examples("""
            dann predict --checkpoint runs/dann/model.pt --images my_digits/
            dann predict --checkpoint runs/dann/model.pt --images scans/ --out scans.csv"""),
    )
    predict.add_argument("--checkpoint", required=True, metavar="PATH", help="model.pt from train")
    predict.add_argument("--images", required=True, metavar="FOLDER", help="folder of image files")
    predict.add_argument("--out", default="predictions.csv", metavar="CSV", help="predictions.csv")
    predict.add_argument("--batch-size", type=positive_int, default=256, help="images per batch")
    predict.add_argument(
        "--max-pixels", type=positive_int, default=None, help="refuse larger images (40,000,000)"
    )

    course = sub.add_parser(
        "course",
        help="execute the course notebooks in order (papermill)",
        description=_wrap(
            "Execute every notebook NN_*.ipynb of the course in order with papermill "
            "(working directory: the notebooks folder; PROFILE passed as a parameter and as "
            "$DANNLIB_PROFILE), save the executed copies into --out and print a summary. Exit code "
            "0 if every notebook ran, 1 otherwise."
        ),
        formatter_class=_formatter,
        epilog=_examples("""
            dann course --profile quick
            dann course --only 03 04 --out build/
            dann course --notebooks path/to/notebooks --profile default"""),
    )
    course.add_argument("--profile", default="quick", choices=PROFILE_NAMES, help="default: quick")
    course.add_argument("--out", default="build", metavar="DIR", help="executed copies (build/)")
    course.add_argument("--only", nargs="+", metavar="NN", help="run only these (e.g. 03 04)")
    course.add_argument("--notebooks", metavar="DIR", help="notebooks folder (default: found)")
    course.add_argument("--timeout", type=positive_int, help="seconds per cell (default: none)")
    course.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


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


def cmd_train(args: argparse.Namespace) -> int:
    """`dann train`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from dannlib import __version__
    from dannlib.checkpoint import save_checkpoint
    from dannlib.config import get_profile, pick_device, set_seed
    from dannlib.data.registry import load_domain
    from dannlib.files import atomic_path, atomic_write_text
    from dannlib.models import build_model
    from dannlib.train import fit
    from dannlib.viz import plot_history, use_style

    profile = get_profile(args.profile)
    size = args.size or (28 if {args.source, args.target} <= NATIVE_28 else 32)
    limit = args.limit or profile.digits_train
    test_limit = args.test_limit or profile.digits_test
    out = Path(args.out or Path("runs", f"{args.source}-{args.target}-{args.mode}"))
    task = f"{args.source}->{args.target}"

    def load(name: str, split: str, n: int | None):
        return load_domain(
            name, split, root=args.data, download=not args.no_download, size=size, limit=n,
            seed=args.seed,
        )  # fmt: skip

    _say(f"task {task} ({size} x {size} RGB), profile {profile.name}; data:")
    source, target = load(args.source, "train", limit), load(args.target, "train", limit)
    source_test = load(args.source, "test", test_limit)
    target_test = load(args.target, "test", test_limit)
    _say(*(_data_line(d) for d in (source, target, source_test, target_test)))

    set_seed(args.seed)
    device = pick_device(args.device)
    model = build_model(args.arch, num_classes=10, in_channels=3, size=size).to(device)
    length = (
        {"epochs": args.epochs} if args.epochs else {"steps": args.steps or profile.digits_steps}
    )
    _say(f"training {args.arch} net, mode {args.mode}, {_plural(length)}, on {device}")
    history = fit(
        model,
        source,
        target,
        mode=args.mode,
        **length,
        batch_size=args.batch_size,
        optimizer=args.optimizer,
        lr=args.lr,
        eval_sets={"source": source_test, "target": target_test},
        seed=args.seed,
        device=device,
        progress=not args.no_progress,
    )
    record = history.to_dict()
    config = {
        "task": task,
        "source": args.source,
        "target": args.target,
        "mode": args.mode,
        "arch": args.arch,
        "size": size,
        "channels": 3,
        "profile": profile.name,
        "limit": limit,
        "test_limit": test_limit,
        "data": {name: d.info for name, d in [("source", source), ("target", target)]},
        "test_data": {
            name: d.info for name, d in [("source", source_test), ("target", target_test)]
        },
        "dannlib_version": __version__,
        **{k: v for k, v in history.meta.items() if k not in ("source", "target")},
    }
    out.mkdir(parents=True, exist_ok=True)
    save_checkpoint(out / "model.pt", model, config=config, history=record)
    atomic_write_text(
        json.dumps({"config": config, "history": record}, indent=1), out / "history.json"
    )
    atomic_write_text(_history_csv(record), out / "history.csv")
    with plt.rc_context():  # the course style for this figure only
        use_style()
        keys = ["label_loss", "domain_loss", "domain_acc", "source_acc", "target_acc"]
        axes = plot_history({args.mode: history}, keys=keys)
        for ax in axes:
            ax.set_ylabel(ax.get_title())
        figure = axes[0].figure
        figure.suptitle(f"{task}, {args.mode}, {args.arch} net")
        figure.tight_layout()
        with atomic_path(out / "curves.png") as tmp:
            figure.savefig(tmp, format="png", dpi=100)
        plt.close(figure)
    stopped = " (interrupted)" if history.interrupted else ""
    _say(
        f"done{stopped}: source test accuracy {history.last('source_acc'):.3f}, "
        f"target test accuracy {history.last('target_acc'):.3f} "
        f"after {history.evals['step'][-1]} steps",
        f"saved {out / 'model.pt'}, history.json, history.csv, curves.png in {out}",
    )
    return 0


def _plural(length: dict) -> str:
    ((key, value),) = length.items()
    return f"{value} {key[:-1] if value == 1 else key}"


def cmd_evaluate(args: argparse.Namespace) -> int:
    """`dann evaluate`."""
    from dannlib.checkpoint import load_checkpoint
    from dannlib.data.registry import load_domain
    from dannlib.predict import model_input
    from dannlib.train import evaluate

    model, _ = load_checkpoint(args.checkpoint)
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
    result = evaluate(model, data)
    _say(
        _data_line(data),
        f"accuracy {result['acc']:.4f} ({round(result['acc'] * len(data)):,} of {len(data):,}), "
        f"mean cross-entropy {result['loss']:.4f}",
    )
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    """`dann predict`."""
    from dannlib.checkpoint import load_checkpoint
    from dannlib.files import atomic_write_text
    from dannlib.predict import MAX_PIXELS, model_input, predict_folder, predictions_csv

    images = Path(args.images)
    if not images.is_dir():
        raise UsageError(f"--images {args.images}: not a folder")
    model, _ = load_checkpoint(args.checkpoint)
    size, channels = model_input(model)
    out = Path(args.out)
    predictions = predict_folder(
        model,
        images,
        batch_size=args.batch_size,
        max_pixels=args.max_pixels or MAX_PIXELS,
        skip=[out],
    )
    atomic_write_text(predictions_csv(predictions), out)
    failed = [p for p in predictions if not p.ok]
    for p in failed:
        _warn(f"dann predict: skipped {p.path}: {p.error}")
    kind = "grey" if channels == 1 else "RGB"
    _say(
        f"classified {len(predictions) - len(failed):,} of {len(predictions):,} files "
        f"({size} x {size} {kind}); {len(failed):,} failed; wrote {out}"
    )
    if not predictions:
        _warn(f"dann predict: no files found under {images}")
    return 1 if failed or not predictions else 0


def cmd_course(args: argparse.Namespace) -> int:
    """`dann course`."""
    from dannlib.course import find_notebooks_dir, run_course, select_notebooks

    folder = find_notebooks_dir(args.notebooks)
    notebooks = select_notebooks(folder, args.only)
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


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `dann` command; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    from dannlib.checkpoint import CheckpointError
    from dannlib.data.download import DatasetUnavailable

    shown: set[str] = set()

    def show_warning(message, *_args, **_kwargs) -> None:
        text = _one_line(message)
        if text not in shown:  # the same notice from several loads: once
            shown.add(text)
            _warn(f"dann {args.command}: warning: {text}")

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            warnings.showwarning = show_warning
            return COMMANDS[args.command](args)
    except (UsageError, CheckpointError, DatasetUnavailable, FileNotFoundError, ValueError) as err:
        _warn(f"dann {args.command}: error: {_one_line(err)}")
        return 2
    except (PermissionError, FloatingPointError) as err:  # unwritable folder, diverged training
        _warn(f"dann {args.command}: error: {_one_line(err)}")
        return 1
    except KeyboardInterrupt:
        _warn(f"dann {args.command}: interrupted")
        return 130


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__


if __name__ == "__main__":
    sys.exit(main())
