"""Tests of the embedding and confusion-matrix plots in dannlib.viz."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

from dannlib import viz


def test_embed_2d_pca_and_tsne_shapes_and_determinism():
    rng = np.random.default_rng(0)
    x = np.r_[rng.normal(size=(40, 6)), rng.normal(size=(40, 6)) + 5]
    z = viz.embed_2d(x, "pca")
    assert z.shape == (80, 2)
    assert abs(z[:40, 0].mean() - z[40:, 0].mean()) > 5  # the two blobs split on component 1
    t1, t2 = viz.embed_2d(x, "tsne", seed=1), viz.embed_2d(x, "tsne", seed=1)
    assert t1.shape == (80, 2) and np.allclose(t1, t2)
    with pytest.raises(ValueError, match="pca"):
        viz.embed_2d(x, "umap")


def test_plot_embedding_colours_domains_and_classes():
    z = np.random.default_rng(1).normal(size=(20, 2))
    is_target = np.r_[np.zeros(10), np.ones(10)]
    labels = np.arange(20) % 3
    ax = viz.plot_embedding(z, is_target)
    colours = [tuple(c.get_facecolor()[0][:3]) for c in ax.collections]
    expected = [
        matplotlib.colors.to_rgb(viz.SOURCE_COLOR),
        matplotlib.colors.to_rgb(viz.TARGET_COLOR),
    ]
    assert np.allclose(colours, expected)
    ax = viz.plot_embedding(z, is_target, labels, by="class")
    assert len(ax.collections) == 2 and len(ax.texts) == 3  # source, target; one tag per class
    with pytest.raises(ValueError, match="labels"):
        viz.plot_embedding(z, is_target, by="class")
    plt.close("all")


def test_plot_confusion_normalises_rows():
    ax = viz.plot_confusion(np.array([[3, 1], [0, 4]]))
    values = [t.get_text() for t in ax.texts]
    assert values == ["0.75", "0.25", "0.00", "1.00"]
    assert ax.get_xlabel() == "predicted class"
    plt.close("all")
