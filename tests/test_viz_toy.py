import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA

from dannlib import build_model, set_seed
from dannlib.viz import (
    DOMAIN_COLORS,
    grid_points,
    model_proba,
    pca_2d,
    plot_decision_boundary,
    plot_mean_spread,
    plot_points,
    plot_weight_histogram,
)


def test_grid_points_cover_the_points_plus_margin():
    pts = np.array([[0.0, -1.0], [2.0, 3.0]])
    xx, yy, grid = grid_points(pts, margin=0.5, n=11)
    assert xx.shape == yy.shape == (11, 11) and grid.shape == (121, 2)
    assert grid[:, 0].min() == -0.5 and grid[:, 0].max() == 2.5
    assert grid[:, 1].min() == -1.5 and grid[:, 1].max() == 3.5
    assert np.array_equal(grid[:, 0].reshape(11, 11), xx)


def test_model_proba_is_the_label_predictors_softmax():
    set_seed(0)
    model = build_model("toy")
    x = np.random.default_rng(0).normal(size=(7, 2))
    p1 = model_proba(model)(x)
    p0 = model_proba(model, cls=0)(x)
    assert p1.shape == (7,) and np.allclose(p0 + p1, 1.0, atol=1e-6)
    with torch.no_grad():
        logits, _ = model(torch.tensor(x, dtype=torch.float32))
    assert np.allclose(p1, torch.softmax(logits, 1)[:, 1].numpy(), atol=1e-6)
    assert model.training  # the mode is restored


def test_pca_2d_matches_sklearn_up_to_sign_and_is_shared_across_sets():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(50, 5)) * [3, 2, 1, 0.5, 0.1]
    b = rng.normal(size=(30, 5)) + 1
    za, zb = pca_2d(a, torch.tensor(b))
    assert za.shape == (50, 2) and zb.shape == (30, 2)
    ref = PCA(2).fit_transform(np.vstack([a, b]))
    ours = np.vstack([za, zb])
    assert np.allclose(np.abs(ours), np.abs(ref), atol=1e-8)
    assert np.allclose(pca_2d(a, b)[0], za)  # deterministic signs
    with pytest.raises(ValueError, match="dimension"):
        pca_2d(rng.normal(size=(10, 1)))


def test_plots_draw_what_they_promise():
    fig, axes = plt.subplots(1, 4)
    x = np.random.default_rng(1).normal(size=(40, 2))
    y = (x[:, 1] > 0).astype(int)
    plot_points(axes[0], x, y, domain="target")
    assert len(axes[0].collections) == 2
    assert all(
        matplotlib.colors.to_hex(c.get_facecolor()[0]) == DOMAIN_COLORS["target"]
        for c in axes[0].collections
    )
    plot_decision_boundary(axes[1], lambda g: (g[:, 1] > 0).astype(float), x, label="rule")
    assert axes[1].get_legend_handles_labels()[1] == ["rule"]
    plot_weight_histogram(axes[2], {"a": np.ones(10), "b": np.full(10, 100.0)})
    assert len(axes[2].patches) == 2
    vals = np.array([[0.5, 0.7], [0.7, 0.9]])
    plot_mean_spread(axes[3], [0, 1], vals, label="m")
    assert np.allclose(axes[3].lines[0].get_ydata(), [0.6, 0.8])
    plt.close(fig)
