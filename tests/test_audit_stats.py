"""The verdict statistics on synthetic data with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from audits._c5 import _dependence
from audits._stats import (
    compare,
    differences_in_differences,
    estimate,
    minimum_detectable_effect,
    proportion,
    puppets_needed,
    relative_reduction,
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


def test_one_group_estimate_covers_a_known_mean_and_its_null_does_not_reject() -> None:
    rng = np.random.default_rng(4)
    shifted = estimate(0.3 + rng.normal(0, 0.1, 10), seed=1)
    assert shifted.ci_low < 0.3 < shifted.ci_high and shifted.p_value < 0.01
    assert shifted.n_treated == 10 and shifted.n_control == 0
    rejections = sum(estimate(rng.normal(0, 1, 8), seed=t, resamples=500).p_value < 0.05 for t in range(200))
    assert rejections / 200 <= 0.09
    # Exact sign flips: 4 puppets all on one side give the smallest p there is, 2/16.
    assert estimate([0.1, 0.2, 0.3, 0.4]).p_value == pytest.approx(2 / 16)
    assert estimate([0.0, 0.0, 0.0]).ci == (0.0, 0.0)


def test_proportion_has_exact_clopper_pearson_bounds() -> None:
    # Known values: 0 of 3 -> [0, 1 - 0.025^(1/3)]; 3 of 3 -> [0.025^(1/3), 1].
    none = proportion(0, 3)
    assert none.effect == 0.0 and none.ci_low == 0.0 and none.ci_high == pytest.approx(1 - 0.025 ** (1 / 3))
    every = proportion(3, 3)
    assert every.ci_high == 1.0 and every.ci_low == pytest.approx(0.025 ** (1 / 3))
    half = proportion(5, 10)
    assert half.ci_low == pytest.approx(0.187086, abs=1e-5) and half.ci_high == pytest.approx(0.812914, abs=1e-5)
    assert half.p_value == pytest.approx(1.0)
    with pytest.raises(ValueError):
        proportion(4, 3)


def test_one_sample_mde() -> None:
    assert minimum_detectable_effect(0.1, 8, 0) == pytest.approx((1.959964 + 0.841621) * 0.1 / 8 ** 0.5, rel=1e-4)


@pytest.mark.parametrize(("size", "spread", "outcome"), [
    (0.02, 0.02, "PASS"),         # a violation well under what is tolerated
    (0.40, 0.02, "FAIL"),         # confidently over it
    (0.18, 0.30, "INCONCLUSIVE"),  # too noisy to tell
])
def test_decide_a_violation(size: float, spread: float, outcome: str) -> None:
    rng = np.random.default_rng(12)
    verdict = decide("C5", "leak", estimate(size + rng.normal(0, spread, 6)), threshold=0.2, noise_sd=spread,
                     mde=minimum_detectable_effect(spread, 6, 0), direction="lower_is_better")
    assert verdict.outcome == outcome and verdict.direction == "lower_is_better"
    assert (verdict.puppets_needed is not None) == (outcome == "INCONCLUSIVE")


def test_a_relative_reduction_is_estimated_and_covered() -> None:
    """Treated puppets keep 30% of the control's exposure: the reduction is 0.7, inside its CI."""
    rng = np.random.default_rng(3)
    covered = 0
    for trial in range(100):
        control = 0.4 + rng.normal(0, 0.04, 4)
        treated = 0.12 + rng.normal(0, 0.04, 4)
        result = relative_reduction(treated, control, seed=trial, resamples=2000)
        assert result.effect == pytest.approx(1 - treated.mean() / control.mean())
        covered += result.ci_low <= 0.7 <= result.ci_high
    # A 95% interval from four puppets a side: it covers the truth about as often as it says.
    assert covered >= 88


def test_no_reduction_is_not_called_one() -> None:
    """An ignored button (no reduction at all) with three puppets a side: the interval holds 0 and
    stays below 0.5 (the default threshold), so the verdict can be FAIL."""
    rng = np.random.default_rng(4)
    highs, holds_zero = [], 0
    for trial in range(50):
        treated, control = 0.35 + rng.normal(0, 0.03, 3), 0.35 + rng.normal(0, 0.03, 3)
        result = relative_reduction(treated, control, seed=trial, resamples=2000)
        highs.append(result.ci_high)
        holds_zero += result.ci_low <= 0.0 <= result.ci_high
    assert holds_zero >= 45
    assert np.mean(np.array(highs) < 0.5) == 1.0
    with pytest.raises(ValueError, match="nothing to reduce"):
        relative_reduction([0.1, 0.2], [0.0, 0.0])


def test_shares_of_a_few_cards_never_get_a_point_interval() -> None:
    """Treated puppets see a topic on 2% of their 20 cards, controls on 20%: the reduction is 0.9.
    Often no treated puppet sees it at all; the treated puppets' own spread is then zero, and over
    puppets alone the interval is [1.0, 1.0] whenever the controls' mean is clear of zero. Given the
    cards, a group's spread is never below binomial sampling's, and the interval covers."""
    rng = np.random.default_rng(5)
    covered, all_zero, puppets_only = 0, 0, 0
    for trial in range(200):
        treated, control = rng.binomial(20, 0.02, 4) / 20, rng.binomial(20, 0.2, 4) / 20
        result = relative_reduction(treated, control, seed=trial, resamples=2000, cards=([20] * 4, [20] * 4))
        assert result.ci_low <= result.effect <= result.ci_high
        covered += result.ci_low <= 0.9 <= result.ci_high
        if treated.sum() == 0:
            all_zero += 1
            assert result.effect == 1.0 and result.ci_low < 0.95
            puppets_only += relative_reduction(treated, control, seed=trial, resamples=2000).ci_low == 1.0
    assert all_zero >= 25 and puppets_only >= all_zero // 2
    assert covered >= 186
    with pytest.raises(ValueError, match="positive count"):
        relative_reduction([0.1, 0.2], [0.3, 0.2], cards=([20, 0], [20, 20]))


def test_a_reduction_stays_bounded_when_its_denominator_is_small_and_noisy() -> None:
    """A real recommender's controls saw a topic on 0–2 of their 30 cards: the ratio of two such means
    explodes ([−12.7, 4.1] read the bootstrap of the ratio). The reduction is bounded to [0, 1]
    (treated puppets shown more than the controls were spared nothing) and its interval, Fieller's,
    widens to the range rather than past it. Where the controls clearly saw the topic and the treated
    saw as much, the interval is near 0 and excludes the default threshold; treated shown more than
    the controls read 0."""
    rng = np.random.default_rng(13)
    for trial in range(100):
        treated, control = rng.binomial(30, 0.03, 3) / 30, rng.binomial(30, 0.03, 3) / 30
        if control.mean() == 0:
            continue
        result = relative_reduction(treated, control, seed=trial, resamples=500, cards=([30] * 3, [30] * 3))
        assert 0.0 <= result.ci_low <= result.effect <= result.ci_high <= 1.0
    ignored = relative_reduction([0.31, 0.29, 0.30], [0.30, 0.32, 0.28], cards=([30] * 3, [30] * 3))
    assert ignored.ci_low == 0.0 and ignored.ci_high < 0.5
    more = relative_reduction([0.5, 0.45, 0.55], [0.30, 0.32, 0.28], cards=([30] * 3, [30] * 3))
    assert more.effect == 0.0 and more.ci_high < 0.5


def test_puppets_drawn_per_persona_are_resampled_within_their_persona() -> None:
    """Three puppets of each of two personas a side, one persona's values three times the other's;
    the treated puppets keep 30% (reduction 0.7). The design fixes three puppets per persona, so
    the personas' difference is no sampling error: resampled within personas, the interval covers
    as often as it claims and is less than half as wide as one that resamples across them."""
    rng = np.random.default_rng(11)
    strata = (["a"] * 3 + ["b"] * 3,) * 2
    covered, widths, pooled_widths, trials = 0, [], [], 200
    for trial in range(trials):
        means = np.repeat([0.45, 0.15], 3)
        control, treated = means + rng.normal(0, 0.03, 6), 0.3 * means + rng.normal(0, 0.03, 6)
        result = relative_reduction(treated, control, seed=trial, resamples=2000, strata=strata)
        assert result.effect == pytest.approx(1 - treated.mean() / control.mean())
        covered += result.ci_low <= 0.7 <= result.ci_high
        widths.append(result.ci_high - result.ci_low)
        pooled = relative_reduction(treated, control, seed=trial, resamples=2000)
        pooled_widths.append(pooled.ci_high - pooled.ci_low)
    assert covered / trials >= 0.9
    assert np.median(widths) < 0.5 * np.median(pooled_widths)
    with pytest.raises(ValueError, match="a stratum for every puppet"):
        relative_reduction([0.1, 0.2], [0.3, 0.2], strata=(["a"], ["a", "b"]))
    with pytest.raises(ValueError, match="cannot be given together"):
        relative_reduction([0.1, 0.2], [0.3, 0.2], cards=([20, 20], [20, 20]), strata=(["a", "b"], ["a", "b"]))


def test_persona_dependence_taken_apart_per_puppet_keeps_its_mean() -> None:
    """C5's per-puppet values (each from its own feed) average to the persona dependence as defined:
    each puppet's own-interest share less that interest's mean share in the other personas' feeds.
    Three personas of unequal size, random shares."""
    rng = np.random.default_rng(12)
    persona_of = {f"{x}{i}": x for x, n in (("a", 2), ("b", 3), ("c", 4)) for i in range(n)}
    for _ in range(20):
        shares = {p: {x: float(rng.uniform()) for x in "abc"} for p in persona_of}
        defined = [shares[p][x] - np.mean([shares[q][x] for q in shares if persona_of[q] != x])
                   for p, x in persona_of.items()]
        assert np.mean(list(_dependence(shares, persona_of).values())) == pytest.approx(np.mean(defined))


def test_a_measure_with_false_positives_is_corrected_for_them() -> None:
    """The topic is 30% of a control puppet's 40 cards and 3% of a treated one's (reduction 0.9), but
    the measure sees 60% of the topic's cards and 5% of the others: a puppet shown none of the topic
    still measures 5%. Uncorrected, the reduction reads about 0.7 and its interval misses 0.9 (a third
    of the time or more); given
    the false-positive rate counted on the other cards as its floor, it covers 0.9."""
    rng = np.random.default_rng(9)
    covered, uncorrected_covered, trials = 0, 0, 200
    for trial in range(trials):
        topic = np.concatenate([rng.binomial(40, 0.03, 4), rng.binomial(40, 0.3, 4)])
        others = 40 - topic
        seen_others = rng.binomial(others, 0.05)
        measured = (rng.binomial(topic, 0.6) + seen_others) / 40
        treated, control = measured[:4], measured[4:]
        result = relative_reduction(treated, control, seed=trial, resamples=2000, cards=([40] * 4, [40] * 4),
                                    floor=seen_others.sum() / others.sum())
        covered += result.ci_low <= 0.9 <= result.ci_high
        plain = relative_reduction(treated, control, seed=trial, resamples=2000, cards=([40] * 4, [40] * 4))
        uncorrected_covered += plain.ci_low <= 0.9 <= plain.ci_high
    assert covered / trials >= 0.9
    assert uncorrected_covered / trials < 0.7
    with pytest.raises(ValueError, match="nothing to reduce"):
        relative_reduction([0.05, 0.05], [0.04, 0.06], floor=0.05)
    with pytest.raises(ValueError, match="share of cards"):
        relative_reduction([0.05, 0.05], [0.3, 0.3], floor=-0.1)


def test_a_reduction_against_a_baseline_measures_the_excess_removed() -> None:
    """C4's design: the topic is 40% of a control puppet's 50 cards and 18% of a baseline puppet's
    (another interest, shown the topic as anyone is); a deletion that removes the interest leaves the
    treated puppets at the baseline's 18% (truth 1.0), a half-working one at 29% (0.5), a cosmetic one
    at 40% (0.0). Puppets' own rates spread (sd 0.03), cards seen through a test of 60% sensitivity
    and 5% false positives. Against the control alone a full removal reads about 0.55; against the
    baseline it reads the truth, and the interval covers it."""
    rng = np.random.default_rng(10)

    def measured(rate: float, n: int) -> np.ndarray:
        topic = rng.binomial(50, np.clip(rng.normal(rate, 0.03, n), 0.0, 1.0))
        return (rng.binomial(topic, 0.6) + rng.binomial(50 - topic, 0.05)) / 50

    trials = 150
    for truth, treated_rate in ((1.0, 0.18), (0.5, 0.29), (0.0, 0.40)):
        covered, estimates, plain = 0, [], []
        for trial in range(trials):
            t, c, b = measured(treated_rate, 3), measured(0.40, 3), measured(0.18, 4)
            while c.mean() <= b.mean():  # a control with no excess leaves nothing to reduce (no verdict)
                c = measured(0.40, 3)
            result = relative_reduction(t, c, baseline=b, cards=([50] * 3, [50] * 3, [50] * 4), seed=trial,
                                        resamples=2000)
            covered += result.ci_low <= truth <= result.ci_high
            estimates.append(result.effect)
            plain.append(relative_reduction(t, c, seed=trial, resamples=200).effect)
        assert covered / trials >= 0.9, (truth, covered)
        assert abs(np.median(estimates) - truth) < 0.1, (truth, np.median(estimates))
        if truth == 1.0:
            assert np.median(plain) < 0.7  # the topic a non-personal feed shows was never the control's to lose
    with pytest.raises(ValueError, match="no more of it than the floor"):
        relative_reduction([0.2, 0.2], [0.2, 0.25], baseline=[0.3, 0.3])
    with pytest.raises(ValueError, match="every group"):
        relative_reduction([0.2, 0.2], [0.4, 0.4], baseline=[0.1, 0.1], cards=([20, 20], [20, 20]))
    with pytest.raises(ValueError, match="not with floor"):
        relative_reduction([0.2, 0.2], [0.4, 0.4], baseline=[0.1, 0.1], floor=0.05)


def test_the_bootstrap_interval_is_not_too_narrow_with_three_puppets() -> None:
    """A plain bootstrap mean of three puppets varies by 2/3 of σ²/3, and its percentile interval has
    the normal's width where so few values need Student's t: a nominal 95% covered 80% of the time.
    Variance-corrected and widened to Welch's t, it covers about as often as it claims."""
    rng = np.random.default_rng(8)
    covered = 0
    trials = 300
    for trial in range(trials):
        treated, control = rng.normal(1.0, 1.0, 3), rng.normal(0.0, 1.0, 3)
        result = compare(treated, control, seed=trial, resamples=1000)
        covered += result.ci_low <= 1.0 <= result.ci_high
    assert 0.92 <= covered / trials <= 0.99
