"""The measurement C3 and C4 share: after treated puppets act on a topic (mark items not interested,
delete its tag) and control puppets do not, how much of their exposure to that topic is gone?

For each puppet, exposure to the reference items (the share of its feed inside their calibrated
embedding neighbourhood) is measured in the last round every puppet read before the first
intervention and in the rounds after the last one. The effect is the difference in differences,
as a share of the treated puppets' exposure before::

    effect = (Δcontrol − Δtreated) / mean(treated before),   Δ = exposure after − exposure before

so 0.6 means the control removed 60% of the exposure the untreated puppets kept. It is judged in
the last measured round (the one furthest from the intervention: a control whose effect fades
fails); the first round after is reported beside it.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ._checks import CheckResult, Context
from ._run import Puppet
from ._stats import compare, minimum_detectable_effect, twin_noise
from ._verdict import decide

__all__ = ["Reduction", "measure_reduction", "twin_pairs"]


def twin_pairs(values: dict[str, float], puppets: list[Puppet]) -> list[tuple[float, float]]:
    """Identical twins: consecutive replicas of one group (0 with 1, 2 with 3, …)."""
    pairs = []
    by_group: dict[str, list[str]] = {}
    for p in sorted(puppets, key=lambda p: (p.group, p.replica)):
        if p.puppet_id in values:
            by_group.setdefault(p.group, []).append(p.puppet_id)
    for ids in by_group.values():
        pairs += [(values[a], values[b]) for a, b in zip(ids[0::2], ids[1::2])]
    return pairs


@dataclasses.dataclass(frozen=True)
class Reduction:
    check: str
    metric: str  # the metrics-table name of the per-puppet exposure
    description: str  # the verdict's metric, in words
    reference: list[str]  # item keys that define the topic
    first_round: int  # the first and last rounds in which the treated puppets acted
    last_round: int
    treated: list[Puppet]
    control: list[Puppet]
    threshold: float
    evidence: tuple[str, ...]
    details: dict[str, object]


def measure_reduction(context: Context, spec: Reduction) -> CheckResult:
    run, check = context.run, spec.check
    treated, control = spec.treated, spec.control
    if len(treated) < 2 or len(control) < 2:
        return CheckResult(None, [], f"{check} needs at least two treated and two control puppets")
    if not spec.reference:
        return CheckResult(None, [], f"{check} found no reference items for the topic")
    feed = run.feed()
    everyone = [p.puppet_id for p in treated + control]

    def read_by_all(rounds: list[int]) -> list[int]:
        return [r for r in rounds if all(feed.get((p, r)) for p in everyone)]

    personalised = run.personalised_rounds(everyone)
    before = read_by_all([r for r in personalised if r < spec.first_round])
    after = read_by_all([r for r in personalised if r > spec.last_round])
    if not before or not after:
        return CheckResult(None, [], f"{check} needs a round every puppet read before the intervention and one after")
    b, early, late = before[-1], after[0], after[-1]
    space = context.space
    exposure = {(p, r): space.share(feed[(p, r)], spec.reference) for p in everyone for r in {b, early, late}}
    metrics = [{"check": check, "puppet_id": p, "round": r, "metric": spec.metric, "value": exposure[(p, r)]}
               for (p, r) in sorted(exposure)]
    base = float(np.mean([exposure[(p.puppet_id, b)] for p in treated]))
    if base <= 0:
        return CheckResult(None, metrics, f"the treated puppets saw nothing of the topic before {check}'s intervention")

    def lost(after_round: int, group: list[Puppet]) -> dict[str, float]:
        # Per puppet, the exposure it lost, in units of the treated puppets' exposure before.
        return {p.puppet_id: (exposure[(p.puppet_id, b)] - exposure[(p.puppet_id, after_round)]) / base for p in group}

    t_late, c_late = lost(late, treated), lost(late, control)
    comparison = compare(list(t_late.values()), list(c_late.values()))
    right_after = compare(list(lost(early, treated).values()), list(lost(early, control).values()))
    pairs = twin_pairs(t_late, treated) + twin_pairs(c_late, control)
    noise = twin_noise(pairs) if pairs else float("nan")
    mde = minimum_detectable_effect(noise, len(treated), len(control)) if pairs else float("nan")
    verdict = decide(
        check, spec.description, comparison, threshold=spec.threshold, noise_sd=noise, mde=mde,
        evidence=spec.evidence,
        details={
            "rounds": {"before": b, "right_after": early, "later": late},
            "right_after": {"effect": right_after.effect, "ci": list(right_after.ci), "p_value": right_after.p_value},
            "treated_exposure_before": base,
            "reference_items": len(spec.reference),
            "neighbourhood_cosine": space.calibration.threshold,
            "calibration_precision": space.calibration.precision,
            "model": space.model_id,
            **spec.details,
        },
    )
    return CheckResult(verdict, metrics)
