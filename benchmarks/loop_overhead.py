"""What dannlib.train.fit costs per step over a bare loop of the same step, same model, device.

Loops, every one on the same recipe's net, with batches drawn as fit draws them (IndexStream
indices, made on the CPU, into the training images, which live on the device; then to_float):

- fit: dannlib.train.fit, no evaluation sets, no progress bar (timed between two of its
  callbacks, so its set-up is left out);
- fit, progress bar: the same with the tqdm bar on (drawn into a null stream);
- fit, compiled step: fit running compiled_step.compiled_dann_step (torch.compile);
- dann_step loop: a bare loop of dannlib.steps.dann_step, no undo, no History, no reading of
  the statistics: the same maths with no host sync (dann_step returns device tensors);
- dann_step loop, indices on the device: the same with each block's batch indices copied to
  the device in one go (fit copies them batch by batch);
- compiled step loop: a bare loop of the compiled step.

The loops take turns in blocks (A, B, C, A, B, C, ...), each continuing its own training, so a
change of load reaches all alike; a loop's ms/step is the minimum and median of its blocks,
in wall and in CPU time. Then the cost of each piece fit adds to a step, timed alone in
microseconds: the undo copies (RNG state, batch-norm buffers), reading the steps' statistics
(read 100 at a time, per step), a disabled progress bar's update, and drawing a batch.

    python benchmarks/loop_overhead.py                    # CPU, course recipe
    python benchmarks/loop_overhead.py --device cuda --compile-mode reduce-overhead
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from compiled_step import compiled_dann_step  # noqa: E402
from run import median_seconds, on_device, sync  # noqa: E402

from dannlib.data.base import Domain, to_float  # noqa: E402
from dannlib.recipes import get_recipe  # noqa: E402
from dannlib.run_state import Undo  # noqa: E402
from dannlib.steps import dann_step  # noqa: E402
from dannlib.train import _columns, batch_streams, fit  # noqa: E402

LOOPS = (
    "fit",
    "fit, progress bar",
    "fit, compiled step",
    "dann_step loop",
    "dann_step loop, indices on the device",
    "compiled step loop",
)
BASE = "dann_step loop"


def make_optimizer(model, config) -> torch.optim.Optimizer:
    """The optimiser fit makes for `config`."""
    if config.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum)
    return torch.optim.Adam(model.parameters(), lr=config.lr)


class BareLoop:
    """A loop of `step_fn` over fit's batches; `run(n)` trains n more steps. With
    `indices_on_device`, a block's batch indices go to the device in one copy."""

    def __init__(self, recipe, source: Domain, target: Domain, step_fn, indices_on_device=False):
        self.config = recipe.config.replace(steps=1)
        torch.manual_seed(self.config.seed)
        self.model = recipe.build_model().to(source.x.device).train()
        self.optimizer = make_optimizer(self.model, self.config)
        self.source, self.target, self.step_fn, self.k = source, target, step_fn, 0
        self.streams = batch_streams(len(source), len(target), self.config.seed)
        self.indices_on_device = indices_on_device

    def run(self, steps: int) -> None:
        c, device, b = self.config, self.source.x.device, self.config.batch_size
        blocks = [
            torch.stack([s.batch(k, b) for k in range(self.k, self.k + steps)])
            for s in self.streams
        ]
        if self.indices_on_device:
            blocks = [block.to(device) for block in blocks]
        for i in range(steps):
            x_lab, y_lab = self.source[blocks[0][i]]
            x_unl, _ = self.target[blocks[1][i]]
            batch = (to_float(x_lab), y_lab, to_float(x_unl))
            total = self.k + steps  # any run length: lambda and lr as in the middle of a run
            lam, lr = c.lambda_at(self.k, 2 * total), c.lr_at(self.k, 2 * total)
            self.step_fn(self.model, self.optimizer, batch, lam, lr)
            self.k += 1


class FitLoop:
    """fit, `run(n)` times n of its steps, between its callbacks (set-up and warm-up excluded)."""

    def __init__(self, recipe, source: Domain, target: Domain, warmup: int, **fit_options):
        self.recipe, self.source, self.target = recipe, source, target
        self.warmup, self.fit_options = warmup, fit_options
        self.model = recipe.build_model().to(source.x.device)

    def run(self, steps: int) -> tuple[float, float]:
        """Wall and CPU seconds per step over `steps` steps after `warmup` steps of a fresh fit."""
        device, stamps = self.source.x.device, {}

        def clock(model, history, step) -> None:
            sync(device)
            stamps[step] = (time.perf_counter(), time.process_time())

        config = self.recipe.config.replace(steps=self.warmup + steps, eval_every=self.warmup)
        if steps % self.warmup:
            raise ValueError("steps must be a multiple of the warm-up")
        with contextlib.redirect_stderr(io.StringIO()):  # the bar, if on, draws into nothing
            fit(
                self.model,
                self.source,
                self.target,
                config,
                callback=clock,
                device=device,
                **{"progress": False, **self.fit_options},
            )
        (wall0, cpu0), (wall1, cpu1) = stamps[self.warmup], stamps[self.warmup + steps]
        return (wall1 - wall0) / steps, (cpu1 - cpu0) / steps


def build_loops(recipe, source, target, names, warmup: int, compile_mode: str = "default"):
    """The loops called `names`, warmed up (compiled steps compile here, in `compile_mode`:
    torch.compile's mode; "reduce-overhead" adds CUDA graphs on a GPU)."""
    loops = {}
    for name in names:
        compiled = "compiled" in name
        step_fn = compiled_dann_step(mode=compile_mode) if compiled else dann_step
        if name.startswith("fit"):
            options = {"progress": name == "fit, progress bar"}
            loops[name] = FitLoop(recipe, source, target, warmup, step=step_fn, **options)
            loops[name].run(warmup)  # the compilation, if any
        else:
            on_device = name.endswith("on the device")
            loops[name] = BareLoop(recipe, source, target, step_fn, indices_on_device=on_device)
            loops[name].run(warmup)
    return loops


def time_block(loop, steps: int, device: torch.device) -> tuple[float, float]:
    """Wall and CPU seconds per step of one block of `steps` steps."""
    if isinstance(loop, FitLoop):
        return loop.run(steps)
    sync(device)
    wall, cpu = time.perf_counter(), time.process_time()
    loop.run(steps)
    sync(device)
    return (time.perf_counter() - wall) / steps, (time.process_time() - cpu) / steps


def measure_loops(loops: dict, rounds: int, steps: int, device: torch.device) -> dict:
    """Wall and CPU ms/step (min and median over interleaved blocks) of every loop, and the
    load around them. With one thread, CPU time leaves out the time other jobs took the core."""
    blocks, load = {name: [] for name in loops}, [os.getloadavg()[0]]
    for _ in range(rounds):
        for name, loop in loops.items():
            blocks[name].append(time_block(loop, steps, device))
            load.append(os.getloadavg()[0])
    out = {}
    for name, b in blocks.items():
        wall, cpu = [1000 * w for w, _ in b], [1000 * c for _, c in b]
        out[name] = {
            "wall_min": min(wall),
            "wall_median": statistics.median(wall),
            "cpu_min": min(cpu),
            "cpu_median": statistics.median(cpu),
        }
    return {"ms_per_step": out, "load": (min(load), max(load))}


def piece_costs(recipe, source: Domain, target: Domain, repeats: int) -> dict:
    """Microseconds per call of each piece fit adds to a step, timed alone (median)."""
    device = source.x.device
    model = recipe.build_model().to(device).train()
    undo, b = Undo(model), recipe.config.batch_size
    rows = [
        {
            **{k: torch.rand((), device=device) for k in ("label_loss", "domain_loss")},
            "domain_acc": torch.rand((), device=device),
            "lambda": 1.0,
            "lr": 1e-3,
        }
        for _ in range(100)
    ]
    streams = batch_streams(len(source), len(target), 0)

    def undo_copies() -> None:
        with undo:
            pass

    pieces = {
        "undo copies (RNG state, batch-norm buffers)": undo_copies,
        "reading the statistics (100 steps at once), per step": lambda: _columns(rows),
        "disabled progress bar update": _disabled_bar_update(),
        "draw a batch (both domains)": lambda: (
            to_float(source.x[streams[0].batch(7, b)]),
            to_float(target.x[streams[1].batch(7, b)]),
        ),
    }
    per = {name: 100 if "100 steps" in name else 1 for name in pieces}  # calls per timing
    return {
        name: 1e6 * median_seconds(fn, repeats, device, warmup=1) / per[name]
        for name, fn in pieces.items()
    }


def _disabled_bar_update():
    """A disabled tqdm bar's update, as fit calls it with progress=False."""
    from tqdm.auto import tqdm

    bar = tqdm(total=10**9, disable=True)
    return bar.update


def markdown(result: dict) -> str:
    """The measurements as Markdown tables."""
    ms, base = result["ms_per_step"], result["ms_per_step"].get(BASE)
    lines = [
        f"| loop ({result['recipe']} recipe, {result['device']}) | wall ms/step, min | median "
        f"| CPU ms/step, min | median | over the {BASE} (wall min / CPU median) |",
        "|---|---|---|---|---|---|",
    ]
    for name, m in ms.items():
        over = "n/a"
        if base:
            over = f"{100 * (m['wall_min'] / base['wall_min'] - 1):+.1f}% / "
            over += f"{100 * (m['cpu_median'] / base['cpu_median'] - 1):+.1f}%"
        lines.append(
            f"| {name} | {m['wall_min']:.2f} | {m['wall_median']:.2f} | {m['cpu_min']:.2f} | "
            f"{m['cpu_median']:.2f} | {over} |"
        )
    lines += ["", "| piece fit adds per step, timed alone | µs |", "|---|---|"]
    lines += [f"| {k} | {v:.1f} |" for k, v in result["pieces_us"].items()]
    low, high = result["load"]
    lines += [
        "",
        f"{result['rounds']} blocks of {result['steps']} steps per loop, interleaved; torch "
        f"{torch.__version__}, {result['threads']} thread(s), torch.compile mode "
        f"{result['compile_mode']}; 1-minute load average {low:.1f}-{high:.1f}.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--recipe", default="course", choices=["course", "paper"])
    parser.add_argument("--rounds", type=int, default=8, help="blocks per loop")
    parser.add_argument("--steps", type=int, default=50, help="steps per block")
    parser.add_argument("--warmup", type=int, default=10, help="steps before timing")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-compile", action="store_true", help="leave out compiled loops")
    parser.add_argument(
        "--compile-mode",
        default="default",
        choices=["default", "reduce-overhead", "max-autotune-no-cudagraphs"],
        help="torch.compile's mode; reduce-overhead: CUDA graphs on a GPU",
    )
    parser.add_argument("--repeats", type=int, default=200, help="timed calls per piece")
    parser.add_argument("--data", default=None, help="data root (default: $DANNLIB_DATA or data/)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    if min(args.rounds, args.steps, args.warmup, args.repeats) < 1 or args.steps % args.warmup:
        parser.error(
            "--rounds, --steps, --warmup and --repeats must be positive, and --steps a "
            "multiple of --warmup"
        )
    from dannlib.data.registry import domain_pair

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    pair = domain_pair("mnist->mnist_m", root=args.data, test_limit=1000)
    source, target = on_device(pair.source, device), on_device(pair.target, device)
    recipe = get_recipe(args.recipe)
    names = [n for n in LOOPS if not (args.no_compile and "compiled" in n)]
    loops = build_loops(recipe, source, target, names, args.warmup, args.compile_mode)
    result = {
        "device": str(device) if device.type == "cpu" else torch.cuda.get_device_name(device),
        "recipe": args.recipe,
        "compile_mode": None if args.no_compile else args.compile_mode,
        "threads": args.threads,
        "rounds": args.rounds,
        "steps": args.steps,
        **measure_loops(loops, args.rounds, args.steps, device),
        "pieces_us": piece_costs(recipe, source, target, args.repeats),
    }
    print(markdown(result))
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
