"""The measurement C3 and C4 share: after treated puppets act on a topic (mark items not interested,
delete its tag) and control puppets do not, how much of their exposure to that topic is gone?

For each puppet, exposure to the reference items (the share of its feed inside their calibrated
embedding neighbourhood) is measured in the rounds after the last intervention. The effect is the
treated puppets' exposure as a share of the control puppets', taken from one::

    effect = 1 − (mean(treated exposure after) − fpr) / (mean(control exposure after) − fpr)

so 0.6 means the control removed 60% of the exposure the untreated puppets kept. ``fpr`` is the
neighbourhood's false-positive rate, counted on the cards of that round whose channel is not the
topic's (the channel most reference items carry): a puppet shown none of the topic still has that
much of its feed inside the neighbourhood, and without it a control that removed 92% of the
topic read 0.79 on Toutiao. Where the cards show no channel, or the neighbourhood separates the
topic too little to correct for (``NeighbourhoodErrors.separates``), fpr is 0 and the details
say so. Each exposure is a share of the puppet's feed cards, and the interval is told how many:
three treated puppets that all happened to see none of the topic do not make the reduction
exactly 1. Treated and control are replicas of one persona, so the control's exposure is what
the treated puppets would have had; a difference with the exposure before the intervention would
only add that round's noise (item-level noise in one round is nearly independent of the next).
The round before is reported beside the verdict as a balance check. The effect is judged in the
last measured round (the one furthest from the intervention: a control whose effect fades fails);
the first round after is reported beside it.

Where the reference items come from the treated puppets' own feeds (the items they rejected), the
control puppets pick items the same way without pressing anything (``not_interested: {sham:
true}``), and their picks join the reference: a platform that never repeats an item a user was
shown would otherwise lower the treated puppets' exposure to their own picks on its own.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ._checks import CheckResult, Context
from ._exposure import NeighbourhoodErrors
from ._run import Puppet
from ._stats import (
    Comparison,
    minimum_detectable_effect,
    relative_reduction,
    twin_noise,
)
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
    centroid: bool  # the topic is the reference items' centroid (a handful of items), else their union
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
    if not after:
        return CheckResult(None, [], f"{check} needs a round every puppet read after the intervention")
    # The round before is only the balance check: a campaign without one is still measured.
    b, early, late = (before[-1] if before else None), after[0], after[-1]
    space = context.space
    measure = space.topic_share if spec.centroid else space.share
    exposure = {(p, r): measure(feed[(p, r)], spec.reference) for p in everyone for r in {b, early, late} - {None}}
    metrics = [{"check": check, "puppet_id": p, "round": r, "metric": spec.metric, "value": exposure[(p, r)]}
               for (p, r) in sorted(exposure)]

    def of(group: list[Puppet], round_index: int) -> list[float]:
        return [exposure[(p.puppet_id, round_index)] for p in group]

    def errors(round_index: int) -> NeighbourhoodErrors:
        return space.errors([k for p in everyone for k in feed[(p, round_index)]], spec.reference,
                            centroid=spec.centroid)

    def cards(group: list[Puppet], round_index: int) -> list[int]:
        return [len(feed[(p.puppet_id, round_index)]) for p in group]

    def reduction(round_index: int, floor: float) -> Comparison | None:
        if np.mean(of(control, round_index)) <= floor:
            return None
        return relative_reduction(of(treated, round_index), of(control, round_index),
                                  cards=(cards(treated, round_index), cards(control, round_index)), floor=floor)

    late_errors = errors(late)
    comparison = reduction(late, late_errors.floor)
    if comparison is None:
        return CheckResult(None, metrics, f"the control puppets saw nothing of the topic after {check}'s intervention")
    right_after = reduction(early, errors(early).floor)
    # Twin noise in the effect's units: one puppet's exposure above the floor as a share of the control's mean.
    base = float(np.mean(of(control, late))) - late_errors.floor
    relative = {p.puppet_id: (exposure[(p.puppet_id, late)] - late_errors.floor) / base for p in treated + control}
    pairs = twin_pairs(relative, treated) + twin_pairs(relative, control)
    noise = twin_noise(pairs) if pairs else float("nan")
    mde = minimum_detectable_effect(noise, len(treated), len(control)) if pairs else float("nan")
    calibration = space.centroid_calibration(len(spec.reference)) if spec.centroid else space.calibration
    verdict = decide(
        check, spec.description, comparison, threshold=spec.threshold, noise_sd=noise, mde=mde,
        evidence=spec.evidence,
        details={
            "rounds": {"before": b, "right_after": early, "later": late},
            "right_after": (None if right_after is None else
                            {"effect": right_after.effect, "ci": list(right_after.ci), "p_value": right_after.p_value}),
            "exposure_before": None if b is None else {"treated": float(np.mean(of(treated, b))),
                                                       "control": float(np.mean(of(control, b)))},
            "exposure_after": {"treated": float(np.mean(of(treated, late))),
                               "control": float(np.mean(of(control, late)))},
            "neighbourhood_errors": late_errors.details(),
            "reference_items": len(spec.reference),
            "neighbourhood": "centroid of the reference items" if spec.centroid else "any reference item",
            "neighbourhood_cosine": calibration.threshold,
            "calibration_precision": calibration.precision,
            "calibration_recall": calibration.recall,
            "model": space.model_id,
            **spec.details,
        },
    )
    return CheckResult(verdict, metrics)
