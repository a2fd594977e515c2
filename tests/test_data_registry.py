"""load_domain / domain_pair: names, sizes per task, subsets, conversions, clear errors."""

import time

import pytest
import torch

from dannlib.data.base import Domain
from dannlib.data.download import DatasetUnavailable
from dannlib.data.registry import (
    DATASETS,
    DOMAINS,
    TASK_PAIRS,
    TASKS,
    balanced_subset,
    domain_name,
    domain_pair,
    load_domain,
    resize_images,
    to_channels,
)


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """No test here may reach the network."""
    monkeypatch.setenv("DANNLIB_OFFLINE", "1")


def test_required_tasks_are_registered():
    required = {
        "mnist->mnist_m", "svhn->mnist", "syn_digits->svhn", "mnist_m->svhn", "mnist_m->usps",
        "mnist->svhn", "syn_digits->mnist", "syn_digits->mnist_m", "mnist->syn_digits",
    }  # fmt: skip
    assert required <= set(TASKS)
    assert TASKS["mnist->mnist_m"] == 28 and all(
        TASKS[t] == 32 for t in required - {"mnist->mnist_m"}
    )


def test_tasks_are_derived_from_the_datasets():
    assert set(DOMAINS) == set(DATASETS) and len(TASKS) == len(TASK_PAIRS)
    for (source, target), (task, size) in zip(TASK_PAIRS, TASKS.items(), strict=True):
        assert task == f"{source}->{target}" and {source, target} <= set(DATASETS)
        natives = {DATASETS[source].size, DATASETS[target].size}
        assert size == (natives.pop() if len(natives) == 1 else 32)
    assert all(domain_name(alias) == d.name for d in DATASETS.values() for alias in d.aliases)


@pytest.mark.parametrize("name", ["mnist_m", "syn_digits", "mnist"])
def test_seed_is_the_random_draw_of_every_domain(tmp_path, name):
    """The same seed gives the same images; another seed another draw: for MNIST-M its photo
    crops too (the same digits, in the same order, blended with other patches)."""
    a, b, c = (load_domain(name, "test", root=tmp_path, limit=50, seed=s) for s in (1, 1, 2))
    assert torch.equal(a.x, b.x) and not torch.equal(a.x, c.x)
    if name == "mnist_m":
        full = [load_domain(name, "test", root=tmp_path, seed=s) for s in (0, 3)]
        assert torch.equal(full[0].y, full[1].y) and not torch.equal(full[0].x, full[1].x)


@pytest.mark.parametrize(("task", "size"), [("mnist->mnist_m", 28), ("syn_digits->mnist", 32)])
def test_domain_pair_shapes(tmp_path, task, size):
    pair = domain_pair(task, root=tmp_path, limit=30, test_limit=20)
    assert pair.task == task and pair.size == size
    for domain, n in (
        (pair.source, 30),
        (pair.target, 30),
        (pair.source_test, 20),
        (pair.target_test, 20),
    ):
        assert domain.x.shape == (n, 3, size, size) and domain.x.dtype == torch.uint8
        assert torch.bincount(domain.y, minlength=10).tolist() == [n // 10] * 10
    assert pair.target.info["name"] == task.split("->")[1]


def test_size_override_and_grey(tmp_path):
    pair = domain_pair("mnist->syn_digits", root=tmp_path, limit=10, size=24, channels=1)
    assert pair.source.x.shape == (10, 1, 24, 24) and pair.target_test.x.shape == (10, 1, 24, 24)


@pytest.mark.parametrize(
    ("data", "message"),
    [("course", "not part of the course data"), ("real", "train-images-idx3-ubyte.gz")],
)
def test_tasks_needing_svhn_fail_fast_offline(tmp_path, data, message):
    start = time.monotonic()
    with pytest.raises(DatasetUnavailable, match=message):
        domain_pair("mnist->svhn", data=data, root=tmp_path, limit=10)
    assert time.monotonic() - start < 15


@pytest.mark.parametrize(
    ("call", "choices"),
    [
        (lambda: load_domain("mnist_n"), DOMAINS),
        (lambda: load_domain("mnist", split="val"), ("train", "test")),
        (lambda: domain_pair("mnist->kmnist"), tuple(TASKS)),
        (lambda: load_domain("mnist", data="published"), ("course", "real")),
        (lambda: domain_pair("mnist->mnist_m", data=None), ("course", "real")),
    ],
)
def test_invalid_choices_list_the_valid_ones(call, choices):
    with pytest.raises(ValueError) as err:
        call()
    assert all(choice in str(err.value) for choice in choices)


def test_balanced_subset_handles_short_classes():
    y = torch.tensor([0] * 50 + [1] * 3 + [2] * 50)
    domain = Domain(torch.arange(len(y)).view(-1, 1), y, {"name": "toy"})
    sub = balanced_subset(domain, 30, seed=0)
    assert len(sub) == 30 and torch.bincount(sub.y).tolist()[1] == 3
    assert len(set(sub.x.view(-1).tolist())) == 30  # no row twice
    assert torch.equal(sub.x, balanced_subset(domain, 30, seed=0).x)


def test_resize_and_channel_conversion_are_whole_tensor_ops():
    x = torch.full((5, 1, 28, 28), 200, dtype=torch.uint8)
    big = resize_images(x, 32)
    assert big.shape == (5, 1, 32, 32) and int(big.min()) == int(big.max()) == 200
    rgb = to_channels(big, 3)
    assert rgb.shape == (5, 3, 32, 32) and torch.equal(to_channels(rgb, 1), big)


def test_not_writable_root_gives_a_clear_permission_error(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("a regular file cannot hold a data folder")
    with pytest.raises(PermissionError, match="DANNLIB_DATA"):
        load_domain("mnist_m", "test", root=blocker / "data", limit=10)
