"""The verdict statistics on synthetic data with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from audits._stats import (
    compare,
    differences_in_differences,
    minimum_detectable_effect,
    puppets_needed,
    twin_noise,
)
from audits._verdict import decide


def test_a_known_difference_is_estimated_and_covered() -> None:
    rng = np.random.default_rng(1)
    treated = 0.30 + rng.normal(0, 0.05, 12)
    control = 0.10 + rng.normal(0, 0.05, 12)
    result = compare(treated, control, seed=3)
    assert result.effect == pytest.approx(treated.mean() - control.mean())
    assert result.ci_low < 0.20 < result.ci_high
    assert result.ci_low > 0.1 and result.p_value < 0.001


def test_the_null_case_does_not_reject_too_often() -> None:
    """Under no effect, a 5% test rejects about 5% of the time, not more."""
    rng = np.random.default_rng(7)
    rejections = 0
    trials = 200
    for trial in range(trials):
        a, b = rng.normal(0, 1, 8), rng.normal(0, 1, 8)
        rejections += compare(a, b, seed=trial, resamples=1000).p_value < 0.05
    assert rejections / trials <= 0.09


def test_exact_permutation_with_few_puppets() -> None:
    # 3 vs 3 puppets: 20 relabellings; the most extreme split has p = 2/20.
    result = compare([1.0, 1.1, 1.2], [0.0, 0.1, 0.2])
    assert result.p_value == pytest.approx(0.1)


def test_differences_in_differences_removes_shared_drift() -> None:
    before_t, before_c = [0.4, 0.42, 0.38, 0.41], [0.4, 0.39, 0.41, 0.40]
    drift = 0.1  # the platform changed for everyone
    after_t = [v + drift - 0.25 for v in before_t]  # the control removed 0.25 of exposure
    after_c = [v + drift for v in before_c]
    result = differences_in_differences(before_t, after_t, before_c, after_c)
    assert result.effect == pytest.approx(-0.25)
    with pytest.raises(ValueError, match="one value per puppet"):
        differences_in_differences([0.1], [0.1, 0.2], [0.1], [0.1])


def test_twin_noise_recovers_the_puppet_sd() -> None:
    rng = np.random.default_rng(5)
    sigma = 0.07
    pairs = [(rng.normal(0.3, sigma), rng.normal(0.3, sigma)) for _ in range(4000)]
    assert twin_noise(pairs) == pytest.approx(sigma, rel=0.05)


def test_power_figures_agree_with_each_other() -> None:
    mde = minimum_detectable_effect(0.1, 8, 8)
    assert mde == pytest.approx((1.959964 + 0.841621) * 0.1 * (2 / 8) ** 0.5, rel=1e-4)
    assert puppets_needed(mde, 0.1) == 8


@pytest.mark.parametrize(("effect", "spread", "outcome"), [
    (0.30, 0.02, "PASS"),         # works, and enough
    (0.05, 0.02, "FAIL"),         # confidently below the threshold
    (0.18, 0.25, "INCONCLUSIVE"),  # too noisy to tell
])
def test_decide(effect: float, spread: float, outcome: str) -> None:
    rng = np.random.default_rng(11)
    treated = effect + rng.normal(0, spread, 6)
    control = rng.normal(0, spread, 6)
    verdict = decide("C3", "drop in exposure", compare(treated, control), threshold=0.2, noise_sd=spread,
                     mde=minimum_detectable_effect(spread, 6, 6))
    assert verdict.outcome == outcome
    assert (verdict.puppets_needed is not None) == (outcome == "INCONCLUSIVE")
    assert verdict.row()["evidence"] == "[]"
