"""Tests of dannlib.metrics: predict, confusion matrix, proxy A-distance, reverse validation."""

import numpy as np
import pytest
import torch

from dannlib.data.base import Domain
from dannlib.data.toy import moons
from dannlib.evaluation import evaluate
from dannlib.metrics import (
    confusion_matrix,
    predict,
    proxy_a_distance,
    reverse_validation,
    self_label,
)
from dannlib.models import build_model
from dannlib.train import fit


def _trained_toy(seed: int = 0):
    torch.manual_seed(seed)
    model = build_model("toy", activation="relu")
    source = moons(300, 0.0, seed=seed)
    target = moons(300, 0.0, seed=seed + 1)
    fit(
        model,
        source,
        target,
        mode="source_only",
        steps=300,
        optimizer="adam",
        lr=0.01,
        lr_schedule="constant",
        progress=False,
        seed=seed,
    )
    return model, source, target


def test_predict_matches_evaluate_accuracy():
    model, _, target = _trained_toy()
    pred = predict(model, target, batch_size=7)  # batches that do not divide the data
    assert pred.shape == (len(target),) and pred.dtype == torch.long
    acc = (pred == target.y).float().mean().item()
    assert acc == pytest.approx(evaluate(model, target)["acc"])
    assert acc > 0.8  # the net learned the moons, so the comparison above means something
    assert torch.equal(predict(model, target.x), pred)  # tensors work as well as Domains


def test_predict_keeps_training_mode():
    model, _, target = _trained_toy()
    model.train()
    predict(model, target)
    assert model.training


def test_confusion_matrix_counts():
    y_true = torch.tensor([0, 0, 1, 2, 2, 2])
    y_pred = torch.tensor([0, 1, 1, 2, 0, 2])
    cm = confusion_matrix(y_true, y_pred)
    expected = torch.tensor([[1, 1, 0], [0, 1, 0], [1, 0, 2]])
    assert torch.equal(cm, expected)
    assert confusion_matrix(y_true, y_pred, num_classes=5).shape == (5, 5)
    assert int(confusion_matrix(y_true, y_pred).trace()) == 4
    with pytest.raises(ValueError, match="shape"):
        confusion_matrix(y_true, y_pred[:3])


def test_proxy_a_distance_same_distribution_is_small():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(1000, 5)), rng.normal(size=(1000, 5))
    result = proxy_a_distance(a, b)
    assert 0.0 <= result.distance < 0.3
    assert result.error > 0.42
    assert result.n_train == 1000 and result.n_test == 1000


def test_proxy_a_distance_separated_is_near_two_and_formula_holds():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(400, 3))
    b = rng.normal(size=(400, 3)) + np.array([6.0, 0.0, 0.0])
    result = proxy_a_distance(torch.tensor(a), torch.tensor(b))
    assert result.distance > 1.95
    assert result.distance == pytest.approx(2 * (1 - 2 * result.error))
    assert float(result) == result.distance


def test_proxy_a_distance_grows_with_shift():
    rng = np.random.default_rng(2)
    a = rng.normal(size=(800, 4))
    noise = rng.normal(size=(800, 4))
    d = [proxy_a_distance(a, noise + np.array([s, 0, 0, 0])).distance for s in (0.5, 1.5, 3.0)]
    assert d[0] < d[1] < d[2]


def test_proxy_a_distance_accepts_images_and_caps_points():
    g = torch.Generator().manual_seed(0)
    dark = torch.randint(0, 100, (300, 1, 4, 4), dtype=torch.uint8, generator=g)
    light = torch.randint(150, 256, (300, 1, 4, 4), dtype=torch.uint8, generator=g)
    result = proxy_a_distance(dark, light, max_points=100)
    assert result.n_train + result.n_test == 200
    assert result.distance == pytest.approx(2.0)


def test_proxy_a_distance_is_deterministic_and_checks_inputs():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(300, 2)), rng.normal(size=(300, 2)) + 0.5
    assert proxy_a_distance(a, b, seed=4) == proxy_a_distance(a, b, seed=4)
    with pytest.raises(ValueError, match="values"):
        proxy_a_distance(a, rng.normal(size=(300, 3)))
    with pytest.raises(ValueError, match="at least 4"):
        proxy_a_distance(a[:2], b)


def test_self_label_uses_predictions_not_labels():
    model, _, target = _trained_toy()
    scrambled = Domain(target.x, torch.zeros(len(target), dtype=torch.long), target.info)
    pseudo = self_label(model, scrambled)
    assert torch.equal(pseudo.y, predict(model, target))
    assert torch.equal(pseudo.x, target.x)
    assert "self-labelled" in pseudo.info["source"]


def test_reverse_validation_ignores_target_labels_and_ranks_models():
    model, source, target = _trained_toy()
    source_val = moons(300, 0.0, seed=7)
    kwargs = dict(
        build=lambda: build_model("toy", activation="relu"),
        mode="source_only",
        steps=300,
        optimizer="adam",
        lr=0.01,
        lr_schedule="constant",
        seed=0,
    )
    good = reverse_validation(model, target, source, source_val, **kwargs)
    hidden = Domain(target.x, torch.randint(0, 2, (len(target),)), target.info)
    assert reverse_validation(model, hidden, source, source_val, **kwargs).accuracy == good.accuracy
    assert good.accuracy > 0.8
    assert len(good.history.evals["step"]) >= 1
    # an untrained model's self-labels are nearly meaningless: the reverse model does worse
    torch.manual_seed(1)
    untrained = build_model("toy", activation="relu")
    bad = reverse_validation(untrained, target, source, source_val, **kwargs)
    assert bad.accuracy < good.accuracy - 0.15


def test_reverse_validation_refuses_target_only():
    model, source, target = _trained_toy()
    with pytest.raises(ValueError, match="target_only"):
        reverse_validation(
            model,
            target,
            source,
            source,
            build=lambda: build_model("toy"),
            mode="target_only",
            steps=1,
        )


def test_self_label_reads_batch_norm_as_training_did_when_asked():
    from dannlib.evaluation import class_logits
    from dannlib.metrics import self_label

    torch.manual_seed(0)
    model = build_model("modern")
    x = (torch.rand(40, 3, 28, 28) * 255).to(torch.uint8)
    data = Domain(x, torch.zeros(40, dtype=torch.long), {"name": "d", "source": "random"})
    own = class_logits(model, data, adapt_bn=True).argmax(1)
    assert torch.equal(self_label(model, data, adapt_bn=True).y, own)
    assert "self-labelled" in self_label(model, data).info["source"]
