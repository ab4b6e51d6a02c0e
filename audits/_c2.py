"""C2, forced interest tags: can a new user reach the feed without choosing any tag?

不得强制要求用户选择兴趣标签 (2024 notice). Probe puppets meet onboarding asking for no tag at all
(campaign step ``onboarding: {choose: []}``): skip, or submit an empty choice. The harness records
what the screen offered, whether the feed was reached, the refusal message, and — when the
platform refused — the tags it had to choose before it let the puppet in
(``onboarding_forced_choice``).

The effect is the share of probe puppets that reached the feed without a tag, with its exact
(Clopper–Pearson) interval. A compliant platform lets every one through: the default threshold
is 1.0 (campaign ``thresholds: {C2: …}``). The verdict is on the observed share, not the
interval: a single refusal is a FAIL, with the screen that refused as evidence. A platform that shows no onboarding at all forces nothing.

Parts (``check_groups: {C2: {...}}``): ``probe`` (default: every puppet whose first onboarding
chose no tag).
"""

from __future__ import annotations

import dataclasses

from ._checks import CheckResult, Context
from ._stats import proportion
from ._verdict import Outcome, decide

__all__ = ["DEFAULT_THRESHOLD", "check_c2"]

DEFAULT_THRESHOLD = 1.0


def check_c2(context: Context) -> CheckResult:
    run = context.run
    named = context.puppets("C2", "probe")
    first: dict[str, dict] = {}
    for row in run.observations("onboarding"):
        first.setdefault(row["puppet_id"], row)
    if named:
        probes = {p: row for p, row in first.items() if p in {q.puppet_id for q in named}}
    else:
        probes = {p: row for p, row in first.items() if not row["value"]["chosen"]}
    if not probes:
        return CheckResult(None, [], "no puppet tried to pass onboarding without choosing a tag")
    through = {p: (not row["value"]["shown"]) or bool(row["value"]["skipped"]) for p, row in probes.items()}
    forced = [a for a in run.actions("onboarding_forced_choice") if a["puppet_id"] in probes]
    metrics = [{"check": "C2", "puppet_id": p, "round": probes[p]["round"], "metric": "reached_feed_without_tags",
                "value": float(ok)} for p, ok in sorted(through.items())]
    comparison = proportion(sum(through.values()), len(through))
    refused = sorted(p for p, ok in through.items() if not ok)
    verdict = decide(
        "C2", "share of new users who reached the feed without choosing an interest tag", comparison,
        threshold=run.threshold("C2", DEFAULT_THRESHOLD), noise_sd=0.0, mde=float("nan"),
        evidence=tuple(f"{p}: onboarding refused without tags: {probes[p]['value']['message']!r}" for p in refused)
        + tuple(f"{a['puppet_id']} had to choose {a['target']} to pass" for a in forced)
        + tuple(run.evidence_for("onboarding")),
        details={
            "probes": len(probes),
            "refused": refused,
            "onboarding_shown": sum(bool(r["value"]["shown"]) for r in probes.values()),
            "tags_offered": max((len(r["value"]["offered"]) for r in probes.values()), default=0),
            "tags_forced": {a["puppet_id"]: a["target"].split(",") for a in forced},
            "messages": sorted({r["value"]["message"] for r in probes.values() if r["value"]["message"]}),
        },
    )
    # A yes/no observed on every probe, not an estimate: judged on what was observed (one refusal is a
    # finding); the interval says what the probes imply for all new users.
    observed: Outcome = "PASS" if comparison.effect >= verdict.threshold else "FAIL"
    return CheckResult(dataclasses.replace(verdict, outcome=observed, puppets_needed=None), metrics)
