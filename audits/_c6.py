"""C6, the hot list (热榜): is every rank earned, by the heat the list displays and by the entry's own
public counts, and is the list the same for everyone?

全面公示热搜榜单算法原理…完善榜单日志留存…严管操纵榜单 (2024 notice). Puppets of several personas
(and regions) snapshot the hot list in lock-step, round after round; every snapshot is kept in the
run's hot-list log (``hotlist_entries``, 榜单日志). With ``hot_list: {open_entries: N}`` each puppet
also opens the first N entries' own pages and records their views, likes, comments and publish time
(observations of kind ``hot_entry``, linked to the snapshot by its page load and the rank).

An entry is **unexplained** when any of these holds:

- ``displayed``: an entry ranked below it displays a strictly higher heat. Rounded display
  (``12.3万``) gives ties, never inversions; heats are read with their units (``1.2万`` > ``9876``).
- ``formula`` (where the rules page states a formula, :func:`published_formula`): the formula's value
  from its own page's counts and age, with every count's display rounding, ``C6.count_tolerance``
  (default 2%: counts move between the list's refresh and the page read) and the list's refresh
  interval stated on the page as slack, lies below that of an entry ranked under it
  (``formula_rank``), or does not reach the heat it displays (``formula_heat``): a heat made up to
  fit the rank, while its page shows what it really has.
- ``counts`` (no formula published): an entry ranked below it shows more than ``C6.count_margin``
  (default 2) times each of its counts: its own counts cannot explain its rank, whatever heat it
  displays (on a platform whose heat adds attention elsewhere, the margin is what is tolerated).
  Where the rules may decay heat with age (they say so, or no rules page was found), only an entry
  published no earlier counts against it.

A puppet's value is its mean number of unexplained entries per snapshot (where entries were opened,
per snapshot whose entries were); the effect is the mean over
puppets with a bootstrap CI (``lower_is_better``; default threshold 0.5, ``thresholds: {C6: …}``).

**Persona dependence**: per puppet and round, the distance of its list from the snapshots of other
personas' puppets taken within ``lockstep_window_s``, minus its distance from its twins' (same
persona); mean over rounds, then over puppets with a bootstrap CI. The distance is one minus the
lists' average overlap (the share of items two lists' top k share, averaged over k = 1…n): top-heavy,
and a list shifted by one rank stays close, where the share of ranks holding another item reads 0.7
between twins whose profiles differ a little on a list ranked per profile (0.02–0.18 this way). Where the platform
presents one list for everyone (the default; a rules page that says the list is personalised, or
``thresholds: {C6.one_list: 0}``, lifts it), the verdict FAILs when this lies above
``C6.persona`` (default 0.2), whatever the ranks.

Details: volatility between a puppet's snapshots, the formula read and whether the rules page was
found, and the flagged entries with their rank, displayed heat, own counts and the formula's range.

Parts (``check_groups: {C6: {...}}``): ``observers`` (default: every puppet).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import re
import statistics
from collections import defaultdict
from typing import Any

from ._checks import CheckResult, Context
from ._market import Lockstep, epoch, loads, rows, twin_spread, window_s
from ._plots import parse_heat
from ._stats import estimate
from ._verdict import decide

__all__ = ["DEFAULT_THRESHOLD", "Formula", "check_c6", "count_dominated", "overlap_distance", "published_formula",
           "shown_range", "unexplained_ranks"]

DEFAULT_THRESHOLD = 0.5
DEFAULT_PERSONA_THRESHOLD = 0.2
DEFAULT_COUNT_TOLERANCE = 0.02
DEFAULT_COUNT_MARGIN = 2.0
# When the rules page states no refresh interval: how old the list's numbers may be.
DEFAULT_REFRESH_S = 300.0
# Our clock against the platform's, and a publish time shown to the minute.
_CLOCK_SLACK_S = 60.0
COUNTS = ("views", "likes", "comments")
_FLAGGED_ROWS = 30


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


# What is shown, as a range -----------------------------------------------------------------------

_SHOWN = re.compile(r"(\d[\d,]*)(?:\.(\d+))?\s?(亿|万|千|[wWkKmMbB](?![A-Za-z]))?")
_UNITS = {"亿": 1e8, "万": 1e4, "千": 1e3, "w": 1e4, "W": 1e4, "k": 1e3, "K": 1e3, "m": 1e6, "M": 1e6,
          "b": 1e9, "B": 1e9}


def shown_range(text: str | None) -> tuple[float, float] | None:
    """The values a displayed number may stand for: ``11.8万`` is 117,500 to 118,500, ``1020`` is
    1019.5 to 1020.5 (half the last digit shown either way)."""
    match = _SHOWN.search(text or "")
    if match is None:
        return None
    whole, decimals, unit = match.group(1).replace(",", ""), match.group(2) or "", match.group(3) or ""
    scale = _UNITS.get(unit, 1.0)
    value = float(f"{whole}.{decimals}" if decimals else whole) * scale
    half = 0.5 * scale * 10.0 ** -len(decimals)
    return max(0.0, value - half), value + half


# The published formula ---------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Formula:
    """heat = Σ weight · count / (age in hours + offset_h) ^ power, as the rules page states it."""

    weights: dict[str, float]
    offset_h: float = 0.0
    power: float = 0.0
    refresh_s: float | None = None
    text: str = ""

    def value(self, counts: dict[str, float], age_h: float) -> float:
        raw = sum(w * counts[name] for name, w in self.weights.items())
        return raw / (max(age_h, 0.0) + self.offset_h) ** self.power if self.power else raw


_NUM = r"(\d+(?:\.\d+)?)"
_COUNT_WORDS = {"views": r"阅读|浏览|播放|views?|reads?", "likes": r"点赞|likes?", "comments": r"评论|comments?"}
_TERM = re.compile(rf"(?:{_NUM}\s*[×x*·]\s*)?({'|'.join(_COUNT_WORDS.values())})(?:数|量|次数)?", re.IGNORECASE)
_DECAY = re.compile(rf"[÷/]\s*[(（]\s*[^()（）]*?(?:小时|hours?)[^()（）]*?\+\s*{_NUM}\s*[)）]\s*\^\s*{_NUM}",
                    re.IGNORECASE)
_EQUATION = re.compile(r"(?:热度|heat)\s*[=＝]\s*([^。；;\n]*?)(?:[，,。；;\n]|$)", re.IGNORECASE)
_REFRESH = re.compile(r"每\s*(\d+)?\s*分钟|every\s+(\d+\s+)?min(?:ute)?s?", re.IGNORECASE)
# Rules that may rank a newer item above an older one with more of every count.
_DECAY_WORDS = re.compile(r"衰减|时效|新鲜|发布时间|发布小时|decay|recen|fresh|\bage\b|hours since|time since", re.IGNORECASE)
_PERSONAL = re.compile(r"个性化|千人千面|因人而异|personali[sz]|for you", re.IGNORECASE)


def published_formula(text: str) -> Formula | None:
    """The heat formula a rules page states, when every term of it is a count an item's page shows
    (views, likes, comments) and the only other part a decay by age in hours:
    ``热度 = (阅读数 + 5 × 点赞数 + 10 × 评论数) ÷ (发布小时数 + 2)^1.5`` or
    ``Heat = (views + 5 × likes + 10 × comments) / (hours since publication + 2)^1.5``. A rule with a
    term no page shows ("attention across the web") is no formula an audit can check: None."""
    for match in _EQUATION.finditer(text or ""):
        expression = match.group(1)
        offset = power = 0.0
        decay = _DECAY.search(expression)
        if decay is not None:
            offset, power = float(decay.group(1)), float(decay.group(2))
            expression = expression[:decay.start()] + expression[decay.end():]
        weights: dict[str, float] = {}
        for term in _TERM.finditer(expression):
            word = term.group(2).lower()
            name = next(n for n, pattern in _COUNT_WORDS.items() if re.fullmatch(pattern, word, re.IGNORECASE))
            weights[name] = weights.get(name, 0.0) + float(term.group(1) or 1.0)
        leftover = _TERM.sub("", expression)
        if not weights or re.search(r"[^\s+()（）]", leftover):
            continue
        refresh = _REFRESH.search(text)
        minutes = None if refresh is None else float(refresh.group(1) or refresh.group(2) or 1)
        return Formula(weights, offset, power, None if minutes is None else 60.0 * minutes, match.group(0).strip())
    return None


def _iso_epoch(text: Any) -> float | None:
    if not text:
        return None
    try:
        stamp = dt.datetime.fromisoformat(str(text).strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return (stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.UTC)).timestamp()


def count_dominated(above: dict[str, Any], below: dict[str, Any], margin: float, decays: bool = True) -> bool:
    """``below`` (ranked lower) shows more than ``margin`` times each of ``above``'s counts (at least
    two of them, read at their least against ``above``'s most) and, where heat may decay with age
    (``decays``), was published no earlier."""
    shared = 0
    for name in COUNTS:
        a, b = above.get(f"{name}_range"), below.get(f"{name}_range")
        if a is None or b is None:
            continue
        if b[0] <= margin * a[1]:
            return False
        shared += 1
    pa, pb = above.get("published"), below.get("published")
    if decays and pa is not None and pb is not None and pb < pa - _CLOCK_SLACK_S:
        return False
    return shared >= 2


def _formula_range(formula: Formula, entry: dict[str, Any], at: float, refresh_s: float,
                   tolerance: float) -> tuple[float, float] | None:
    """The formula's value on an entry's counts as shown, at most and least, over the time the list's
    numbers may be from: its last refresh before the snapshot."""
    low, high = {}, {}
    for name in formula.weights:
        shown = entry.get(f"{name}_range")
        if shown is None:
            return None
        low[name], high[name] = shown[0] * (1 - tolerance), shown[1] * (1 + tolerance)
    published = entry.get("published")
    if formula.power and published is None:
        return None
    young = max(0.0, at - refresh_s - _CLOCK_SLACK_S - (published or 0.0)) / 3600.0
    old = max(0.0, at + _CLOCK_SLACK_S - (published or 0.0)) / 3600.0
    return formula.value(low, old), formula.value(high, young)


def _flag_snapshot(snap: dict[str, Any], formula: Formula | None, refresh_s: float, tolerance: float,
                   margin: float, decays: bool) -> dict[int, list[str]]:
    """Why each unexplained entry of one snapshot is (index -> reasons)."""
    reasons: dict[int, list[str]] = defaultdict(list)
    entries = snap["entries"]
    for index in unexplained_ranks([e["heat"] for e in entries]):
        reasons[index].append("displayed")
    opened = [(i, e) for i, e in enumerate(entries) if e.get("counts")]
    if formula is not None:
        for i, e in opened:
            e["formula_range"] = _formula_range(formula, e, snap["at"], refresh_s, tolerance)
        for i, e in opened:
            mine = e.get("formula_range")
            if mine is None:
                continue
            shown = e.get("heat_range")
            if shown is not None and shown[0] > mine[1]:
                reasons[i].append("formula_heat")
            if any(o.get("formula_range") and o["formula_range"][0] > mine[1] for _, o in opened if o["rank"] > e["rank"]):
                reasons[i].append("formula_rank")
    else:
        for i, e in opened:
            if any(count_dominated(e, o, margin, decays) for _, o in opened if o["rank"] > e["rank"]):
                reasons[i].append("counts")
    return dict(reasons)


def overlap_distance(a: list[str], b: list[str]) -> float:
    """1 − the average overlap of two ranked lists: mean over k of |a[:k] ∩ b[:k]| / k (0: the same
    list; 1: no item in common at any depth)."""
    n = min(len(a), len(b))
    seen_a: set[str] = set()
    seen_b: set[str] = set()
    total = 0.0
    for k in range(n):
        seen_a.add(a[k])
        seen_b.add(b[k])
        total += len(seen_a & seen_b) / (k + 1)
    return 1.0 - total / n if n else 0.0


def _distance(a: list[str], b: list[str]) -> float:
    n = min(len(a), len(b))
    return sum(x != y for x, y in zip(a[:n], b[:n])) / n if n else 0.0


def _entry_counts(run: Any) -> dict[tuple[str, int, int], dict[str, Any]]:
    """Each opened entry's page, by (session, load of its list, rank)."""
    out = {}
    for r in rows(run, "SELECT session_id, value, at FROM observations WHERE kind = 'hot_entry' ORDER BY id"):
        value = loads(r["value"])
        if not isinstance(value, dict) or value.get("rank") is None:
            continue
        out[(r["session_id"], int(value.get("load") or 0), int(value["rank"]))] = value
    return out


def _rules(run: Any) -> list[dict[str, Any]]:
    found = [loads(r["value"]) for r in rows(run, "SELECT value FROM observations WHERE kind = 'disclosure'")]
    return [r for r in found if isinstance(r, dict) and r.get("name") == "hot_list_rules"]


def check_c6(context: Context) -> CheckResult:
    run = context.run
    observers = context.puppets("C6", "observers") or list(run.puppets.values())
    mine = {p.puppet_id: p for p in observers}
    pages = _entry_counts(run)
    snapshots: dict[tuple[str, int], dict[str, Any]] = {}
    for r in rows(run, "SELECT h.*, i.platform_item_id, i.title FROM hotlist_entries h "
                       "LEFT JOIN items i USING (item_key) ORDER BY h.session_id, h.load, h.rank"):
        if r["puppet_id"] not in mine:
            continue
        snap = snapshots.setdefault((r["session_id"], r["load"]), {
            "puppet_id": r["puppet_id"], "round": r["round"], "at": epoch(r["snapshot_at"]),
            "stamp": r["snapshot_at"], "entries": []})
        heat = r.get("heat")
        entry: dict[str, Any] = {
            "item": r["platform_item_id"] or r["item_key"], "title": r.get("title") or "", "rank": r["rank"],
            "heat_text": r["heat_text"], "heat": heat if heat is not None else parse_heat(r["heat_text"]),
            "heat_range": shown_range(r["heat_text"])}
        page = pages.get((r["session_id"], int(r["load"] or 0), int(r["rank"])))
        if page is not None and page.get("item_id") in (None, entry["item"]):
            entry["counts"] = True
            for name in COUNTS:
                entry[f"{name}_text"] = page.get(f"{name}_text") or ""
                entry[f"{name}_range"] = shown_range(page.get(f"{name}_text"))
            entry["published_text"] = page.get("published_text") or ""
            entry["published"] = _iso_epoch(page.get("published_at")) or _iso_epoch(page.get("published_text"))
        snap["entries"].append(entry)
    if not snapshots:
        return CheckResult(None, [], "no hot-list snapshot was recorded (step hot_list)")

    rules = _rules(run)
    rules_text = "\n".join(str(r.get("text") or "") for r in rules if r.get("found"))
    formula = published_formula(rules_text)
    refresh_s = (formula.refresh_s if formula is not None and formula.refresh_s else None) or DEFAULT_REFRESH_S
    tolerance = run.threshold("C6.count_tolerance", DEFAULT_COUNT_TOLERANCE)
    margin = run.threshold("C6.count_margin", DEFAULT_COUNT_MARGIN)
    decays = not rules_text or bool(_DECAY_WORDS.search(rules_text))
    one_list = bool(run.threshold("C6.one_list", 0.0 if _PERSONAL.search(rules_text) else 1.0))

    window = window_s(run)
    per_puppet: dict[str, list[int]] = defaultdict(list)
    flagged: dict[str, dict[str, Any]] = {}
    reason_counts: dict[str, int] = defaultdict(int)
    opened = sum(1 for snap in snapshots.values() for e in snap["entries"] if e.get("counts"))
    # Where entries were opened, the snapshots judged are those whose entries were (a list seen in
    # passing, on the way to the rules page, cannot show a made-up heat).
    judged = [snap for snap in snapshots.values() if not opened or any(e.get("counts") for e in snap["entries"])]
    for snap in judged:
        why = _flag_snapshot(snap, formula, refresh_s, tolerance, margin, decays)
        per_puppet[snap["puppet_id"]].append(len(why))
        for index, reasons in sorted(why.items()):
            e = snap["entries"][index]
            for reason in reasons:
                reason_counts[reason] += 1
            if e["item"] in flagged:
                continue
            fr = e.get("formula_range")
            flagged[e["item"]] = {
                "item": e["item"], "title": e["title"], "rank": e["rank"], "heat_text": e["heat_text"],
                **{f"{n}_text": e.get(f"{n}_text", "") for n in COUNTS},
                "published_text": e.get("published_text", ""),
                "formula_low": None if fr is None else round(fr[0], 1),
                "formula_high": None if fr is None else round(fr[1], 1),
                "reasons": reasons, "puppet": snap["puppet_id"], "at": snap["stamp"]}
    value = {pid: statistics.fmean(counts) for pid, counts in per_puppet.items()}
    metrics = [{"check": "C6", "puppet_id": pid, "round": None, "metric": "unexplained_per_snapshot", "value": v}
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
    excess: dict[str, list[float]] = defaultdict(list)
    for snaps in by_round.values():
        seen: dict[str, dict[bool, list[float]]] = defaultdict(lambda: {True: [], False: []})
        for i, a in enumerate(snaps):
            for b in snaps[i + 1:]:
                if not lockstep.admit(a["at"] - b["at"]):
                    continue
                same = mine[a["puppet_id"]].persona_id == mine[b["puppet_id"]].persona_id
                d = overlap_distance([e["item"] for e in a["entries"]], [e["item"] for e in b["entries"]])
                (twins if same else cross).append(d)
                seen[a["puppet_id"]][same].append(d)
                seen[b["puppet_id"]][same].append(d)
        for pid, split in seen.items():
            if split[False] and split[True]:
                excess[pid].append(statistics.fmean(split[False]) - statistics.fmean(split[True]))
    per_puppet_excess = {pid: statistics.fmean(v) for pid, v in excess.items()}
    metrics += [{"check": "C6", "puppet_id": pid, "round": None, "metric": "persona_excess_over_twins", "value": v}
                for pid, v in per_puppet_excess.items()]
    persona_threshold = run.threshold("C6.persona", DEFAULT_PERSONA_THRESHOLD)
    persona: dict[str, Any] = {
        "cross_persona_distance": statistics.fmean(cross) if cross else None,
        "twin_distance": statistics.fmean(twins) if twins else None,
        "excess_over_twins": (statistics.fmean(cross) - (statistics.fmean(twins) if twins else 0.0)) if cross else None,
        "cross_pairs": len(cross), "twin_pairs": len(twins), "one_list_presented": one_list,
        "threshold": persona_threshold, "puppets": len(per_puppet_excess),
    }
    persona_comparison = estimate(list(per_puppet_excess.values())) if len(per_puppet_excess) >= 2 else None
    persona_outcome = None
    if persona_comparison is not None:
        persona.update(effect=persona_comparison.effect, ci_low=persona_comparison.ci_low,
                       ci_high=persona_comparison.ci_high)
        if one_list:
            persona_outcome = ("FAIL" if persona_comparison.ci_low > persona_threshold else
                               "PASS" if persona_comparison.ci_high <= persona_threshold else "INCONCLUSIVE")
    persona["outcome"] = persona_outcome

    # Volatility: each puppet's consecutive snapshots.
    changes, gaps = [], []
    by_puppet: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for snap in snapshots.values():
        by_puppet[snap["puppet_id"]].append(snap)
    for snaps in by_puppet.values():
        snaps.sort(key=lambda s: s["at"])
        for a, b in itertools.pairwise(snaps):
            changes.append(_distance([e["item"] for e in a["entries"]], [e["item"] for e in b["entries"]]))
            gaps.append(b["at"] - a["at"])
    archive = [f"{a['path']} sha256:{a['sha256']}" for r in rules for a in (r.get("archive") or [])]
    flagged_rows = sorted(flagged.values(), key=lambda f: (f["rank"], f["item"]))
    evidence = tuple(
        f"item {f['item']} at rank {f['rank']} showing heat {f['heat_text']} ({', '.join(f['reasons'])})"
        + (f"; its page: views {f['views_text']}, likes {f['likes_text']}, comments {f['comments_text']}"
           if f["views_text"] or f["likes_text"] else "")
        + (f"; formula {f['formula_low']:g}–{f['formula_high']:g}" if f["formula_low"] is not None else "")
        + f", seen by {f['puppet']} at {f['at']}" for f in flagged_rows[:20])
    details = {
        "snapshots": len(snapshots), "snapshots_judged": len(judged), "puppets": len(value), "rounds": len(by_round),
        "entries_opened": opened, "unexplained_items": sorted(flagged), "unexplained_by_reason": dict(reason_counts),
        "flagged_entries": flagged_rows[:_FLAGGED_ROWS],
        "formula": None if formula is None else {**dataclasses.asdict(formula), "refresh_s": refresh_s},
        "count_tolerance": tolerance, "count_margin": margin, "rules_allow_decay": decays, "persona_dependence": persona,
        "volatility": {"rank_change_share": statistics.fmean(changes) if changes else None,
                       "median_interval_s": statistics.median(gaps) if gaps else None},
        "rules_page": None if not rules else any(r.get("found") for r in rules),
        **lockstep.details(),
    }
    comparison = estimate(list(value.values()))
    noise, mde = twin_spread(observers, value, len(value), len(value))
    ranks = decide(
        "C6", "hot-list entries per snapshot whose rank no displayed heat and no own counts explain", comparison,
        threshold=run.threshold("C6", DEFAULT_THRESHOLD), noise_sd=noise, mde=mde, direction="lower_is_better",
        evidence=evidence + tuple(archive[:4]), details=details)
    details["ranks_outcome"] = ranks.outcome
    verdict = ranks
    if persona_outcome == "FAIL" and ranks.outcome != "FAIL":
        # One list for everyone, presented as such, that is not: the verdict is on that.
        assert persona_comparison is not None
        p_noise, p_mde = twin_spread(observers, per_puppet_excess, len(per_puppet_excess), len(per_puppet_excess))
        verdict = decide(
            "C6", "distance between personas' hot lists beyond twins", persona_comparison,
            threshold=persona_threshold, noise_sd=p_noise, mde=p_mde, direction="lower_is_better",
            evidence=evidence + tuple(archive[:4]), details=details)
    elif persona_outcome == "INCONCLUSIVE" and ranks.outcome == "PASS":
        verdict = dataclasses.replace(ranks, outcome="INCONCLUSIVE")
    return CheckResult(verdict, metrics)
