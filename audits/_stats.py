"""The statistics behind every verdict, at the level of puppets (the independent units).

A check reduces each puppet to one number (its exposure, its change in exposure, its price…). An
effect compares treated puppets with control puppets; its uncertainty comes from resampling
puppets, never items, because items seen by one puppet are not independent of each other.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
from collections.abc import Sequence
from statistics import NormalDist

import numpy as np
from scipy.stats import beta, binomtest
from scipy.stats import t as student_t

__all__ = [
    "Comparison",
    "compare",
    "differences_in_differences",
    "estimate",
    "minimum_detectable_effect",
    "proportion",
    "puppets_needed",
    "relative_reduction",
    "twin_noise",
]

_EXACT_PERMUTATIONS = 20_000


@dataclasses.dataclass(frozen=True)
class Comparison:
    """Treated minus control, with its uncertainty."""

    effect: float  # mean(treated) - mean(control)
    ci_low: float
    ci_high: float
    p_value: float  # two-sided, permutation of group labels over puppets
    n_treated: int
    n_control: int
    confidence: float

    @property
    def ci(self) -> tuple[float, float]:
        return (self.ci_low, self.ci_high)


def _as_array(values: Sequence[float]) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim != 1 or len(array) == 0 or not np.all(np.isfinite(array)):
        raise ValueError("need a non-empty list of finite numbers, one per puppet")
    return array


@functools.lru_cache(maxsize=32)
def _relabellings(n: int, k: int) -> np.ndarray:
    """Every choice of ``k`` treated puppets among ``n``, as rows of indices (at most 20,000 rows)."""
    return np.array(list(itertools.combinations(range(n), k)), dtype=np.intp)


def _bootstrap_means(values: np.ndarray, rng: np.random.Generator, resamples: int) -> np.ndarray:
    """Means of ``resamples`` bootstrap samples of the puppets, spread by √(n/(n−1)) about the mean.

    A plain bootstrap mean varies by σ²(n−1)/n², not σ²/n: with three puppets a side its interval
    is a fifth too narrow. Spreading each resample about the observed mean (the variance-corrected
    bootstrap) gives the bootstrap mean the unbiased variance s²/n."""
    n = len(values)
    means = values[rng.integers(0, n, size=(resamples, n))].mean(axis=1)
    if n < 2:
        return means
    centre = values.mean()
    return centre + (means - centre) * math.sqrt(n / (n - 1))


def _interval(effect: float, draws: np.ndarray, confidence: float, df: float) -> tuple[float, float]:
    """The percentile interval of the bootstrap ``draws``, widened about ``effect`` by the ratio of
    Student's t quantile (``df`` degrees of freedom) to the normal one. With a handful of puppets a
    bootstrap interval has the normal's width where a mean of so few values needs t's: three a side
    would cover 87% where they claim 95% (bench/interval_coverage.py)."""
    alpha = 1.0 - confidence
    low, high = np.quantile(draws, [alpha / 2, 1 - alpha / 2])
    z = NormalDist().inv_cdf(1 - alpha / 2)
    widen = float(student_t.ppf(1 - alpha / 2, df)) / z if math.isfinite(df) and df > 0 else 1.0
    return effect - (effect - float(low)) * widen, effect + (float(high) - effect) * widen


def _welch_df(t: np.ndarray, c: np.ndarray) -> float:
    """Welch–Satterthwaite degrees of freedom of a difference of two means (inf when both groups are constant)."""
    return _satterthwaite([_mean_variance(t), _mean_variance(c)])


def _mean_variance(values: np.ndarray) -> tuple[float, float]:
    """The estimated variance of a group's mean, and its degrees of freedom."""
    n = len(values)
    return (values.var(ddof=1) / n, n - 1.0) if n > 1 else (0.0, math.inf)


def _satterthwaite(parts: list[tuple[float, float]]) -> float:
    """Degrees of freedom of a sum of independent variance estimates (variance, degrees of freedom);
    a variance known exactly has infinite degrees of freedom and adds none of t's widening."""
    total = sum(v for v, _ in parts)
    spread = sum(v**2 / df for v, df in parts if math.isfinite(df))
    return total**2 / spread if spread > 0 else math.inf


def _permutation_p(treated: np.ndarray, control: np.ndarray, rng: np.random.Generator, rounds: int) -> float:
    """Two-sided p of the difference of means under exchangeable labels. Exact when the number of
    relabellings is small (with few puppets a p-value cannot be small: that is the honest answer)."""
    pooled = np.concatenate([treated, control])
    n, k = len(pooled), len(treated)
    observed = abs(treated.mean() - control.mean())
    total = math.comb(n, k)
    tolerance = 1e-12 * max(1.0, observed)
    if total <= _EXACT_PERMUTATIONS:
        sums = pooled[_relabellings(n, k)].sum(axis=1)
        diffs = np.abs(sums / k - (pooled.sum() - sums) / (n - k))
        return float(np.mean(diffs >= observed - tolerance))
    hits = 0
    for _ in range(rounds):
        perm = rng.permutation(pooled)
        hits += abs(perm[:k].mean() - perm[k:].mean()) >= observed - tolerance
    return (hits + 1) / (rounds + 1)


def compare(treated: Sequence[float], control: Sequence[float], *, confidence: float = 0.95,
            resamples: int = 4000, seed: int = 0) -> Comparison:
    """Difference of means between two groups of puppets, with a percentile bootstrap CI (puppets
    resampled within each group, variance-corrected, widened to Welch's t) and a permutation p-value."""
    t, c = _as_array(treated), _as_array(control)
    rng = np.random.default_rng(seed)
    boot_t = _bootstrap_means(t, rng, resamples)
    boot_c = _bootstrap_means(c, rng, resamples)
    effect = float(t.mean() - c.mean())
    low, high = _interval(effect, boot_t - boot_c, confidence, _welch_df(t, c))
    return Comparison(effect, low, high,
                      _permutation_p(t, c, rng, resamples), len(t), len(c), confidence)


def estimate(values: Sequence[float], *, confidence: float = 0.95, resamples: int = 4000,
             seed: int = 0) -> Comparison:
    """The mean of one group of puppets, against zero: a percentile bootstrap CI over puppets
    (variance-corrected) and a sign-flip permutation p (exact for up to 14 puppets). For effects that are zero on a compliant
    platform by construction, such as a persona's pull on an unpersonalised feed."""
    v = _as_array(values)
    rng = np.random.default_rng(seed)
    boot = _bootstrap_means(v, rng, resamples)
    # Not widened to Student's t: with the two puppets a minors' mode or a permission check often
    # has, t's single degree of freedom would make the interval six times wider, and no leak, however
    # plain, could ever fail. These are effects that are zero by construction on a compliant platform.
    low, high = np.quantile(boot, [(1.0 - confidence) / 2, (1.0 + confidence) / 2])
    observed = abs(v.mean())
    tolerance = 1e-12 * max(1.0, observed)
    if 2 ** len(v) <= _EXACT_PERMUTATIONS:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=len(v))))
    else:
        signs = rng.choice((1.0, -1.0), size=(resamples, len(v)))
    p = float(np.mean(np.abs((signs * v).mean(axis=1)) >= observed - tolerance))
    return Comparison(float(v.mean()), float(low), float(high), p, len(v), 0, confidence)


def _stratified_means(values: np.ndarray, strata: np.ndarray, rng: np.random.Generator,
                      resamples: int) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """Bootstrap means of a group whose puppets came as fixed numbers per stratum (per persona):
    each stratum's puppets resampled among themselves, so the resampled group keeps its make-up.
    With the variance of the mean each stratum adds, and its degrees of freedom."""
    n = len(values)
    draws = np.zeros(resamples)
    parts = []
    for stratum in np.unique(strata):
        members = values[strata == stratum]
        draws += _bootstrap_means(members, rng, resamples) * len(members) / n
        variance, df = _mean_variance(members)
        parts.append((variance * (len(members) / n) ** 2, df))
    return draws, parts


def _share_means(shares: np.ndarray, cards: np.ndarray, rng: np.random.Generator,
                 resamples: int) -> tuple[np.ndarray, tuple[float, float]]:
    """Bootstrap means of puppets' shares of their cards, never more certain than the cards allow,
    with the variance of the mean they stand for and its degrees of freedom.

    Where the puppets agree more closely than binomial sampling of their cards would let them (every
    treated puppet saw none of the topic, say), the puppet bootstrap has little or no spread and
    would claim the share is about exactly what was seen. The group's means are then drawn from the
    Jeffreys posterior of its pooled share, Beta(k + ½, n − k + ½): the spread its cards alone leave,
    a variance known from the model, so it adds none of Student's t widening."""
    hits, total = float((shares * cards).sum()), float(cards.sum())
    pooled = (hits + 0.5) / (total + 1.0)
    binomial = pooled * (1.0 - pooled) / total
    observed = _mean_variance(shares)
    if observed[0] >= binomial:
        return _bootstrap_means(shares, rng, resamples), observed
    return rng.beta(hits + 0.5, total - hits + 0.5, size=resamples), (binomial, math.inf)


def relative_reduction(treated: Sequence[float], control: Sequence[float], *, confidence: float = 0.95,
                       resamples: int = 4000, seed: int = 0,
                       cards: tuple[Sequence[int], ...] | None = None,
                       strata: tuple[Sequence[str], Sequence[str]] | None = None,
                       floor: float = 0.0, baseline: Sequence[float] | None = None) -> Comparison:
    """How much less the treated puppets have of something than the control puppets, as a share of
    the control's: ``1 − mean(treated) / mean(control)`` (0: no less, 1: none left). The CI is the
    percentile bootstrap of the ratio (both groups resampled, variance-corrected, widened to
    Student's t with Satterthwaite's degrees of freedom for the ratio; resamples whose control mean
    is not above the floor are dropped), stretched to hold the estimate; p is the permutation test
    of the difference of means, which is zero exactly when the reduction is.

    ``cards`` (treated, control: how many cards each puppet's share was taken of) says the values
    are shares of cards: a group's spread is then never taken below its cards' binomial spread.

    ``strata`` (treated, control: each puppet's stratum, such as its persona) says each group was
    made of fixed numbers of puppets per stratum: puppets are resampled within their stratum, and
    only the spread within strata counts (not with ``cards``).

    ``floor``: what a puppet shown none of it still measures, when the measure also counts some
    cards that are not of it (its false-positive rate f). The reduction is then
    ``1 − (mean(treated) − f) / (mean(control) − f)`` (the measure's sensitivity cancels). f is
    taken as known: it is counted on the same puppets' other cards, so its error moves with the
    shares it is subtracted from and largely cancels (coverage: bench/interval_coverage.py).

    ``baseline``: the values of puppets that never had it (another persona's), measured the same
    way. The floor is then their mean, drawn with the other groups: the reduction is the share of
    the control's excess over the baseline that the treated puppets lost,
    ``1 − (mean(treated) − mean(baseline)) / (mean(control) − mean(baseline))``, and a measure's
    false positives cancel without being counted. With ``cards``, a third entry gives the
    baseline's. Not with ``floor`` or ``strata``."""
    t, c = _as_array(treated), _as_array(control)
    if not 0.0 <= floor < 1.0:
        raise ValueError("floor is a share of cards: at least 0, below 1")
    if cards is not None and strata is not None:
        raise ValueError("cards and strata cannot be given together")
    if baseline is not None and (floor or strata is not None):
        raise ValueError("a baseline is the floor: not with floor or strata")
    groups = [t, c] if baseline is None else [t, c, _as_array(baseline)]
    rng = np.random.default_rng(seed)
    if cards is not None:
        counts = [np.asarray(n, dtype=float) for n in cards]
        if len(counts) != len(groups) or any(n.shape != g.shape or n.min() < 1 for n, g in zip(counts, groups)):
            raise ValueError("cards needs a positive count for every puppet of every group, in the same order "
                             "as the shares")
        boots, parts_of = zip(*(_share_means(g, n, rng, resamples) for g, n in zip(groups, counts)))
        parts_of = [[part] for part in parts_of]
    elif strata is not None:
        s_t, s_c = (np.asarray(s, dtype=object) for s in strata)
        if s_t.shape != t.shape or s_c.shape != c.shape:
            raise ValueError("strata needs a stratum for every puppet, in the same order as the values")
        boots, parts_of = zip(_stratified_means(t, s_t, rng, resamples), _stratified_means(c, s_c, rng, resamples))
    else:
        boots = [_bootstrap_means(g, rng, resamples) for g in groups]
        parts_of = [[_mean_variance(g)] for g in groups]
    if baseline is not None:
        floor, floors = float(groups[2].mean()), boots[2]
    else:
        floors = np.full(resamples, floor)
    if c.mean() - floor <= 0:
        raise ValueError("the control puppets have no more of it than the floor: there is nothing to reduce")
    boot_t, boot_c = boots[0], boots[1]
    valid = boot_c > floors
    kept, base = t.mean() - floor, c.mean() - floor
    effect = float(1.0 - kept / base)
    # The ratio's variance by the delta method, part by part: where the treated puppets kept none
    # of it, the control's spread hardly moves the ratio and its degrees of freedom should not count.
    # A baseline moves the ratio by (control − treated) / base², each unit it rises.
    gains = [1.0 / base**2, kept**2 / base**4, (base - kept) ** 2 / base**4]
    parts = [(gain * v, df) for gain, group_parts in zip(gains, parts_of) for v, df in group_parts]
    draws = 1.0 - (boot_t[valid] - floors[valid]) / (boot_c[valid] - floors[valid])
    low, high = _interval(effect, draws, confidence, _satterthwaite(parts))
    return Comparison(effect, min(low, effect), max(high, effect),
                      _permutation_p(t, c, rng, resamples), len(t), len(c), confidence)


def proportion(successes: int, trials: int, *, confidence: float = 0.95) -> Comparison:
    """A share of puppets (reached the feed without tags, found the switch…) with its exact
    Clopper–Pearson interval; the p-value is the binomial test against one half."""
    if trials <= 0 or not 0 <= successes <= trials:
        raise ValueError("need 0 <= successes <= trials and at least one trial")
    alpha = 1.0 - confidence
    low = 0.0 if successes == 0 else float(beta.ppf(alpha / 2, successes, trials - successes + 1))
    high = 1.0 if successes == trials else float(beta.ppf(1 - alpha / 2, successes + 1, trials - successes))
    p = float(binomtest(successes, trials, 0.5).pvalue)
    return Comparison(successes / trials, low, high, p, trials, 0, confidence)


def differences_in_differences(treated_before: Sequence[float], treated_after: Sequence[float],
                               control_before: Sequence[float], control_after: Sequence[float],
                               **kwargs: float) -> Comparison:
    """The treated puppets' change minus the control puppets' change, one change per puppet: the
    platform's drift over time, which both groups share, cancels out."""
    tb, ta = _as_array(treated_before), _as_array(treated_after)
    cb, ca = _as_array(control_before), _as_array(control_after)
    if len(tb) != len(ta) or len(cb) != len(ca):
        raise ValueError("before and after need one value per puppet, in the same order")
    return compare(ta - tb, ca - cb, **kwargs)


def twin_noise(pairs: Sequence[tuple[float, float]]) -> float:
    """The platform's noise as identical twins see it: the standard deviation of one puppet's value,
    estimated from the differences within twin pairs (Var(a - b) = 2 σ²)."""
    diffs = np.array([a - b for a, b in pairs], dtype=float)
    if len(diffs) == 0:
        raise ValueError("need at least one twin pair")
    return float(math.sqrt(np.mean(diffs**2) / 2))


def minimum_detectable_effect(noise_sd: float, n_treated: int, n_control: int, *, alpha: float = 0.05,
                              power: float = 0.8) -> float:
    """The smallest true difference of means a two-sided test at ``alpha`` finds with ``power``,
    given the per-puppet noise (normal approximation); ``n_control=0``: one group against zero."""
    z = NormalDist().inv_cdf(1 - alpha / 2) + NormalDist().inv_cdf(power)
    return z * noise_sd * math.sqrt(1 / n_treated + (1 / n_control if n_control else 0.0))


def puppets_needed(effect: float, noise_sd: float, *, alpha: float = 0.05, power: float = 0.8) -> int:
    """Puppets per group (equal groups) to detect ``effect`` with ``power``."""
    if effect <= 0:
        raise ValueError("the effect to detect must be positive")
    z = NormalDist().inv_cdf(1 - alpha / 2) + NormalDist().inv_cdf(power)
    return max(2, math.ceil(2 * (z * noise_sd / effect) ** 2))
