"""Gradient reversal: identity forward, gradient times -lambda backward."""

from __future__ import annotations

import torch
from torch import nn


class GradReverse(torch.autograd.Function):
    """autograd Function: y = x forward; dL/dx = -lambda * dL/dy backward."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, lambd: float | torch.Tensor) -> torch.Tensor:
        ctx.lambd = lambd.detach() if torch.is_tensor(lambd) else float(lambd)
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        return -ctx.lambd * grad_output, None


def grad_reverse(x: torch.Tensor, lambd: float | torch.Tensor = 1.0) -> torch.Tensor:
    """Functional gradient reversal layer."""
    return GradReverse.apply(x, lambd)


class GradientReversal(nn.Module):
    """Gradient reversal as a module: strength `lambd` per call, else the layer's `.lambd`."""

    def __init__(self, lambd: float = 1.0):
        super().__init__()
        self.lambd = lambd

    def forward(self, x: torch.Tensor, lambd: float | torch.Tensor | None = None) -> torch.Tensor:
        return grad_reverse(x, self.lambd if lambd is None else lambd)

    def extra_repr(self) -> str:
        return f"lambd={float(self.lambd):.4g}"
