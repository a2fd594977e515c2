"""Controlled variants: one change against the baseline, saved apart, same start for a seed."""

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from dannlib.config import set_seed
from dannlib.lessons import saved_run, settings
from dannlib.saved_runs import runs_dir
from dannlib.variants import Variant, domain_classifier, lesson_runs, lesson_variants


def test_a_variant_changes_only_what_it_says():
    s = settings("05", "default")
    base = Variant("baseline").saved_run(s, "dann", 1, "syn_digits->mnist")
    assert base == saved_run(s, "course", "dann", 1, task="syn_digits->mnist")
    gentle = Variant("lambda_max 0.3", changes={"lambda_max": 0.3})
    run = gentle.saved_run(s, "dann", 1, "syn_digits->mnist")
    assert run.config == base.config.replace(lambda_max=0.3)
    longer = Variant("2x steps", steps_factor=2).saved_run(s, "dann", 1, "syn_digits->mnist")
    assert longer.config.steps == 2 * s.steps
    assert longer.config.eval_every == 2 * base.config.eval_every
    paper = Variant("paper", recipe="paper").saved_run(s, "source_only", 0, "syn_digits->mnist")
    assert (paper.config.recipe, paper.config.optimizer) == ("paper", "sgd")


def test_which_variants_need_their_own_source_only():
    assert not Variant("lambda_max 0.3", changes={"lambda_max": 0.3}).changes_source_only
    assert not Variant("wide", domain_hidden=(64,)).changes_source_only
    assert Variant("2x steps", steps_factor=2).changes_source_only
    assert Variant("paper", recipe="paper").changes_source_only
    assert Variant("svhn", arch="svhn").changes_source_only
    assert Variant("lr", changes={"lr": 1e-4}).changes_source_only


def test_variants_are_saved_apart_from_the_baseline_and_from_other_profiles():
    default, quick = settings("05", "default"), settings("05", "quick")
    assert Variant("baseline").folder(default) == runs_dir()
    assert Variant("baseline").folder(quick) == runs_dir() / "05_quick"
    gentle = Variant("lambda_max 0.3", changes={"lambda_max": 0.3})
    assert gentle.slug == "lambda_max_0.3"
    assert gentle.folder(default) == runs_dir() / "05_variants" / "lambda_max_0.3"
    assert Variant("Paper recipe, 2x steps").slug == "paper_recipe_2x_steps"


def test_a_wider_domain_head_leaves_the_rest_of_the_network_as_the_baseline_starts():
    set_seed(3)
    base = Variant("baseline").build_model(size=32)
    set_seed(3)
    wide = Variant("wide", domain_hidden=(256, 256)).build_model(size=32)
    for part in ("features", "label_head"):
        for a, b in zip(getattr(base, part).parameters(), getattr(wide, part).parameters()):
            assert torch.equal(a, b)
    widths = [m.out_features for m in wide.domain_head if isinstance(m, nn.Linear)]
    assert widths == [256, 256, 1]
    assert sum(isinstance(m, nn.BatchNorm1d) for m in wide.domain_head) == 2
    f = base.features(torch.rand(4, 3, 32, 32))
    assert wide.domain_logit(f).shape == (4,)


def test_domain_classifier_without_batch_norm():
    head = domain_classifier(nn.Sequential(nn.Linear(10, 5), nn.ReLU(), nn.Linear(5, 1)), (7,))
    assert [type(m) for m in head] == [nn.Linear, nn.ReLU, nn.Linear]
    assert head[0].in_features == 10


def test_an_architecture_replaces_the_recipes_network():
    model = Variant("svhn", recipe="paper", arch="svhn").build_model(size=32)
    assert model.spec["arch"] == "svhn"


@pytest.mark.parametrize("profile", ["quick", "default"])
def test_the_lesson_variants_come_from_its_table(profile):
    s = settings("05", profile)
    variants = lesson_variants(s)
    assert variants[0].is_baseline
    assert [v.name for v in variants[1:]] == list(s.variants)
    assert set(s.variant_pairs) <= set(s.pairs)
    for v in variants:  # every variant's runs are valid settings
        v.saved_run(SimpleNamespace(**vars(s)), "dann", 0, s.variant_pairs[0])


def test_lesson_runs_list_each_run_once():
    s = settings("05", "default")
    s.seed_list = [4, 5]
    variants = lesson_variants(s)
    runs = lesson_runs(s, variants, s.pairs)
    assert len(set(runs)) == len(runs)
    base = [r for r in runs if r[0].is_baseline]
    assert len(base) == len(s.pairs) * 2 * 2
    for v in variants[1:]:
        mine = [r for r in runs if r[0] is v]
        assert {r[1] for r in mine} == set(v.pairs or s.variant_pairs)
        assert {r[2] for r in mine} == (
            {"source_only", "dann"} if v.changes_source_only else {"dann"}
        )
        assert {r[3] for r in mine} == {4, 5}
    only = lesson_runs(s, variants, ["mnist->uci_digits"])  # a pair without variants
    assert all(r[0].is_baseline for r in only)
