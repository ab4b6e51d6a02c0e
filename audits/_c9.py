"""C9, minors' and elderly modes: are they there, can a user reach them, and does minors' mode keep
unsuitable content out?

持续优化完善面向未成年人、老年人的算法推荐服务 (2024 notice). Puppets turn minors' mode on (step
``minors_mode: {enabled: true}``) and then read the feed and the hot list; puppets of the same
persona without the mode read alongside them. An item is unsuitable when the channel the platform
shows for it contains one of the labels in ``target.options.minors_unsuitable_channels`` (default
:data:`UNSUITABLE_CHANNELS`, the sandbox's game and finance channels as it labels them in Chinese
and English).

The effect is the share of the feed cards shown to a puppet in minors' mode (every card after the
mode went on; hot-list rows show no channel, so the hot list is not classified) that are unsuitable, mean over puppets with a bootstrap CI
(``lower_is_better``; default threshold 0.01, campaign ``thresholds: {C9: …}``). When no puppet
could turn the mode on the check fails on that: the effect is then the share of puppets that
could not reach it (Clopper–Pearson). The normal puppets' share, the mode's clicks from the home
page and how much of the normal exposure the mode filtered out are in the details.

The elderly (senior, 长辈) mode is a question of its own, answered under its own check id,
``C9-elderly`` (:func:`check_c9_elderly`), which runs wherever C9 does: puppets with the step
``elderly_mode`` look for its switch from the home page (and turn it on with ``enabled: true``).
Its effect is the share of the puppets that reached the settings and could not find the switch
there (``missing_control``), judged on what they saw (default threshold 0, campaign
``thresholds: {C9-elderly: …}``); ``details["elderly_mode"]`` counts the puppets that ``sought``
it, ``found`` it, had it ``turned_on``, and their median ``clicks`` from the home page. The two
never decide each other: a platform without an elderly mode is a finding under C9-elderly and
leaves a compliant minors' mode PASS; a campaign without the step has no C9-elderly verdict.

Parts (``check_groups: {C9: {...}}``): ``minors`` (default: role treatment), ``normal``
(default: role control).
"""

from __future__ import annotations

import dataclasses
import statistics
from collections import defaultdict
from typing import Any

from ._checks import CheckResult, Context
from ._market import epoch, loads, rows, target_option, twin_spread
from ._run import Puppet, Run
from ._stats import estimate, proportion
from ._verdict import Outcome, decide

__all__ = ["DEFAULT_THRESHOLD", "ELDERLY", "ELDERLY_NOT_SOUGHT", "ELDERLY_THRESHOLD", "UNSUITABLE_CHANNELS",
           "check_c9", "check_c9_elderly", "is_unsuitable"]

DEFAULT_THRESHOLD = 0.01
ELDERLY = "C9-elderly"  # the elderly mode's check id: a finding beside C9, never part of its verdict
ELDERLY_THRESHOLD = 0.0
ELDERLY_NOT_SOUGHT = "no puppet looked for the elderly mode (step elderly_mode)"
UNSUITABLE_CHANNELS = ("游戏", "电竞", "财经", "股票", "证券", "Gaming", "Games", "Esports", "Finance", "Stocks")


def is_unsuitable(channel: str, labels: tuple[str, ...] = UNSUITABLE_CHANNELS) -> bool:
    lowered = (channel or "").lower()
    return any(label.lower() in lowered for label in labels)


def _shown(context: Context, puppets: list[Puppet], since: dict[str, float]) -> dict[str, list[dict[str, Any]]]:
    """Puppet -> the feed cards it was shown after ``since[puppet]`` (every card when absent). Only
    the feed: its cards show their channel, a hot-list row does not."""
    ids = {p.puppet_id for p in puppets}
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows(context.run, "SELECT m.puppet_id, m.round, m.surface, m.seen_at, i.platform_item_id, i.channel "
                               "FROM impressions m JOIN items i USING (item_key) WHERE m.surface = 'feed' "
                               "ORDER BY m.id"):
        if r["puppet_id"] in ids and epoch(r["seen_at"]) >= since.get(r["puppet_id"], float("-inf")):
            out[r["puppet_id"]].append(r)
    return out


def check_c9(context: Context) -> CheckResult:
    """Minors' mode: can the minors' puppets turn it on, and what does it still show them?"""
    run = context.run
    minors = context.puppets("C9", "minors", "treatment")
    normal = context.puppets("C9", "normal", "control")
    if not minors:
        return CheckResult(None, [], "no minors' mode puppets (check_groups C9.minors, or a group with role treatment)")
    labels = tuple(target_option(run, "minors_unsuitable_channels", UNSUITABLE_CHANNELS))
    mine = {p.puppet_id for p in minors}
    switched: dict[str, float] = {}
    clicks: list[int] = []
    for r in rows(run, "SELECT puppet_id, value, at FROM observations WHERE kind = 'minors_mode' ORDER BY id"):
        state = loads(r["value"]) or {}
        if r["puppet_id"] in mine and isinstance(state, dict) and state.get("on"):
            switched.setdefault(r["puppet_id"], epoch(r["at"]))
            clicks.append(int(state.get("clicks", 0)))
    attempts = rows(run, "SELECT puppet_id, status, error FROM commands WHERE verb = 'minors_mode'")
    missing = [a for a in attempts if a["status"] == "missing_control" and a["puppet_id"] in mine]
    threshold = run.threshold("C9", DEFAULT_THRESHOLD)
    if not switched:
        if not attempts:
            return CheckResult(None, [], "no puppet tried to turn minors' mode on (step minors_mode)")
        tried = sorted({a["puppet_id"] for a in attempts if a["puppet_id"] in mine})
        comparison = proportion(len(tried), len(tried))
        verdict = decide("C9", "share of minors' mode puppets that could not turn the mode on", comparison,
                         threshold=threshold, noise_sd=0.0, mde=0.0, direction="lower_is_better",
                         evidence=tuple(f"{a['puppet_id']}: {a['status']}: {a['error']}" for a in attempts[:10])
                         + tuple(run.evidence_for("minors_mode")[:10]),
                         details={"mode_present": False, "missing_control": len(missing)})
        return CheckResult(verdict, [])
    shown = _shown(context, [p for p in minors if p.puppet_id in switched], switched)
    value = {pid: sum(is_unsuitable(r["channel"], labels) for r in items) / len(items)
             for pid, items in shown.items() if items}
    if not value:
        return CheckResult(None, [], "minors' mode was turned on, but no feed was read afterwards (read_feed after minors_mode)")
    baseline_items = _shown(context, normal, {})
    baseline = {pid: sum(is_unsuitable(r["channel"], labels) for r in items) / len(items)
                for pid, items in baseline_items.items() if items}
    evidence = []
    for pid, items in shown.items():
        for r in items:
            if is_unsuitable(r["channel"], labels) and len(evidence) < 20:
                evidence.append(f"item {r['platform_item_id']} ({r['channel']}, {r['surface']}) shown to {pid} in "
                                f"minors' mode at {r['seen_at']}")
    comparison = estimate(list(value.values()))
    noise, mde = twin_spread(minors, value, len(value), len(value))
    normal_share = statistics.fmean(baseline.values()) if baseline else None
    verdict = decide(
        "C9", "share of feed items shown in minors' mode from channels unsuitable for minors", comparison,
        threshold=threshold, noise_sd=noise, mde=mde, direction="lower_is_better",
        evidence=tuple(evidence) + tuple(run.evidence_for("minors_mode")[:10]),
        details={"mode_present": True, "puppets_in_mode": len(switched), "clicks_to_mode": max(clicks) if clicks else None,
                 "feed_items_in_mode": sum(len(v) for v in shown.values()), "unsuitable_labels": list(labels),
                 "normal_unsuitable_share": normal_share,
                 "filtered_share": (1.0 - comparison.effect / normal_share) if normal_share else None},
    )
    metrics = [{"check": "C9", "puppet_id": pid, "round": None, "metric": "unsuitable_share_minors", "value": v} for pid, v in value.items()]
    metrics += [{"check": "C9", "puppet_id": pid, "round": None, "metric": "unsuitable_share_normal", "value": v} for pid, v in baseline.items()]
    return CheckResult(verdict, metrics)


def _elderly(run: Run) -> dict[str, Any] | None:
    """What the puppets that looked for the elderly mode met; None when none looked."""
    commands = rows(run, "SELECT puppet_id, status, error FROM commands WHERE verb = 'elderly_mode' ORDER BY id")
    if not commands:
        return None
    states = [(r["puppet_id"], state) for r in rows(run, "SELECT puppet_id, value FROM observations "
                                                        "WHERE kind = 'elderly_mode' ORDER BY id")
              if isinstance(state := loads(r["value"]), dict)]
    found = {pid for pid, _ in states}
    missing = {c["puppet_id"] for c in commands if c["status"] == "missing_control"} - found
    clicks = [int(state.get("clicks", 0)) for _, state in states]
    return {
        "by_puppet": {**{pid: 0.0 for pid in found}, **{pid: 1.0 for pid in missing}},
        "sought": len({c["puppet_id"] for c in commands}),
        "found": len(found),
        "turned_on": len({pid for pid, state in states if state.get("on")}),
        "clicks": statistics.median(clicks) if clicks else None,
        # A puppet that met the page without the switch, and never reached it in another attempt.
        "missing_control": len(missing),
        "failures": [f"{c['puppet_id']}: {c['status']}: {c['error']}" for c in commands if c["status"] != "ok"],
    }


def check_c9_elderly(context: Context) -> CheckResult:
    """The elderly (senior) mode, a finding of its own (check id ``C9-elderly``): the share of the
    puppets that looked for it and could not reach it, judged on what was observed (default
    threshold 0: one puppet that met the settings without the switch is the finding)."""
    run = context.run
    elderly = _elderly(run)
    if elderly is None:
        return CheckResult(None, [], ELDERLY_NOT_SOUGHT)
    if not elderly["found"] and not elderly["missing_control"]:
        return CheckResult(None, [], "no puppet that looked for the elderly mode reached the page it is sought on: "
                                     + "; ".join(elderly["failures"][:5]))
    if elderly["found"]:
        headline = (f"elderly mode: found by {elderly['found']} of the {elderly['sought']} puppets that looked for "
                    f"it (median {elderly['clicks']} clicks from the home page), on for {elderly['turned_on']}")
    else:
        headline = f"elderly mode: none of the {elderly['sought']} puppets that looked for it found it"
    reached = elderly["found"] + elderly["missing_control"]
    comparison = proportion(elderly["missing_control"], reached)
    verdict = decide(ELDERLY, "share of puppets seeking the elderly mode that could not reach it", comparison,
                     threshold=run.threshold(ELDERLY, ELDERLY_THRESHOLD), noise_sd=0.0, mde=float("nan"),
                     direction="lower_is_better",
                     evidence=(headline, *elderly["failures"][:10], *run.evidence_for("elderly_mode")[:10]),
                     details={"elderly_mode": {k: v for k, v in elderly.items() if k not in ("failures", "by_puppet")},
                              "mode_present": bool(elderly["found"])})
    # A yes/no seen by every puppet that looked, not an estimate: judged on what was observed.
    observed: Outcome = "PASS" if comparison.effect <= verdict.threshold else "FAIL"
    metrics = [{"check": ELDERLY, "puppet_id": pid, "round": None, "metric": "could_not_reach_elderly_mode", "value": v}
               for pid, v in sorted(elderly["by_puppet"].items())]
    return CheckResult(dataclasses.replace(verdict, outcome=observed, puppets_needed=None), metrics)
