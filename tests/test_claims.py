import numpy as np
import pytest

from dannlib.claims import ClaimFailed, claim, paired_difference, success_rate


def test_a_claim_that_holds_returns_its_verdict_with_the_numbers():
    out = claim(True, "DANN beats source only", {"gain": 0.25, "seeds": [0.2, 0.3]})
    assert out == "Claim holds: DANN beats source only (gain = 0.250; seeds = [0.200, 0.300])."


def test_a_claim_that_fails_says_what_was_claimed_measured_and_what_to_try():
    with pytest.raises(ClaimFailed) as err:
        claim(False, "DANN beats source only", {"gain": -0.1}, hint="Try more steps.")
    text = str(err.value)
    assert "The lesson claims: DANN beats source only." in text
    assert "gain = -0.100" in text and text.endswith("Try more steps.")
    assert isinstance(err.value, AssertionError)  # so nbval fails the cell


def test_paired_difference_is_per_seed_with_the_sample_standard_error():
    d = paired_difference([0.9, 0.8, 0.7], [0.6, 0.6, 0.6])
    assert d.mean == pytest.approx(0.2)
    assert d.sem == pytest.approx(np.std([0.3, 0.2, 0.1], ddof=1) / np.sqrt(3))
    assert d.lower() == pytest.approx(d.mean - 2 * d.sem)
    assert paired_difference([0.5], [0.4]).sem == 0.0
    with pytest.raises(ValueError, match="one number per seed"):
        paired_difference([0.5, 0.6], [0.4])


def test_success_rate_counts_runs_at_or_above_the_threshold():
    rate = success_rate([0.9, 0.5, 0.8, 0.79], threshold=0.8)
    assert (rate.successes, rate.n, rate.rate) == (2, 4, 0.5)
    assert str(rate) == "2 of 4 runs"
    with pytest.raises(ValueError):
        success_rate([], 0.5)
