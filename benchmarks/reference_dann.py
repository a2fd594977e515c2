"""A minimal, textbook PyTorch DANN loop of the paper's recipe: a second row in the benchmark.

Written the way most public DANN code is: a per-sample torchvision-style Dataset and a
DataLoader, separate source and target forward passes, the paper's MNIST network and
schedules (SGD, momentum 0.9, mu_p = 0.01 / (1 + 10 p)^0.75, lambda_p = 2 / (1 + e^-10p) - 1).
It deliberately shares no code with dannlib. The benchmark's reference is published_dann.py;
this loop is a second row: what a textbook implementation of the paper's recipe gets.
"""

from __future__ import annotations

import copy
import math
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms


class DigitImages(Dataset):
    """Per-sample access: each item is converted to PIL and through ToTensor + Normalize."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor):
        self.images = images.permute(0, 2, 3, 1).numpy()  # N x H x W x C uint8
        self.labels = labels.numpy()
        self.transform = transforms.Compose(
            [transforms.ToTensor(), transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))]
        )

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        return self.transform(Image.fromarray(self.images[i])), int(self.labels[i])


class GradReverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, lambd):
        ctx.lambd = lambd
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return -ctx.lambd * grad, None


class PaperMnistNet(nn.Module):
    """conv5x5(32)-pool-conv5x5(48)-pool; label 100-100-10; domain 100-1."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 32, 5),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 48, 5),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
        )
        self.classifier = nn.Sequential(
            nn.Linear(768, 100), nn.ReLU(), nn.Linear(100, 100), nn.ReLU(), nn.Linear(100, 10)
        )
        self.discriminator = nn.Sequential(nn.Linear(768, 100), nn.ReLU(), nn.Linear(100, 1))


def accuracy(model: PaperMnistNet, loader: DataLoader, device="cpu") -> float:
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            correct += (model.classifier(model.features(x)).argmax(1) == y).sum().item()
            total += len(y)
    model.train()
    return correct / total


def _forever(loader: DataLoader):
    while True:
        yield from loader


def _step(model, opt, xs, ys, xt, lambd: float, lr: float) -> None:
    for group in opt.param_groups:
        group["lr"] = lr
    fs, ft = model.features(xs), model.features(xt)
    label_loss = F.cross_entropy(model.classifier(fs), ys)
    d_s = model.discriminator(GradReverse.apply(fs, lambd)).squeeze(1)
    d_t = model.discriminator(GradReverse.apply(ft, lambd)).squeeze(1)
    domain_loss = F.binary_cross_entropy_with_logits(
        d_s, torch.zeros_like(d_s)
    ) + F.binary_cross_entropy_with_logits(d_t, torch.ones_like(d_t))
    opt.zero_grad()
    (label_loss + domain_loss).backward()
    opt.step()


def train_reference(
    pair,
    seconds: float,
    evals: int,
    seed: int = 0,
    batch_size: int = 64,
    ramp_steps: int = 1500,
    device="cpu",
):
    """Train on `device` for about `seconds` (data loading included, evaluation excluded);
    evaluate the target test set `evals` times at even intervals of training time. lambda
    ramps over `ramp_steps` steps; the learning rate anneals over the run. Batches are made on
    the CPU and copied to the device, as a textbook loop does.

    Returns the curve [(train_seconds, step, target_acc), ...] and the seconds per step.
    """
    torch.manual_seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - textbook code seeds the global RNG
    source = DataLoader(
        DigitImages(pair.source.x, pair.source.y), batch_size, shuffle=True, drop_last=True
    )
    target = DataLoader(
        DigitImages(pair.target.x, pair.target.y), batch_size, shuffle=True, drop_last=True
    )
    target_test = DataLoader(DigitImages(pair.target_test.x, pair.target_test.y), 500)
    src, tgt = _forever(source), _forever(target)

    def draw():
        xs, ys = next(src)
        xt, _ = next(tgt)
        return xs.to(device), ys.to(device), xt.to(device)

    model = PaperMnistNet().to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    # the lr schedule needs the number of steps: estimate it from a few timed throw-away steps
    probe = copy.deepcopy(model)
    probe_opt = torch.optim.SGD(probe.parameters(), lr=0.0)
    times = []
    for _ in range(12):
        t0 = time.perf_counter()
        _step(probe, probe_opt, *draw(), 0.0, 0.0)
        times.append(time.perf_counter() - t0)
    total_steps = max(1, int(seconds / float(np.median(times[2:]))))

    curve, trained, next_eval = [(0.0, 0, accuracy(model, target_test, device))], 0.0, 0.0
    for step in range(total_steps):
        t0 = time.perf_counter()
        xs, ys, xt = draw()
        lambd = 2.0 / (1.0 + math.exp(-10 * step / ramp_steps)) - 1
        lr = 0.01 / (1 + 10 * step / total_steps) ** 0.75
        _step(model, opt, xs, ys, xt, lambd, lr)
        trained += time.perf_counter() - t0
        if trained >= next_eval + seconds / evals or step + 1 == total_steps:
            next_eval = trained
            curve.append((trained, step + 1, accuracy(model, target_test, device)))
    return curve, trained / total_steps
