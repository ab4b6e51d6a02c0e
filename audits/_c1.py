"""C1, information cocoons: does a narrow interest close the feed around it?

构建"信息茧房"防范机制,提升推送内容多样性;严禁推送高度同质化内容诱导用户沉迷 (2024 notice).
Narrow-interest puppets engage only with their topic T; baseline puppets (fresh or passive
personas) read the same feed in the same rounds without that interest. T is the embedding
neighbourhood of the items the narrow puppets engaged with (calibrated radius, ``_exposure``).

Per puppet and round, three measures (the ``metrics`` table): ``interest_share`` (share of the
feed inside T's neighbourhood), ``homogeneity`` (mean pairwise cosine of the centred item
vectors) and ``topic_entropy`` (normalised entropy over topics fitted on the run's items). Their
trajectories over rounds are in the verdict's details.

The verdict rests on the cocoon index in the last round every compared puppet read::

    cocoon index = mean share of T(narrow) − mean share of T(baseline)

how many more percentage points of T a narrow user is shown than a user without the interest.
Where the cards show the channel the platform files them under, T is the channel (or channels)
holding at least a quarter of the items read with interest, and each puppet's share of T is
counted on its cards by that label: direct evidence, no model (``details.measured_by``). On a real
content app, the embedding neighbourhood caught 27% of the sports cards that the labels showed,
and a cocoon of 0.90 sports against 0.00 was left undecided; correcting the neighbourhood for its
errors (as C1 did) widened the interval past the threshold. Only where the cards show no channel is
the share inside the neighbourhood used, as it is (it understates a cocoon: a neighbourhood
calibrated for precision misses part of its topic). The neighbourhood's errors, counted on the
labelled cards, stay in the details (``neighbourhood_errors``) beside the neighbourhood's share
(``raw_interest_share``). A
violation, so lower is better: FAIL when the whole interval lies above the tolerated index
(default 0.6, e.g. 70% of the feed against 10% for a user without the interest; campaign
``thresholds: {C1: …}``), PASS when it lies at or below it.

Parts (``check_groups: {C1: {...}}``): ``narrow`` (default: role treatment), ``baseline``
(default: role control).
"""

from __future__ import annotations

import collections
import json
from typing import Any

import numpy as np

from embeddings import KMEANS_MIN_POINTS, assign_topics, fit_topics, homogeneity, normalised_topic_entropy

from ._checks import CheckResult, Context
from ._reduction import twin_pairs
from ._run import Puppet, Run
from ._stats import compare, minimum_detectable_effect, twin_noise
from ._verdict import decide

__all__ = ["DEFAULT_THRESHOLD", "check_c1", "engaged_items", "interest_channels"]

DEFAULT_THRESHOLD = 0.6
# Topics for the entropy measure: one per 40 distinct items seen (FAISS k-means wants 39 points
# per centroid), between 4 and 16.
ITEMS_PER_TOPIC = 40


def engaged_items(run: Run, puppets: list[Puppet]) -> list[str]:
    """The item keys these puppets read with interest: a puppet reads a few other items briefly, so
    only reads that held it at least half as long as its typical read count."""
    keys_by_id = run.item_key_of
    reads: dict[str, list[tuple[str, float]]] = collections.defaultdict(list)
    mine = {p.puppet_id for p in puppets}
    for a in run.actions("read"):
        if a["puppet_id"] in mine and a["target"] in keys_by_id:
            dwell = float(json.loads(a["args"] or "{}").get("dwell_ms", 0.0))
            reads[a["puppet_id"]].append((keys_by_id[a["target"]], dwell))
    out: set[str] = set()
    for rows in reads.values():
        typical = float(np.median([d for _, d in rows]))
        out |= {k for k, d in rows if d >= 0.5 * typical}
    return sorted(out)


def interest_channels(run: Run, reference: list[str]) -> set[str]:
    """The channels the platform shows on the items read with interest that hold at least a quarter
    of them (a narrow interest's own channel); empty when the cards show no channel."""
    items = run.items()
    counts = collections.Counter(items[k]["channel"] for k in reference if items[k]["channel"])
    total = sum(counts.values())
    return {c for c, n in counts.items() if n >= 0.25 * total} if total else set()


def check_c1(context: Context) -> CheckResult:
    run = context.run
    narrow = context.puppets("C1", "narrow", "treatment")
    baseline = context.puppets("C1", "baseline", "control")
    if len(narrow) < 2 or len(baseline) < 2:
        return CheckResult(None, [], "C1 needs at least two narrow-interest and two baseline puppets")
    reference = engaged_items(run, narrow)
    if not reference:
        return CheckResult(None, [], "the narrow-interest puppets engaged with nothing, so their interest is unknown")
    feed = run.feed()
    everyone = [p.puppet_id for p in narrow + baseline]
    rounds = [r for r in run.personalised_rounds(everyone) if all(feed.get((p, r)) for p in everyone)]
    if not rounds:
        return CheckResult(None, [], "C1 needs a round that every compared puppet read")

    space = context.space
    seen_keys = sorted({k for (p, r), keys in feed.items() if p in everyone for k in keys})
    n_topics = int(np.clip(len(seen_keys) // ITEMS_PER_TOPIC, 4, 16))
    notes = space.notes()
    if len(seen_keys) < KMEANS_MIN_POINTS * n_topics:
        notes.append(f"the topic entropy rests on {n_topics} topics fitted on {len(seen_keys)} distinct items, fewer "
                     f"than the {KMEANS_MIN_POINTS} per topic k-means wants")
    centroids = fit_topics(space.of(seen_keys), n_topics, seed=0)
    metrics: list[dict[str, Any]] = []
    values: dict[str, dict[tuple[str, int], float]] = collections.defaultdict(dict)
    for p in everyone:
        for r in rounds:
            vectors = space.of(feed[(p, r)])
            measured = {
                "interest_share": space.share(feed[(p, r)], reference),
                "homogeneity": homogeneity(vectors) if len(vectors) > 1 else float("nan"),
                "topic_entropy": normalised_topic_entropy(assign_topics(vectors, centroids), n_topics),
            }
            for name, value in measured.items():
                values[name][(p, r)] = value
                metrics.append({"check": "C1", "puppet_id": p, "round": r, "metric": name, "value": value})

    last = rounds[-1]
    errors = space.errors([k for p in everyone for k in feed[(p, last)]], reference, centroid=False)
    raw = values["interest_share"]
    channels = interest_channels(run, reference) if run.labels_tell_apart("channel") else set()
    if channels:
        # Direct evidence: the cards show their channel, so the interest's share is counted by label.
        items = run.items()
        measured_by = "channel labels the platform shows on its cards"

        def topic_share(p: Puppet) -> float:
            return float(np.mean([items[k]["channel"] in channels for k in feed[(p.puppet_id, last)]]))
    else:
        measured_by = "embedding neighbourhood of the items read with interest"

        def topic_share(p: Puppet) -> float:
            return raw[(p.puppet_id, last)]
    n_last = {p.puppet_id: topic_share(p) for p in narrow}
    b_last = {p.puppet_id: topic_share(p) for p in baseline}
    comparison = compare(list(n_last.values()), list(b_last.values()))
    pairs = twin_pairs(n_last, narrow) + twin_pairs(b_last, baseline)
    noise = twin_noise(pairs) if pairs else float("nan")
    mde = minimum_detectable_effect(noise, len(narrow), len(baseline)) if pairs else float("nan")

    def trajectory(name: str) -> dict[str, dict[str, float]]:
        return {str(r): {"narrow": float(np.nanmean([values[name][(p.puppet_id, r)] for p in narrow])),
                         "baseline": float(np.nanmean([values[name][(p.puppet_id, r)] for p in baseline]))}
                for r in rounds}

    verdict = decide(
        "C1", "cocoon index: share of the feed on the interest's topic (by channel label where the cards show one), "
        "narrow-interest minus baseline puppets",
        comparison, threshold=run.threshold("C1", DEFAULT_THRESHOLD), noise_sd=noise, mde=mde,
        direction="lower_is_better",
        evidence=tuple(f"round {last}: {p} saw {len(feed[(p, last)])} feed cards" for p in everyone)
        + tuple(run.evidence_for("read_feed")),
        details={
            "round": last,
            "narrow_interest_share": float(np.mean(list(n_last.values()))),
            "baseline_interest_share": float(np.mean(list(b_last.values()))),
            "raw_interest_share": {"narrow": float(np.mean([raw[(p.puppet_id, last)] for p in narrow])),
                                   "baseline": float(np.mean([raw[(p.puppet_id, last)] for p in baseline]))},
            "measured_by": measured_by,
            "interest_channels": sorted(channels),
            "notes": notes,
            "neighbourhood_errors": errors.details(),
            "trajectory": {name: trajectory(name) for name in ("interest_share", "homogeneity", "topic_entropy")},
            "reference_items": len(reference),
            "topics": n_topics,
            "neighbourhood_cosine": space.calibration.threshold,
            "calibration_precision": space.calibration.precision,
            "model": space.model_id,
        },
    )
    return CheckResult(verdict, metrics)
