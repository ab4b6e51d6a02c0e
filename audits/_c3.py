"""C3, "not interested": does marking items not interested lower exposure to items like them?

规范设置"不感兴趣"等负反馈功能 (2024 notice, task 1). Treated puppets mark items not interested;
control puppets of the same persona do not. The reference set X is every item the treated
puppets rejected. For each puppet, exposure to X is measured in the last round before the first
rejection and in the measurement rounds after it; the effect is the difference in differences,
as a share of the treated puppets' exposure before::

    effect = (Δcontrol − Δtreated) / mean(treated before),   Δ = exposure after − exposure before

so 0.6 means "not interested" removed 60% of the exposure the control kept. A compliant platform
removes at least the threshold (default 0.5; campaign ``thresholds: {C3: …}``) in the last
measurement round (the one furthest from the rejection: feedback that fades fails).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._exposure import ExposureSpace
from ._run import Run
from ._stats import compare, minimum_detectable_effect, twin_noise
from ._verdict import Verdict, decide

__all__ = ["DEFAULT_THRESHOLD", "check_c3"]

DEFAULT_THRESHOLD = 0.5


def _pairs(values: dict[str, float], order: list[str]) -> list[tuple[float, float]]:
    """Twins: consecutive replicas of one group (0 with 1, 2 with 3, …)."""
    present = [p for p in order if p in values]
    return [(values[a], values[b]) for a, b in zip(present[0::2], present[1::2])]


def check_c3(run: Run, space: ExposureSpace) -> tuple[Verdict | None, list[dict[str, Any]], str]:
    """The verdict (None when the run cannot support one), per-puppet metrics, and why not."""
    rejected = run.actions("not_interested")
    if not rejected:
        return None, [], "no puppet marked anything not interested"
    keys_by_id = {v["platform_item_id"]: k for k, v in run.items().items()}
    reference = sorted({keys_by_id[a["target"]] for a in rejected if a["target"] in keys_by_id})
    first_rejection = min(a["round"] for a in rejected)
    last_rejection = max(a["round"] for a in rejected)
    treated = [p for p in run.puppets.values() if p.role == "treatment"]
    control = [p for p in run.puppets.values() if p.role == "control"]
    if len(treated) < 2 or len(control) < 2:
        return None, [], "C3 needs at least two treated and two control puppets"
    feed = run.feed()
    everyone = [p.puppet_id for p in treated + control]

    def rounds_seen_by_all(rounds: list[int]) -> list[int]:
        return [r for r in rounds if all(feed.get((p, r)) for p in everyone)]

    before = rounds_seen_by_all([r for r in sorted(run.phases) if r < first_rejection])
    after = rounds_seen_by_all([r for r in sorted(run.phases) if r > last_rejection])
    if not before or not after:
        return None, [], "C3 needs a round that every puppet read before the rejections and one after"
    b, late, early = before[-1], after[-1], after[0]
    exposure = {(p, r): space.share(feed[(p, r)], reference) for p in everyone for r in {b, early, late}}
    metrics = [
        {"check": "C3", "puppet_id": p, "round": r, "metric": "exposure_to_rejected", "value": exposure[(p, r)]}
        for (p, r) in sorted(exposure)
    ]
    base = float(np.mean([exposure[(p.puppet_id, b)] for p in treated]))
    if base <= 0:
        return None, metrics, "the treated puppets saw nothing like the rejected items before rejecting them"

    def reduction(after_round: int) -> tuple[dict[str, float], dict[str, float]]:
        # Per puppet, the exposure it lost, in units of the treated puppets' exposure before.
        lost = {p: (exposure[(p, b)] - exposure[(p, after_round)]) / base for p in everyone}
        return ({p.puppet_id: lost[p.puppet_id] for p in treated}, {p.puppet_id: lost[p.puppet_id] for p in control})

    t_late, c_late = reduction(late)
    comparison = compare(list(t_late.values()), list(c_late.values()))
    t_early, c_early = reduction(early)
    right_after = compare(list(t_early.values()), list(c_early.values()))
    pairs = _pairs(t_late, [p.puppet_id for p in treated]) + _pairs(c_late, [p.puppet_id for p in control])
    noise = twin_noise(pairs) if pairs else float("nan")
    mde = minimum_detectable_effect(noise, len(treated), len(control)) if pairs else float("nan")
    verdict = decide(
        "C3", "share of exposure to rejected-like items removed, treated vs control (difference in differences)",
        comparison, threshold=run.threshold("C3", DEFAULT_THRESHOLD), noise_sd=noise, mde=mde,
        evidence=tuple(f"rejected item {a['target']} by {a['puppet_id']} in round {a['round']}" for a in rejected)
        + tuple(run.evidence_for("not_interested")),
        details={
            "rounds": {"before": b, "right_after": early, "later": late},
            "right_after": {"effect": right_after.effect, "ci": right_after.ci, "p_value": right_after.p_value},
            "treated_exposure_before": base,
            "reference_items": len(reference),
            "neighbourhood_cosine": space.calibration.threshold,
            "calibration_precision": space.calibration.precision,
            "model": space.model_id,
        },
    )
    return verdict, metrics, ""
