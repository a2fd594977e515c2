"""Plotting helpers. Pure functions: they draw on an Axes (or make a Figure) and return it.

Source and target keep the same two colours in every notebook; classes use one palette.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import seaborn as sns

from dannlib.train import History

SOURCE_COLOR = "#1f77b4"  # blue
TARGET_COLOR = "#d62728"  # red
DOMAIN_COLORS = {"source": SOURCE_COLOR, "target": TARGET_COLOR}
CLASS_PALETTE = sns.color_palette("tab10", 10)


def use_style() -> None:
    """The course's figure style (called once in each notebook's setup cell)."""
    sns.set_theme(context="notebook", style="whitegrid", palette="tab10")
    plt.rcParams.update(
        {"figure.dpi": 80, "savefig.dpi": 80, "figure.figsize": (6, 4), "axes.titlesize": "medium"}
    )


def plot_history(histories: dict[str, History], keys=None, axes=None):
    """Training curves of several runs on shared axes, one panel per quantity."""
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
            ax.plot(x, y, label=name)
            ax.set_title(key.replace("_", " "))
            ax.set_xlabel("step")
    axes[0].legend()
    return axes
