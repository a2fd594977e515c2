"""dannlib's dann_step with its forward pass and losses under torch.compile (the launch-bound
lever), for step_cost.py and loop_overhead.py to measure; not used by dannlib.

The same update as dannlib.steps.dann_step, built from the same parts (features,
adversarial_loss, minimise), and a step function fit can run (`fit(..., step=...)`); lambda
goes into the compiled part as a tensor, so a new value each step does not recompile.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from dannlib.models import DANN
from dannlib.steps import (
    Step,
    adversarial_loss,
    features,
    minimise,
    set_lr,
    step_statistics,
)


def losses(model: DANN, x_lab, y_lab, x_unl, lam: torch.Tensor):
    """dann_step's label loss, domain loss and domain accuracy."""
    f_lab, f_unl = features(model, x_lab, x_unl)
    label_loss = F.cross_entropy(model.label_head(f_lab), y_lab)
    domain_loss, domain_acc = adversarial_loss(model, f_lab, f_unl, lam)
    return label_loss, domain_loss, domain_acc


def compiled_dann_step(**compile_options) -> Step:
    """A step function (dann_step's signature and statistics) whose forward pass and losses
    run under torch.compile(`compile_options`)."""
    compiled = torch.compile(losses, dynamic=False, **compile_options)

    def step(model, optimizer, batch, lam, lr) -> dict:
        x_lab, y_lab, x_unl = batch
        set_lr(optimizer, lr)
        lam_t = torch.as_tensor(lam, dtype=x_lab.dtype, device=x_lab.device)
        label_loss, domain_loss, domain_acc = compiled(model, x_lab, y_lab, x_unl, lam_t)
        minimise(optimizer, label_loss + domain_loss)
        return step_statistics(label_loss, domain_loss, domain_acc, lam, lr)

    step.__name__ = "compiled_dann_step"
    return step
