"""The sample gallery and the script that saves one PNG per domain."""

import importlib.util
from pathlib import Path

import matplotlib
import pytest
import torch

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from dannlib.data.base import Domain  # noqa: E402
from dannlib.data.gallery import mosaic, show_gallery  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:MNIST:UserWarning")
SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "make_galleries.py"


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """No test here may reach the network."""
    monkeypatch.setenv("DANNLIB_OFFLINE", "1")


def _domain(n=50):
    x = torch.randint(
        0, 256, (n, 1, 16, 16), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)
    )
    return Domain(x, torch.arange(n) % 10, {"name": "toy", "split": "train", "source": "random"})


def test_mosaic_tiles_images_row_by_row():
    tiles = mosaic(_domain(12).x, ncols=5, pad=2)
    assert tiles.shape == (3 * 18 + 2, 5 * 18 + 2, 3)
    assert (tiles[2:18, 2:18, 0] == _domain(12).x[0, 0].numpy()).all()


def test_show_gallery_returns_a_labelled_figure():
    fig = show_gallery(_domain(), n=20)
    ax = fig.axes[0]
    assert sorted(t.get_text() for t in ax.texts) == sorted(str(i % 10) for i in range(20))
    assert "toy" in ax.get_title() and "random" in ax.get_title()
    plt.close(fig)
    fig, ax = plt.subplots()
    assert show_gallery(_domain(), n=10, ax=ax, title="mine") is fig and ax.get_title() == "mine"
    plt.close(fig)


def test_script_writes_one_png_per_available_domain(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("make_galleries", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.main([str(tmp_path / "out"), "--root", str(tmp_path / "data"), "--n", "20"]) == 0
    written = sorted(p.name for p in (tmp_path / "out").glob("*.png"))
    offline = ["mnist", "mnist_m", "syn_digits", "uci_digits"]
    assert written == [f"gallery_{name}.png" for name in offline]
    assert "skipped svhn" in capsys.readouterr().out
