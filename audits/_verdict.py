"""Verdicts: PASS, FAIL or INCONCLUSIVE, with everything an inspector needs to defend them.

Every check measures how well a user control works (or how large a violation is) as an effect
with a confidence interval, and compares it with a threshold that the campaign may override:

- FAIL when the whole interval lies below the threshold: confidently not good enough;
- PASS when the whole interval lies at or above it: confidently good enough;
- INCONCLUSIVE otherwise, saying how many puppets per group would decide it.

(An earlier rule passed a control whose interval merely excluded zero while its estimate met the
threshold; calibration against the sandbox showed it PASSing an ignored "not interested" button
on three puppets a side, with an interval of [0.05, 0.97].)

That is for effects where larger is better (how much of the exposure "not interested" removed).
For the size of a violation, where smaller is better (how much the profile leaks into an "off"
feed), the rule mirrors: FAIL when the whole interval lies above the tolerated threshold, PASS when
the whole interval lies at or below it.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Literal

from ._stats import Comparison, puppets_needed

__all__ = ["Verdict", "decide", "judge"]

Outcome = Literal["PASS", "FAIL", "INCONCLUSIVE"]
Direction = Literal["higher_is_better", "lower_is_better"]


@dataclasses.dataclass(frozen=True)
class Verdict:
    check: str
    outcome: Outcome
    metric: str  # what the effect measures, in words
    effect: float
    ci_low: float
    ci_high: float
    p_value: float
    threshold: float
    noise_sd: float  # the twin baseline: one puppet's noise
    mde: float  # the smallest effect this sample detects with 80% power
    n_treated: int
    n_control: int
    puppets_needed: int | None  # per group, to decide an INCONCLUSIVE verdict
    direction: Direction = "higher_is_better"
    evidence: tuple[str, ...] = ()
    details: dict[str, Any] = dataclasses.field(default_factory=dict)

    def row(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["evidence"] = json.dumps(list(self.evidence), ensure_ascii=False)
        data["details"] = json.dumps(self.details, ensure_ascii=False, default=float)
        return data


def judge(ci_low: float, ci_high: float, threshold: float, direction: Direction) -> Outcome:
    """The rule alone: where the interval lies against the threshold."""
    if direction == "higher_is_better":
        if ci_high < threshold:
            return "FAIL"
        return "PASS" if ci_low >= threshold else "INCONCLUSIVE"
    if ci_low > threshold:
        return "FAIL"
    return "PASS" if ci_high <= threshold else "INCONCLUSIVE"


def decide(check: str, metric: str, comparison: Comparison, *, threshold: float, noise_sd: float, mde: float,
           direction: Direction = "higher_is_better", evidence: tuple[str, ...] = (),
           details: dict[str, Any] | None = None) -> Verdict:
    """The verdict for an effect. ``higher_is_better``: a control that works, measured so that
    working is positive, and ``threshold`` is the least a compliant platform achieves.
    ``lower_is_better``: a violation, and ``threshold`` is the most that is tolerated."""
    outcome = judge(comparison.ci_low, comparison.ci_high, threshold, direction)
    needed = None
    if outcome == "INCONCLUSIVE" and noise_sd > 0:
        # The distance the interval has to resolve: the estimate from the threshold.
        distance = max(abs(comparison.effect - threshold), 0.1 * abs(threshold))
        needed = puppets_needed(max(distance, 1e-6), noise_sd)
    return Verdict(check, outcome, metric, comparison.effect, comparison.ci_low, comparison.ci_high,
                   comparison.p_value, threshold, noise_sd, mde, comparison.n_treated, comparison.n_control,
                   needed, direction, evidence, details or {})
