"""How often the verdicts' 95% intervals cover a known effect, at the group sizes campaigns use.

    .venv/bin/python bench/interval_coverage.py [--trials 300] [--seed 8]

Normal puppets with a known difference of means (1.0, noise 1.0) and a known relative reduction
(treated 0.2 against control 0.4, noise 0.05); and puppets whose values are shares of their feed
cards, as C3's and C4's are: a topic on 2% of the treated puppets' 20 cards against 20% of the
controls' (a reduction of 0.9: often no treated puppet sees the topic at all), on 12% against 40%
(an ordinary case), and on 10% against 40% of 30 cards with puppets' own rates spread (sd 0.08,
beta-binomial: puppets differ more than their cards do). 3, 4 and 8 puppets a side. For each, the
share of trials whose interval covers the truth, for three intervals over the same data: the
plain percentile bootstrap, the variance-corrected one (`audits._stats._bootstrap_means`), and
the interval the checks use (variance-corrected and widened to Welch's t: `compare`,
`relative_reduction`; for shares of cards, with each group's spread kept at or above its cards'
binomial spread). For shares, also the checks' interval told nothing of the cards (puppets only)
and the median widths of both. A nominal 95% interval should cover about 0.95.

A second table measures the shares through an imperfect test, as C3's and C4's embedding
neighbourhoods are: it sees 60% of the topic's cards and 5% of the others, with the topic on 3%
of the treated puppets' 40 cards against 30% of the controls' (reduction 0.9). The checks'
interval given the false-positive rate counted on the other cards (`floor`) against the one
that is not: coverage, mean estimate and median width.

A third table follows C5's design: two personas with n puppets each in both groups, 40 cards a
puppet, their own rates spread (sd 0.05). The unpersonalised feed holds persona A's interest on
20% of its cards and B's on 10%; a personalised one holds a puppet's own interest on 50%; a switch
that leaks 0.5 halves the excess. The true share left is 0.5. Three intervals over the same data:
persona dependence per puppet as its own share less the other persona's puppets' mean share of
that interest (a term its whole persona shares: the puppets are not independent), taken apart
puppet by puppet but resampled across personas, and the one C5 uses (taken apart puppet by
puppet, resampled within personas).

A fourth table follows C4's design: the topic is 40% of a control puppet's 50 cards and 18% of a
baseline puppet's (another interest: what anyone is shown); the treated puppets are at 18% (the
deletion removed the whole interest: truth 1.0), 29% (0.5) or 40% (a cosmetic deletion: 0.0),
rates spread (sd 0.03), as on AG News in the calibration; cards seen as C4's neighbourhood sees
them (every item shown under the tag is a reference item: all of the topic, and 1% of the rest);
3 treated, 3 control and 4 baseline puppets, as the feed campaigns have, and 6/6/8. The reduction
C4 uses (against the baseline) against the control alone less the counted false-positive rate
(the floor C3 uses): coverage of the truth, mean estimate, median width, and how often the
verdict at the default threshold 0.5 is PASS and FAIL (a reduction of 0.5 is on the threshold).
"""

from __future__ import annotations

import argparse

import numpy as np

from audits._c5 import _dependence
from audits._stats import _bootstrap_means, compare, relative_reduction

RESAMPLES = 1000


def _percentile(draws: np.ndarray) -> tuple[float, float]:
    low, high = np.quantile(draws, [0.025, 0.975])
    return float(low), float(high)


def _plain(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return values[rng.integers(0, len(values), size=(RESAMPLES, len(values)))].mean(axis=1)


def _reduction(t: np.ndarray, c: np.ndarray) -> np.ndarray:
    """One minus the ratio of bootstrap means; resamples whose control mean is zero are dropped."""
    return 1.0 - t[c > 0] / c[c > 0]


def _spread_shares(data: np.random.Generator, cards: int, mean: float, sd: float, n: int) -> np.ndarray:
    """Shares of ``cards`` cards for ``n`` puppets whose own rates vary (Beta with this mean and sd)."""
    k = mean * (1 - mean) / sd**2 - 1
    return data.binomial(cards, data.beta(mean * k, (1 - mean) * k, n)) / cards


def _seen(data: np.random.Generator, rate: float, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """n puppets' shares of 50 cards inside a neighbourhood that holds all of the topic's cards and
    1% of the others (the topic on ``rate`` of a puppet's cards, puppets' rates spread by 0.03), with
    each puppet's false positives and cards not of the topic."""
    topic = data.binomial(50, np.clip(data.normal(rate, 0.03, n), 0.0, 1.0))
    false_positives = data.binomial(50 - topic, 0.01)
    return (topic + false_positives) / 50, false_positives, 50 - topic


def _coupled(shares: dict[str, dict[str, float]], persona_of: dict[str, str]) -> dict[str, float]:
    """The earlier per-puppet dependence: own share less the other personas' puppets' mean share."""
    return {p: mine[persona_of[p]] - float(np.mean([shares[q][persona_of[p]] for q in shares
                                                     if persona_of[q] != persona_of[p]]))
            for p, mine in shares.items()}


def _switch_feeds(data: np.random.Generator, n: int, excess_kept: float, group: str) -> dict[str, dict[str, float]]:
    """Shares of each persona's interest in the feeds of n puppets of personas a and b."""
    popular = {"a": 0.2, "b": 0.1}
    feeds = {}
    for persona in ("a", "b"):
        for i in range(n):
            rates = {x: popular[x] + (excess_kept * (0.5 - popular[x]) if x == persona else 0.0) for x in popular}
            feeds[f"{group}-{persona}{i}"] = {x: float(_spread_shares(data, 40, r, 0.05, 1)[0]) for x, r in rates.items()}
    return feeds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=300)
    parser.add_argument("--seed", type=int, default=8)
    args = parser.parse_args()
    data = np.random.default_rng(args.seed)
    print("| statistic | puppets a side | plain bootstrap | variance-corrected | used (corrected, Welch's t) "
          "| used, puppets only | median width, used / puppets only |")
    print("|---|---|---|---|---|---|---|")
    for name, truth, draw, stat, interval, cards in (
        ("difference of means", 1.0, lambda n: (data.normal(1.0, 1.0, n), data.normal(0.0, 1.0, n)),
         lambda t, c: t - c, compare, None),
        ("relative reduction", 0.5, lambda n: (data.normal(0.2, 0.05, n), data.normal(0.4, 0.05, n)),
         _reduction, relative_reduction, None),
        ("reduction of a share of 20 cards, 2% vs 20%", 0.9,
         lambda n: (data.binomial(20, 0.02, n) / 20, data.binomial(20, 0.2, n) / 20), _reduction, relative_reduction, 20),
        ("reduction of a share of 20 cards, 12% vs 40%", 0.7,
         lambda n: (data.binomial(20, 0.12, n) / 20, data.binomial(20, 0.4, n) / 20), _reduction, relative_reduction, 20),
        ("reduction of a share of 30 cards, 10% vs 40%, puppets' rates spread", 0.75,
         lambda n: (_spread_shares(data, 30, 0.1, 0.08, n), _spread_shares(data, 30, 0.4, 0.08, n)), _reduction,
         relative_reduction, 30),
    ):
        for n in (3, 4, 8):
            covered, widths = np.zeros(4), ([], [])
            for trial in range(args.trials):
                t, c = draw(n)
                while c.mean() == 0:  # a control that saw nothing leaves nothing to reduce
                    t, c = draw(n)
                rng = np.random.default_rng(trial)
                plain = _percentile(stat(_plain(t, rng), _plain(c, rng)))
                corrected = _percentile(stat(_bootstrap_means(t, rng, RESAMPLES), _bootstrap_means(c, rng, RESAMPLES)))
                puppets_only = interval(t, c, seed=trial, resamples=RESAMPLES).ci
                used = puppets_only if cards is None else relative_reduction(
                    t, c, seed=trial, resamples=RESAMPLES, cards=([cards] * n, [cards] * n)).ci
                for k, (low, high) in enumerate((plain, corrected, used, puppets_only)):
                    covered[k] += low <= truth <= high
                widths[0].append(used[1] - used[0])
                widths[1].append(puppets_only[1] - puppets_only[0])
            shares = covered / args.trials
            extra = (f"{shares[3]:.2f} | {np.median(widths[0]):.2f} / {np.median(widths[1]):.2f}" if cards else "— | —")
            print(f"| {name} | {n} | {shares[0]:.2f} | {shares[1]:.2f} | {shares[2]:.2f} | {extra} |", flush=True)
    print()
    print("| measured through a test with 60% sensitivity, 5% false positives | puppets a side | coverage "
          "| mean estimate (truth 0.9) | median width |")
    print("|---|---|---|---|---|")
    for n in (3, 4, 8):
        results: dict[str, list[tuple[float, float, float]]] = {"corrected": [], "not corrected": []}
        for trial in range(args.trials):
            topic = np.concatenate([data.binomial(40, 0.03, n), data.binomial(40, 0.3, n)])
            others = 40 - topic
            false_positives = data.binomial(others, 0.05)
            measured = (data.binomial(topic, 0.6) + false_positives) / 40
            for name, floor in (("corrected", false_positives.sum() / others.sum()), ("not corrected", 0.0)):
                r = relative_reduction(measured[:n], measured[n:], seed=trial, resamples=RESAMPLES,
                                       cards=([40] * n, [40] * n), floor=floor)
                results[name].append((r.effect, r.ci_low, r.ci_high))
        for name, rows in results.items():
            effect, low, high = np.array(rows).T
            print(f"| {name} | {n} | {np.mean((low <= 0.9) & (0.9 <= high)):.2f} | {effect.mean():.2f} "
                  f"| {np.median(high - low):.2f} |", flush=True)
    print()
    print("| C5: share of persona dependence left (truth 0.5) | puppets a persona | coverage | median width |")
    print("|---|---|---|---|")
    for n in (2, 3, 4):
        results = {"own less others' mean, across personas": [], "taken apart per puppet, across personas": [],
                   "taken apart per puppet, within personas (used)": []}
        for trial in range(args.trials):
            off, on = _switch_feeds(data, n, 0.5, "off"), _switch_feeds(data, n, 1.0, "on")
            persona_of = {p: p.split("-")[1][0] for p in (*off, *on)}
            strata = ([persona_of[p] for p in off], [persona_of[p] for p in on])
            for name, form, within in zip(results, (_coupled, _dependence, _dependence), (False, False, True)):
                t, c = form(off, persona_of), form(on, persona_of)
                r = relative_reduction(list(t.values()), list(c.values()), seed=trial, resamples=RESAMPLES,
                                       strata=strata if within else None)
                results[name].append((1.0 - r.ci_high, 1.0 - r.ci_low))
        for name, rows in results.items():
            low, high = np.array(rows).T
            print(f"| {name} | {n} | {np.mean((low <= 0.5) & (0.5 <= high)):.2f} | {np.median(high - low):.2f} |",
                  flush=True)
    print()
    print("| C4: share of the excess removed | truth | puppets (treated/control/baseline) | coverage "
          "| mean estimate | median width | PASS | FAIL |")
    print("|---|---|---|---|---|---|---|---|")
    for truth, treated_rate in ((1.0, 0.18), (0.5, 0.29), (0.0, 0.40)):
        for n_t, n_b in ((3, 4), (6, 8)):
            results = {"against the baseline (used)": [], "against the control less the false-positive rate": []}
            for trial in range(args.trials):
                t, c, b = _seen(data, treated_rate, n_t), _seen(data, 0.40, n_t), _seen(data, 0.18, n_b)
                while c[0].mean() <= b[0].mean():  # a control with no excess leaves nothing to reduce
                    c = _seen(data, 0.40, n_t)
                r = relative_reduction(t[0], c[0], baseline=b[0], seed=trial, resamples=RESAMPLES,
                                       cards=([50] * n_t, [50] * n_t, [50] * n_b))
                results["against the baseline (used)"].append((r.effect, r.ci_low, r.ci_high))
                fpr = sum(x[1].sum() for x in (t, c)) / sum(x[2].sum() for x in (t, c))
                r = relative_reduction(t[0], c[0], floor=fpr, seed=trial, resamples=RESAMPLES,
                                       cards=([50] * n_t, [50] * n_t))
                results["against the control less the false-positive rate"].append((r.effect, r.ci_low, r.ci_high))
            for name, rows in results.items():
                effect, low, high = np.array(rows).T
                print(f"| {name} | {truth:g} | {n_t}/{n_t}/{n_b if 'baseline' in name else 0} "
                      f"| {np.mean((low <= truth) & (truth <= high)):.2f} | {effect.mean():.2f} "
                      f"| {np.median(high - low):.2f} | {np.mean(low >= 0.5):.2f} | {np.mean(high < 0.5):.2f} |",
                      flush=True)


if __name__ == "__main__":
    main()
