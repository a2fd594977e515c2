"""Save one gallery PNG of samples per digit domain that can be loaded here.

Usage: python scripts/make_galleries.py OUT_DIR [--root DATA_DIR] [--n 40] [--split train]
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from dannlib.data.download import DatasetUnavailable  # noqa: E402
from dannlib.data.gallery import show_gallery  # noqa: E402
from dannlib.data.registry import DOMAINS  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    """Write OUT_DIR/gallery_<domain>.png for each available domain; print what was skipped."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path, help="folder for the PNG files")
    parser.add_argument("--root", default=None, help="data root (default: $DANNLIB_DATA or ./data)")
    parser.add_argument("--n", type=int, default=40, help="images per gallery")
    parser.add_argument("--split", default="train", choices=["train", "test"])
    args = parser.parse_args(argv)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for name in DOMAINS:
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                fig = show_gallery(name, n=args.n, root=args.root, split=args.split)
        except DatasetUnavailable as err:
            print(f"skipped {name}: {err}")
            continue
        for w in caught:
            print(f"note ({name}): {w.message}")
        path = args.out_dir / f"gallery_{name}.png"
        fig.savefig(path, dpi=150)
        plt.close(fig)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
