"""The benchmark's reference: a port of the most-starred public PyTorch DANN's recipe.

Written from the published recipe's facts, not from its code, on in-memory tensors (faster
than the original's per-sample DataLoader), and sharing no code with dannlib:

- features: conv 5x5 (64) -> batch norm -> max-pool 2 -> ReLU -> conv 5x5 (50) -> batch norm
  -> Dropout2d -> max-pool 2 -> ReLU, flattened: 800 numbers for a 3 x 28 x 28 image;
- class head 100-BN-ReLU-Dropout-100-BN-ReLU-10, domain head 100-BN-ReLU-2, both ending in a
  log-softmax and trained with the negative log-likelihood;
- Adam at 1e-3, constant; each step 128 source and 128 target images, forwarded as two batches
  (so each batch-norm layer normalises one domain at a time);
- gradient reversal alpha = 2 / (1 + exp(-10 p)) - 1, p the progress through 100 epochs;
- inputs normalised with mean 0.1307, std 0.3081 for MNIST and 0.5, 0.5 for MNIST-M.

It is evaluated as published: eval mode, so batch norm reads its running statistics.
An epoch is min(source, target) // 128 steps (the last, partial batch is dropped).
"""

from __future__ import annotations

import math
import time

import torch
import torch.nn.functional as F
from torch import nn

BATCH_SIZE = 128  # images per domain and step
EPOCHS = 100  # the alpha ramp's length
SOURCE_NORM = (0.1307, 0.3081)  # MNIST
TARGET_NORM = (0.5, 0.5)  # MNIST-M


class ReverseGradient(torch.autograd.Function):
    """Identity forward; the gradient times -alpha backward."""

    @staticmethod
    def forward(ctx, x, alpha):
        ctx.alpha = alpha
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return -ctx.alpha * grad, None


class PublishedDANN(nn.Module):
    """The published network: 800-d features, a 10-way class head and a 2-way domain head."""

    def __init__(self):
        super().__init__()
        self.feature = nn.Sequential(
            nn.Conv2d(3, 64, 5),
            nn.BatchNorm2d(64),
            nn.MaxPool2d(2),
            nn.ReLU(),
            nn.Conv2d(64, 50, 5),
            nn.BatchNorm2d(50),
            nn.Dropout2d(),
            nn.MaxPool2d(2),
            nn.ReLU(),
            nn.Flatten(),
        )
        self.class_classifier = nn.Sequential(
            nn.Linear(800, 100),
            nn.BatchNorm1d(100),
            nn.ReLU(),
            nn.Dropout(),
            nn.Linear(100, 100),
            nn.BatchNorm1d(100),
            nn.ReLU(),
            nn.Linear(100, 10),
            nn.LogSoftmax(dim=1),
        )
        self.domain_classifier = nn.Sequential(
            nn.Linear(800, 100),
            nn.BatchNorm1d(100),
            nn.ReLU(),
            nn.Linear(100, 2),
            nn.LogSoftmax(dim=1),
        )

    def forward(self, x: torch.Tensor, alpha: float) -> tuple[torch.Tensor, torch.Tensor]:
        """Class and domain log-probabilities."""
        f = self.feature(x)
        return self.class_classifier(f), self.domain_classifier(ReverseGradient.apply(f, alpha))


def normalise(images: torch.Tensor, mean_std: tuple[float, float]) -> torch.Tensor:
    """uint8 images -> float, scaled to [0, 1] then standardised with (mean, std)."""
    mean, std = mean_std
    return (images.float() / 255.0 - mean) / std


def accuracy(model: PublishedDANN, x: torch.Tensor, y: torch.Tensor) -> float:
    """Class accuracy in eval mode (running batch-norm statistics, no dropout)."""
    model.eval()
    with torch.no_grad():
        correct = sum(
            (model(x[i : i + 500], 0.0)[0].argmax(1) == y[i : i + 500]).sum().item()
            for i in range(0, len(x), 500)
        )
    model.train()
    return correct / len(x)


def train_published(pair, seconds: float, evals: int, seed: int = 0, device="cpu"):
    """Train on `device` (the data too) for about `seconds` (evaluation excluded); evaluate
    the target test set `evals` times at even intervals of training time.

    Returns the curve [(train_seconds, step, target_acc), ...] and the seconds per step.
    On a GPU a step's time is the time to queue it: work still queued at an evaluation
    (a few steps' at most) is counted as evaluation.
    """
    torch.manual_seed(seed)
    order = torch.Generator().manual_seed(seed)
    xs, ys = normalise(pair.source.x.to(device), SOURCE_NORM), pair.source.y.to(device)
    xt = normalise(pair.target.x.to(device), TARGET_NORM)
    x_test = normalise(pair.target_test.x.to(device), TARGET_NORM)
    y_test = pair.target_test.y.to(device)
    model = PublishedDANN().to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    zeros = torch.zeros(BATCH_SIZE, dtype=torch.long, device=device)
    ones = torch.ones(BATCH_SIZE, dtype=torch.long, device=device)
    per_epoch = min(len(xs), len(xt)) // BATCH_SIZE
    curve, trained, step, next_eval = [(0.0, 0, accuracy(model, x_test, y_test))], 0.0, 0, 0.0
    while trained < seconds:
        src = torch.randperm(len(xs), generator=order).to(device)
        tgt = torch.randperm(len(xt), generator=order).to(device)
        for i in range(per_epoch):
            t0 = time.perf_counter()
            p = step / (EPOCHS * per_epoch)
            alpha = 2.0 / (1.0 + math.exp(-10 * p)) - 1
            s = src[i * BATCH_SIZE : (i + 1) * BATCH_SIZE]
            t = tgt[i * BATCH_SIZE : (i + 1) * BATCH_SIZE]
            class_out, domain_s = model(xs[s], alpha)
            _, domain_t = model(xt[t], alpha)
            loss = (
                F.nll_loss(class_out, ys[s])
                + F.nll_loss(domain_s, zeros)
                + F.nll_loss(domain_t, ones)
            )
            opt.zero_grad()
            loss.backward()
            opt.step()
            trained += time.perf_counter() - t0
            step += 1
            if trained >= next_eval + seconds / evals or trained >= seconds:
                next_eval = trained
                curve.append((trained, step, accuracy(model, x_test, y_test)))
            if trained >= seconds:
                break
    return curve, trained / step
