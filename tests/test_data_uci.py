"""UCI digits: scikit-learn's real 8x8 digits as an offline domain, split once, class-stratified."""

import torch

from dannlib.data import domain_pair, load_domain
from dannlib.data.uci import load_uci_digits


def test_uci_digits_split_is_fixed_disjoint_and_covers_every_image():
    train, test = load_uci_digits("train"), load_uci_digits("test")
    assert len(train) + len(test) == 1797 and len(test) == 540
    assert train.x.shape[1:] == (1, 8, 8) and train.x.dtype == torch.uint8
    assert int(train.x.max()) == 255 and set(test.y.tolist()) == set(range(10))
    assert torch.equal(load_uci_digits("test").x, test.x)  # deterministic
    rows = {tuple(r.flatten().tolist()) for r in test.x}
    assert len(rows & {tuple(r.flatten().tolist()) for r in train.x}) < 10  # (a few duplicates)


def test_mnist_to_uci_digits_is_a_task_at_32_pixels_with_provenance():
    d = load_domain("uci", "train", size=32, download=False)
    assert d.x.shape[1:] == (3, 32, 32) and "scikit-learn" in d.info["source"]
    pair = domain_pair("mnist->uci_digits", limit=100, test_limit=50, download=False)
    assert pair.target.x.shape[1:] == pair.source.x.shape[1:] == (3, 32, 32)
