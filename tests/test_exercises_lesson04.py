"""The lesson-04 checker accepts a right answer and names the likely mistakes."""

from copy import deepcopy

import pytest
import torch
from torch import nn

from dannlib.data.base import to_float
from dannlib.evaluation import extract_features
from dannlib.exercises import CheckFailed
from dannlib.exercises.lesson04 import check_domain_features, check_proxy_a_distance
from dannlib.metrics import proxy_a_distance


def _bn_layers(model):
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


def test_the_library_reading_passes():
    assert check_domain_features(lambda m, x: extract_features(m, x, adapt_bn=True)).startswith(
        "OK"
    )


def test_pooled_statistics_are_named():
    with pytest.raises(CheckFailed, match="pooled running statistics"):
        check_domain_features(lambda m, x: extract_features(m, x))


def test_a_model_left_changed_is_named():
    def leaves_new_statistics(model, x):
        for m in _bn_layers(model):
            m.reset_running_stats()
            m.momentum = None
        model.train()
        with torch.no_grad():
            model(to_float(x))
        model.eval()
        with torch.no_grad():
            out = model.features(to_float(x))
        model.train()
        return out

    with pytest.raises(CheckFailed, match="model changed"):
        check_domain_features(leaves_new_statistics)


def test_batch_statistics_in_the_forward_pass_are_named():
    def batch_statistics(model, x):
        copy = deepcopy(model).eval()
        for m in _bn_layers(copy):
            m.train()
        with torch.no_grad():
            return copy.features(to_float(x))

    with pytest.raises(CheckFailed, match="batch's statistics"):
        check_domain_features(batch_statistics)


def test_dropout_left_on_is_named():
    def with_dropout(model, x):
        with torch.no_grad():
            return deepcopy(model).train().features(to_float(x))

    with pytest.raises(CheckFailed, match="dropout"):
        check_domain_features(with_dropout)


def test_check_proxy_a_distance_accepts_right_and_names_mistakes():
    def right(a, b):
        return proxy_a_distance(a, b).distance

    def with_accuracy(a, b):
        return 2 * (1 - 2 * (1 - proxy_a_distance(a, b).error))

    assert check_proxy_a_distance(right).startswith("OK")
    with pytest.raises(CheckFailed, match="accuracy"):
        check_proxy_a_distance(with_accuracy)
    with pytest.raises(CheckFailed, match="expected"):
        check_proxy_a_distance(lambda a, b: 1.0)
