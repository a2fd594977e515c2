"""The update one training step runs: `dann_step` (the step lesson 03 has students write), the
losses it is made of, and the methods a TrainConfig can name (`STEPS`).

A step is `step(model, optimizer, batch, lam, lr) -> stats`: one update of `model` on
`batch` = (labelled inputs, their labels, unlabelled inputs) at learning rate `lr`. `lam` is
the adaptation strength at this step, 0 in source-only training: a method scales what it
does on the unlabelled batch with it, so source-only stays source-only. `stats` maps names to
numbers, floats or 0-dim tensors; fit reads tensors only when it evaluates, so a GPU never
waits for them step by step.

A method is one more step function, named in `STEPS` and chosen by a recipe's TrainConfig
(`method`); `fit` runs it, and `fit(..., step=...)` runs any other.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from dannlib.models import DANN

Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]
Step = Callable[[DANN, torch.optim.Optimizer, Batch, float, float], dict]

ENTROPY_WEIGHT = 0.1  # of the target entropy term, per unit of lambda


def dann_step(
    model: DANN,
    optimizer: torch.optim.Optimizer,
    batch: Batch,
    lam: float,
    lr: float,
) -> dict:
    """One DANN update on `batch` = (labelled inputs, their labels, unlabelled inputs).

    The label loss is the cross-entropy on the labelled batch; the domain loss is the binary
    cross-entropy of the domain head, behind the gradient reversal of strength `lam`, on both
    batches (domain 0: labelled, 1: unlabelled). One backward pass of their sum, one optimiser
    step at learning rate `lr`. Batch-norm networks see each batch in its own forward pass.
    Returns the losses and the domain head's accuracy (0-dim tensors), lambda and lr.
    """
    x_lab, y_lab, x_unl = batch
    set_lr(optimizer, lr)
    f_lab, f_unl = features(model, x_lab, x_unl)
    label_loss = F.cross_entropy(model.label_head(f_lab), y_lab)
    domain_loss, domain_acc = adversarial_loss(model, f_lab, f_unl, lam)
    minimise(optimizer, label_loss + domain_loss)
    return step_statistics(label_loss, domain_loss, domain_acc, lam, lr)


def dann_entropy_step(
    model: DANN,
    optimizer: torch.optim.Optimizer,
    batch: Batch,
    lam: float,
    lr: float,
    weight: float = ENTROPY_WEIGHT,
) -> dict:
    """dann_step plus entropy minimisation on the unlabelled batch: `weight * lam` times the
    mean entropy of the label predictor's outputs there, which pushes unlabelled points away
    from the decision boundary (Grandvalet & Bengio 2005; with DANN as in Long et al. 2016).
    Also returns that entropy ('target_entropy')."""
    x_lab, y_lab, x_unl = batch
    set_lr(optimizer, lr)
    f_lab, f_unl = features(model, x_lab, x_unl)
    label_loss = F.cross_entropy(model.label_head(f_lab), y_lab)
    domain_loss, domain_acc = adversarial_loss(model, f_lab, f_unl, lam)
    entropy = prediction_entropy(model.label_head(f_unl))
    minimise(optimizer, label_loss + domain_loss + weight * lam * entropy)
    return step_statistics(
        label_loss, domain_loss, domain_acc, lam, lr, target_entropy=entropy.detach()
    )


# the methods a TrainConfig's `method` names
STEPS: dict[str, Step] = {"dann": dann_step, "dann_entropy": dann_entropy_step}


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Use learning rate `lr` in every parameter group from now on."""
    for group in optimizer.param_groups:
        group["lr"] = lr


def features(model: DANN, x_lab: torch.Tensor, x_unl: torch.Tensor):
    """The features of both batches: one pass over both, or with batch norm one pass per
    batch, so that each batch-norm layer normalises one domain at a time."""
    if model.has_batchnorm:
        return model.features(x_lab), model.features(x_unl)
    return model.features(torch.cat([x_lab, x_unl])).split([len(x_lab), len(x_unl)])


def adversarial_loss(
    model: DANN, h_lab: torch.Tensor, h_unl: torch.Tensor, lam: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """The domain classifier's loss and accuracy (detached): binary cross-entropy of
    `model.domain_logit` behind the gradient reversal of strength `lam`, on what the domain
    head reads from the labelled batch (domain 0) and the unlabelled one (domain 1).

    DANN's head reads the features. A conditional method (CDAN: features combined with the
    class predictions) passes its own `h_lab`, `h_unl`, with a domain head built for them.
    """
    domain = torch.cat([h_lab.new_zeros(len(h_lab)), h_lab.new_ones(len(h_unl))])
    logit = model.domain_logit(torch.cat([h_lab, h_unl]), lam)
    loss = F.binary_cross_entropy_with_logits(logit, domain)
    accuracy = ((logit.detach() > 0).float() == domain).float().mean()
    return loss, accuracy


def prediction_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Mean entropy (nats) of the class distributions softmax(logits)."""
    log_p = F.log_softmax(logits, dim=1)
    return -(log_p.exp() * log_p).sum(1).mean()


def step_statistics(
    label_loss: torch.Tensor,
    domain_loss: torch.Tensor,
    domain_acc: torch.Tensor,
    lam: float,
    lr: float,
    **extra: torch.Tensor,
) -> dict:
    """What a step returns: its losses (detached 0-dim tensors: no host sync), the domain
    head's accuracy, any `extra` statistics, lambda and the learning rate."""
    return {
        "label_loss": label_loss.detach(),
        "domain_loss": domain_loss.detach(),
        "domain_acc": domain_acc,
        **extra,
        "lambda": float(lam),
        "lr": float(lr),
    }


def minimise(optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> None:
    """One backward pass of `loss` and one optimiser step (gradients cleared first)."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
