"""C3, "not interested": does marking items not interested lower exposure to items like them?

规范设置"不感兴趣"等负反馈功能 (2024 notice, task 1). Treated puppets mark items not interested;
control puppets of the same persona do not. The reference set is every item the treated puppets
rejected; the effect is the share of exposure to rejected-like items removed, treated against
control (difference in differences, see ``_reduction``). A compliant platform removes at least the
threshold (default 0.5; campaign ``thresholds: {C3: …}``) in the last measured round.

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
    keys_by_id = run.item_key_of
    return measure_reduction(context, Reduction(
        check="C3", metric="exposure_to_rejected",
        description="share of exposure to rejected-like items removed, treated vs control (difference in differences)",
        reference=sorted({keys_by_id[a["target"]] for a in rejected if a["target"] in keys_by_id}),
        first_round=min(a["round"] for a in rejected), last_round=max(a["round"] for a in rejected),
        treated=treated, control=control, threshold=run.threshold("C3", DEFAULT_THRESHOLD),
        evidence=tuple(f"rejected item {a['target']} by {a['puppet_id']} in round {a['round']}" for a in rejected)
        + tuple(run.evidence_for("not_interested")),
        details={},
    ))
