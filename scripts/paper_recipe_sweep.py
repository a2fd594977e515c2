"""Sweep the paper-network recipe on offline MNIST -> MNIST-M: many configurations x seeds at once.

Issue 13 asks for a recipe with the paper's MNIST network (no batch norm, SGD with the paper's
schedules) that reaches 0.70 target accuracy, 15 points above source-only. This script measures
candidate recipes. It trains M copies of the network at once on one GPU: the convolutions are
grouped convolutions (one group per model) and the heads batched matrix products, so every model
has its own weights, seed, batches, input normalisation, learning rate and lambda, and the update
of each is exactly one `dannlib.train.dann_step` (checked by tests on a CPU: see `check`).

    python scripts/paper_recipe_sweep.py prepare data.pt   # here, with dannlib (offline data)
    python scripts/paper_recipe_sweep.py check             # two steps against dann_step (CPU)
    python scripts/paper_recipe_sweep.py run data.pt OUT --budget 400   # torch only (GPU)
    python scripts/paper_recipe_sweep.py run data.pt OUT --set followup --seeds 0,1,2,3,4

`run` starts one worker process per architecture group (padding, batch size, domain-head width),
each writing its curves (target/source test accuracy every `--eval-every` steps) to OUT as it
goes, so a run cut short by `--budget` still reports what it reached. OUT/sweep.json holds every
curve; the summary table goes to standard output.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F

NORMS = ("raw", "center", "pooled", "image", "domain")


@dataclass(frozen=True)
class Config:
    """One recipe. `horizon` is the length of the lambda and lr ramps (default: steps)."""

    name: str
    mode: str = "dann"  # or "source_only" (lambda = 0)
    norm: str = "domain"  # one of NORMS
    pad: int = 2  # convolution padding: 2 gives 7x7x48 = 2,352 features, 0 gives 768
    batch: int = 32  # images per domain and step
    domain_hidden: int = 100
    steps: int = 12_000
    horizon: int | None = None
    lr: float = 0.01
    domain_lr_factor: float = 1.0  # the domain head's learning rate = lr * this
    momentum: float = 0.9
    lambda_max: float = 1.0
    gamma: float = 10.0

    @property
    def group(self) -> tuple[int, int, int, int]:
        return (self.pad, self.batch, self.domain_hidden, self.steps)


def sweep_configs() -> list[Config]:
    """The configurations measured for issue 13 (each run with several seeds)."""
    base = Config("base")
    configs = []
    for norm in NORMS:  # padded, 32 + 32, 12k steps: the inputs
        configs.append(replace(base, name=f"dann_{norm}", norm=norm))
    for norm in ("raw", "center", "image", "domain"):
        configs.append(replace(base, name=f"so_{norm}", norm=norm, mode="source_only"))
    for norm in ("center", "domain"):
        configs.append(replace(base, name=f"dann_{norm}_lr005", norm=norm, lr=0.005))
        configs.append(replace(base, name=f"dann_{norm}_dlr10", norm=norm, domain_lr_factor=10))
    for norm in ("center", "image", "domain"):  # horizon: 6k and 24k steps
        configs.append(replace(base, name=f"dann_{norm}_6k", norm=norm, steps=6000))
        configs.append(replace(base, name=f"dann_{norm}_24k", norm=norm, steps=24_000))
    configs.append(
        replace(base, name="so_center_24k", norm="center", steps=24_000, mode="source_only")
    )
    for norm in ("center", "domain"):  # unpadded (768 features), 64 + 64, domain head of 500
        configs.append(replace(base, name=f"dann_{norm}_pad0", norm=norm, pad=0))
        configs.append(replace(base, name=f"dann_{norm}_b64", norm=norm, batch=64))
        configs.append(replace(base, name=f"dann_{norm}_dh500", norm=norm, domain_hidden=500))
    configs.append(replace(base, name="so_center_pad0", norm="center", pad=0, mode="source_only"))
    return configs


def followup_configs() -> list[Config]:
    """The second round: the unpadded network (dannlib's mnist_net) with each input scaling."""
    base = Config("base", pad=0)
    configs = []
    for norm in ("raw", "image"):
        configs.append(replace(base, name=f"dann_{norm}_pad0", norm=norm))
        configs.append(replace(base, name=f"so_{norm}_pad0", norm=norm, mode="source_only"))
    for norm in ("raw", "center", "image"):
        configs.append(replace(base, name=f"dann_{norm}_pad0_8k", norm=norm, steps=8000))
    for norm in ("center", "image"):
        configs.append(replace(base, name=f"dann_{norm}_pad0_6k", norm=norm, steps=6000))
    return configs


SETS = {"sweep": sweep_configs, "followup": followup_configs}


# ----------------------------------------------------------------------------- data


def prepare(path: str) -> None:
    """Write the offline MNIST -> MNIST-M splits (uint8, 3 channels) with dannlib."""
    from dannlib.data import domain_pair

    pair = domain_pair("mnist->mnist_m", root="data", download=False)
    data = {}
    for split in ("source", "target", "source_test", "target_test"):
        data[f"{split}_x"], data[f"{split}_y"] = pair[split].x.contiguous(), pair[split].y
        info = pair[split].info
        data[f"{split}_info"] = {k: v for k, v in info.items() if isinstance(v, (str, int))}
    torch.save(data, path)


def normalise(data: dict, norm: str) -> dict[str, torch.Tensor]:
    """Float inputs of every split under `norm`:

    raw: x / 255; center: (x / 255 - 0.5) / 0.5; pooled: per-channel mean and std of both
    training sets; image: each image minus its mean, over its std; domain: each domain with the
    per-channel mean and std of its own training set (test sets with their training set's).
    """
    x = {
        s: data[f"{s}_x"].float() / 255 for s in ("source", "target", "source_test", "target_test")
    }
    if norm == "raw":
        return x
    if norm == "center":
        return {s: (v - 0.5) / 0.5 for s, v in x.items()}
    if norm == "image":
        out = {}
        for s, v in x.items():
            flat = v.flatten(1)
            std = flat.std(1).clamp_min(1 / math.sqrt(flat.shape[1]))
            out[s] = (v - flat.mean(1).view(-1, 1, 1, 1)) / std.view(-1, 1, 1, 1)
        return out
    if norm == "pooled":
        both = torch.cat([x["source"], x["target"]])
        mean, std = both.mean((0, 2, 3), keepdim=True), both.std((0, 2, 3), keepdim=True)
        return {s: (v - mean) / std for s, v in x.items()}
    if norm == "domain":
        out = {}
        for domain in ("source", "target"):
            train = x[domain]
            mean = train.mean((0, 2, 3), keepdim=True)
            std = train.std((0, 2, 3), keepdim=True).clamp_min(1e-3)
            for s in (domain, f"{domain}_test"):
                out[s] = (x[s] - mean) / std
        return out
    raise ValueError(f"unknown norm {norm!r}; choose one of {NORMS}")


# ----------------------------------------------------------------------------- M networks


class ReverseGrad(torch.autograd.Function):
    """Identity forward; gradient times -lambda (one lambda per model: shape M x 1 x 1)."""

    @staticmethod
    def forward(ctx, x, lam):
        ctx.save_for_backward(lam)
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        (lam,) = ctx.saved_tensors
        return -lam * grad, None


class Nets:
    """M copies of the paper's MNIST network, each with its own weights (leading dim M).

    conv5x5(32)-relu-pool-conv5x5(48)-relu-pool; label head d-100-100-10; domain head d-H-1.
    """

    def __init__(self, m: int, pad: int, domain_hidden: int, seeds: list[int], device):
        self.m, self.pad = m, pad
        side = (28 + 2 * pad - 4) // 2
        side = (side + 2 * pad - 4) // 2
        self.d = 48 * side * side
        shapes = {
            "c1w": ((32, 3, 5, 5), 75),
            "c1b": ((32,), 75),
            "c2w": ((48, 32, 5, 5), 800),
            "c2b": ((48,), 800),
            "l1w": ((self.d, 100), self.d),
            "l1b": ((1, 100), self.d),
            "l2w": ((100, 100), 100),
            "l2b": ((1, 100), 100),
            "l3w": ((100, 10), 100),
            "l3b": ((1, 10), 100),
            "d1w": ((self.d, domain_hidden), self.d),
            "d1b": ((1, domain_hidden), self.d),
            "d2w": ((domain_hidden, 1), domain_hidden),
            "d2b": ((1, 1), domain_hidden),
        }
        # PyTorch's default init for Conv2d and Linear: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
        self.params = {}
        for name, (shape, fan_in) in shapes.items():
            per_model = []
            for seed in seeds:
                g = torch.Generator().manual_seed(seed * 1000 + sum(map(ord, name)))
                bound = 1 / math.sqrt(fan_in)
                per_model.append((torch.rand(shape, generator=g) * 2 - 1) * bound)
            self.params[name] = torch.stack(per_model).to(device).requires_grad_()
        self.buffers = {k: torch.zeros_like(p) for k, p in self.params.items()}

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """x: N x (M*3) x 28 x 28 (model k's images in channels 3k..3k+2) -> M x N x d."""
        p, m = self.params, self.m
        h = F.conv2d(x, p["c1w"].flatten(0, 1), p["c1b"].flatten(), padding=self.pad, groups=m)
        h = F.max_pool2d(F.relu(h), 2)
        h = F.conv2d(h, p["c2w"].flatten(0, 1), p["c2b"].flatten(), padding=self.pad, groups=m)
        h = F.max_pool2d(F.relu(h), 2)
        return h.reshape(len(x), m, self.d).transpose(0, 1)

    def label_logits(self, f: torch.Tensor) -> torch.Tensor:
        p = self.params
        h = F.relu(torch.baddbmm(p["l1b"], f, p["l1w"]))
        h = F.relu(torch.baddbmm(p["l2b"], h, p["l2w"]))
        return torch.baddbmm(p["l3b"], h, p["l3w"])

    def domain_logit(self, f: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
        p = self.params
        h = F.relu(torch.baddbmm(p["d1b"], ReverseGrad.apply(f, lam), p["d1w"]))
        return torch.baddbmm(p["d2b"], h, p["d2w"]).squeeze(-1)

    @torch.no_grad()
    def sgd(self, lr: torch.Tensor, domain_lr: torch.Tensor, momentum: float) -> None:
        """torch.optim.SGD's momentum update (buf = mu buf + g; p -= lr buf), lr per model."""
        for name, p in self.params.items():
            buf = self.buffers[name].mul_(momentum).add_(p.grad)
            rate = domain_lr if name.startswith("d") else lr
            p.sub_(rate.view(-1, *[1] * (p.dim() - 1)) * buf)
            p.grad = None


def stack_inputs(x: torch.Tensor) -> torch.Tensor:
    """M x N x 3 x H x W -> N x (M*3) x H x W (model k's images in channels 3k..3k+2)."""
    m, n, c, h, w = x.shape
    return x.permute(1, 0, 2, 3, 4).reshape(n, m * c, h, w)


def dann_update(nets, x_src, y_src, x_tgt, lam, lr, domain_lr, momentum):
    """One dann_step for every model: x_* are M x B x 3 x 28 x 28, y_src M x B."""
    m, b = y_src.shape
    f = nets.features(stack_inputs(torch.cat([x_src, x_tgt], 1)))  # M x 2B x d
    logits = nets.label_logits(f[:, :b])
    label_loss = F.cross_entropy(logits.flatten(0, 1), y_src.flatten(), reduction="none")
    domain = torch.cat([torch.zeros(b), torch.ones(b)]).to(f.device).expand(m, -1)
    dlogit = nets.domain_logit(f, lam.view(m, 1, 1))
    domain_loss = F.binary_cross_entropy_with_logits(dlogit, domain, reduction="none")
    (label_loss.view(m, b).mean(1).sum() + domain_loss.mean(1).sum()).backward()
    nets.sgd(lr, domain_lr, momentum)
    domain_acc = ((dlogit.detach() > 0).float() == domain).float().mean(1)
    return label_loss.detach().view(m, b).mean(1), domain_acc


# ----------------------------------------------------------------------------- one group


class Batches:
    """Each model's own stream of batches: a fresh permutation of range(n) per pass."""

    def __init__(self, m: int, n: int, seeds: list[int], salt: int, device):
        self.m, self.n, self.device = m, n, device
        self.gens = [torch.Generator().manual_seed(s * 7919 + salt) for s in seeds]
        self.queue = torch.empty(m, 0, dtype=torch.long, device=device)

    def next(self, size: int) -> torch.Tensor:
        while self.queue.shape[1] < size:
            perms = torch.stack([torch.randperm(self.n, generator=g) for g in self.gens])
            self.queue = torch.cat([self.queue, perms.to(self.device)], 1)
        out, self.queue = self.queue[:, :size], self.queue[:, size:]
        return out


def run_group(configs, seeds, data, out_path, deadline, eval_every, device) -> None:
    """Train every (config, seed) of one architecture group together; write curves as it goes."""
    c0 = configs[0]
    models = [(c, s) for c in configs for s in seeds]
    m = len(models)
    norms = sorted({c.norm for c in configs})
    variants = [normalise(data, norm) for norm in norms]  # K x N x 3 x 28 x 28 per split:
    stacked = {s: torch.stack([v[s] for v in variants]).to(device) for s in variants[0]}
    del variants
    which = torch.tensor([norms.index(c.norm) for c, _ in models], device=device)
    src, tgt = stacked["source"], stacked["target"]
    src_y = data["source_y"].to(device)
    tests = {
        s: (stacked[f"{s}_test"], data[f"{s}_test_y"].to(device)) for s in ("target", "source")
    }

    nets = Nets(m, c0.pad, c0.domain_hidden, [s for _, s in models], device)
    src_batches = Batches(m, src.shape[1], [s for _, s in models], 1, device)
    tgt_batches = Batches(m, tgt.shape[1], [s for _, s in models], 2, device)

    def col(values):
        return torch.tensor(values, dtype=torch.float32, device=device)

    steps = col([c.steps for c, _ in models])
    horizon = col([c.horizon or c.steps for c, _ in models])
    lr0 = col([c.lr for c, _ in models])
    dfac = col([c.domain_lr_factor for c, _ in models])
    lmax = col([c.lambda_max if c.mode == "dann" else 0.0 for c, _ in models])
    gamma = col([c.gamma for c, _ in models])
    momentum = c0.momentum
    assert all(c.momentum == momentum for c in configs)

    curves = [[] for _ in models]
    sums = torch.zeros(2, m, device=device)  # label loss, domain accuracy since the last eval
    t0, total, done = time.time(), int(max(c.steps for c in configs)), 0

    def evaluate(step):
        row = {}
        with torch.no_grad():
            for split, (x, y) in tests.items():
                correct = torch.zeros(m, device=device)
                for i in range(0, x.shape[1], 250):
                    xb = x[which, i : i + 250]
                    pred = nets.label_logits(nets.features(stack_inputs(xb))).argmax(-1)
                    correct += (pred == y[i : i + 250]).float().sum(1)
                row[split] = (correct / x.shape[1]).tolist()
        window = sums / max(step - evaluate.last, 1)
        loss, dacc = window.tolist()
        for k, (c, _) in enumerate(models):
            if step <= c.steps:
                curves[k].append(
                    [
                        step,
                        round(row["target"][k], 4),
                        round(row["source"][k], 4),
                        round(dacc[k], 4),
                        round(loss[k], 4),
                    ]
                )
        sums.zero_()
        evaluate.last = step
        write(step)

    def write(step):
        result = {
            "group": list(c0.group),
            "step": step,
            "seconds": round(time.time() - t0, 1),
            "ms_per_step": round(1000 * (time.time() - t0) / max(step, 1), 2),
            "runs": [
                {"config": asdict(c), "seed": s, "curve": curves[k]}
                for k, (c, s) in enumerate(models)
            ],
        }
        tmp = Path(f"{out_path}.tmp")
        tmp.write_text(json.dumps(result))
        os.replace(tmp, out_path)

    evaluate.last = 0
    evaluate(0)
    for step in range(total):
        p = torch.clamp(step / horizon, max=1.0)
        active = (step < steps).float()
        lam = lmax * (2 / (1 + torch.exp(-gamma * p)) - 1)
        lr = lr0 / (1 + 10 * p) ** 0.75 * active
        si, ti = src_batches.next(c0.batch), tgt_batches.next(c0.batch)
        xs, xt = src[which[:, None], si], tgt[which[:, None], ti]
        loss, dacc = dann_update(nets, xs, src_y[si], xt, lam, lr, lr * dfac, momentum)
        sums[0] += loss
        sums[1] += dacc
        done = step + 1
        if done % eval_every == 0 or done == total:
            evaluate(done)
            if done % (4 * eval_every) == 0:
                print(f"group {c0.group}: step {done}, {time.time() - t0:.0f} s", flush=True)
            if time.time() > deadline:
                break


# ----------------------------------------------------------------------------- commands


def groups_of(configs):
    groups = {}
    for c in configs:
        groups.setdefault(c.group, []).append(c)
    return groups


def summarise(runs: list[dict]) -> list[dict]:
    """Per config: final / best-curve-point target accuracy, mean and std over seeds."""
    by_name = {}
    for r in runs:
        by_name.setdefault(r["config"]["name"], []).append(r)
    rows = []
    for name, rs in by_name.items():
        last = [r["curve"][-1] for r in rs if r["curve"]]
        if not last:
            continue
        tgt = torch.tensor([c[1] for c in last])
        src = torch.tensor([c[2] for c in last])
        # mean curve over seeds, then its best point (for reading trends, never for selection)
        n = min(len(r["curve"]) for r in rs)
        mean_curve = torch.tensor([[r["curve"][i][1] for i in range(n)] for r in rs]).mean(0)
        best = int(mean_curve.argmax())
        rows.append(
            {
                "name": name,
                "seeds": len(rs),
                "step": min(c[0] for c in last),
                "planned": rs[0]["config"]["steps"],
                "target": round(tgt.mean().item(), 4),
                "target_std": round(tgt.std().item(), 4) if len(rs) > 1 else 0.0,
                "per_seed": [round(v, 4) for v in tgt.tolist()],
                "source": round(src.mean().item(), 4),
                "peak_mean": round(mean_curve[best].item(), 4),
                "peak_step": rs[0]["curve"][best][0],
                "domain_acc_end": round(sum(c[3] for c in last) / len(last), 3),
            }
        )
    return rows


def print_table(rows) -> None:
    print(
        f"{'config':22s} {'n':>2s} {'step':>6s}/{'plan':<6s} {'target':>14s} {'source':>6s} "
        f"{'peak@step':>13s} {'dom':>5s}  per-seed"
    )
    for r in rows:
        print(
            f"{r['name']:22s} {r['seeds']:2d} {r['step']:6d}/{r['planned']:<6d} "
            f"{r['target']:.3f} +- {r['target_std']:.3f} {r['source']:.3f} "
            f"{r['peak_mean']:.3f}@{r['peak_step']:<6d} {r['domain_acc_end']:.2f}  {r['per_seed']}"
        )


def run(args) -> None:
    if torch.cuda.is_available():
        print(torch.__version__, torch.cuda.get_device_name(), flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    configs = SETS[args.set]()
    if args.only:
        configs = [c for c in configs if c.name in args.only.split(",")]
    if args.steps:
        configs = [replace(c, steps=max(args.eval_every, c.steps // args.steps)) for c in configs]
    groups = groups_of(configs)
    deadline = time.time() + args.budget
    procs = []
    for i, key in enumerate(groups):
        cmd = [
            sys.executable,
            __file__,
            "worker",
            args.data,
            str(out / f"group{i}.json"),
            "--group",
            ",".join(map(str, key)),
            "--deadline",
            str(deadline),
            "--seeds",
            args.seeds,
            "--eval-every",
            str(args.eval_every),
            "--device",
            args.device,
            "--set",
            args.set,
        ]
        if args.only:
            cmd += ["--only", args.only]
        if args.steps:
            cmd += ["--steps", str(args.steps)]
        procs.append(subprocess.Popen(cmd))
    for proc in procs:
        try:
            proc.wait(timeout=max(deadline + args.grace - time.time(), 1))
        except subprocess.TimeoutExpired:
            proc.kill()
    runs, meta = [], []
    for i in range(len(groups)):
        path = out / f"group{i}.json"
        if path.exists():
            result = json.loads(path.read_text())
            runs += result.pop("runs")
            meta.append(result)
    rows = summarise(runs)
    (out / "sweep.json").write_text(json.dumps({"groups": meta, "summary": rows, "runs": runs}))
    for m in meta:
        print(
            "group",
            m["group"],
            "step",
            m["step"],
            "seconds",
            m["seconds"],
            "ms/step",
            m["ms_per_step"],
        )
    print_table(rows)


def worker(args) -> None:
    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    configs = SETS[args.set]()
    if args.only:
        configs = [c for c in configs if c.name in args.only.split(",")]
    if args.steps:
        configs = [replace(c, steps=max(args.eval_every, c.steps // args.steps)) for c in configs]
    key = tuple(int(v) for v in args.group.split(","))
    group = groups_of(configs)[key]
    data = torch.load(args.data, weights_only=True)
    seeds = [int(s) for s in args.seeds.split(",")]
    run_group(
        group, seeds, data, args.out, args.deadline, args.eval_every, torch.device(args.device)
    )


def check(args) -> None:
    """One step of 2 models against dannlib's dann_step on the same weights and batches (CPU)."""
    from torch import nn

    from dannlib.models import DANN, _mlp
    from dannlib.train import dann_step

    torch.manual_seed(0)
    for pad, hidden in ((2, 100), (0, 500)):
        nets = Nets(2, pad, hidden, [0, 1], "cpu")
        xs, xt = torch.randn(2, 8, 3, 28, 28), torch.randn(2, 8, 3, 28, 28)
        ys = torch.randint(0, 10, (2, 8))
        lam, lr = torch.tensor([0.3, 0.0]), torch.tensor([0.01, 0.02])
        refs = []
        for k in range(2):
            feats = nn.Sequential(
                nn.Conv2d(3, 32, 5, padding=pad),
                nn.ReLU(),
                nn.MaxPool2d(2),
                nn.Conv2d(32, 48, 5, padding=pad),
                nn.ReLU(),
                nn.MaxPool2d(2),
                nn.Flatten(),
            )
            ref = DANN(feats, _mlp([nets.d, 100, 100, 10]), _mlp([nets.d, hidden, 1]))
            layers = [feats[0], feats[3], *ref.label_head[::2], *ref.domain_head[::2]]
            names = ["c1", "c2", "l1", "l2", "l3", "d1", "d2"]
            with torch.no_grad():
                for layer, name in zip(layers, names):
                    w, b = nets.params[f"{name}w"][k], nets.params[f"{name}b"][k]
                    layer.weight.copy_(w if name[0] == "c" else w.T)
                    layer.bias.copy_(b.flatten())
            opt = torch.optim.SGD(ref.parameters(), lr=1.0, momentum=0.9)
            for _ in range(2):
                dann_step(ref, opt, (xs[k], ys[k], xt[k]), float(lam[k]), float(lr[k]))
            refs.append((ref, layers, names))
        for _ in range(2):
            dann_update(nets, xs, ys, xt, lam, lr, lr, 0.9)
        worst = 0.0
        for k, (_, layers, names) in enumerate(refs):
            for layer, name in zip(layers, names):
                w = nets.params[f"{name}w"][k]
                w = w if name[0] == "c" else w.T
                worst = max(worst, (layer.weight - w).abs().max().item())
        print(f"pad={pad} hidden={hidden}: largest weight difference after 2 steps {worst:.2e}")
        assert worst < 1e-5, worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("data")
    p = sub.add_parser("check")
    for name in ("run", "worker"):
        p = sub.add_parser(name)
        p.add_argument("data")
        p.add_argument("out")
        p.add_argument("--seeds", default="0,1,2")
        p.add_argument("--eval-every", type=int, default=500)
        p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
        p.add_argument("--set", default="sweep", choices=sorted(SETS))
        p.add_argument("--only", default="", help="comma-separated config names")
        p.add_argument("--steps", type=int, default=0, help="divide every run's steps by this")
        if name == "run":
            p.add_argument("--budget", type=float, default=400, help="seconds of training")
            p.add_argument("--grace", type=float, default=60, help="seconds to finish an eval")
        else:
            p.add_argument("--group", required=True)
            p.add_argument("--deadline", type=float, required=True)
    args = parser.parse_args()
    {"prepare": lambda a: prepare(a.data), "check": check, "run": run, "worker": worker}[
        args.command
    ](args)


if __name__ == "__main__":
    main()
