"""How often the verdicts' 95% intervals cover a known effect, at the group sizes campaigns use.

    .venv/bin/python bench/interval_coverage.py [--trials 300] [--seed 8]

Normal puppets with a known difference of means (1.0, noise 1.0) and a known relative reduction
(treated 0.2 against control 0.4, noise 0.05); and puppets whose values are shares of 20 feed
cards, as C3's and C4's are, with a topic on 2% of the treated puppets' cards against 20% of the
controls' (a reduction of 0.9: often no treated puppet sees the topic at all). 3, 4 and 8 puppets a
side. For each, the share of trials whose interval covers the truth, for three intervals over the
same data: the plain percentile bootstrap, the variance-corrected one
(`audits._stats._bootstrap_means`), and the interval the checks use (variance-corrected and
widened to Welch's t: `compare`, `relative_reduction`; for shares of cards, with each group's
spread kept at or above its cards' binomial spread). A nominal 95% interval should cover about 0.95.
"""

from __future__ import annotations

import argparse

import numpy as np

from audits._stats import _bootstrap_means, compare, relative_reduction

RESAMPLES = 1000


def _percentile(draws: np.ndarray) -> tuple[float, float]:
    low, high = np.quantile(draws, [0.025, 0.975])
    return float(low), float(high)


def _plain(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return values[rng.integers(0, len(values), size=(RESAMPLES, len(values)))].mean(axis=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=300)
    parser.add_argument("--seed", type=int, default=8)
    args = parser.parse_args()
    data = np.random.default_rng(args.seed)
    print("| statistic | puppets a side | plain bootstrap | variance-corrected | used (corrected, Welch's t) |")
    print("|---|---|---|---|---|")
    for name, truth, draw, stat, used in (
        ("difference of means", 1.0, lambda n: (data.normal(1.0, 1.0, n), data.normal(0.0, 1.0, n)),
         lambda t, c: t - c, compare),
        ("relative reduction", 0.5, lambda n: (data.normal(0.2, 0.05, n), data.normal(0.4, 0.05, n)),
         lambda t, c: 1.0 - t / c, relative_reduction),
        ("reduction of a share of 20 cards", 0.9,
         lambda n: (data.binomial(20, 0.02, n) / 20, data.binomial(20, 0.2, n) / 20),
         lambda t, c: 1.0 - t[c > 0] / c[c > 0],
         lambda t, c, **kw: relative_reduction(t, c, cards=([20] * len(t), [20] * len(c)), **kw)),
    ):
        for n in (3, 4, 8):
            covered = np.zeros(3)
            for trial in range(args.trials):
                t, c = draw(n)
                while c.mean() == 0:  # a control that saw nothing leaves nothing to reduce
                    t, c = draw(n)
                rng = np.random.default_rng(trial)
                plain = _percentile(stat(_plain(t, rng), _plain(c, rng)))
                corrected = _percentile(stat(_bootstrap_means(t, rng, RESAMPLES), _bootstrap_means(c, rng, RESAMPLES)))
                result = used(t, c, seed=trial, resamples=RESAMPLES)
                for k, (low, high) in enumerate((plain, corrected, result.ci)):
                    covered[k] += low <= truth <= high
            shares = covered / args.trials
            print(f"| {name} | {n} | {shares[0]:.2f} | {shares[1]:.2f} | {shares[2]:.2f} |", flush=True)


if __name__ == "__main__":
    main()
