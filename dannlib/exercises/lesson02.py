"""Lesson 02's exercises: the gradient reversal layer, the lambda schedule, and the classic bugs."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from dannlib.exercises import CheckFailed, call, checker, close
from dannlib.schedules import dann_lambda

_LAMBDA_HINTS = (
    (
        "must be Tensor, not float",
        "p is a Python float: use math.exp or np.exp (torch.exp takes tensors)",
    ),
)


@checker("my_lambda", "lambda_p = 2 / (1 + exp(-gamma p)) - 1")
def check_lambda_schedule(fn: Callable[..., float], gamma: float = 10.0) -> str:
    """Compare `fn(p, gamma)` with lambda_p = 2 / (1 + exp(-gamma p)) - 1 at several p in
    [0, 1], for `gamma` and for another gamma."""
    ps = [0.0, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0]
    usage = "my_lambda(p, gamma=10.0) gets the training progress p, a float in [0, 1], and gamma"

    def schedule(g: float) -> list[float]:
        return [float(call(fn, p, g, hints=_LAMBDA_HINTS, usage=usage)) for p in ps]

    got, want = schedule(gamma), [dann_lambda(p, gamma) for p in ps]
    if close(got, want):
        other = gamma / 2
        if not close(schedule(other), [dann_lambda(p, other) for p in ps]):
            raise CheckFailed(
                f"right for gamma = {gamma:g}, wrong for gamma = {other:g}: use the gamma "
                "argument in exp(-gamma p), not a fixed number"
            )
        return f"OK: lambda_p matches dannlib.schedules.dann_lambda at p = {ps}, two gammas"
    if close(got, [-w for w in want]):
        raise CheckFailed(
            "lambda_p has the wrong sign: it must rise from 0 to about +1 "
            "(the gradient reversal layer already supplies the minus sign)"
        )
    if close(got, [w + 1 for w in want]):
        raise CheckFailed(
            "lambda_p starts at 1 instead of 0: subtract 1 from 2 / (1 + exp(-gamma p))"
        )
    if close(got, [(w + 1) / 2 for w in want]):
        raise CheckFailed(
            "this is the logistic 1 / (1 + exp(-gamma p)), which starts at 0.5: "
            "use 2 / (1 + exp(-gamma p)) - 1"
        )
    i = next(i for i, (g, w) in enumerate(zip(got, want)) if not close(g, w))
    raise CheckFailed(
        f"at p = {ps[i]} expected lambda_p = {want[i]:.4f}, got {got[i]:.4f} "
        f"(gamma = {gamma}); lambda_p = 2 / (1 + exp(-gamma p)) - 1"
    )


_GRL_HINTS = (
    (
        "incorrect number of gradients",
        "backward returns one gradient per input of forward: (gradient for x, None for lambd)",
    ),
    (
        "object has no attribute",
        "keep what backward needs on ctx in forward (ctx.lambd = lambd), then read it in backward",
    ),
    (
        "different than None",
        "return None as the gradient of lambd: it is a number, not a tensor being trained",
    ),
)


@checker("MyGradReverse", "identity forward, -lambda times the gradient backward")
def check_grl(fn: Callable[[torch.Tensor, float], torch.Tensor]) -> str:
    """Check a gradient reversal `fn(x, lambd)`: identity forward, -lambd * grad backward."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(5, 3, dtype=torch.float64, generator=gen, requires_grad=True)
    upstream = torch.randn(5, 3, dtype=torch.float64, generator=gen)
    lambd = 0.7
    usage = "my_grad_reverse(x, lambd) gets a tensor and a number"
    y = call(fn, x, lambd, hints=_GRL_HINTS, usage=usage)
    if not close(y.detach(), x.detach()):
        raise CheckFailed("the forward pass must return its input unchanged (identity)")
    if not y.requires_grad:
        raise CheckFailed("no gradient flows through the layer: did you detach the input?")
    sent = upstream.clone()
    (grad,) = call(torch.autograd.grad, y, x, sent, hints=_GRL_HINTS, usage=usage)
    if not torch.equal(sent, upstream):
        raise CheckFailed(
            "backward changed grad_output in place (e.g. grad_output.mul_(...)): other layers "
            "may hold the same tensor; return a new one, -lambd * grad_output"
        )
    if close(grad, -lambd * upstream):
        return "OK: identity forward, gradient times -lambda backward"
    if close(grad, lambd * upstream):
        raise CheckFailed(
            "the gradient is scaled by +lambda, not reversed: backward must "
            "return -lambda * grad_output (the classic reversed-sign bug)"
        )
    if close(grad, upstream):
        raise CheckFailed(
            "the gradient passes through unchanged: backward must return -lambda * grad_output"
        )
    if close(grad, -upstream):
        raise CheckFailed("the gradient is reversed but not scaled: multiply by lambda too")
    if close(grad, torch.zeros_like(grad)):
        raise CheckFailed("the gradient is zero: backward must return -lambda * grad_output")
    raise CheckFailed("backward must return -lambda * grad_output (and None for lambda)")


_LOSS_HINTS = (
    (
        "between 0 and 1",
        "binary_cross_entropy expects probabilities; on the raw domain logit use "
        "binary_cross_entropy_with_logits",
    ),
    (
        "can't be cast to the desired output type long",
        "the domain labels of binary cross-entropy are floats (0.0 source, 1.0 target): .float()",
    ),
    (
        "expected input batch_size",
        "cross_entropy takes logits of shape (N, K), one row per example, and labels of shape "
        "(N,): do not transpose the logits",
    ),
    (
        "expected target dtype to be long",
        "class labels are integers (torch.long): pass them as they are, without .float()",
    ),
)


@checker("the domain loss", "binary cross-entropy on the raw domain logit")
def check_domain_loss(loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> str:
    """Check `loss_fn(domain_logit (N,), is_target (N,) floats)` against BCE with logits."""
    gen = torch.Generator().manual_seed(1)
    logit = torch.randn(8, dtype=torch.float64, generator=gen, requires_grad=True)
    is_target = torch.tensor([0.0, 1.0] * 4, dtype=torch.float64)
    loss = call(loss_fn, logit, is_target, hints=_LOSS_HINTS)
    if loss.dim() != 0:
        raise CheckFailed(
            f"the loss must be a scalar (the batch mean), got shape {tuple(loss.shape)}"
        )
    want = F.binary_cross_entropy_with_logits(logit, is_target)
    (grad,) = torch.autograd.grad(loss, logit, allow_unused=True)
    if grad is None or close(grad, torch.zeros_like(logit)):
        raise CheckFailed(
            "the loss does not depend on the domain logit, so its gradient is zero "
            "and nothing is learned. A softmax over a single logit is always 1: "
            "use binary_cross_entropy_with_logits on the raw logit"
        )
    if close(loss, F.binary_cross_entropy(torch.sigmoid(torch.sigmoid(logit)), is_target)):
        raise CheckFailed(
            "sigmoid applied twice: binary_cross_entropy_with_logits takes the raw logit"
        )
    if close(loss, want):
        return "OK: binary cross-entropy on the raw domain logit"
    known = {
        "the domain labels are swapped: 0 for the source, 1 for the target": (
            F.binary_cross_entropy_with_logits(logit, 1 - is_target)
        ),
        "the loss has the wrong sign: the domain head minimises its loss (the gradient "
        "reversal layer, not the loss, turns it around for the features)": -want,
        "that is the sum over the batch: take the mean (reduction='mean', the default)": (
            F.binary_cross_entropy_with_logits(logit, is_target, reduction="sum")
        ),
    }
    for message, wrong in known.items():
        if close(loss, wrong):
            raise CheckFailed(message)
    raise CheckFailed(f"expected binary cross-entropy {want.item():.4f}, got {loss.item():.4f}")


@checker("the label loss", "cross-entropy on the raw class logits")
def check_class_loss(loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> str:
    """Check `loss_fn(class_logits (N, K), labels (N,))` against cross-entropy on raw logits."""
    gen = torch.Generator().manual_seed(2)
    logits = 3 * torch.randn(6, 4, dtype=torch.float64, generator=gen)
    labels = torch.tensor([0, 1, 2, 3, 0, 1])
    loss = call(loss_fn, logits, labels, hints=_LOSS_HINTS)
    want = F.cross_entropy(logits, labels)
    if close(loss, want):
        return "OK: cross-entropy on raw logits"
    if close(loss, F.cross_entropy(torch.softmax(logits, 1), labels)):
        raise CheckFailed(
            "double softmax: cross_entropy applies log_softmax itself, so pass it "
            "the raw logits (no softmax layer at the end of the label head)"
        )
    if close(loss, F.nll_loss(logits, labels)):
        raise CheckFailed(
            "nll_loss expects log-probabilities: use cross_entropy on the logits, "
            "or nll_loss(log_softmax(logits))"
        )
    if close(loss, F.cross_entropy(logits, labels, reduction="sum")):
        raise CheckFailed("that is the sum over the batch: take the mean (the default)")
    if close(loss, F.cross_entropy(logits, labels, label_smoothing=0.1)):
        raise CheckFailed("label smoothing changes the loss: plain cross-entropy here")
    raise CheckFailed(f"expected cross-entropy {want.item():.4f}, got {loss.item():.4f}")


@checker("the optimiser", "an optimiser over model.parameters()")
def check_optimizer(model: nn.Module, optimizer: torch.optim.Optimizer) -> str:
    """Check that every parameter of `model` is trainable and in one of `optimizer`'s groups,
    with a learning rate above 0."""
    frozen = [n for n, p in model.named_parameters() if not p.requires_grad]
    if frozen:
        raise CheckFailed(
            f"{', '.join(frozen[:6])} do not require gradients (frozen with "
            "requires_grad_(False)?): a DANN trains every layer, so they would keep their "
            "random values"
        )
    stalled = [g for g in optimizer.param_groups if not g.get("lr", 0) > 0]
    if stalled:
        names = {id(p): n for n, p in model.named_parameters()}
        shown = ", ".join(names.get(id(p), "?") for g in stalled for p in g["params"][:3])
        raise CheckFailed(
            f"learning rate {stalled[0].get('lr')} for {shown}: a step of size 0 changes "
            "nothing; give every parameter group a learning rate above 0"
        )
    given = {id(p) for group in optimizer.param_groups for p in group["params"]}
    missing = [n for n, p in model.named_parameters() if p.requires_grad and id(p) not in given]
    if missing:
        shown = ", ".join(missing[:6]) + (" ..." if len(missing) > 6 else "")
        raise CheckFailed(
            f"{len(missing)} trainable parameters are never updated ({shown}): "
            "give the optimiser model.parameters()"
        )
    n = sum(p.numel() for p in model.parameters())
    return f"OK: the optimiser updates all {n} parameters of the model"
