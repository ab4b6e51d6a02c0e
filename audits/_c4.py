"""C4, user tags: does deleting an interest tag remove the interest, and does the tag stay gone?

向用户提供选择或者删除…用户标签的功能 (2024 notice). Treated puppets read their tag page and delete
tag X; control puppets of the same persona do not. Where the platform's cards show channel labels
and X is one of them, exposure is the share of the feed's cards labelled X: direct evidence, no
model. Otherwise (a keyword tag, cards without labels) the reference set is every item shown under
X's name, and exposure the share of the feed inside their calibrated embedding neighbourhood;
``details.measured_by`` says which. Baseline
puppets, of another persona without the interest, show what a user who never had it is shown of
X. The effect is the share of the control's excess exposure over the baseline that the deletion
removed (see ``_reduction``): 1 when the treated puppets are shown X as anyone is, 0 when the
deletion changed nothing. A compliant platform removes at least the threshold (default 0.5;
campaign ``thresholds: {C4: …}``) in the last measured round.

A deletion that only hides the tag keeps the interest in the ranking: the tag page looks right,
the feed does not. Whether a deleted tag was listed again later is reported beside the verdict
(``details.reappeared``).

Parts (``check_groups: {C4: {...}}``): ``treated`` (default: role treatment), ``control``
(default: role control), ``baseline`` (default: the puppets of every persona that is neither the
treated puppets' nor the control's; at least two must read the measured round personalised).
"""

from __future__ import annotations

from ._checks import CheckResult, Context
from ._reduction import Reduction, label_scope, measure_reduction, neighbourhood_scope

__all__ = ["DEFAULT_THRESHOLD", "check_c4"]

DEFAULT_THRESHOLD = 0.5


def check_c4(context: Context) -> CheckResult:
    run = context.run
    treated = context.puppets("C4", "treated", "treatment")
    control = context.puppets("C4", "control", "control")
    compared = {p.persona_id for p in treated + control}
    # Not by role: a group without one has role baseline, and would put the treated persona's
    # other puppets (C5's still-on fans, say) into the baseline.
    baseline = (context.puppets("C4", "baseline")
                or [p for p in run.puppets.values() if p.persona_id not in compared])
    mine = {p.puppet_id for p in treated}
    deletions = [a for a in run.actions("delete_tag") if a["puppet_id"] in mine]
    if not deletions:
        return CheckResult(None, [], "no treated puppet deleted a tag")
    deleted = {a["target"] for a in deletions}
    # A tag named as the platform labels its cards' channels is measured by those labels (direct
    # evidence); any other tag (a keyword) by the neighbourhood of the items shown under its name.
    promised = f"items of the deleted tag ({', '.join(sorted(deleted))})"
    if deleted <= run.labels("channel") and run.labels_tell_apart("channel"):
        scope = label_scope(run, "channel", {"": sorted(k for k, item in run.items().items()
                                                     if item["channel"] in deleted)}, promised)
    else:
        reference = sorted(k for k, item in run.items().items()
                           if item["channel"] in deleted or any(tag in (item["title"] or "") for tag in deleted))
        if not reference:
            return CheckResult(None, [], f"no card showed the deleted tag {sorted(deleted)} as its channel or title")
        scope = neighbourhood_scope(context.space, reference, centroid=False, promised=promised)
    last_deletion = max(a["round"] for a in deletions)
    # Listings after the deletion (the listing the delete step itself records comes in the same round).
    reappeared = sorted({
        f"{o['puppet_id']} round {o['round']}: {tag}"
        for o in run.observations("tags") if o["puppet_id"] in mine and o["round"] > last_deletion
        for tag in (o["value"] or []) if tag in deleted
    })
    still_listed = [a for a in deletions if a["outcome"] != "ok"]
    return measure_reduction(context, Reduction(
        check="C4", metric="exposure_to_deleted_tag",
        description="share of the excess exposure to the deleted tag's items (over puppets without the interest) "
                    "removed, treated vs control",
        scope=scope, first_round=min(a["round"] for a in deletions), last_round=last_deletion,
        treated=treated, control=control, baseline=baseline, threshold=run.threshold("C4", DEFAULT_THRESHOLD),
        evidence=tuple(f"{a['puppet_id']} deleted tag {a['target']!r} in round {a['round']} ({a['outcome']})"
                       for a in deletions) + tuple(reappeared) + tuple(run.evidence_for("delete_tag")),
        details={"deleted_tags": sorted(deleted), "reappeared": reappeared,
                 "still_listed_after_delete": len(still_listed)},
    ))
