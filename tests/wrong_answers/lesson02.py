"""Lesson 02: my_grad_reverse(x, lambd) (with its autograd Function), my_lambda(p, gamma),
and the classic-bug checks a student runs on their own code: domain losses `fn(z, d)` (z the
single domain logit per row, d float 0/1 labels), class losses `fn(z, y)` (z logits N x K, y
int64 labels), and optimisers: the OPTIMIZER lists hold factories `fn(model) -> optimizer`,
the optimiser a student would build for `model`.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import torch
import torch.nn.functional as F

# --- the gradient reversal layer ------------------------------------------------------------


class _PlusLambda(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, lambd):
        ctx.lambd = lambd
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad_output):
        return ctx.lambd * grad_output, None


def grl_plus_lambda(x, lambd=1.0):
    """Backward returns +lambda * grad (the minus sign forgotten)."""
    return _PlusLambda.apply(x, lambd)


class _NotReversed(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, lambd):
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output, None


def grl_identity_backward(x, lambd=1.0):
    """Backward passes the gradient through unchanged."""
    return _NotReversed.apply(x, lambd)


class _MinusOnly(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, lambd):
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad_output):
        return -grad_output, None


def grl_not_scaled(x, lambd=1.0):
    """Reversed but not scaled: -grad whatever lambda is."""
    return _MinusOnly.apply(x, lambd)


class _LambdaSquared(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, lambd):
        ctx.lambd = lambd
        return (x * 1.0).view_as(x)

    @staticmethod
    def backward(ctx, grad_output):
        return -ctx.lambd * ctx.lambd * grad_output, None


def grl_lambda_squared(x, lambd=1.0):
    """lambda applied twice in backward (-lambda^2 * grad)."""
    return _LambdaSquared.apply(x, lambd)


class _ScaledForward(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, lambd):
        ctx.lambd = lambd
        return x * lambd

    @staticmethod
    def backward(ctx, grad_output):
        return -ctx.lambd * grad_output, None


def grl_forward_scaled(x, lambd=1.0):
    """Forward returns lambda * x instead of x (backward right)."""
    return _ScaledForward.apply(x, lambd)


class _NegForward(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, lambd):
        ctx.lambd = lambd
        return -x

    @staticmethod
    def backward(ctx, grad_output):
        return -ctx.lambd * grad_output, None


def grl_forward_negated(x, lambd=1.0):
    """Forward returns -x: the reversal put in the forward pass too."""
    return _NegForward.apply(x, lambd)


def grl_detached(x, lambd=1.0):
    """x.detach(): no gradient reaches x at all."""
    return x.detach()


class _OneGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, lambd):
        ctx.lambd = lambd
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad_output):
        return -ctx.lambd * grad_output


def grl_backward_one_value(x, lambd=1.0):
    """backward returns one gradient, not (grad, None): autograd raises a RuntimeError."""
    return _OneGradient.apply(x, lambd)


class _LambdaNotSaved(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, lambd):
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad_output):
        return -ctx.lambd * grad_output, None


def grl_lambda_not_saved(x, lambd=1.0):
    """lambda never stored on ctx: AttributeError in backward."""
    return _LambdaNotSaved.apply(x, lambd)


class _GradForLambda(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, lambd):
        ctx.lambd = lambd
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad_output):
        return -ctx.lambd * grad_output, ctx.lambd


def grl_gradient_for_lambda(x, lambd=1.0):
    """backward returns lambda as the 'gradient' of lambda instead of None: autograd raises."""
    return _GradForLambda.apply(x, lambd)


class _InPlace(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, lambd):
        ctx.lambd = lambd
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output.mul_(-ctx.lambd), None


def grl_in_place_backward(x, lambd=1.0):
    """grad_output multiplied in place (corrupts a gradient another branch shares)."""
    return _InPlace.apply(x, lambd)


class _LambdaIgnored(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, lambd):
        ctx.lambd = 1.0
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad_output):
        return -ctx.lambd * grad_output, None


def grl_lambda_ignored(x, lambd=1.0):
    """Stores lambda = 1 whatever is passed (the argument ignored)."""
    return _LambdaIgnored.apply(x, lambd)


WRONG_GRL = [
    ("+lambda in backward", grl_plus_lambda),
    ("gradient passed through", grl_identity_backward),
    ("-grad, not scaled", grl_not_scaled),
    ("-lambda^2 in backward", grl_lambda_squared),
    ("forward returns lambda*x", grl_forward_scaled),
    ("forward returns -x", grl_forward_negated),
    ("x.detach()", grl_detached),
    ("backward returns one value (crash)", grl_backward_one_value),
    ("lambda not saved on ctx (crash)", grl_lambda_not_saved),
    ("gradient returned for lambda (crash)", grl_gradient_for_lambda),
    ("in-place grad_output.mul_", grl_in_place_backward),
    ("lambda ignored (always 1)", grl_lambda_ignored),
]


class _ReturnsInput(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, lambd):
        ctx.save_for_backward(torch.as_tensor(lambd, dtype=x.dtype))
        return x

    @staticmethod
    def backward(ctx, grad_output):
        (lambd,) = ctx.saved_tensors
        return grad_output.neg() * lambd, None


def grl_right_returns_input(x, lambd=1.0):
    """Right: forward returns x itself (no view_as), lambda saved as a tensor."""
    return _ReturnsInput.apply(x, lambd)


class _CloneForward(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, lambd):
        ctx.lambd = float(lambd)
        return x.clone()

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output * (-ctx.lambd), None


def grl_right_clone(x, lambd=1.0):
    """Right: forward returns a clone, backward grad * (-lambda)."""
    return _CloneForward.apply(x, lambd)


RIGHT_GRL = [
    ("forward returns x as-is", grl_right_returns_input),
    ("forward clones", grl_right_clone),
]


# --- lambda_p -------------------------------------------------------------------------------


def lambda_no_minus_one(p, gamma=10.0):
    """2 / (1 + exp(-gamma p)) without the - 1 (starts at 1)."""
    return 2.0 / (1.0 + math.exp(-gamma * p))


def lambda_sign_flipped(p, gamma=10.0):
    """The sign flipped: 1 - 2 / (1 + exp(-gamma p)) (falls from 0 to -1)."""
    return 1.0 - 2.0 / (1.0 + math.exp(-gamma * p))


def lambda_plus_exp(p, gamma=10.0):
    """exp(+gamma p) in the denominator (the minus of the exponent lost)."""
    return 2.0 / (1.0 + math.exp(gamma * p)) - 1.0


def lambda_sigmoid(p, gamma=10.0):
    """Plain sigmoid 1 / (1 + exp(-gamma p)) (starts at 0.5)."""
    return 1.0 / (1.0 + math.exp(-gamma * p))


def lambda_gamma_ignored(p, gamma=10.0):
    """gamma hard-coded to 10 (the argument ignored): right only for the default."""
    return 2.0 / (1.0 + math.exp(-10.0 * p)) - 1.0


def lambda_gamma_one(p, gamma=10.0):
    """Schedule with gamma = 1 (misread the formula's gamma as 1)."""
    return 2.0 / (1.0 + math.exp(-p)) - 1.0


def lambda_tanh_gamma_p(p, gamma=10.0):
    """tanh(gamma p): the half in the exponent forgotten (ramps twice as fast)."""
    return math.tanh(gamma * p)


def lambda_one_minus_exp(p, gamma=10.0):
    """1 - exp(-gamma p): misremembered, also 0 to 1 but another curve."""
    return 1.0 - math.exp(-gamma * p)


def lambda_linear(p, gamma=10.0):
    """A linear ramp min(1, p)."""
    return min(1.0, p)


def lambda_percent(p, gamma=10.0):
    """p taken in percent (p * 100)."""
    return 2.0 / (1.0 + math.exp(-gamma * p * 100)) - 1.0


def lambda_returns_tensor(p, gamma=10.0):
    """torch.exp on a float: TypeError inside the student's code."""
    return 2.0 / (1.0 + torch.exp(-gamma * p)) - 1.0


WRONG_LAMBDA = [
    ("forgot the -1", lambda_no_minus_one),
    ("sign flipped", lambda_sign_flipped),
    ("exp(+gamma p)", lambda_plus_exp),
    ("plain sigmoid", lambda_sigmoid),
    ("gamma ignored (10)", lambda_gamma_ignored),
    ("gamma = 1", lambda_gamma_one),
    ("tanh(gamma p)", lambda_tanh_gamma_p),
    ("1 - exp(-gamma p)", lambda_one_minus_exp),
    ("linear ramp", lambda_linear),
    ("p in percent", lambda_percent),
    ("torch.exp on a float (crash)", lambda_returns_tensor),
]


def lambda_right_tanh(p, gamma=10.0):
    """Right: tanh(gamma p / 2), the same function."""
    return math.tanh(gamma * p / 2.0)


def lambda_right_numpy(p, gamma=10.0):
    """Right: (1 - e^{-gamma p}) / (1 + e^{-gamma p}) with NumPy."""
    e = np.exp(-gamma * np.asarray(p, dtype=float))
    return (1.0 - e) / (1.0 + e)


RIGHT_LAMBDA = [
    ("tanh(gamma p / 2)", lambda_right_tanh),
    ("(1-e)/(1+e) NumPy", lambda_right_numpy),
]


# --- domain loss fn(z, d) -------------------------------------------------------------------


def dl_softmax_one_logit(z, d):
    """Softmax over the single domain logit (always 1), then BCE."""
    return F.binary_cross_entropy(torch.softmax(z.unsqueeze(1), 1).squeeze(1), d)


def dl_sigmoid_then_with_logits(z, d):
    """Sigmoid, then BCE-with-logits (a second sigmoid inside)."""
    return F.binary_cross_entropy_with_logits(torch.sigmoid(z), d)


def dl_bce_on_logits(z, d):
    """F.binary_cross_entropy on raw logits: raises once a logit leaves [0, 1]."""
    return F.binary_cross_entropy(z, d)


def dl_labels_swapped(z, d):
    """Labels flipped (1 - d)."""
    return F.binary_cross_entropy_with_logits(z, 1 - d)


def dl_negated(z, d):
    """The loss negated (the reversal put in the loss as well)."""
    return -F.binary_cross_entropy_with_logits(z, d)


def dl_mse_on_sigmoid(z, d):
    """Mean squared error of sigmoid(z) against d: not a cross-entropy."""
    return F.mse_loss(torch.sigmoid(z), d)


def dl_cross_entropy_1d(z, d):
    """F.cross_entropy on the 1-D logit vector: one 'sample' whose classes are the rows."""
    return F.cross_entropy(z, d)


def dl_no_reduction(z, d):
    """reduction='none': a vector of losses, not a number."""
    return F.binary_cross_entropy_with_logits(z, d, reduction="none")


def dl_sum(z, d):
    """reduction='sum': scales with the batch size."""
    return F.binary_cross_entropy_with_logits(z, d, reduction="sum")


def dl_hinge(z, d):
    """Hinge loss on +-1 labels instead of a cross-entropy."""
    return F.relu(1 - (2 * d - 1) * z).mean()


def dl_long_labels(z, d):
    """Labels cast to long for BCE: PyTorch raises a dtype error."""
    return F.binary_cross_entropy_with_logits(z, d.long())


WRONG_DOMAIN_LOSS = [
    ("softmax over one logit", dl_softmax_one_logit),
    ("sigmoid then BCE-with-logits", dl_sigmoid_then_with_logits),
    ("BCE on raw logits (crash)", dl_bce_on_logits),
    ("labels swapped", dl_labels_swapped),
    ("loss negated", dl_negated),
    ("MSE on sigmoid", dl_mse_on_sigmoid),
    ("cross_entropy on 1-D logits", dl_cross_entropy_1d),
    ("reduction='none'", dl_no_reduction),
    ("reduction='sum'", dl_sum),
    ("hinge loss", dl_hinge),
    ("long labels (crash)", dl_long_labels),
]


def dl_right_two_class(z, d):
    """Right: cross-entropy over the logits [0, z] (a two-class softmax is a sigmoid)."""
    return F.cross_entropy(torch.stack([torch.zeros_like(z), z], 1), d.long())


def dl_right_softplus(z, d):
    """Right: softplus(z) - d z, averaged (BCE with logits written out)."""
    return (F.softplus(z) - d * z).mean()


def dl_right_sigmoid_bce(z, d):
    """Right but less stable: BCE of sigmoid(z) (saturates for |z| above about 17)."""
    return F.binary_cross_entropy(torch.sigmoid(z), d)


RIGHT_DOMAIN_LOSS = [
    ("CE over [0, z]", dl_right_two_class),
    ("softplus(z) - d z", dl_right_softplus),
    ("BCE(sigmoid(z))", dl_right_sigmoid_bce),
]


# --- class loss fn(z, y) --------------------------------------------------------------------


def cl_double_softmax(z, y):
    """Softmax before F.cross_entropy (double softmax)."""
    return F.cross_entropy(torch.softmax(z, 1), y)


def cl_nll_on_logits(z, y):
    """F.nll_loss on raw logits (log_softmax missing)."""
    return F.nll_loss(z, y)


def cl_nll_on_probabilities(z, y):
    """F.nll_loss on softmax probabilities (the log missing)."""
    return F.nll_loss(torch.softmax(z, 1), y)


def cl_softmax_dim0(z, y):
    """log_softmax over the batch (dim 0) instead of the classes."""
    return F.nll_loss(F.log_softmax(z, 0), y)


def cl_label_smoothing(z, y):
    """label_smoothing=0.1 added (slightly off)."""
    return F.cross_entropy(z, y, label_smoothing=0.1)


def cl_sum(z, y):
    """reduction='sum'."""
    return F.cross_entropy(z, y, reduction="sum")


def cl_bce_one_hot(z, y):
    """Sigmoid BCE on one-hot labels instead of a softmax cross-entropy."""
    return F.binary_cross_entropy_with_logits(z, F.one_hot(y, z.shape[1]).float())


def cl_transposed(z, y):
    """Logits transposed (K x N): a shape error unless N == K."""
    return F.cross_entropy(z.T, y)


def cl_float_labels(z, y):
    """Labels cast to float: read as class probabilities, PyTorch raises a shape error."""
    return F.cross_entropy(z, y.float())


def cl_argmax_loss(z, y):
    """The one-hot of the argmax fed to cross_entropy as logits (no gradient reaches z)."""
    return F.cross_entropy(F.one_hot(z.argmax(1), z.shape[1]).float(), y)


WRONG_CLASS_LOSS = [
    ("double softmax", cl_double_softmax),
    ("nll_loss on logits", cl_nll_on_logits),
    ("nll_loss on probabilities", cl_nll_on_probabilities),
    ("log_softmax over dim 0", cl_softmax_dim0),
    ("label_smoothing=0.1", cl_label_smoothing),
    ("reduction='sum'", cl_sum),
    ("BCE on one-hot", cl_bce_one_hot),
    ("logits transposed (crash)", cl_transposed),
    ("float labels (crash)", cl_float_labels),
    ("one-hot of argmax as logits", cl_argmax_loss),
]


def cl_right_log_softmax(z, y):
    """Right: nll_loss of log_softmax over the classes."""
    return F.nll_loss(F.log_softmax(z, dim=1), y)


def cl_right_log_softmax_then_ce(z, y):
    """Right: cross_entropy of log_softmax (log_softmax is idempotent, so this is not a bug)."""
    return F.cross_entropy(F.log_softmax(z, 1), y)


def cl_right_by_hand(z, y):
    """Right: logsumexp minus the true class's logit, averaged."""
    return (torch.logsumexp(z, 1) - z.gather(1, y[:, None]).squeeze(1)).mean()


RIGHT_CLASS_LOSS = [
    ("nll(log_softmax)", cl_right_log_softmax),
    ("cross_entropy(log_softmax)", cl_right_log_softmax_then_ce),
    ("logsumexp - true logit", cl_right_by_hand),
]


# --- optimiser factories fn(model) -> optimizer ---------------------------------------------


def opt_no_label_head(model):
    """Features and domain head only: the label head forgotten."""
    params = [*model.features.parameters(), *model.domain_head.parameters()]
    return torch.optim.SGD(params, lr=0.1)


def opt_no_domain_head(model):
    """Features and label head only: the domain head forgotten."""
    params = [*model.features.parameters(), *model.label_head.parameters()]
    return torch.optim.SGD(params, lr=0.1)


def opt_features_only(model):
    """Only the feature extractor."""
    return torch.optim.SGD(model.features.parameters(), lr=0.1)


def opt_of_a_copy(model):
    """Optimiser over a deep copy's parameters (the model itself never changes)."""
    return torch.optim.SGD(copy.deepcopy(model).parameters(), lr=0.1)


def opt_lr_zero(model):
    """All parameters, learning rate 0."""
    return torch.optim.SGD(model.parameters(), lr=0.0)


def opt_frozen_head(model):
    """All parameters, but the label head frozen with requires_grad_(False)."""
    model.label_head.requires_grad_(False)
    return torch.optim.SGD(model.parameters(), lr=0.1)


def opt_head_group_lr_zero(model):
    """Parameter groups, the domain head's with lr 0 (meant as 'use the default')."""
    return torch.optim.SGD(
        [
            {"params": model.features.parameters()},
            {"params": model.label_head.parameters()},
            {"params": model.domain_head.parameters(), "lr": 0.0},
        ],
        lr=0.1,
    )


def opt_params_twice(model):
    """model.parameters() plus the label head again: PyTorch raises at construction."""
    return torch.optim.SGD(
        [{"params": model.parameters()}, {"params": model.label_head.parameters()}], lr=0.1
    )


def opt_grl_only(model):
    """model.grl.parameters() (the GRL has none): PyTorch raises 'empty parameter list'."""
    return torch.optim.SGD(model.grl.parameters(), lr=0.1)


WRONG_OPTIMIZER = [
    ("label head left out", opt_no_label_head),
    ("domain head left out", opt_no_domain_head),
    ("features only", opt_features_only),
    ("optimiser of a copy", opt_of_a_copy),
    ("lr = 0", opt_lr_zero),
    ("label head frozen", opt_frozen_head),
    ("domain head group lr 0", opt_head_group_lr_zero),
    ("parameters twice (crash)", opt_params_twice),
    ("GRL parameters only (crash)", opt_grl_only),
]


def opt_right_adam(model):
    """Right: Adam over model.parameters()."""
    return torch.optim.Adam(model.parameters(), lr=1e-3)


def opt_right_groups(model):
    """Right: three parameter groups, one per part, different learning rates."""
    return torch.optim.SGD(
        [
            {"params": model.features.parameters(), "lr": 0.01},
            {"params": model.label_head.parameters()},
            {"params": model.domain_head.parameters(), "lr": 0.2},
        ],
        lr=0.1,
        momentum=0.9,
    )


RIGHT_OPTIMIZER = [
    ("Adam(model.parameters())", opt_right_adam),
    ("SGD with three groups", opt_right_groups),
]
