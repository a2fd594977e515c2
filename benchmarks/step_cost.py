"""Milliseconds per training step of the course net under the CPU's levers, measured paired.

A variant is JSON: "batch" (images per domain and step, default: the course recipe's),
"threads" (intra-op threads, 1), "interop" (inter-op threads, 1), "memory" ("channels_last",
the inputs as dannlib.data.base.to_float gives them; "model_channels_last", the weights too;
"contiguous", NCHW inputs), "compile" (torch.compile the step's forward maths and losses,
false), "bf16" (the step under CPU autocast to bfloat16, false), "omp_wait" (OMP_WAIT_POLICY
of its processes: "passive", idle threads sleep, or "active", they spin; default: this
process's environment) and "side_by_side" (that many copies at once, one process each, 1).

    python benchmarks/step_cost.py --variant '{"threads": 2}' '{"side_by_side": 2}'

Every variant lives in its own worker processes, started once with its thread settings, and
the variants take turns, block by block (A, B, C, A, B, C, ...), so a change in the load of a
shared machine reaches every variant alike; a variant's ms/step is the minimum and the median
over its blocks, with the 1-minute load average before and after. Its CPU ms/step (summed over
its threads) leaves out the time other jobs held the core: with one thread, roughly the
step's cost on an unshared core. A step is dannlib's dann_step on a fresh batch of real
images (the course net, Adam); side-by-side copies train independent models and report each
copy's ms/step while all of them run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing as mp
import os
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))

DEFAULTS = {
    "batch": None,
    "threads": 1,
    "interop": 1,
    "memory": "channels_last",
    "compile": False,
    "bf16": False,
    "omp_wait": None,
    "side_by_side": 1,
}
MEMORY = ("channels_last", "model_channels_last", "contiguous")


def parse_variant(text: str) -> dict:
    """A variant's settings from JSON, with the defaults filled in and unknown keys refused."""
    given = json.loads(text)
    unknown = sorted(set(given) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"unknown setting(s) {unknown}; the settings are {sorted(DEFAULTS)}")
    variant = {**DEFAULTS, **given}
    if variant["batch"] is None:
        from dannlib.recipes import get_recipe

        variant["batch"] = get_recipe("course").config.batch_size
    if variant["omp_wait"] not in (None, "passive", "active"):
        raise ValueError(f"omp_wait must be passive or active, got {variant['omp_wait']!r}")
    if variant["memory"] not in MEMORY:
        raise ValueError(f"memory must be one of {MEMORY}, got {variant['memory']!r}")
    for key in ("batch", "threads", "interop", "side_by_side"):
        if not isinstance(variant[key], int) or variant[key] < 1:
            raise ValueError(f"{key} must be a whole number >= 1, got {variant[key]!r}")
    return variant


def name(variant: dict) -> str:
    """A short label: '32+32, 2 threads (1 inter-op), channels_last, compiled, 2 side by side'."""
    v, default = variant, DEFAULTS
    parts = [f"{v['batch']}+{v['batch']}", f"{v['threads']} thread(s)"]
    if v["interop"] != default["interop"]:
        parts[-1] += f" ({v['interop']} inter-op)"
    if v["memory"] != default["memory"]:
        parts.append(v["memory"])
    if v["compile"]:
        parts.append("compiled")
    if v["bf16"]:
        parts.append("bf16 autocast")
    if v["omp_wait"]:
        parts.append(f"OMP {v['omp_wait']}")
    if v["side_by_side"] > 1:
        parts.append(f"{v['side_by_side']} side by side")
    return ", ".join(parts)


def make_step(variant: dict, data: dict, seed: int = 0):
    """A function that runs one training step of the course net on the next batch."""
    from dannlib.recipes import get_recipe
    from dannlib.train import dann_step

    torch.manual_seed(seed)
    recipe = get_recipe("course")
    model = recipe.build_model().train()
    if variant["memory"] == "model_channels_last":
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe.config.lr)
    batches = _batches(data, variant["batch"], variant["memory"], seed)
    if variant["compile"]:
        from compiled_step import compiled_dann_step

        step_fn = compiled_dann_step()
    else:
        step_fn = dann_step
    state = {"k": 0}

    def step() -> None:
        batch = batches[state["k"] % len(batches)]
        state["k"] += 1
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=variant["bf16"]):
            step_fn(model, optimizer, batch, 1.0, recipe.config.lr)

    return step


def _batches(data: dict, batch: int, memory: str, seed: int, count: int = 16) -> list:
    """`count` batches of real images, as fit hands them to dann_step."""
    from dannlib.data.base import to_float

    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(count):
        i = torch.randint(len(data["xs"]), (batch,), generator=g)
        j = torch.randint(len(data["xt"]), (batch,), generator=g)
        xs, xt = to_float(data["xs"][i]), to_float(data["xt"][j])
        if memory == "contiguous":
            xs, xt = xs.contiguous(), xt.contiguous()
        out.append((xs, data["ys"][i], xt))
    return out


def _worker(conn, variant: dict, data: dict, seed: int) -> None:
    """A worker process: set its threads, build its step, then run blocks when told."""
    torch.set_num_threads(variant["threads"])
    torch.set_num_interop_threads(variant["interop"])
    step = make_step(variant, data, seed)
    for _ in range(3):  # warm-up (and, compiled, the compilation)
        step()
    conn.send("ready")
    while (steps := conn.recv()) is not None:
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(steps):
            step()
        conn.send(((time.perf_counter() - wall) / steps, (time.process_time() - cpu) / steps))


@contextlib.contextmanager
def _environment(key: str, value: str | None):
    """Inside the block, environment variable `key` is `value` (unchanged if None)."""
    old = os.environ.get(key)
    if value is not None:
        os.environ[key] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = old


def measure(variants: list[dict], rounds: int, steps: int, data: dict) -> list[dict]:
    """Interleaved blocks of `steps` steps, `rounds` per variant: ms/step min, median, load."""
    ctx = mp.get_context("spawn")
    groups = []
    for v in variants:
        pipes = []
        with _environment("OMP_WAIT_POLICY", v["omp_wait"]):  # read when a process starts
            for copy in range(v["side_by_side"]):
                parent, child = ctx.Pipe()
                ctx.Process(target=_worker, args=(child, v, data, copy), daemon=True).start()
                pipes.append(parent)
        groups.append(pipes)
    for pipes in groups:
        for p in pipes:
            if p.recv() != "ready":
                raise RuntimeError("a step-cost worker failed to start")
    blocks = [[] for _ in variants]
    loads = [[] for _ in variants]
    try:
        for _ in range(rounds):
            for i, pipes in enumerate(groups):
                before = os.getloadavg()[0]
                for p in pipes:  # all copies of a side-by-side variant start together
                    p.send(steps)
                wall, cpu = zip(*(p.recv() for p in pipes))
                blocks[i].append((statistics.mean(wall), statistics.mean(cpu)))
                loads[i] += [before, os.getloadavg()[0]]
    finally:
        for pipes in groups:
            for p in pipes:
                p.send(None)
    return [
        {
            "variant": v,
            "name": name(v),
            "ms_min": 1000 * min(w for w, _ in b),
            "ms_median": 1000 * statistics.median(w for w, _ in b),
            "cpu_ms_median": 1000 * statistics.median(c for _, c in b),
            "blocks": len(b),
            "load": (min(load), max(load)),
        }
        for v, b, load in zip(variants, blocks, loads)
    ]


def markdown(rows: list[dict], steps: int) -> str:
    """The measurements as a Markdown table."""
    lines = [
        f"| variant | ms/step, min | ms/step, median | CPU ms/step, median | blocks of {steps} "
        "steps | 1-min load |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['name']} | {r['ms_min']:.1f} | {r['ms_median']:.1f} | "
            f"{r['cpu_ms_median']:.1f} | {r['blocks']} | {r['load'][0]:.1f}-{r['load'][1]:.1f} |"
        )
    return "\n".join(lines)


def load_data(root: str | None = None) -> dict:
    """The benchmark's training images (uint8) and source labels."""
    from dannlib.data.registry import domain_pair

    pair = domain_pair("mnist->mnist_m", root=root, test_limit=1000)
    return {"xs": pair.source.x, "ys": pair.source.y, "xt": pair.target.x}


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variant", nargs="+", default=['{"threads": 1}', '{"threads": 2}'])
    parser.add_argument("--rounds", type=int, default=10, help="blocks per variant")
    parser.add_argument("--steps", type=int, default=20, help="steps per block")
    parser.add_argument("--data", default=None, help="data root (default: $DANNLIB_DATA or data/)")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.steps < 1:
        parser.error("--rounds and --steps must be positive")
    try:
        variants = [parse_variant(text) for text in args.variant]
    except ValueError as err:
        parser.error(str(err))
    rows = measure(variants, args.rounds, args.steps, load_data(args.data))
    print(markdown(rows, args.steps))
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=1))
    return rows


if __name__ == "__main__":
    main()
