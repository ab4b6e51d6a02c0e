"""``plan``: before spending a day of puppets, how many does a check need?

For each check a campaign asks for: the effect it must resolve (its threshold: a control must be
told apart from one that does nothing, a violation of that size from none), the per-puppet noise
(the twin noise of a pilot run of the same campaign, else a documented default measured on the
sandbox), the puppets per group the campaign has now and the power they give, and the puppets per
group for 80% and 95% power (two-sided test at 5%, normal approximation; one group against zero
for C5). More puppets is the lever: the checks judge one measurement round, so extra rounds add
robustness (does the effect last?), not power; more pages per measured round lower the noise of
exposure shares.
"""

from __future__ import annotations

import dataclasses
import math
import sqlite3
from pathlib import Path
from statistics import NormalDist
from typing import Any

import yaml

from ._c1 import DEFAULT_THRESHOLD as C1_THRESHOLD
from ._c2 import DEFAULT_THRESHOLD as C2_THRESHOLD
from ._c3 import DEFAULT_THRESHOLD as C3_THRESHOLD
from ._c4 import DEFAULT_THRESHOLD as C4_THRESHOLD
from ._c5 import DEFAULT_THRESHOLD as C5_THRESHOLD
from ._stats import puppets_needed

__all__ = ["CheckPlan", "plan"]

# Per check: (threshold, default per-puppet noise, the parts compared and their fallback roles).
# The noise defaults are the 80th percentile of the twin noise in bench/calibration.py's 40 feed
# cells (Toutiao and AG News, campaigns/feed-audit-*.yaml), rounded up to 0.05: on the compliant
# sandbox for C1 (0.10; the most 0.13), C3 (0.22; 0.23) and C4 (0.16; 0.27). For C5 over every
# strength (0.30; the most 1.21): a compliant switch shows every switched puppet the same feed, so
# its twins differ by nothing and only a leak has noise.
_PLANNED: dict[str, tuple[float, float, tuple[tuple[str, str | None], ...]]] = {
    "C1": (C1_THRESHOLD, 0.1, (("narrow", "treatment"), ("baseline", "control"))),
    "C3": (C3_THRESHOLD, 0.25, (("treated", "treatment"), ("control", "control"))),
    "C4": (C4_THRESHOLD, 0.2, (("treated", "treatment"), ("control", "control"), ("baseline", None))),
    "C5": (C5_THRESHOLD, 0.35, (("switched", None), ("still_on", None))),
}
_DETERMINISTIC = {"C2": C2_THRESHOLD}  # a yes/no per puppet: any refusal decides


@dataclasses.dataclass(frozen=True)
class CheckPlan:
    check: str
    effect: float  # what the sample must resolve
    noise_sd: float | None  # per puppet
    noise_source: str  # "pilot RUN", "default", or why there is none
    puppets_now: tuple[int, ...]  # per compared group, as the campaign stands
    power_now: float | None
    needed_80: int | None  # per group
    needed_95: int | None
    note: str = ""


def _power(effect: float, noise: float, sizes: tuple[int, ...], alpha: float = 0.05) -> float:
    if noise <= 0:
        return 1.0
    spread = noise * math.sqrt(sum(1 / n for n in sizes))
    return NormalDist().cdf(effect / spread - NormalDist().inv_cdf(1 - alpha / 2))


def _needed(effect: float, noise: float, power: float, one_group: bool) -> int:
    if noise <= 0:
        return 2
    n = puppets_needed(effect, noise, power=power)
    # puppets_needed is per group for two equal groups; one group against zero needs half.
    return max(2, math.ceil(n / 2)) if one_group else n


def _sizes(spec: dict[str, Any], check: str, parts: tuple[tuple[str, str | None], ...]) -> tuple[int, ...]:
    named = (spec.get("check_groups") or {}).get(check) or {}
    groups = spec.get("groups") or []
    sizes = []
    for part, role in parts:
        if part in named:
            sizes.append(sum(g.get("replicas", 2) for g in groups if g["name"] in named[part]))
        else:
            sizes.append(sum(g.get("replicas", 2) for g in groups if role is not None and g.get("role") == role))
    return tuple(sizes)


def _pilot_noise(pilot: Path) -> dict[str, float]:
    with sqlite3.connect(pilot / "run.sqlite") as db:
        try:
            rows = db.execute('SELECT "check", noise_sd FROM verdicts').fetchall()
        except sqlite3.OperationalError:
            raise ValueError(f"{pilot} has not been analysed: run `algoaudit analyze {pilot}` first") from None
    return {c: float(n) for c, n in rows if n is not None and not math.isnan(float(n))}


def plan(campaign_text: str, pilot: Path | None = None, effect: float | None = None) -> list[CheckPlan]:
    """A plan per check the campaign asks for (``campaign_text``: the campaign YAML). ``effect``:
    resolve this difference instead of each check's threshold (e.g. 0.1, to tell a control that
    removes 40% of the exposure from one that removes the required 50%)."""
    spec = yaml.safe_load(campaign_text) or {}
    thresholds = spec.get("thresholds") or {}
    noise_from_pilot = _pilot_noise(pilot) if pilot is not None else {}
    out = []
    for check in spec.get("checks") or []:
        if check in _DETERMINISTIC:
            probes = _sizes(spec, check, (("probe", None),))
            out.append(CheckPlan(check, float(thresholds.get(check, _DETERMINISTIC[check])), 0.0, "deterministic",
                                 probes, None, 2, 2,
                                 "one refused probe is a FAIL; two probes (twins) show it is not chance"))
            continue
        if check not in _PLANNED:
            source = f"pilot {pilot}" if check in noise_from_pilot else "no default: run a pilot"
            out.append(CheckPlan(check, float(thresholds.get(check, math.nan)), noise_from_pilot.get(check), source,
                                 (), None, None, None, "planned from a pilot run only"))
            continue
        default_threshold, default_noise, parts = _PLANNED[check]
        to_resolve = effect if effect is not None else float(thresholds.get(check, default_threshold))
        noise = noise_from_pilot.get(check, default_noise)
        source = f"pilot {pilot}" if check in noise_from_pilot else "default"
        sizes = _sizes(spec, check, parts)
        one_group = len(parts) == 1
        power_now = _power(to_resolve, noise, sizes) if all(sizes) else None

        out.append(CheckPlan(check, to_resolve, noise, source, sizes, power_now,
                             _needed(to_resolve, noise, 0.8, one_group), _needed(to_resolve, noise, 0.95, one_group)))
    return out
