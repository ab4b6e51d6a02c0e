"""C8, coupons: is a refusal's reason the real one?

清晰说明优惠券的领取条件…客观如实说明优惠券领取失败原因,严禁以"来晚了""擦肩而过"等提示词掩盖真实原因
(2024 notice). Puppets claim the same coupons in lock-step; each claim's outcome, message and the
stock the page showed before and after it are recorded (``coupons``), and the claim step's start
(``commands.started_at``) and the claim's record (``coupons.at``) bracket when the platform decided.

A refusal is **vague** when its message contains one of the phrases in :data:`VAGUE_PHRASES` (or
the campaign's ``target.options.coupon_vague_phrases``). A vague refusal is honest when the stock
had really run out: coupons that truly run out are a lawful design, and "已抢光" after the last unit
went to another puppet is the truth in few words. It is **masked** only where stock demonstrably
remained:

- the stock shown was above zero both before and after the refusal, each read nearest in time to
  it (the refusing puppet's own page, read before its click and after the answer; else another
  puppet's reading known to precede or follow the refusal); or
- the coupon was granted to a puppet that started claiming after the refusal had been answered,
  within ``lockstep_window_s`` seconds.

A puppet's value is the share of its claims that were masked refusals; the effect is the mean over
puppets with a bootstrap CI (``lower_is_better``; default threshold 0.05, campaign ``thresholds:
{C8: …}``). ``details["sequence"]`` lists each coupon's claims in time (time, puppet, outcome,
message, stock shown before and after), the evidence the sequence around each masked refusal;
whether each coupon showed its claim rules is in ``details["by_coupon"]``.

Parts (``check_groups: {C8: {...}}``): ``claimants`` (default: every puppet).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
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
_SEQUENCE_ROWS = 60  # claims per coupon kept in the details


def is_vague(message: str, phrases: tuple[str, ...] = VAGUE_PHRASES) -> bool:
    lowered = message.lower()
    return any(p.lower() in lowered for p in phrases)


def stock_shown(text: str | None) -> int | None:
    """The stock a coupon's label shows (``剩余 12 张``, ``12 left``); None when it shows none."""
    match = _STOCK.search((text or "").replace(",", ""))
    return int(match.group()) if match else None


@dataclasses.dataclass
class _Claim:
    row: dict[str, Any]
    start: float  # the claim step began (its page not yet loaded): before the stock was read
    end: float  # the claim was recorded: after the platform answered and the stock was read again
    before: int | None
    after: int | None
    vague: bool
    outcome: str = ""

    @property
    def puppet(self) -> str:
        return self.row["puppet_id"]


def _starts(run: Any) -> dict[str, list[float]]:
    """Session -> the start times of its claim_coupon steps, in order."""
    out: dict[str, list[float]] = defaultdict(list)
    for r in rows(run, "SELECT session_id, started_at FROM commands WHERE verb = 'claim_coupon' ORDER BY id"):
        if r["started_at"]:
            out[r["session_id"]].append(epoch(r["started_at"]))
    return out


def _reading_before(c: _Claim, others: list[_Claim]) -> tuple[int, str] | None:
    """The stock shown nearest before the platform decided ``c``, and whose reading it was."""
    if c.before is not None:
        return c.before, c.puppet
    known = [(o.end, o.after if o.after is not None else o.before, o.puppet) for o in others if o.end <= c.start]
    known = [k for k in known if k[1] is not None]
    return (max(known)[1], max(known)[2]) if known else None


def _reading_after(c: _Claim, others: list[_Claim]) -> tuple[int, str] | None:
    """The stock shown nearest after the platform answered ``c``, and whose reading it was."""
    if c.after is not None:
        return c.after, c.puppet
    known = [(o.start, o.before if o.before is not None else o.after, o.puppet) for o in others if o.start >= c.end]
    known = [k for k in known if k[1] is not None]
    return (min(known)[1], min(known)[2]) if known else None


def _iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).isoformat(timespec="milliseconds")


def _clock(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%H:%M:%S.%f")[:-3]


def _step(c: _Claim) -> str:
    return (f"{_clock(c.end)} {c.puppet} {c.outcome} {c.row['message'] or ''!r} "
            f"(stock {c.row['stock_before'] or '—'} → {c.row['stock_after'] or '—'})")


def check_c8(context: Context) -> CheckResult:
    run = context.run
    claimants = {p.puppet_id: p for p in (context.puppets("C8", "claimants") or list(run.puppets.values()))}
    recorded = [r for r in rows(run, "SELECT * FROM coupons ORDER BY id") if r["puppet_id"] in claimants]
    if not recorded:
        return CheckResult(None, [], "no coupon claim was recorded (step claim_coupon)")
    phrases = tuple(target_option(run, "coupon_vague_phrases", VAGUE_PHRASES))
    lockstep = Lockstep(window_s(run))
    starts = _starts(run)
    claims: list[_Claim] = []
    for r in recorded:
        end = epoch(r["at"])
        # The claim step of this session that began last before the claim was recorded.
        start = max((s for s in starts.get(r["session_id"], ()) if s <= end), default=end)
        vague = not r["claimed"] and is_vague(r["message"] or "", phrases)
        claims.append(_Claim(r, start, end, stock_shown(r["stock_before"]), stock_shown(r["stock_after"]), vague,
                             "claimed" if r["claimed"] else ("vague refusal" if vague else "refused")))
    by_coupon_claims: dict[str, list[_Claim]] = defaultdict(list)
    for c in sorted(claims, key=lambda c: (c.end, c.start)):
        by_coupon_claims[c.row["coupon_id"]].append(c)
    per_puppet: dict[str, list[int]] = defaultdict(list)
    evidence: list[str] = []
    by_coupon: dict[str, dict[str, Any]] = {}
    vague = 0
    for coupon, sequence in by_coupon_claims.items():
        masked_here: list[str] = []
        first = sequence[0].row
        summary = by_coupon.setdefault(coupon, {"title": first["title"], "claims": 0, "claimed": 0, "masked": 0,
                                                "honest_vague": 0, "rules": first["rules"] or ""})
        for c in sequence:
            summary["claims"] += 1
            summary["claimed"] += int(bool(c.row["claimed"]))
            masked = False
            if c.vague:
                vague += 1
                others = [o for o in sequence if o is not c]
                before, after = _reading_before(c, others), _reading_after(c, others)
                stock_left = before is not None and after is not None and before[0] > 0 and after[0] > 0
                later = [o for o in others if o.row["claimed"] and o.start > c.end and lockstep.admit(o.start - c.end)]
                masked = stock_left or bool(later)
                if masked:
                    why = []
                    if stock_left:
                        assert before is not None and after is not None
                        why.append(f"stock shown {before[0]} before it (read by {before[1]}) and {after[0]} after it "
                                   f"(read by {after[1]})")
                    if later:
                        why.append(f"granted to {later[0].puppet}, who began claiming {later[0].start - c.end:.1f}s "
                                   f"after the refusal")
                    masked_here.append(f"coupon {coupon} refused to {c.puppet} at {c.row['at']} with "
                                       f"{c.row['message']!r}: {'; '.join(why)}")
                    c.outcome = "masked refusal"
                else:
                    summary["honest_vague"] += 1
            summary["masked"] += int(masked)
            per_puppet[c.puppet].append(int(masked))
        if masked_here:
            # The coupon's claims in time, then (some of) its masked refusals.
            evidence.append(f"coupon {coupon}, claims in time: " + "; ".join(_step(c) for c in sequence[:12])
                            + (f"; … {len(sequence) - 12} more" if len(sequence) > 12 else ""))
            evidence += masked_here[:6]
    value = {pid: statistics.fmean(v) for pid, v in per_puppet.items()}
    # How close in time the claims of one coupon in one round were: the lock-step achieved.
    claimed_together = Lockstep(lockstep.window_s)
    by_round: dict[tuple[int, str], list[float]] = defaultdict(list)
    for c in claims:
        by_round[(c.row["round"], c.row["coupon_id"])].append(c.end)
    for times in by_round.values():
        for t in times:
            claimed_together.admit(t - min(times))
    sequences = {coupon: [{"at": c.row["at"], "step_started_at": _iso(c.start), "puppet_id": c.puppet,
                           "outcome": c.outcome, "message": c.row["message"] or "",
                           "stock_before": c.row["stock_before"], "stock_after": c.row["stock_after"]}
                          for c in sequence[:_SEQUENCE_ROWS]]
                 for coupon, sequence in by_coupon_claims.items()}
    comparison = estimate(list(value.values()))
    noise, mde = twin_spread(claimants.values(), value, len(value), len(value))
    rules_shown = [bool(r["rules"].strip(" ·")) for r in by_coupon.values()]
    verdict = decide(
        "C8", "share of a puppet's coupon claims refused with a vague reason while stock demonstrably remained",
        comparison, threshold=run.threshold("C8", DEFAULT_THRESHOLD), noise_sd=noise, mde=mde,
        direction="lower_is_better", evidence=tuple(evidence[:30]) + tuple(run.evidence_for("claim_coupon")[:10]),
        details={"claims": len(claims), "vague_refusals": vague, "masked_refusals": sum(r["masked"] for r in by_coupon.values()),
                 "by_coupon": by_coupon, "sequence": sequences, "rules_disclosed_share": statistics.fmean(rules_shown),
                 "vague_phrases": list(phrases), "later_success_comparisons": lockstep.details(),
                 **claimed_together.details()},
    )
    return CheckResult(verdict, [{"check": "C8", "puppet_id": pid, "round": None, "metric": "masked_refusal_share", "value": v}
                                 for pid, v in value.items()])
