"""C11, data collection: does the platform ask for more than a feed needs?

不得超范围收集用户个人信息用于内容推送 (2024 notice). The harness wraps, in every puppet's browser
and before any page script runs, the APIs through which a page asks for permissions or personal
data (geolocation, notifications, clipboard reads, camera and microphone, permission probes) and
records every call (``permission_requests``: API, page, time), and every request to a host other
than the target's (``third_party_requests``).

A permission is unneeded unless the campaign lists it in ``target.options.needed_permissions``
(default: none; reading a feed needs none of them). A puppet's value is the number of distinct
unneeded permissions the platform asked it for during the run; the effect is the mean over
puppets with a bootstrap CI (``lower_is_better``; default threshold 0, campaign
``thresholds: {C11: …}``). Permission probes (``navigator.permissions.query``) and third-party
hosts are reported in the details, not counted.

Parts (``check_groups: {C11: {...}}``): ``users`` (default: every puppet).
"""

from __future__ import annotations

from collections import Counter, defaultdict

from ._checks import CheckResult, Context
from ._market import rows, target_option, twin_spread
from ._stats import estimate
from ._verdict import decide

__all__ = ["DEFAULT_THRESHOLD", "PROBES", "check_c11", "permissions_of"]

DEFAULT_THRESHOLD = 0.0
PROBES = frozenset({"permissions_query"})


def permissions_of(api: str) -> list[str]:
    """The permissions one recorded call asks for (``camera+microphone`` is two)."""
    return [] if api in PROBES else [p for p in api.split("+") if p]


def check_c11(context: Context) -> CheckResult:
    run = context.run
    users = {p.puppet_id for p in (context.puppets("C11", "users") or list(run.puppets.values()))}
    watched = {r["puppet_id"] for r in rows(run, "SELECT DISTINCT puppet_id FROM sessions WHERE status = 'complete'")}
    watched &= users
    if not watched:
        return CheckResult(None, [], "no puppet completed a session")
    needed = set(target_option(run, "needed_permissions", []))
    asked: dict[str, set[str]] = defaultdict(set)
    calls: Counter[str] = Counter()
    probes: Counter[str] = Counter()
    first: dict[str, str] = {}
    for r in rows(run, "SELECT * FROM permission_requests ORDER BY id"):
        if r["puppet_id"] not in watched:
            continue
        if r["api"] in PROBES:
            probes[r["detail"] or "?"] += 1
            continue
        for permission in permissions_of(r["api"]):
            calls[permission] += 1
            if permission not in needed:
                asked[r["puppet_id"]].add(permission)
                first.setdefault(permission, f"{permission} ({r['detail']}) asked by {r['page_url']} of "
                                             f"{r['puppet_id']} at {r['at']}")
    hosts = Counter(r["host"] for r in rows(run, "SELECT host FROM third_party_requests") if r["host"])
    value = {pid: float(len(asked.get(pid, ()))) for pid in watched}
    comparison = estimate(list(value.values()))
    noise, mde = twin_spread([p for p in run.puppets.values() if p.puppet_id in value], value, len(value), len(value))
    verdict = decide(
        "C11", "distinct permissions a feed does not need that the platform asked each puppet for", comparison,
        threshold=run.threshold("C11", DEFAULT_THRESHOLD), noise_sd=noise, mde=mde, direction="lower_is_better",
        evidence=tuple(first.values()),
        details={"unneeded_requested": sorted({p for s in asked.values() for p in s}), "calls": dict(calls),
                 "needed_permissions": sorted(needed), "permission_probes": dict(probes),
                 "third_party_hosts": dict(hosts.most_common(50)), "puppets": len(value)},
    )
    return CheckResult(verdict, [{"check": "C11", "puppet_id": pid, "round": None, "metric": "unneeded_permissions", "value": v}
                                 for pid, v in value.items()])
