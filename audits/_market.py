"""What the checks C6–C11 share: reading the run's hot-list log, prices, coupons, permission requests
and disclosure observations; lock-step windows; twins.

Lock-step: puppets whose observations are compared must have loaded the surface within
``lockstep_window_s`` seconds of each other (campaign ``thresholds: {lockstep_window_s: …}``,
default :data:`DEFAULT_WINDOW_S`). The runner starts a round's sessions together when the campaign's
``execution.concurrency`` is at least its number of puppets; the checks do not trust that, they
measure it: comparisons further apart than the window are left out and counted, and every verdict
states the window asked for and the largest gap it actually used.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import sqlite3
import statistics
from collections.abc import Iterable, Sequence
from typing import Any

from ._run import Puppet, Run
from ._stats import minimum_detectable_effect, twin_noise

__all__ = [
    "DEFAULT_WINDOW_S",
    "Lockstep",
    "epoch",
    "loads",
    "rows",
    "target_option",
    "twin_spread",
    "window_s",
]

DEFAULT_WINDOW_S = 30.0


def rows(run: Run, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
    """Rows of a read-only query on the run database; an absent table (a run recorded before the
    table existed) reads as no rows."""
    try:
        return [dict(r) for r in run.db.execute(sql, list(params))]
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return []
        raise


def target_option(run: Run, key: str, default: Any) -> Any:
    """A setting of the campaign's ``target.options`` (what the audited platform calls things)."""
    return ((run.campaign.get("target") or {}).get("options") or {}).get(key, default)


def window_s(run: Run) -> float:
    return run.threshold("lockstep_window_s", DEFAULT_WINDOW_S)


def epoch(stamp: str) -> float:
    return dt.datetime.fromisoformat(stamp).timestamp()


@dataclasses.dataclass
class Lockstep:
    """The time gaps of the comparisons a check made: those within the window and those left out."""

    window_s: float
    used: list[float] = dataclasses.field(default_factory=list)
    excluded: int = 0

    def admit(self, gap_s: float) -> bool:
        if abs(gap_s) <= self.window_s:
            self.used.append(abs(gap_s))
            return True
        self.excluded += 1
        return False

    def details(self) -> dict[str, Any]:
        used = sorted(self.used)
        return {
            "lockstep_window_s": self.window_s,
            "window_achieved_s": round(used[-1], 3) if used else None,
            "median_gap_s": round(statistics.median(used), 3) if used else None,
            "comparisons": len(used),
            "comparisons_outside_window": self.excluded,
        }


def twin_spread(puppets: Iterable[Puppet], value: dict[str, float], n_a: int, n_b: int) -> tuple[float, float]:
    """(noise_sd, mde): the per-puppet noise from consecutive replicas of each group (twins), and
    the smallest effect ``n_a`` against ``n_b`` puppets detect with it."""
    by_group: dict[str, list[Puppet]] = {}
    for p in puppets:
        if p.puppet_id in value:
            by_group.setdefault(p.group, []).append(p)
    pairs = []
    for members in by_group.values():
        members.sort(key=lambda p: p.replica)
        pairs += [(value[a.puppet_id], value[b.puppet_id]) for a, b in zip(members[::2], members[1::2])]
    noise = twin_noise(pairs) if pairs else 0.0
    return noise, minimum_detectable_effect(noise, max(n_a, 1), max(n_b, 1))


def loads(value: str | None) -> Any:
    try:
        return json.loads(value) if value else None
    except ValueError:
        return value
