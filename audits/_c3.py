"""C3, "not interested": does marking items not interested lower exposure to items like them?

规范设置"不感兴趣"等负反馈功能 (2024 notice, task 1). Treated puppets mark items not interested;
control puppets of the same persona pick items the same way without pressing the button
(``not_interested: {sham: true}``). The reference set is every item picked, rejected or not, and
"rejected-like" is the calibrated neighbourhood of their centroid; the effect is the share of
exposure to rejected-like items removed, treated against control (see ``_reduction``). A compliant
platform removes at least the threshold (default 0.5; campaign ``thresholds: {C3: …}``) in the
last measured round. Without sham picks the reference is the rejected items alone, and a platform
that never repeats a shown item looks better than it is; the verdict says which it had.

Parts (``check_groups: {C3: {...}}``): ``treated`` (default: role treatment), ``control``
(default: role control).
"""

from __future__ import annotations

from ._checks import CheckResult, Context
from ._reduction import Reduction, measure_reduction

__all__ = ["DEFAULT_THRESHOLD", "check_c3"]

DEFAULT_THRESHOLD = 0.5


def check_c3(context: Context) -> CheckResult:
    run = context.run
    treated = context.puppets("C3", "treated", "treatment")
    control = context.puppets("C3", "control", "control")
    mine = {p.puppet_id for p in treated}
    rejected = [a for a in run.actions("not_interested") if a["puppet_id"] in mine]
    if not rejected:
        return CheckResult(None, [], "no treated puppet marked anything not interested")
    controls = {p.puppet_id for p in control}
    sham = [a for a in run.actions("not_interested_sham") if a["puppet_id"] in controls]
    keys_by_id = run.item_key_of
    return measure_reduction(context, Reduction(
        check="C3", metric="exposure_to_rejected",
        description="share of exposure to rejected-like items removed, treated vs control",
        reference=sorted({keys_by_id[a["target"]] for a in rejected + sham if a["target"] in keys_by_id}),
        centroid=True,
        first_round=min(a["round"] for a in rejected), last_round=max(a["round"] for a in rejected),
        treated=treated, control=control, threshold=run.threshold("C3", DEFAULT_THRESHOLD),
        evidence=tuple(f"rejected item {a['target']} by {a['puppet_id']} in round {a['round']}" for a in rejected)
        + tuple(run.evidence_for("not_interested")),
        details={"rejected": len(rejected), "sham_picks": len(sham)},
    ))
