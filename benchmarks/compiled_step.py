"""dann_step's maths with the forward pass and losses under torch.compile (the launch-bound lever).

The same update as dannlib.train.dann_step for a batch-norm network (each domain in its own
forward pass, label cross-entropy plus domain binary cross-entropy behind the gradient
reversal, one backward pass, one optimiser step), but no host syncs: no isfinite check and no
.item(); lambda goes in as a tensor so a new value does not recompile. Used by step_cost.py
and loop_overhead.py to measure what compilation buys; not used by dannlib.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from dannlib.models import DANN


def losses(model: DANN, x_lab, y_lab, x_unl, lam: torch.Tensor):
    """(total loss, label loss, domain loss, domain logits) of one DANN step, as dann_step."""
    if model.has_batchnorm:
        f_lab, f_unl = model.features(x_lab), model.features(x_unl)
    else:
        f_lab, f_unl = model.features(torch.cat([x_lab, x_unl])).split([len(x_lab), len(x_unl)])
    label_loss = F.cross_entropy(model.label_head(f_lab), y_lab)
    domain = torch.cat(
        [x_lab.new_zeros(len(x_lab)), x_unl.new_ones(len(x_unl))]
    )  # built on the inputs' device
    domain_logit = model.domain_logit(torch.cat([f_lab, f_unl]), lam)
    domain_loss = F.binary_cross_entropy_with_logits(domain_logit, domain)
    return label_loss + domain_loss, label_loss, domain_loss, domain_logit


def no_sync_step(model: DANN, optimizer, batch, lam, lr, losses_fn=losses) -> torch.Tensor:
    """One update with no host sync; returns the (device) loss. `losses_fn`: eager or compiled."""
    x_lab, y_lab, x_unl = batch
    for group in optimizer.param_groups:
        group["lr"] = lr
    lam = torch.as_tensor(lam, dtype=x_lab.dtype, device=x_lab.device)
    loss = losses_fn(model, x_lab, y_lab, x_unl, lam)[0]
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach()


def compiled_dann_step(**compile_options):
    """A step function (dann_step's signature) whose forward and losses run compiled."""
    compiled = torch.compile(losses, dynamic=False, **compile_options)

    def step(model, optimizer, batch, lam, lr):
        return no_sync_step(model, optimizer, batch, lam, lr, compiled)

    return step
