"""C8, coupons: is a refusal's reason the real one?

清晰说明优惠券的领取条件…客观如实说明优惠券领取失败原因,严禁以"来晚了""擦肩而过"等提示词掩盖真实原因
(2024 notice). Puppets claim the same coupons in lock-step; each claim's outcome, message and the
stock the page showed before and after are recorded (``coupons``).

A refusal is **masked** when its message is vague (it contains one of the phrases in
:data:`VAGUE_PHRASES`, or the campaign's ``target.options.coupon_vague_phrases``) and the facts
contradict it: the page showed stock left, before or after the claim, or another puppet claimed
the same coupon within ``lockstep_window_s`` seconds. An honest "sold out (0 left)" with no stock
and no one else succeeding is not flagged. A puppet's value is the share of its claims that were
masked refusals; the effect is the mean over puppets with a bootstrap CI (``lower_is_better``;
default threshold 0.05, campaign ``thresholds: {C8: …}``). Whether each coupon showed its claim
rules is in the details.

Parts (``check_groups: {C8: {...}}``): ``claimants`` (default: every puppet).
"""

from __future__ import annotations

import re
import statistics
from collections import defaultdict
from typing import Any

from ._checks import CheckResult, Context
from ._market import Lockstep, epoch, rows, target_option, twin_spread, window_s
from ._stats import estimate
from ._verdict import decide

__all__ = ["DEFAULT_THRESHOLD", "VAGUE_PHRASES", "check_c8", "is_vague", "stock_shown"]

DEFAULT_THRESHOLD = 0.05
VAGUE_PHRASES = ("来晚了", "擦肩而过", "抢光", "手慢", "被抢", "没抢到", "too late", "all gone", "sold out",
                 "missed out", "better luck")
_STOCK = re.compile(r"\d+")


def is_vague(message: str, phrases: tuple[str, ...] = VAGUE_PHRASES) -> bool:
    lowered = message.lower()
    return any(p.lower() in lowered for p in phrases)


def stock_shown(text: str | None) -> int | None:
    """The stock a coupon's label shows (``剩余 12 张``, ``12 left``); None when it shows none."""
    match = _STOCK.search((text or "").replace(",", ""))
    return int(match.group()) if match else None


def check_c8(context: Context) -> CheckResult:
    run = context.run
    claimants = {p.puppet_id: p for p in (context.puppets("C8", "claimants") or list(run.puppets.values()))}
    claims = [r for r in rows(run, "SELECT * FROM coupons ORDER BY id") if r["puppet_id"] in claimants]
    if not claims:
        return CheckResult(None, [], "no coupon claim was recorded (step claim_coupon)")
    phrases = tuple(target_option(run, "coupon_vague_phrases", VAGUE_PHRASES))
    lockstep = Lockstep(window_s(run))
    successes: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for c in claims:
        if c["claimed"] and not is_vague(c["message"] or "", phrases):
            successes[c["coupon_id"]].append((epoch(c["at"]), c["puppet_id"]))
    per_puppet: dict[str, list[int]] = defaultdict(list)
    evidence, vague = [], 0
    by_coupon: dict[str, dict[str, Any]] = {}
    for c in claims:
        message = c["message"] or ""
        row = by_coupon.setdefault(c["coupon_id"], {"title": c["title"], "claims": 0, "claimed": 0,
                                                    "masked": 0, "rules": c["rules"] or ""})
        row["claims"] += 1
        row["claimed"] += int(bool(c["claimed"]))
        masked = False
        if not c["claimed"] and is_vague(message, phrases):
            vague += 1
            stock = [s for s in (stock_shown(c["stock_before"]), stock_shown(c["stock_after"])) if s is not None]
            at = epoch(c["at"])
            others = [(t, pid) for t, pid in successes[c["coupon_id"]]
                      if pid != c["puppet_id"] and lockstep.admit(t - at)]
            masked = any(s > 0 for s in stock) or bool(others)
            if masked:
                why = f"stock shown {c['stock_before']!r} before, {c['stock_after']!r} after"
                if others:
                    why += f"; claimed by {others[0][1]} {others[0][0] - at:+.1f}s from it"
                evidence.append(f"coupon {c['coupon_id']} refused to {c['puppet_id']} at {c['at']} with "
                                f"{message!r}: {why}")
        row["masked"] += int(masked)
        per_puppet[c["puppet_id"]].append(int(masked))
    value = {pid: statistics.fmean(v) for pid, v in per_puppet.items()}
    # How close in time the claims of one coupon in one round were: the lock-step achieved.
    claimed_together = Lockstep(lockstep.window_s)
    by_round: dict[tuple[int, str], list[float]] = defaultdict(list)
    for c in claims:
        by_round[(c["round"], c["coupon_id"])].append(epoch(c["at"]))
    for times in by_round.values():
        for t in times:
            claimed_together.admit(t - min(times))
    comparison = estimate(list(value.values()))
    noise, mde = twin_spread(claimants.values(), value, len(value), len(value))
    rules_shown = [bool(r["rules"].strip(" ·")) for r in by_coupon.values()]
    verdict = decide(
        "C8", "share of a puppet's coupon claims refused with a vague reason that the stock or others' success contradicts",
        comparison, threshold=run.threshold("C8", DEFAULT_THRESHOLD), noise_sd=noise, mde=mde,
        direction="lower_is_better", evidence=tuple(evidence[:20]) + tuple(run.evidence_for("claim_coupon")[:10]),
        details={"claims": len(claims), "vague_refusals": vague, "masked_refusals": sum(r["masked"] for r in by_coupon.values()),
                 "by_coupon": by_coupon, "rules_disclosed_share": statistics.fmean(rules_shown),
                 "vague_phrases": list(phrases), "success_comparisons": lockstep.details(),
                 **claimed_together.details()},
    )
    return CheckResult(verdict, [{"check": "C8", "puppet_id": pid, "round": None, "metric": "masked_refusal_share", "value": v}
                                 for pid, v in value.items()])
