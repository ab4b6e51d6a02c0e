"""C6, the hot list (热榜): is every rank earned by the heat the list itself displays, and is the
list the same for everyone?

全面公示热搜榜单算法原理…完善榜单日志留存…严管操纵榜单 (2024 notice). Puppets of several personas
(and regions) snapshot the hot list in lock-step, round after round; every snapshot is kept in the
run's hot-list log (``hotlist_entries``, 榜单日志).

- **Unexplained ranks** (the verdict): an entry is unexplained when an entry ranked below it
  displays a strictly higher heat: no heat explains why it stands where it does. Rounded display
  (``12.3万``) produces ties, never inversions, so a list ranked by its displayed heat has none.
  Pinned, injected or re-ranked items do. A puppet's value is its mean number of unexplained
  entries per snapshot; the effect is the mean over puppets with a bootstrap CI
  (``lower_is_better``; default threshold 0.5 entries per snapshot, campaign ``thresholds: {C6: …}``).
- **Persona dependence** (details): the share of ranks holding another item, between snapshots of
  different personas taken within ``lockstep_window_s``, minus the same share between twins of one
  persona; a platform that claims one list for all should show none beyond the twins'.
- **Volatility** (details): the share of ranks that changed between a puppet's consecutive
  snapshots, and the time between them.
- **Disclosure** (details): whether the ranking principle page was found (step ``disclosures``)
  and its archive.

Parts (``check_groups: {C6: {...}}``): ``observers`` (default: every puppet).
"""

from __future__ import annotations

import itertools
import statistics
from collections import defaultdict
from typing import Any

from ._checks import CheckResult, Context
from ._market import Lockstep, epoch, loads, rows, twin_spread, window_s
from ._plots import parse_heat
from ._stats import estimate
from ._verdict import decide

__all__ = ["DEFAULT_THRESHOLD", "check_c6", "unexplained_ranks"]

DEFAULT_THRESHOLD = 0.5


def unexplained_ranks(heats: list[float | None]) -> list[int]:
    """Indexes (in rank order) of entries that some lower-ranked entry out-heats."""
    out = []
    best_below: float | None = None
    for index in range(len(heats) - 1, -1, -1):
        heat = heats[index]
        if heat is not None and best_below is not None and best_below > heat:
            out.append(index)
        if heat is not None and (best_below is None or heat > best_below):
            best_below = heat
    return sorted(out)


def _distance(a: list[str], b: list[str]) -> float:
    n = min(len(a), len(b))
    return sum(x != y for x, y in zip(a[:n], b[:n])) / n if n else 0.0


def check_c6(context: Context) -> CheckResult:
    run = context.run
    observers = context.puppets("C6", "observers") or list(run.puppets.values())
    mine = {p.puppet_id: p for p in observers}
    snapshots: dict[tuple[str, int], dict[str, Any]] = {}
    for r in rows(run, "SELECT h.session_id, h.puppet_id, h.round, h.load, h.snapshot_at, h.rank, h.heat_text, "
                       "h.item_key, i.platform_item_id FROM hotlist_entries h LEFT JOIN items i USING (item_key) "
                       "ORDER BY h.session_id, h.load, h.rank"):
        if r["puppet_id"] not in mine:
            continue
        snap = snapshots.setdefault((r["session_id"], r["load"]), {
            "puppet_id": r["puppet_id"], "round": r["round"], "at": epoch(r["snapshot_at"]),
            "stamp": r["snapshot_at"], "items": [], "heat": [], "texts": []})
        snap["items"].append(r["platform_item_id"] or r["item_key"])
        snap["heat"].append(parse_heat(r["heat_text"]))
        snap["texts"].append(r["heat_text"])
    if not snapshots:
        return CheckResult(None, [], "no hot-list snapshot was recorded (step hot_list)")
    window = window_s(run)
    per_puppet: dict[str, list[int]] = defaultdict(list)
    flagged: dict[str, str] = {}
    metrics = []
    for snap in snapshots.values():
        bad = unexplained_ranks(snap["heat"])
        per_puppet[snap["puppet_id"]].append(len(bad))
        for index in bad:
            flagged.setdefault(snap["items"][index], f"item {snap['items'][index]} at rank {index + 1} showing heat "
                               f"{snap['texts'][index]} above a lower rank showing more, seen by {snap['puppet_id']} "
                               f"at {snap['stamp']}")
    value = {pid: statistics.fmean(counts) for pid, counts in per_puppet.items()}
    metrics += [{"check": "C6", "puppet_id": pid, "round": None, "metric": "unexplained_per_snapshot", "value": v}
                for pid, v in value.items()]

    # Persona dependence, from the first snapshot of each puppet in each round, pairs within the window.
    lockstep = Lockstep(window)
    first: dict[tuple[str, int], dict[str, Any]] = {}
    for snap in sorted(snapshots.values(), key=lambda s: s["at"]):
        first.setdefault((snap["puppet_id"], snap["round"]), snap)
    by_round: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for (_, rnd), snap in first.items():
        by_round[rnd].append(snap)
    cross: list[float] = []
    twins: list[float] = []
    for snaps in by_round.values():
        for i, a in enumerate(snaps):
            for b in snaps[i + 1:]:
                if not lockstep.admit(a["at"] - b["at"]):
                    continue
                same = mine[a["puppet_id"]].persona_id == mine[b["puppet_id"]].persona_id
                (twins if same else cross).append(_distance(a["items"], b["items"]))
    dependence = {
        "cross_persona_distance": statistics.fmean(cross) if cross else None,
        "twin_distance": statistics.fmean(twins) if twins else None,
        "excess_over_twins": (statistics.fmean(cross) - (statistics.fmean(twins) if twins else 0.0)) if cross else None,
        "cross_pairs": len(cross), "twin_pairs": len(twins),
    }
    # Volatility: each puppet's consecutive snapshots.
    changes, gaps = [], []
    by_puppet: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for snap in snapshots.values():
        by_puppet[snap["puppet_id"]].append(snap)
    for snaps in by_puppet.values():
        snaps.sort(key=lambda s: s["at"])
        for a, b in itertools.pairwise(snaps):
            changes.append(_distance(a["items"], b["items"]))
            gaps.append(b["at"] - a["at"])
    rules = [loads(r["value"]) for r in rows(run, "SELECT value FROM observations WHERE kind = 'disclosure'")]
    rules = [r for r in rules if isinstance(r, dict) and r.get("name") == "hot_list_rules"]
    archive = [f"{a['path']} sha256:{a['sha256']}" for r in rules for a in (r.get("archive") or [])]
    comparison = estimate(list(value.values()))
    noise, mde = twin_spread(observers, value, len(value), len(value))
    verdict = decide(
        "C6", "hot-list entries per snapshot whose rank no displayed heat explains", comparison,
        threshold=run.threshold("C6", DEFAULT_THRESHOLD), noise_sd=noise, mde=mde, direction="lower_is_better",
        evidence=tuple(list(flagged.values())[:20]) + tuple(archive[:4]),
        details={
            "snapshots": len(snapshots), "puppets": len(value), "rounds": len(by_round),
            "unexplained_items": sorted(flagged), "persona_dependence": dependence,
            "volatility": {"rank_change_share": statistics.fmean(changes) if changes else None,
                           "median_interval_s": statistics.median(gaps) if gaps else None},
            "rules_page": None if not rules else any(r.get("found") for r in rules),
            **lockstep.details(),
        },
    )
    return CheckResult(verdict, metrics)
