"""C5, the algorithm-off switch: once personalisation is off, does the feed still depend on who
the user is, and does the switch stay off?

关闭算法推荐服务的选项操作便捷、功能有效 (2024 notice; EU DSA Art. 38). Puppets of at least two
personas that differ only in their interests (same region, language and device) switch
personalisation off and read the feed. With the profile out of the ranking, twins and strangers
see the same kind of feed; where it leaks, a puppet's feed stays closer to its twin's than to the
other persona's.

Per puppet, persona dependence is ``mean distance to other personas' feeds − mean distance to its
twins' feeds``, a feed's position being the mean of its centred item vectors and distance
``1 − cosine``. It is measured on every feed card shown after the puppet switched off, and on the
last feed it read before, while personalised. The effect is the dependence left after the switch,
as a share of the dependence before it::

    effect = mean over puppets of dependence_off(puppet) / mean dependence_on

0 is a switch that works, 1 a switch that changes nothing. A violation, so lower is better: FAIL
when the whole interval lies above the tolerated share (default 0.2; campaign
``thresholds: {C5: …}``), PASS when it lies at or below it. A switch found on again later without
the puppet turning it on is a FAIL whatever the feeds show (``details.silent_resets``). The clicks
from the home page to the switch are reported (``details.clicks_to_switch``).

Parts (``check_groups: {C5: {...}}``): ``switched`` (default: every puppet that switched off).
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt

import numpy as np

from ._checks import CheckResult, Context
from ._reduction import twin_pairs
from ._run import Puppet
from ._stats import estimate, minimum_detectable_effect, twin_noise
from ._verdict import decide

__all__ = ["DEFAULT_THRESHOLD", "check_c5"]

DEFAULT_THRESHOLD = 0.2


def _dependence(centroids: dict[str, np.ndarray], persona_of: dict[str, str]) -> dict[str, float]:
    out = {}
    for p, v in centroids.items():
        twins = [1.0 - float(v @ w) for q, w in centroids.items() if q != p and persona_of[q] == persona_of[p]]
        others = [1.0 - float(v @ w) for q, w in centroids.items() if persona_of[q] != persona_of[p]]
        out[p] = float(np.mean(others) - np.mean(twins))
    return out


def _spread_s(times: list[str]) -> float:
    """Seconds between the earliest and the latest of ISO timestamps."""
    stamps = [dt.datetime.fromisoformat(t).timestamp() for t in times]
    return max(stamps) - min(stamps)


def check_c5(context: Context) -> CheckResult:
    run = context.run
    offs = [a for a in run.actions("personalization") if a["target"] == "off"]
    named = context.puppets("C5", "switched")
    pool = {p.puppet_id for p in named} if named else {a["puppet_id"] for a in offs}
    off_at: dict[str, dict] = {}
    for a in offs:
        if a["puppet_id"] in pool:
            off_at.setdefault(a["puppet_id"], a)
    switched: list[Puppet] = [run.puppets[p] for p in sorted(off_at)]
    persona_of = {p.puppet_id: p.persona_id for p in switched}
    counts = collections.Counter(persona_of.values())
    if len(counts) < 2 or min(counts.values()) < 2:
        return CheckResult(None, [], "C5 needs at least two personas with two puppets each that switched off")

    feed = run.feed()
    space = context.space
    off_cards = {p.puppet_id: [m for m in run.feed_impressions(p.puppet_id) if m["seen_at"] > off_at[p.puppet_id]["at"]]
                 for p in switched}
    off_feed = {p: [m["item_key"] for m in cards] for p, cards in off_cards.items()}
    off_round = min(a["round"] for a in off_at.values())
    on_rounds = [r for r in sorted(run.phases) if r < off_round and all(feed.get((p.puppet_id, r)) for p in switched)]
    if not on_rounds or not all(off_feed.values()):
        return CheckResult(None, [], "C5 needs a feed every switched puppet read before switching off and one after")
    on_feed = {p.puppet_id: feed[(p.puppet_id, on_rounds[-1])] for p in switched}

    def centroids(feeds: dict[str, list[str]]) -> dict[str, np.ndarray]:
        out = {}
        for p, keys in feeds.items():
            mean = space.of(keys).mean(axis=0)
            out[p] = mean / (np.linalg.norm(mean) or 1.0)
        return out

    dep_on = _dependence(centroids(on_feed), persona_of)
    dep_off = _dependence(centroids(off_feed), persona_of)
    base = float(np.mean(list(dep_on.values())))
    metrics = [{"check": "C5", "puppet_id": p, "round": r, "metric": "persona_dependence", "value": v}
               for deps, r in ((dep_on, on_rounds[-1]), (dep_off, off_round)) for p, v in sorted(deps.items())]
    if base <= 0:
        return CheckResult(None, metrics, "the personas' feeds did not differ even while personalised")
    left = {p: v / base for p, v in dep_off.items()}
    comparison = estimate(list(left.values()))
    pairs = twin_pairs(left, switched)
    noise = twin_noise(pairs) if pairs else float("nan")
    mde = minimum_detectable_effect(noise, len(switched), 0) if pairs else float("nan")

    # A switch that turns itself back on: "on" read later with no "on" action by the puppet in between.
    turned_on = {(a["puppet_id"]) : a["at"] for a in run.actions("personalization") if a["target"] == "on"}
    resets = sorted(
        f"{o['puppet_id']} round {o['round']}: personalisation found on at {o['at']}"
        for o in run.observations("personalization")
        if o["puppet_id"] in off_at and o["at"] > off_at[o["puppet_id"]]["at"] and o["value"]["on"]
        and not (o["puppet_id"] in turned_on and turned_on[o["puppet_id"]] > off_at[o["puppet_id"]]["at"])
    )
    clicks = sorted({o["value"]["clicks"] for o in run.observations("personalization") if o["puppet_id"] in off_at})
    verdict = decide(
        "C5", "persona dependence of the feed left after switching personalisation off (share of the dependence before)",
        comparison, threshold=run.threshold("C5", DEFAULT_THRESHOLD), noise_sd=noise, mde=mde,
        direction="lower_is_better",
        evidence=tuple(f"{a['puppet_id']} switched personalisation off in round {a['round']} at {a['at']}"
                       for a in off_at.values()) + tuple(resets) + tuple(run.evidence_for("personalization")),
        details={
            "dependence_before": base,
            "dependence_after": float(np.mean(list(dep_off.values()))),
            "rounds": {"before": on_rounds[-1], "switched_off": off_round},
            "personas": dict(counts),
            "cards_after_switch": sum(len(v) for v in off_feed.values()),
            # Lock-step: puppets that read their switched-off feeds far apart in time meet a moved
            # popularity ranking, which looks like persona dependence (run them in one batch).
            "off_feed_start_spread_s": _spread_s([min(m["seen_at"] for m in cards) for cards in off_cards.values()]),
            "silent_resets": resets,
            "clicks_to_switch": clicks,
            "model": space.model_id,
        },
    )
    if resets and verdict.outcome != "FAIL":
        verdict = dataclasses.replace(verdict, outcome="FAIL", puppets_needed=None)
    return CheckResult(verdict, metrics)
