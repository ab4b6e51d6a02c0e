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


def _stratified_variance(values: np.ndarray, strata: np.ndarray) -> list[tuple[float, float]]:
    """The variance of the mean of a group whose puppets came as fixed numbers per stratum (per
    persona), one part per stratum with its degrees of freedom: only the spread within strata counts,
    as when each stratum's puppets are resampled among themselves."""
    n = len(values)
    parts = []
    for stratum in np.unique(strata):
        members = values[strata == stratum]
        variance, df = _mean_variance(members)
        parts.append((variance * (len(members) / n) ** 2, df))
    return parts


def _share_variance(shares: np.ndarray, cards: np.ndarray) -> tuple[float, float]:
    """The variance of the mean of puppets' shares of their cards, never below what the cards allow,
    and its degrees of freedom.

    Where the puppets agree more closely than binomial sampling of their cards would let them (every
    treated puppet saw none of the topic, say), their spread would claim the share is about exactly
    what was seen. The variance is then that of the Jeffreys posterior of the group's pooled share,
    Beta(k + ½, n − k + ½): the spread its cards alone leave, a variance known from the model, so it
    adds none of Student's t widening."""
    hits, total = float((shares * cards).sum()), float(cards.sum())
    pooled = (hits + 0.5) / (total + 1.0)
    binomial = pooled * (1.0 - pooled) / total
    observed = _mean_variance(shares)
    return observed if observed[0] >= binomial else (binomial, math.inf)


# The reductions a ratio interval is read at: a grid over its bounded range [0, 1].
_RATIO_GRID = np.linspace(0.0, 1.0, 2001)


def _fieller(kept: float, base: float, parts: list[tuple[float, float, float]], confidence: float,
             grid: np.ndarray = _RATIO_GRID) -> tuple[float, float] | None:
    """The reductions θ in [0, 1] that the data do not reject: θ is kept where the linear contrast
    L(θ) = (1 − θ)·base − kept, which is 0 exactly when 1 − kept/base = θ, lies within Student's t
    (Satterthwaite's degrees of freedom) of 0 (Fieller's interval for a ratio). ``parts`` are each
    group's variance of its mean, its degrees of freedom, and how it enters: ``kind`` 0 for the
    numerator (kept, weight 1), 1 for the denominator's control (weight (1 − θ)²), 2 for a random
    floor (baseline: weight θ²). None when no θ in the range is kept (the reduction lies beyond it).

    Unlike the ratio's own bootstrap, it never explodes when the denominator is small and noisy:
    it widens to the whole range, which is what the data say then."""
    alpha = 1.0 - confidence
    weights = {0: np.ones_like(grid), 1: (1.0 - grid) ** 2, 2: grid**2}
    variance = sum(weights[kind] * v for v, _, kind in parts)
    spread = sum((weights[kind] * v) ** 2 / df for v, df, kind in parts if math.isfinite(df))
    with np.errstate(divide="ignore", invalid="ignore"):
        df = np.where(spread > 0, variance**2 / np.where(spread > 0, spread, 1.0), np.inf)
    crit = np.where(np.isfinite(df), student_t.ppf(1 - alpha / 2, np.where(np.isfinite(df), df, 1.0)),
                    NormalDist().inv_cdf(1 - alpha / 2))
    contrast = (1.0 - grid) * base - kept
    keep = np.abs(contrast) <= crit * np.sqrt(variance) + 1e-12 * max(1.0, abs(base))
    if not keep.any():
        return None
    return float(grid[keep].min()), float(grid[keep].max())


def relative_reduction(treated: Sequence[float], control: Sequence[float], *, confidence: float = 0.95,
                       resamples: int = 4000, seed: int = 0,
                       cards: tuple[Sequence[int], ...] | None = None,
                       strata: tuple[Sequence[str], Sequence[str]] | None = None,
                       floor: float = 0.0, baseline: Sequence[float] | None = None) -> Comparison:
    """How much less the treated puppets have of something than the control puppets, as a share of
    the control's: ``1 − mean(treated) / mean(control)`` (0: no less, 1: none left), bounded to
    [0, 1]: treated puppets shown more than the controls were spared nothing (0), and fewer than
    none is none (1). The CI is Fieller's (``_fieller``): the reductions whose linear contrast with
    the data is not rejected, so that a ratio of two small, noisy means widens towards [0, 1] instead
    of exploding (on a real recommender the bootstrap of the ratio read [−12.7, 4.1]); where the
    denominator is well estimated it is the ratio's delta-method interval. p is the permutation test
    of the difference of means, which is zero exactly when the reduction is.

    ``cards`` (treated, control: how many cards each puppet's share was taken of) says the values
    are shares of cards: a group's variance is then never taken below its cards' binomial variance.

    ``strata`` (treated, control: each puppet's stratum, such as its persona) says each group was
    made of fixed numbers of puppets per stratum: only the spread within strata counts (not with
    ``cards``).

    ``floor``: what a puppet shown none of it still measures, when the measure also counts some
    cards that are not of it (its false-positive rate f). The reduction is then
    ``1 − (mean(treated) − f) / (mean(control) − f)`` (the measure's sensitivity cancels). f is
    taken as known: it is counted on the same puppets' other cards, so its error moves with the
    shares it is subtracted from and largely cancels (coverage: bench/interval_coverage.py).

    ``baseline``: the values of puppets that never had it (another persona's), measured the same
    way. The floor is then their mean, with its own variance: the reduction is the share of the
    control's excess over the baseline that the treated puppets lost,
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
        parts_of = [[_share_variance(g, n)] for g, n in zip(groups, counts)]
    elif strata is not None:
        s_t, s_c = (np.asarray(s, dtype=object) for s in strata)
        if s_t.shape != t.shape or s_c.shape != c.shape:
            raise ValueError("strata needs a stratum for every puppet, in the same order as the values")
        parts_of = [_stratified_variance(t, s_t), _stratified_variance(c, s_c)]
    else:
        parts_of = [[_mean_variance(g)] for g in groups]
    if baseline is not None:
        floor = float(groups[2].mean())
    if c.mean() - floor <= 0:
        raise ValueError("the control puppets have no more of it than the floor: there is nothing to reduce")
    kept, base = t.mean() - floor, c.mean() - floor
    effect = float(np.clip(1.0 - kept / base, 0.0, 1.0))
    # With a baseline, L(θ) = (1 − θ)(C − B) − (T − B) = (1 − θ)C − T + θB: T enters with weight 1,
    # C with (1 − θ)², B with θ² (a fixed floor has no variance).
    parts = [(v, df, kind) for kind, group_parts in enumerate(parts_of) for v, df in group_parts]
    kept_range = _fieller(kept, base, parts, confidence)
    if kept_range is None:
        # No reduction in [0, 1] fits: the data lie beyond one end, where the bounded effect sits.
        kept_range = (effect, effect)
    low, high = kept_range
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
