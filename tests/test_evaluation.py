"""Evaluation in batches: every input once, and AdaBN never estimates from a single vector."""

import pytest
import torch

from dannlib.evaluation import batch_slices, class_logits, domain_batchnorm
from dannlib.models import build_model


@pytest.mark.parametrize(
    "n, size, lengths",
    [(0, 4, [0]), (1, 4, [1]), (8, 4, [4, 4]), (9, 4, [4, 5]), (10, 4, [4, 4, 2])],
)
def test_batches_cover_every_input_and_never_end_with_one_alone(n, size, lengths):
    slices = batch_slices(n, size)
    assert [s.stop - s.start for s in slices] == lengths
    assert slices[0].start == 0 and slices[-1].stop == n


def test_adabn_on_a_set_whose_last_batch_would_hold_one_image():
    torch.manual_seed(0)
    model = build_model("modern")  # batch norm in the heads too (BatchNorm1d)
    x = (torch.rand(5, 3, 28, 28) * 255).to(torch.uint8)
    logits = class_logits(model, x, batch_size=4, adapt_bn=True)  # batches of 4 + 1 -> 5
    assert logits.shape == (5, 10) and torch.isfinite(logits).all()


def test_adabn_needs_two_inputs_and_says_what_to_do():
    model = build_model("modern")
    x = torch.zeros(1, 3, 28, 28, dtype=torch.uint8)
    with pytest.raises(ValueError, match="at least 2 inputs.*adapt_bn=False"):
        with domain_batchnorm(model, x):
            pass
    assert class_logits(model, x).shape == (1, 10)  # the model's own statistics work
