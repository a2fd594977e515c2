"""Lesson 03: my_dann_step(model, optimizer, batch, lam, lr) and
my_train(model, source, target, step_fn, steps, lambda_max, lr, batch_size, seed)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from dannlib.data.base import to_float
from dannlib.data.loaders import IndexStream
from dannlib.grl import grad_reverse
from dannlib.schedules import annealed_lr, dann_lambda

# --- my_dann_step ---------------------------------------------------------------------------


def _set_lr(optimizer, lr):
    for group in optimizer.param_groups:
        group["lr"] = lr


def _split(model, x_lab, x_unl):
    f = model.features(torch.cat([x_lab, x_unl]))
    return f, f[: len(x_lab)], f[len(x_lab) :]


def _domain_labels(x_lab, x_unl):
    return torch.cat([torch.zeros(len(x_lab)), torch.ones(len(x_unl))])


def _finish(optimizer, label_loss, domain_loss, loss=None):
    loss = label_loss + domain_loss if loss is None else loss
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return {"label_loss": label_loss.item(), "domain_loss": domain_loss.item()}


def step_lr_as_attribute(model, optimizer, batch, lam, lr):
    """optimizer.lr = lr: sets an attribute nobody reads, the learning rate is not applied."""
    x_lab, y_lab, x_unl = batch
    optimizer.lr = lr
    f, f_lab, _ = _split(model, x_lab, x_unl)
    label_loss = F.cross_entropy(model.label_head(f_lab), y_lab)
    domain_loss = F.binary_cross_entropy_with_logits(
        model.domain_logit(f, lam), _domain_labels(x_lab, x_unl)
    )
    return _finish(optimizer, label_loss, domain_loss)


def step_lr_param_groups_index(model, optimizer, batch, lam, lr):
    """optimizer.param_groups['lr'] = lr: TypeError (param_groups is a list)."""
    x_lab, y_lab, x_unl = batch
    optimizer.param_groups["lr"] = lr
    f, f_lab, _ = _split(model, x_lab, x_unl)
    label_loss = F.cross_entropy(model.label_head(f_lab), y_lab)
    domain_loss = F.binary_cross_entropy_with_logits(
        model.domain_logit(f, lam), _domain_labels(x_lab, x_unl)
    )
    return _finish(optimizer, label_loss, domain_loss)


def step_lambda_on_loss(model, optimizer, batch, lam, lr):
    """lam multiplies the domain loss and the GRL gets 1: the domain head's gradient scaled too."""
    x_lab, y_lab, x_unl = batch
    _set_lr(optimizer, lr)
    f, f_lab, _ = _split(model, x_lab, x_unl)
    label_loss = F.cross_entropy(model.label_head(f_lab), y_lab)
    domain_loss = F.binary_cross_entropy_with_logits(
        model.domain_logit(f, 1.0), _domain_labels(x_lab, x_unl)
    )
    return _finish(optimizer, label_loss, domain_loss, label_loss + lam * domain_loss)


def step_grl_twice(model, optimizer, batch, lam, lr):
    """grad_reverse applied by hand and again inside domain_logit: two minus signs cancel."""
    x_lab, y_lab, x_unl = batch
    _set_lr(optimizer, lr)
    f, f_lab, _ = _split(model, x_lab, x_unl)
    label_loss = F.cross_entropy(model.label_head(f_lab), y_lab)
    domain_loss = F.binary_cross_entropy_with_logits(
        model.domain_logit(grad_reverse(f, lam), lam), _domain_labels(x_lab, x_unl)
    )
    return _finish(optimizer, label_loss, domain_loss)


def step_mean_of_losses(model, optimizer, batch, lam, lr):
    """(label_loss + domain_loss) / 2: every gradient halved."""
    x_lab, y_lab, x_unl = batch
    _set_lr(optimizer, lr)
    f, f_lab, _ = _split(model, x_lab, x_unl)
    label_loss = F.cross_entropy(model.label_head(f_lab), y_lab)
    domain_loss = F.binary_cross_entropy_with_logits(
        model.domain_logit(f, lam), _domain_labels(x_lab, x_unl)
    )
    return _finish(optimizer, label_loss, domain_loss, (label_loss + domain_loss) / 2)


def step_step_before_backward(model, optimizer, batch, lam, lr):
    """zero_grad, step, then backward: the step never sees this batch's gradients."""
    x_lab, y_lab, x_unl = batch
    _set_lr(optimizer, lr)
    f, f_lab, _ = _split(model, x_lab, x_unl)
    label_loss = F.cross_entropy(model.label_head(f_lab), y_lab)
    domain_loss = F.binary_cross_entropy_with_logits(
        model.domain_logit(f, lam), _domain_labels(x_lab, x_unl)
    )
    optimizer.zero_grad()
    optimizer.step()
    (label_loss + domain_loss).backward()
    return {"label_loss": label_loss.item(), "domain_loss": domain_loss.item()}


def step_label_loss_on_all_rows(model, optimizer, batch, lam, lr):
    """Label loss on all of f with y_lab: PyTorch raises a batch-size mismatch."""
    x_lab, y_lab, x_unl = batch
    _set_lr(optimizer, lr)
    f, _, _ = _split(model, x_lab, x_unl)
    label_loss = F.cross_entropy(model.label_head(f), y_lab)
    domain_loss = F.binary_cross_entropy_with_logits(
        model.domain_logit(f, lam), _domain_labels(x_lab, x_unl)
    )
    return _finish(optimizer, label_loss, domain_loss)


def step_long_domain_labels(model, optimizer, batch, lam, lr):
    """Domain labels as int64 (torch.zeros(n, dtype=torch.long)): BCE raises a dtype error."""
    x_lab, y_lab, x_unl = batch
    _set_lr(optimizer, lr)
    f, f_lab, _ = _split(model, x_lab, x_unl)
    label_loss = F.cross_entropy(model.label_head(f_lab), y_lab)
    d = torch.cat(
        [torch.zeros(len(x_lab), dtype=torch.long), torch.ones(len(x_unl), dtype=torch.long)]
    )
    domain_loss = F.binary_cross_entropy_with_logits(model.domain_logit(f, lam), d)
    return _finish(optimizer, label_loss, domain_loss)


def step_unlabelled_count_from_labelled(model, optimizer, batch, lam, lr):
    """torch.ones(len(x_lab)) for the unlabelled rows: crashes when the batch sizes differ."""
    x_lab, y_lab, x_unl = batch
    _set_lr(optimizer, lr)
    f, f_lab, _ = _split(model, x_lab, x_unl)
    label_loss = F.cross_entropy(model.label_head(f_lab), y_lab)
    d = torch.cat([torch.zeros(len(x_lab)), torch.ones(len(x_lab))])
    domain_loss = F.binary_cross_entropy_with_logits(model.domain_logit(f, lam), d)
    return _finish(optimizer, label_loss, domain_loss)


def step_split_at_unlabelled_length(model, optimizer, batch, lam, lr):
    """Labelled rows taken as f[:len(x_unl)]: wrong (or a crash) when the batch sizes differ."""
    x_lab, y_lab, x_unl = batch
    _set_lr(optimizer, lr)
    f = model.features(torch.cat([x_lab, x_unl]))
    label_loss = F.cross_entropy(model.label_head(f[: len(x_unl)]), y_lab)
    domain_loss = F.binary_cross_entropy_with_logits(
        model.domain_logit(f, lam), _domain_labels(x_lab, x_unl)
    )
    return _finish(optimizer, label_loss, domain_loss)


def step_nll_on_logits(model, optimizer, batch, lam, lr):
    """Label loss F.nll_loss on raw logits (log_softmax missing)."""
    x_lab, y_lab, x_unl = batch
    _set_lr(optimizer, lr)
    f, f_lab, _ = _split(model, x_lab, x_unl)
    label_loss = F.nll_loss(model.label_head(f_lab), y_lab)
    domain_loss = F.binary_cross_entropy_with_logits(
        model.domain_logit(f, lam), _domain_labels(x_lab, x_unl)
    )
    return _finish(optimizer, label_loss, domain_loss)


def step_under_no_grad(model, optimizer, batch, lam, lr):
    """Forward pass under torch.no_grad(): backward raises (no grad_fn)."""
    x_lab, y_lab, x_unl = batch
    _set_lr(optimizer, lr)
    with torch.no_grad():
        f, f_lab, _ = _split(model, x_lab, x_unl)
        label_loss = F.cross_entropy(model.label_head(f_lab), y_lab)
        domain_loss = F.binary_cross_entropy_with_logits(
            model.domain_logit(f, lam), _domain_labels(x_lab, x_unl)
        )
    return _finish(optimizer, label_loss, domain_loss)


def step_returns_tensors(model, optimizer, batch, lam, lr):
    """Returns the loss tensors (graph attached), not floats."""
    x_lab, y_lab, x_unl = batch
    _set_lr(optimizer, lr)
    f, f_lab, _ = _split(model, x_lab, x_unl)
    label_loss = F.cross_entropy(model.label_head(f_lab), y_lab)
    domain_loss = F.binary_cross_entropy_with_logits(
        model.domain_logit(f, lam), _domain_labels(x_lab, x_unl)
    )
    _finish(optimizer, label_loss, domain_loss)
    return {"label_loss": label_loss, "domain_loss": domain_loss}


def step_returns_nothing(model, optimizer, batch, lam, lr):
    """The update is right but nothing is returned."""
    x_lab, y_lab, x_unl = batch
    _set_lr(optimizer, lr)
    f, f_lab, _ = _split(model, x_lab, x_unl)
    label_loss = F.cross_entropy(model.label_head(f_lab), y_lab)
    domain_loss = F.binary_cross_entropy_with_logits(
        model.domain_logit(f, lam), _domain_labels(x_lab, x_unl)
    )
    _finish(optimizer, label_loss, domain_loss)


def step_lam_times_lr(model, optimizer, batch, lam, lr):
    """The learning rate set to lr * lam (mixed up the two schedules)."""
    x_lab, y_lab, x_unl = batch
    _set_lr(optimizer, lr * lam)
    f, f_lab, _ = _split(model, x_lab, x_unl)
    label_loss = F.cross_entropy(model.label_head(f_lab), y_lab)
    domain_loss = F.binary_cross_entropy_with_logits(
        model.domain_logit(f, lam), _domain_labels(x_lab, x_unl)
    )
    return _finish(optimizer, label_loss, domain_loss)


def step_minus_lam(model, optimizer, batch, lam, lr):
    """-lam passed to domain_logit (the GRL already supplies the minus)."""
    x_lab, y_lab, x_unl = batch
    _set_lr(optimizer, lr)
    f, f_lab, _ = _split(model, x_lab, x_unl)
    label_loss = F.cross_entropy(model.label_head(f_lab), y_lab)
    domain_loss = F.binary_cross_entropy_with_logits(
        model.domain_logit(f, -lam), _domain_labels(x_lab, x_unl)
    )
    return _finish(optimizer, label_loss, domain_loss)


def step_no_zero_grad(model, optimizer, batch, lam, lr):
    """No zero_grad: gradients accumulate from step to step."""
    x_lab, y_lab, x_unl = batch
    _set_lr(optimizer, lr)
    f, f_lab, _ = _split(model, x_lab, x_unl)
    label_loss = F.cross_entropy(model.label_head(f_lab), y_lab)
    domain_loss = F.binary_cross_entropy_with_logits(
        model.domain_logit(f, lam), _domain_labels(x_lab, x_unl)
    )
    (label_loss + domain_loss).backward()
    optimizer.step()
    return {"label_loss": label_loss.item(), "domain_loss": domain_loss.item()}


def step_two_passes(model, optimizer, batch, lam, lr):
    """Two forward passes (one per batch) instead of one concatenated pass."""
    x_lab, y_lab, x_unl = batch
    _set_lr(optimizer, lr)
    f_lab, f_unl = model.features(x_lab), model.features(x_unl)
    label_loss = F.cross_entropy(model.label_head(f_lab), y_lab)
    domain_loss = F.binary_cross_entropy_with_logits(
        model.domain_logit(torch.cat([f_lab, f_unl]), lam), _domain_labels(x_lab, x_unl)
    )
    return _finish(optimizer, label_loss, domain_loss)


def step_domain_head_without_grl(model, optimizer, batch, lam, lr):
    """model.domain_head(f) directly: no reversal, lam unused."""
    x_lab, y_lab, x_unl = batch
    _set_lr(optimizer, lr)
    f, f_lab, _ = _split(model, x_lab, x_unl)
    label_loss = F.cross_entropy(model.label_head(f_lab), y_lab)
    domain_loss = F.binary_cross_entropy_with_logits(
        model.domain_head(f).squeeze(-1), _domain_labels(x_lab, x_unl)
    )
    return _finish(optimizer, label_loss, domain_loss)


WRONG_DANN_STEP = [
    ("optimizer.lr = lr", step_lr_as_attribute),
    ("param_groups['lr'] (crash)", step_lr_param_groups_index),
    ("lam on the loss, GRL at 1", step_lambda_on_loss),
    ("GRL applied twice", step_grl_twice),
    ("mean of the two losses", step_mean_of_losses),
    ("step before backward", step_step_before_backward),
    ("label loss on all rows (crash)", step_label_loss_on_all_rows),
    ("int64 domain labels (crash)", step_long_domain_labels),
    ("ones(len(x_lab)) for the target", step_unlabelled_count_from_labelled),
    ("split at len(x_unl)", step_split_at_unlabelled_length),
    ("nll_loss on logits", step_nll_on_logits),
    ("forward under no_grad (crash)", step_under_no_grad),
    ("returns tensors", step_returns_tensors),
    ("returns None", step_returns_nothing),
    ("lr * lam", step_lam_times_lr),
    ("-lam to domain_logit", step_minus_lam),
    ("no zero_grad", step_no_zero_grad),
    ("two forward passes", step_two_passes),
    ("domain head without GRL", step_domain_head_without_grl),
]


def step_right_forward(model, optimizer, batch, lam, lr):
    """Right: model(x, lam) on the concatenated batch (one pass), zero_grad first."""
    x_lab, y_lab, x_unl = batch
    optimizer.zero_grad()
    for group in optimizer.param_groups:
        group.update(lr=lr)
    class_logits, domain_logit = model(torch.cat([x_lab, x_unl]), lam)
    n = len(x_lab)
    label_loss = F.cross_entropy(class_logits[:n], y_lab)
    d = torch.zeros(len(domain_logit))
    d[n:] = 1.0
    domain_loss = F.binary_cross_entropy_with_logits(domain_logit, d)
    (label_loss + domain_loss).backward()
    optimizer.step()
    return {"label_loss": float(label_loss), "domain_loss": float(domain_loss)}


def step_right_split(model, optimizer, batch, lam, lr):
    """Right: torch.split of the features, domain logits of the two parts concatenated."""
    x_lab, y_lab, x_unl = batch
    for g in optimizer.param_groups:
        g["lr"] = lr
    f = model.features(torch.cat((x_lab, x_unl), dim=0))
    f_lab, f_unl = torch.split(f, [x_lab.shape[0], x_unl.shape[0]])
    label_loss = F.cross_entropy(model.label_head(f_lab), y_lab)
    logits = model.domain_logit(torch.cat([f_lab, f_unl]), lam)
    domain = torch.cat([torch.zeros(len(f_lab)), torch.ones(len(f_unl))])
    domain_loss = F.binary_cross_entropy_with_logits(logits, domain)
    optimizer.zero_grad(set_to_none=False)
    (label_loss + domain_loss).backward()
    optimizer.step()
    return {"label_loss": label_loss.item(), "domain_loss": domain_loss.item(), "lam": lam}


RIGHT_DANN_STEP = [
    ("model(x, lam), zero_grad first", step_right_forward),
    ("torch.split, zero_grad(set_to_none=False)", step_right_split),
]


# --- my_train -------------------------------------------------------------------------------


def _streams(source, target, seed):
    return IndexStream(len(source), 2 * seed), IndexStream(len(target), 2 * seed + 1)


def _batch(source, target, src, tgt, k, n):
    x_lab, y_lab = source[src.batch(k, n)]
    x_unl, _ = target[tgt.batch(k, n)]
    return x_lab, y_lab, x_unl


def train_gamma_is_lambda_max(
    model, source, target, step_fn, steps, lambda_max=2.0, lr=0.1, batch_size=32, seed=0
):
    """dann_lambda(p, lambda_max): lambda_max passed where gamma goes."""
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    src, tgt = _streams(source, target, seed)
    for step in range(steps):
        lam = dann_lambda(step / steps, lambda_max)
        step_fn(model, opt, _batch(source, target, src, tgt, step, batch_size), lam, lr)


def train_progress_over_steps_minus_one(
    model, source, target, step_fn, steps, lambda_max=2.0, lr=0.1, batch_size=32, seed=0
):
    """p = step / (steps - 1) so that the ramp 'reaches the end' (off by one)."""
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    src, tgt = _streams(source, target, seed)
    for step in range(steps):
        lam = lambda_max * dann_lambda(step / max(steps - 1, 1))
        step_fn(model, opt, _batch(source, target, src, tgt, step, batch_size), lam, lr)


def train_no_lambda_max(
    model, source, target, step_fn, steps, lambda_max=2.0, lr=0.1, batch_size=32, seed=0
):
    """lam = dann_lambda(p): lambda_max forgotten."""
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    src, tgt = _streams(source, target, seed)
    for step in range(steps):
        lam = dann_lambda(step / steps)
        step_fn(model, opt, _batch(source, target, src, tgt, step, batch_size), lam, lr)


def train_paper_lr(
    model, source, target, step_fn, steps, lambda_max=2.0, lr=0.1, batch_size=32, seed=0
):
    """Anneals the learning rate with annealed_lr(p, lr) (the recipe keeps it constant)."""
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    src, tgt = _streams(source, target, seed)
    for step in range(steps):
        p = step / steps
        batch = _batch(source, target, src, tgt, step, batch_size)
        step_fn(model, opt, batch, lambda_max * dann_lambda(p), annealed_lr(p, lr))


def train_stream_seed_without_factor(
    model, source, target, step_fn, steps, lambda_max=2.0, lr=0.1, batch_size=32, seed=0
):
    """IndexStream(len(source), seed) and (len(target), seed + 1): the factor 2 dropped."""
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    src, tgt = IndexStream(len(source), seed), IndexStream(len(target), seed + 1)
    for step in range(steps):
        lam = lambda_max * dann_lambda(step / steps)
        step_fn(model, opt, _batch(source, target, src, tgt, step, batch_size), lam, lr)


def train_seed_ignored(
    model, source, target, step_fn, steps, lambda_max=2.0, lr=0.1, batch_size=32, seed=0
):
    """Streams seeded 0 and 1 whatever `seed` is (forgot the seed)."""
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    src, tgt = IndexStream(len(source), 0), IndexStream(len(target), 1)
    for step in range(steps):
        lam = lambda_max * dann_lambda(step / steps)
        step_fn(model, opt, _batch(source, target, src, tgt, step, batch_size), lam, lr)


def train_batch_number_in_samples(
    model, source, target, step_fn, steps, lambda_max=2.0, lr=0.1, batch_size=32, seed=0
):
    """src.batch(step * batch_size, batch_size): an offset passed where the batch number goes."""
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    src, tgt = _streams(source, target, seed)
    for step in range(steps):
        lam = lambda_max * dann_lambda(step / steps)
        batch = _batch(source, target, src, tgt, step * batch_size, batch_size)
        step_fn(model, opt, batch, lam, lr)


def train_steps_from_one(
    model, source, target, step_fn, steps, lambda_max=2.0, lr=0.1, batch_size=32, seed=0
):
    """for step in range(1, steps + 1): batches and ramp shifted by one."""
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    src, tgt = _streams(source, target, seed)
    for step in range(1, steps + 1):
        lam = lambda_max * dann_lambda(step / steps)
        step_fn(model, opt, _batch(source, target, src, tgt, step, batch_size), lam, lr)


def train_one_step_short(
    model, source, target, step_fn, steps, lambda_max=2.0, lr=0.1, batch_size=32, seed=0
):
    """range(steps - 1): one step too few."""
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    src, tgt = _streams(source, target, seed)
    for step in range(steps - 1):
        lam = lambda_max * dann_lambda(step / steps)
        step_fn(model, opt, _batch(source, target, src, tgt, step, batch_size), lam, lr)


def train_no_momentum(
    model, source, target, step_fn, steps, lambda_max=2.0, lr=0.1, batch_size=32, seed=0
):
    """SGD without momentum."""
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    src, tgt = _streams(source, target, seed)
    for step in range(steps):
        lam = lambda_max * dann_lambda(step / steps)
        step_fn(model, opt, _batch(source, target, src, tgt, step, batch_size), lam, lr)


def train_target_labels_in_batch(
    model, source, target, step_fn, steps, lambda_max=2.0, lr=0.1, batch_size=32, seed=0
):
    """Passes (x_lab, y_lab, x_unl, y_unl): the target's labels handed to the step (it raises)."""
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    src, tgt = _streams(source, target, seed)
    for step in range(steps):
        lam = lambda_max * dann_lambda(step / steps)
        x_lab, y_lab = source[src.batch(step, batch_size)]
        x_unl, y_unl = target[tgt.batch(step, batch_size)]
        step_fn(model, opt, (x_lab, y_lab, x_unl, y_unl), lam, lr)


def train_same_stream_for_both(
    model, source, target, step_fn, steps, lambda_max=2.0, lr=0.1, batch_size=32, seed=0
):
    """One stream for both domains (same indices), sized by the source."""
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    src = IndexStream(len(source), 2 * seed)
    for step in range(steps):
        lam = lambda_max * dann_lambda(step / steps)
        idx = src.batch(step, batch_size)
        x_lab, y_lab = source[idx]
        x_unl, _ = target[idx]
        step_fn(model, opt, (x_lab, y_lab, x_unl), lam, lr)


def train_eval_mode(
    model, source, target, step_fn, steps, lambda_max=2.0, lr=0.1, batch_size=32, seed=0
):
    """Puts the model in eval mode before the loop (copied from an evaluation cell)."""
    model.eval()
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    src, tgt = _streams(source, target, seed)
    for step in range(steps):
        lam = lambda_max * dann_lambda(step / steps)
        step_fn(model, opt, _batch(source, target, src, tgt, step, batch_size), lam, lr)


WRONG_TRAIN = [
    ("lambda_max passed as gamma", train_gamma_is_lambda_max),
    ("p = step/(steps-1)", train_progress_over_steps_minus_one),
    ("lambda_max forgotten", train_no_lambda_max),
    ("annealed lr", train_paper_lr),
    ("stream seeds seed, seed+1", train_stream_seed_without_factor),
    ("stream seeds ignore seed", train_seed_ignored),
    ("batch number times batch size", train_batch_number_in_samples),
    ("range(1, steps+1)", train_steps_from_one),
    ("range(steps-1)", train_one_step_short),
    ("SGD without momentum", train_no_momentum),
    ("target labels in the batch (crash)", train_target_labels_in_batch),
    ("one stream for both domains", train_same_stream_for_both),
    ("model.eval() before training", train_eval_mode),
]


def train_right_indexing(
    model, source, target, step_fn, steps, lambda_max=2.0, lr=0.1, batch_size=32, seed=0
):
    """Right: indexes .x and .y directly, converts with to_float as fit does."""
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    src = IndexStream(len(source), 2 * seed)
    tgt = IndexStream(len(target), 2 * seed + 1)
    for step in range(steps):
        i, j = src.batch(step, batch_size), tgt.batch(step, batch_size)
        batch = (to_float(source.x[i]), source.y[i], to_float(target.x[j]))
        step_fn(model, optimizer, batch, lambda_max * dann_lambda(step / steps), lr)


def train_right_seeded(
    model, source, target, step_fn, steps, lambda_max=2.0, lr=0.1, batch_size=32, seed=0
):
    """Right: also seeds torch and sets train mode, as fit does; lambda computed before the loop."""
    model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    torch.manual_seed(seed)
    streams = IndexStream(len(source), 2 * seed), IndexStream(len(target), 2 * seed + 1)
    lams = [lambda_max * dann_lambda(k / steps) for k in range(steps)]
    for k, lam in enumerate(lams):
        x_lab, y_lab = source[streams[0].batch(k, batch_size)]
        x_unl = target[streams[1].batch(k, batch_size)][0]
        step_fn(model, optimizer, (x_lab, y_lab, x_unl), lam, lr)


RIGHT_TRAIN = [
    ("indexes .x/.y, to_float", train_right_indexing),
    ("seeds torch, lambdas precomputed", train_right_seeded),
]
