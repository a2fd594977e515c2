"""The paper's schedules (Ganin et al. 2016, sec. 5.2.2), as functions of progress p in [0, 1]."""

from __future__ import annotations

import math


def dann_lambda(p: float, gamma: float = 10.0) -> float:
    """Adaptation factor lambda_p = 2 / (1 + exp(-gamma p)) - 1: 0 at p=0, close to 1 at p=1."""
    return 2.0 / (1.0 + math.exp(-gamma * p)) - 1.0


def annealed_lr(p: float, mu0: float = 0.01, alpha: float = 10.0, beta: float = 0.75) -> float:
    """Learning rate mu_p = mu0 / (1 + alpha p)^beta."""
    return mu0 / (1.0 + alpha * p) ** beta
