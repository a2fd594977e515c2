"""Plotting helpers. Pure functions: they draw on an Axes (or make a Figure) and return it.

Source and target keep the same two colours in every notebook; classes use one palette.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
import torch

from dannlib.common import as_numpy, as_rows
from dannlib.models import eval_mode
from dannlib.train import History

SOURCE_COLOR = "#1f77b4"  # blue
TARGET_COLOR = "#d62728"  # red
DOMAIN_COLORS = {"source": SOURCE_COLOR, "target": TARGET_COLOR}
CLASS_PALETTE = sns.color_palette("tab10", 10)
# methods (never blue or red, which mean source and target)
METHOD_COLORS = {
    "source_only": "#7f7f7f",  # grey
    "dann": "#9467bd",  # purple
    "target_only": "#2ca02c",  # green
    "reweighted": "#ff7f0e",  # orange
    "adabn": "#8c564b",  # brown
}


def use_style() -> None:
    """The course's figure style (called once in each notebook's setup cell)."""
    sns.set_theme(context="notebook", style="whitegrid", palette="tab10")
    plt.rcParams.update(
        {"figure.dpi": 80, "savefig.dpi": 80, "figure.figsize": (6, 4), "axes.titlesize": "medium"}
    )


def plot_history(histories: dict[str, History], keys=None, axes=None, colors=None):
    """Training curves of several runs on shared axes, one panel per quantity.

    `colors` maps a run's name to its colour (e.g. from METHOD_COLORS).
    """
    keys = keys or ["label_loss", "domain_loss", "domain_acc", "lambda", "lr"]
    if axes is None:
        _, axes = plt.subplots(1, len(keys), figsize=(3.2 * len(keys), 3), squeeze=False)
        axes = axes[0]
    for name, h in histories.items():
        for ax, key in zip(axes, keys):
            series = h.steps if key in h.steps else h.evals
            x, y = series["step"], series[key]
            if series is h.steps and len(y) > 200:  # smooth per-step noise
                k = len(y) // 100
                y = [sum(y[i : i + k]) / len(y[i : i + k]) for i in range(0, len(y), k)]
                x = x[::k][: len(y)]
            ax.plot(x, y, label=name, color=(colors or {}).get(name))
            ax.set_title(key.replace("_", " "))
            ax.set_xlabel("step")
    axes[0].legend()
    return axes


# --- toy 2-D domains (lessons 01 and 03) ---------------------------------------------------

CLASS_MARKERS = ("o", "^")  # class 0, class 1 in 2-D scatter plots


def grid_points(points, margin: float = 0.5, n: int = 200):
    """An n x n grid over the box around `points` (N x 2) plus `margin`: (xx, yy, n*n x 2 array)."""
    points = as_numpy(points)
    lo, hi = points.min(axis=0) - margin, points.max(axis=0) + margin
    xx, yy = np.meshgrid(np.linspace(lo[0], hi[0], n), np.linspace(lo[1], hi[1], n))
    return xx, yy, np.column_stack([xx.ravel(), yy.ravel()])


def model_proba(model: torch.nn.Module, cls: int = 1):
    """A function mapping an N x 2 array to P(class `cls` | x) under a DANN's label predictor
    (computed on the model's device, returned as a NumPy array)."""

    def proba(x: np.ndarray) -> np.ndarray:
        device = next(model.parameters()).device
        with eval_mode(model), torch.inference_mode():
            logits = model.class_logits(torch.as_tensor(x, dtype=torch.float32, device=device))
        return torch.softmax(logits, 1)[:, cls].cpu().numpy()

    return proba


def plot_points(
    ax, x, y=None, domain: str = "source", label: str | None = None, sizes=None, alpha: float = 0.7
):
    """Scatter 2-D points in their domain's colour; classes as circles / triangles (no y: dots)."""
    x = as_numpy(x)
    color = DOMAIN_COLORS[domain]
    label = domain if label is None else label
    if y is None:
        ax.scatter(
            x[:, 0],
            x[:, 1],
            s=sizes if sizes is not None else 12,
            c=color,
            alpha=alpha,
            label=label,
            edgecolors="none",
        )
        return ax
    y = as_numpy(y)
    sizes = np.full(len(x), 16.0) if sizes is None else np.broadcast_to(as_numpy(sizes), len(x))
    for k, marker in enumerate(CLASS_MARKERS):
        m = y == k
        ax.scatter(
            x[m, 0],
            x[m, 1],
            s=sizes[m],
            c=color,
            marker=marker,
            alpha=alpha,
            label=f"{label}, class {k}",
            edgecolors="none",
        )
    return ax


def plot_decision_boundary(
    ax,
    proba,
    points,
    margin: float = 0.5,
    n: int = 200,
    color: str = "k",
    shade: bool = True,
    label: str | None = None,
    linestyle: str = "-",
):
    """Draw the 0.5 contour of `proba` (N x 2 array -> P(class 1)) over the box around `points`.

    With `shade`, P(class 1) is shown as a light background (white = 0.5).
    """
    xx, yy, grid = grid_points(points, margin, n)
    p = np.asarray(proba(grid)).reshape(xx.shape)
    if shade:
        ax.contourf(xx, yy, p, levels=np.linspace(0, 1, 11), cmap="PuOr_r", alpha=0.25)
    ax.contour(xx, yy, p, levels=[0.5], colors=color, linewidths=2, linestyles=linestyle)
    if label is not None:
        ax.plot([], [], color=color, linewidth=2, linestyle=linestyle, label=label)
    ax.set_xlim(xx.min(), xx.max())
    ax.set_ylim(yy.min(), yy.max())
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    return ax


def plot_weight_histogram(ax, weights: dict, bins: int = 40):
    """Histograms of log10 importance weights, one outline per entry of `weights` (label -> w).

    Entries are coloured along viridis (not the source/target colours): pass them in order.
    """
    logs = {k: np.log10(np.clip(as_numpy(w), 1e-12, None)) for k, w in weights.items()}
    lo = min(v.min() for v in logs.values())
    hi = max(v.max() for v in logs.values())
    edges = np.linspace(lo, hi, bins + 1) if hi > lo else bins
    colors = plt.get_cmap("viridis")(np.linspace(0.0, 0.85, len(logs)))
    for (name, v), color in zip(logs.items(), colors):
        ax.hist(v, bins=edges, histtype="step", linewidth=2, label=name, color=color)
    ax.axvline(0.0, color="0.4", linestyle=":", linewidth=1)
    ax.set_xlabel("log10 weight")
    ax.set_ylabel("source points")
    return ax


def pca_2d(*feature_sets) -> list[np.ndarray]:
    """Project feature sets (each N_i x D) onto the top two principal components of all of them.

    One basis for all sets (scikit-learn's PCA, deterministic signs), so they share axes.
    """
    from sklearn.decomposition import PCA

    sets = [as_rows(f) for f in feature_sets]
    stacked = np.vstack(sets)
    if stacked.shape[1] < 2:
        raise ValueError(f"PCA to 2-D needs features of dimension >= 2, got {stacked.shape[1]}")
    pca = PCA(2, svd_solver="full").fit(stacked)
    return [pca.transform(f) for f in sets]


def plot_mean_spread(ax, x, values, label: str, color=None, marker: str = "o"):
    """Mean over seeds (rows of `values`, seeds x len(x)) as a line, +- one std as a band."""
    values = np.atleast_2d(as_numpy(values)).astype(np.float64)
    mean, std = values.mean(axis=0), values.std(axis=0)
    (line,) = ax.plot(x, mean, marker=marker, color=color, label=label)
    ax.fill_between(x, mean - std, mean + std, color=line.get_color(), alpha=0.2)
    return ax


def embed_2d(features, method: str = "pca", seed: int = 0, perplexity: float = 30.0):
    """N x D features to N x 2 with PCA or t-SNE (scikit-learn; deterministic for `seed`)."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    x = np.asarray(features, dtype=np.float32).reshape(len(features), -1)
    if method == "pca":
        return PCA(2, random_state=seed).fit_transform(x)
    if method == "tsne":
        perplexity = min(perplexity, (len(x) - 1) / 3)
        return TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(x)
    raise ValueError(f"unknown method {method!r}; choose 'pca' or 'tsne'")


def plot_embedding(z, is_target, labels=None, by: str = "domain", ax=None, title=None, s=8):
    """2-D points coloured by domain (source blue, target red) or by class (circles: source,
    crosses: target)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    z, is_target = np.asarray(z), np.asarray(is_target).astype(bool)
    if by == "domain":
        for name, mask in (("source", ~is_target), ("target", is_target)):
            ax.scatter(
                *z[mask].T, s=s, c=DOMAIN_COLORS[name], alpha=0.6, lw=0, label=name, rasterized=True
            )
        ax.legend(loc="best", fontsize="small", markerscale=2)
    elif by == "class":
        if labels is None:
            raise ValueError("by='class' needs labels")
        colors = np.asarray(CLASS_PALETTE)[np.asarray(labels) % len(CLASS_PALETTE)]
        kw = dict(alpha=0.7, rasterized=True)
        ax.scatter(*z[~is_target].T, s=s, c=colors[~is_target], marker="o", lw=0, **kw)
        ax.scatter(*z[is_target].T, s=s * 1.5, c=colors[is_target], marker="x", lw=0.8, **kw)
        for k in np.unique(labels):  # class number at the median of its points
            ax.annotate(
                str(k),
                np.median(z[np.asarray(labels) == k], axis=0),
                fontsize=11,
                weight="bold",
                ha="center",
                va="center",
                bbox={"boxstyle": "round,pad=0.1", "fc": "white", "alpha": 0.7, "lw": 0},
            )
    else:
        raise ValueError(f"unknown by={by!r}; choose 'domain' or 'class'")
    ax.set_title(title or f"coloured by {by}")
    ax.set_xlabel("component 1")
    ax.set_ylabel("component 2")
    return ax


def plot_confusion(cm, ax=None, title: str = "confusion matrix", normalize: bool = True):
    """Heat map of a K x K confusion matrix (rows: true class; normalised per row by default)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(4.2, 3.6))
    cm = np.asarray(cm, dtype=float)
    if normalize:
        cm = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    sns.heatmap(
        cm,
        ax=ax,
        cmap="Blues",
        vmin=0,
        vmax=1 if normalize else None,
        square=True,
        annot=len(cm) <= 10,
        fmt=".2f" if normalize else ".0f",
        annot_kws={"size": 6},
        cbar=False,
    )
    ax.set_title(title)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    return ax


# --- a picture of DANN (lessons 02-04) ------------------------------------------------------

GRADIENT_FLIP_COLOR = "#ff7f0e"  # orange: the reversed gradient in draw_dann


def _box(ax, x: float, y: float, w: float, h: float, text: str, face: str, **text_kw) -> None:
    """A rounded box with centred text, (x, y) its lower-left corner."""
    from matplotlib.patches import FancyBboxPatch

    ax.add_patch(
        FancyBboxPatch(
            (x, y), w, h, boxstyle="round,pad=0.08", fc=face, ec="0.25", lw=1.2, zorder=2
        )
    )
    ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", zorder=3, **text_kw)


def _arrow(ax, start, end, color="0.15", style="-", width=1.6, rad=0.0) -> None:
    """An arrow from `start` to `end` (data coordinates)."""
    ax.annotate(
        "",
        xy=end,
        xytext=start,
        zorder=1,
        arrowprops=dict(
            arrowstyle="-|>",
            color=color,
            lw=width,
            linestyle=style,
            shrinkA=0,
            shrinkB=0,
            mutation_scale=14,
            connectionstyle=f"arc3,rad={rad}",
        ),
    )


def draw_dann(ax=None):
    """A diagram of DANN (Ganin et al. 2016, fig. 1): feature extractor, label predictor,
    gradient reversal layer (GRL) and domain classifier, the two losses, the forward pass
    (solid arrows) and the gradients (dashed), the one the GRL flips in orange."""
    if ax is None:
        _, ax = plt.subplots(figsize=(11, 5.2))
    ax.set(xlim=(-0.2, 17.2), ylim=(-1.6, 6.9), aspect="equal")
    ax.axis("off")
    small, big = dict(fontsize=10), dict(fontsize=11)
    # inputs
    ax.text(1.0, 3.9, "source $x$\n(labelled)", ha="center", va="center", color=SOURCE_COLOR)
    ax.text(1.0, 2.1, "target $x$\n(unlabelled)", ha="center", va="center", color=TARGET_COLOR)
    _arrow(ax, (1.9, 3.7), (2.5, 3.3))
    _arrow(ax, (1.9, 2.3), (2.5, 2.7))
    # the three networks, the GRL and the losses
    _box(ax, 2.6, 2.3, 3.2, 1.4, "feature extractor\n$G_f(x;\\ \\theta_f)$", "#c7e9c0", **big)
    _box(ax, 7.6, 4.5, 3.2, 1.4, "label predictor\n$G_y(f;\\ \\theta_y)$", "#dadaeb", **big)
    _box(ax, 7.0, 0.3, 1.6, 1.4, "GRL", "0.3", color="white", fontweight="bold", fontsize=13)
    _box(ax, 9.8, 0.3, 3.2, 1.4, "domain classifier\n$G_d(f;\\ \\theta_d)$", "#fdd0a2", **big)
    _box(ax, 13.7, 4.5, 3.3, 1.4, "label loss $L_y$\n(source batch only)", "white", **big)
    _box(ax, 13.9, 0.3, 3.1, 1.4, "domain loss $L_d$\n(source 0, target 1)", "white", **big)
    ax.text(
        7.8,
        -0.1,
        "forward: $f \\mapsto f$\nbackward: $g \\mapsto -\\lambda g$",
        ha="center",
        va="top",
        **small,
    )
    # forward pass: the features f go to both heads
    ax.text(6.35, 3.0, "$f$", ha="center", va="center", fontsize=15)
    _arrow(ax, (6.0, 3.3), (7.5, 5.0), rad=-0.25)
    _arrow(ax, (6.0, 2.7), (6.9, 1.2), rad=0.2)
    _arrow(ax, (8.7, 1.0), (9.7, 1.0))
    _arrow(ax, (10.9, 5.2), (13.6, 5.2))
    _arrow(ax, (13.1, 1.0), (13.8, 1.0))
    ax.text(12.25, 5.3, "class $\\hat y$", ha="center", va="bottom", **small)
    ax.text(13.45, 1.1, "$\\hat d$", ha="center", va="bottom", **small)
    # backward pass
    back = dict(style="--", width=1.5)
    _arrow(ax, (15.0, 6.05), (9.2, 6.05), rad=0.12, **back)
    ax.text(12.1, 6.55, "$\\partial L_y / \\partial \\theta_y$", ha="center", **small)
    _arrow(ax, (7.7, 5.6), (4.6, 3.85), rad=0.25, **back)
    ax.text(4.9, 5.1, "$\\partial L_y / \\partial \\theta_f$", ha="center", **small)
    _arrow(ax, (15.4, 0.15), (11.4, 0.15), rad=-0.2, **back)
    ax.text(
        13.4,
        -1.3,
        "$\\partial L_d / \\partial \\theta_d$: the domain classifier\n"
        "learns to separate the domains",
        ha="center",
        **small,
    )
    _arrow(ax, (6.9, 1.5), (4.5, 2.2), color=GRADIENT_FLIP_COLOR, rad=-0.3, **back)
    ax.text(
        3.4,
        0.9,
        "$-\\lambda\\, \\partial L_d / \\partial \\theta_f$:\nthe features learn\nto confuse it",
        ha="center",
        va="center",
        color=GRADIENT_FLIP_COLOR,
        fontweight="bold",
        **small,
    )
    ax.set_title(
        "DANN: solid arrows are the forward pass, dashed ones the gradients;\nthe gradient "
        "reversal layer (GRL) flips the domain gradient on its way into the features (orange)",
        fontsize=11,
    )
    return ax
