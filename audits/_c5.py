"""C5, the algorithm-off switch: once personalisation is off, does the feed still depend on who
the user is, and does the switch stay off?

关闭算法推荐服务的选项操作便捷、功能有效 (2024 notice; EU DSA Art. 38). Puppets of at least two
personas that differ only in their interests (same region, language and device) switch
personalisation off and read the feed. With the profile out of the ranking, every persona sees the
same kind of feed; where it leaks, each puppet still sees more of its own persona's interest than
the other personas' puppets do.

A persona's interest is, where the cards show their channel, the channel(s) of the items its puppets
read with interest, counted by label (direct evidence, as for C1); otherwise the embedding
neighbourhood of those items (``details.measured_by``). Persona dependence is how much more of each persona's interest its own puppets' feeds
hold than the other personas' puppets' feeds beside them. Items every puppet is shown count alike
on both sides and cancel: an unpersonalised feed has none, however its popular items fall. It is
taken apart puppet by puppet (its share of its own persona's interest minus its shares of the
others', weighted so that the mean over puppets is the same), so that each puppet's value rests on
its own feed: puppets are the independent units the interval resamples.

The switched puppets' dependence is measured on every feed card shown after they switched off; the
reference is a still-on control, puppets of the same personas with the same history that keep
personalisation on and read as many pages in the next round. A feed never repeats what it has just
shown, so a later feed comes from deeper in the ranking, where personas differ less: against the
switched puppets' own earlier feed, a switch that changed nothing read about 0.8 instead of 1
(bench/calibration.py). For the same reason the still-on puppets go to the switch too and only read
it (the step ``personalization`` without ``enabled``), and their cards count from then on: a
switched puppet passes the feed on its way to the switch, and what it reads after comes from deeper
in the session's ranking (a still-on control that went straight to the feed read a switch that
changed nothing as 0.82–0.95). The effect::

    effect = mean dependence(switched, off) / mean dependence(still on)

0 is a switch that works, 1 a switch that changes nothing, bounded to [0, 1]: an off feed that holds
less of each persona's interest than of the others' (a platform that never repeats what a user
opened) has no dependence, not a negative one. The interval is Fieller's over puppets, resampled
within their personas (``relative_reduction``): where the still-on dependence is small and noisy it
widens to the range instead of exploding. Direct evidence first: switched puppets of different
personas shown exactly the same cards have no persona dependence, whatever a model says (effect 0,
interval [0, 0]); still-on puppets that were all shown the same cards leave nothing to switch off,
and C5 says so instead of dividing by it. A violation, so lower
is better: FAIL when the whole interval lies above the tolerated share (default 0.2; campaign
``thresholds: {C5: …}``), PASS when it lies at or below it. A switch found on again later without
the puppet turning it on is a FAIL whatever the feeds show (``details.silent_resets``). The clicks
from the home page to the switch are reported (``details.clicks_to_switch``).

Parts (``check_groups: {C5: {...}}``): ``switched`` (default: every puppet that switched off) and
``still_on`` (required: the same personas, at least two puppets each, never switched off).
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt

import numpy as np

from ._c1 import engaged_items, interest_channels
from ._checks import CheckResult, Context
from ._reduction import twin_pairs
from ._run import Puppet
from ._stats import (
    Comparison,
    minimum_detectable_effect,
    relative_reduction,
    twin_noise,
)
from ._verdict import decide

__all__ = ["DEFAULT_THRESHOLD", "check_c5"]

DEFAULT_THRESHOLD = 0.2


def _dependence(shares: dict[str, dict[str, float]], persona_of: dict[str, str]) -> dict[str, float]:
    """Per puppet: its feed's share in its own persona's interest, minus its shares in the other
    personas' interests, each weighted n_x / (n − n_x) (``shares[puppet][persona]``; n_x puppets of
    persona x among n). The weights make the mean over puppets that of each puppet's own-interest
    share less that interest's mean share in the other personas' puppets' feeds, while each value
    rests on its puppet's feed alone, so the puppets stay independent units."""
    counts = collections.Counter(persona_of[p] for p in shares)
    n = len(shares)
    return {p: mine[persona_of[p]] - sum(counts[x] / (n - counts[x]) * mine[x] for x in counts if x != persona_of[p])
            for p, mine in shares.items()}


def _spread_s(times: list[str]) -> float:
    """Seconds between the earliest and the latest of ISO timestamps."""
    stamps = [dt.datetime.fromisoformat(t).timestamp() for t in times]
    return max(stamps) - min(stamps)


def _median_start(cards: dict[str, list[dict]]) -> float:
    return float(np.median([dt.datetime.fromisoformat(min(m["seen_at"] for m in ms)).timestamp()
                            for ms in cards.values()]))


def _share_left(off: dict[str, float], on: dict[str, float], persona_of: dict[str, str]) -> Comparison:
    """``mean(off) / mean(on)`` with its interval: one minus the relative reduction, the puppets
    resampled within their personas (each group has a fixed number of puppets per persona)."""
    r = relative_reduction(list(off.values()), list(on.values()),
                           strata=([persona_of[p] for p in off], [persona_of[p] for p in on]))
    return dataclasses.replace(r, effect=1.0 - r.effect, ci_low=1.0 - r.ci_high, ci_high=1.0 - r.ci_low)


def _two_each(puppets: list[Puppet]) -> bool:
    counts = collections.Counter(p.persona_id for p in puppets)
    return len(counts) >= 2 and min(counts.values()) >= 2


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
    if not _two_each(switched):
        return CheckResult(None, [], "C5 needs at least two personas with two puppets each that switched off")
    still_on = [p for p in context.puppets("C5", "still_on") if p.puppet_id not in {a["puppet_id"] for a in offs}]
    if not _two_each(still_on) or {p.persona_id for p in still_on} != {p.persona_id for p in switched}:
        return CheckResult(None, [], "C5 needs a still-on control (check_groups C5 still_on): the switched puppets' "
                                     "personas, two puppets each, who keep personalisation on and read after them")

    off_round = min(a["round"] for a in off_at.values())
    off_cards = {p.puppet_id: [m for m in run.feed_impressions(p.puppet_id) if m["seen_at"] > off_at[p.puppet_id]["at"]]
                 for p in switched}
    # A still-on puppet that went to the switch and only read it counts its cards from then on, as a
    # switched puppet does from switching; one that did not, from the switch-off round.
    still_ids = {p.puppet_id for p in still_on}
    read_at: dict[str, str] = {}
    for o in run.observations("personalization"):
        if o["puppet_id"] in still_ids and o["round"] >= off_round:
            read_at.setdefault(o["puppet_id"], o["at"])
    on_cards = {p.puppet_id: [m for m in run.feed_impressions(p.puppet_id)
                              if m["round"] >= off_round and m["seen_at"] > read_at.get(p.puppet_id, "")]
                for p in still_on}
    if not all(off_cards.values()) or not all(on_cards.values()):
        return CheckResult(None, [], "C5 needs a feed read by every switched puppet after switching off and by "
                                     "every still-on puppet from that round on")

    def items_shown(cards: dict[str, list[dict]], p: str) -> tuple[str, ...]:
        return tuple(sorted(m["item_key"] for m in cards[p]))

    if len({items_shown(on_cards, p) for p in on_cards}) == 1:
        return CheckResult(None, [], "every still-on puppet was shown the same cards whatever its persona: the feed is "
                                     "not personalised here, so there is nothing for the switch to turn off")
    personas = sorted({p.persona_id for p in switched})
    interests = {x: engaged_items(run, [p for p in switched + still_on if p.persona_id == x]) for x in personas}
    if not all(interests.values()):
        return CheckResult(None, [], "C5 needs puppets of every persona that read with interest before the switch")

    shown = [(p, m["item_key"]) for cards in (off_cards, on_cards) for p, ms in cards.items() for m in ms]
    channels = {x: interest_channels(run, interests[x]) for x in personas}
    # Labels are direct evidence where each persona's interest has a channel of its own.
    if all(channels.values()) and all(not channels[x] & channels[y] for x in personas for y in personas if x < y):
        # Direct evidence: each persona's interest is the channel its cards are labelled with.
        items = run.items()
        measured_by = "channel labels the platform shows on its cards"
        notes = []
        inside = {x: np.array([items[k]["channel"] in channels[x] for _, k in shown], dtype=bool) for x in personas}
    else:
        # One neighbourhood search per persona over every card of both groups, split per puppet after.
        measured_by = "embedding neighbourhood of the items each persona read with interest"
        space = context.space
        notes = space.notes()
        inside = {x: space.inside([k for _, k in shown], interests[x]) for x in personas}
    owners = np.array([p for p, _ in shown])
    shares = {p: {x: float(inside[x][owners == p].mean()) for x in personas} for p in (*off_cards, *on_cards)}
    persona_of = {p.puppet_id: p.persona_id for p in switched + still_on}
    dep_off = _dependence({p: shares[p] for p in off_cards}, persona_of)
    dep_on = _dependence({p: shares[p] for p in on_cards}, persona_of)
    metrics = [{"check": "C5", "puppet_id": p, "round": min(m["round"] for m in cards[p]), "metric": "persona_dependence",
                "value": v} for deps, cards in ((dep_off, off_cards), (dep_on, on_cards)) for p, v in sorted(deps.items())]
    base = float(np.mean(list(dep_on.values())))
    if base <= 0:
        return CheckResult(None, metrics, "the still-on puppets saw no more of their own interest than the others: "
                                          "nothing for the switch to turn off")
    comparison = _share_left(dep_off, dep_on, persona_of)
    # Switched puppets of every persona shown the very same cards: no persona dependence at all.
    identical = len({items_shown(off_cards, p) for p in off_cards}) == 1
    if identical:
        comparison = dataclasses.replace(comparison, effect=0.0, ci_low=0.0, ci_high=0.0)
    pairs = twin_pairs({p: v / base for p, v in dep_off.items()}, switched)
    noise = twin_noise(pairs) if pairs else float("nan")
    mde = minimum_detectable_effect(noise, len(switched), len(still_on)) if pairs else float("nan")

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
        "C5", "persona dependence of the feed left after switching personalisation off (share of a still-on "
              "control's)",
        comparison, threshold=run.threshold("C5", DEFAULT_THRESHOLD), noise_sd=noise, mde=mde,
        direction="lower_is_better",
        evidence=tuple(f"{a['puppet_id']} switched personalisation off in round {a['round']} at {a['at']}"
                       for a in off_at.values()) + tuple(resets) + tuple(run.evidence_for("personalization")),
        details={
            "identical_off_feeds": identical,
            "dependence_switched_off": float(np.mean(list(dep_off.values()))),
            "dependence_still_on": base,
            "switched_off_round": off_round,
            "personas": dict(collections.Counter(p.persona_id for p in switched)),
            "still_on": dict(collections.Counter(p.persona_id for p in still_on)),
            "cards_after_switch": sum(len(v) for v in off_cards.values()),
            "cards_still_on": sum(len(v) for v in on_cards.values()),
            # Lock-step: puppets that read their switched-off feeds far apart in time meet a moved
            # popularity ranking, which looks like persona dependence (run them in one batch).
            "off_feed_start_spread_s": _spread_s([min(m["seen_at"] for m in cards) for cards in off_cards.values()]),
            # Twins and controls interleaved: seconds between the switched and still-on puppets' median
            # first counted card (a platform that moves meanwhile shows the later group a different feed).
            "start_gap_s": abs(_median_start(off_cards) - _median_start(on_cards)),
            "silent_resets": resets,
            "clicks_to_switch": clicks,
            "interest_items": {x: len(v) for x, v in interests.items()},
            "measured_by": measured_by,
            "interest_channels": {x: sorted(c) for x, c in channels.items()},
            "notes": notes,
        },
    )
    if resets and verdict.outcome != "FAIL":
        verdict = dataclasses.replace(verdict, outcome="FAIL", puppets_needed=None)
    return CheckResult(verdict, metrics)
