"""The paper's schedules (Ganin et al. 2016, sec. 5.2.2), as functions of progress p in [0, 1]."""

from __future__ import annotations

import math


def dann_lambda(p: float, gamma: float = 10.0) -> float:
    """Adaptation factor lambda_p = 2 / (1 + exp(-gamma p)) - 1: 0 at p=0, close to 1 at p=1."""
    return 2.0 / (1.0 + math.exp(-gamma * p)) - 1.0


def annealed_lr(p: float, mu0: float = 0.01, alpha: float = 10.0, beta: float = 0.75) -> float:
    """Learning rate mu_p = mu0 / (1 + alpha p)^beta."""
    return mu0 / (1.0 + alpha * p) ** beta


def lr_factor(total_steps: int, alpha: float = 10.0, beta: float = 0.75):
    """A step -> factor function for torch.optim.lr_scheduler.LambdaLR (base lr = mu0)."""
    if total_steps < 1:
        raise ValueError(f"total_steps must be >= 1, got {total_steps}")
    return lambda step: annealed_lr(min(step / total_steps, 1.0), 1.0, alpha, beta)
