import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402

from dannlib.viz import GRADIENT_FLIP_COLOR, draw_dann  # noqa: E402


def texts(ax) -> str:
    return " | ".join(t.get_text() for t in ax.texts)


def test_draw_dann_draws_every_part_of_the_network(tmp_path):
    ax = draw_dann()
    drawn = texts(ax)
    for part in ("feature extractor", "label predictor", "GRL", "domain classifier"):
        assert part in drawn
    for loss in ("label loss $L_y$", "domain loss $L_d$"):
        assert loss in drawn
    assert "source $x$" in drawn and "target $x$" in drawn
    assert "backward: $g \\mapsto -\\lambda g$" in drawn  # where the gradient flips
    assert len(ax.patches) == 6  # 3 networks, the GRL and 2 losses
    flipped = [
        a
        for a in ax.texts
        if getattr(a, "arrow_patch", None) is not None
        and a.arrow_patch.get_edgecolor() == to_rgba(GRADIENT_FLIP_COLOR)
    ]
    assert len(flipped) == 1  # one reversed gradient, into the feature extractor
    ax.figure.savefig(tmp_path / "dann.png")
    assert (tmp_path / "dann.png").stat().st_size > 10_000
    plt.close(ax.figure)


def test_draw_dann_draws_on_the_axes_it_is_given():
    fig, (left, right) = plt.subplots(1, 2)
    assert draw_dann(ax=right) is right
    assert not left.texts and right.texts and not right.axison
    plt.close(fig)
