"""UCI handwritten digits: the 1,797 real 8 x 8 digits that scikit-learn ships (offline).

Written by other people than MNIST's writers, scanned and downsampled differently: a second
real handwritten domain, the course's offline stand-in for USPS (16 x 16 scans).
"""

from __future__ import annotations

import torch

from dannlib.data.base import Domain

TEST_FRACTION = 0.3  # a fixed, class-stratified split (scikit-learn ships one set only)
SOURCE = "scikit-learn's UCI handwritten digits (1,797 real 8x8 images, offline)"


def load_uci_digits(split: str = "train") -> Domain:
    """The train (70%) or test (30%) split as uint8 1 x 8 x 8 images (0-16 scaled to 0-255)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = torch.from_numpy(digits.images).float().mul(255 / 16).round().to(torch.uint8)
    y = torch.from_numpy(digits.target).long()
    index = torch.arange(len(y)).numpy()
    train, test = train_test_split(
        index, test_size=TEST_FRACTION, stratify=digits.target, random_state=0
    )
    rows = torch.from_numpy(train if split == "train" else test)
    return Domain(
        x[rows].unsqueeze(1), y[rows], {"name": "uci_digits", "split": split, "source": SOURCE}
    )
