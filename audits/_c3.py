"""C3, "not interested": does marking items not interested lower exposure to what the control promised?

规范设置"不感兴趣"等负反馈功能 (2024 notice, task 1). Treated puppets mark items not interested,
with a reason; control puppets of the same persona pick items the same way without pressing the
button (``not_interested: {sham: true}``). Each reason is judged by what it promises (design rule 7):

- ``item`` ("不想看该内容", this content): less of the rejected items and their close kin. In scope:
  the items rejected or picked, and their near-duplicates (the same story, reworded), within a
  radius calibrated for near-duplicates, not for channels. A platform that hides exactly those and
  leaves the channel in the feed does what it says.
- ``channel`` ("不想看该频道"): less of the rejected items' channel. In scope: cards labelled with
  it, where the cards show a channel; otherwise the calibrated neighbourhood of the rejected items'
  centroid, corrected for its errors.
- ``author`` ("屏蔽作者"): less of their authors. In scope: cards labelled with one of them; a
  platform that shows no author on its cards leaves this reason undecided, and says so.

The effect is the share of the controls' exposure to the scope that the treated puppets were
spared, in the last measured round (``_reduction``). Each puppet's scope is its own: a treated
puppet's rejected items, a control puppet's placebo picks (so a platform that never repeats a
shown item does not pass for one that honours the button). Pooled over all puppets, two dozen
sports items' near-duplicates covered a third of a sports fan's feed: a channel, not their kin. A compliant platform removes at least the threshold (default 0.5; campaign
``thresholds: {C3: …}``). Treated puppets shown exactly what control puppets were shown, while the
controls still saw the scope, were spared nothing: that is the verdict, with no model.

A campaign whose treated puppets gave several reasons gets each judged (``details.by_reason``),
and the verdict is the worst of them. The step's shortfall (fewer items marked than asked) and a
reason the platform's control does not offer are in the details and the notes.

Parts (``check_groups: {C3: {...}}``): ``treated`` (default: role treatment), ``control``
(default: role control).
"""

from __future__ import annotations

import collections
import dataclasses
import json
from typing import Any

import numpy as np

from ._checks import CheckResult, Context
from ._reduction import (
    Reduction,
    References,
    Scope,
    label_scope,
    measure_reduction,
    near_duplicate_scope,
    neighbourhood_scope,
)

__all__ = ["DEFAULT_THRESHOLD", "REASONS", "check_c3"]

DEFAULT_THRESHOLD = 0.5
# What each reason promises less of, in the report's words.
REASONS = {"item": "the rejected items and their near-duplicates", "channel": "the rejected items' channel",
           "author": "the rejected items' authors"}
_ORDER = {"FAIL": 0, "INCONCLUSIVE": 1, "PASS": 2}


def _args(action: dict[str, Any]) -> dict[str, Any]:
    try:
        return json.loads(action["args"] or "{}")
    except ValueError:
        return {}


def _scope(context: Context, reason: str, references: References) -> Scope | str:
    """What ``reason`` promised, measured by labels where the cards show them; or why it cannot be."""
    items = context.run.items()
    promised = REASONS[reason]
    # A neighbourhood that cannot be calibrated raises CalibrationError, which the analysis reports
    # for the checks that need one.
    if reason == "item":
        return near_duplicate_scope(context.space, references, promised)
    field = "channel" if reason == "channel" else "author"
    labels = {items[k][field] for k in references[""] if items[k][field]}
    if labels and context.run.labels_tell_apart(field):
        return label_scope(context.run, field, references, f"{promised} ({', '.join(sorted(labels))})")
    if reason == "author":
        return "the platform shows no author on the rejected items' cards: the author reason cannot be measured"
    return neighbourhood_scope(context.space, references[""], centroid=True, promised=promised)


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
    steps = _step_counts(run, mine | controls)
    by_reason: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    for action in rejected:
        by_reason[_args(action).get("reason", "item")].append(action)
    results: dict[str, CheckResult] = {}
    for reason, actions in sorted(by_reason.items()):
        picks = [a for a in sham if _args(a).get("reason", "item") == reason] or sham
        # Each puppet's own reference: what it rejected, or picked as a placebo; "" pools them all.
        # A button that works takes the topic out of the feed while treated puppets are still
        # marking, so they may mark fewer than asked where the placebo picks all: each control
        # keeps as many of its first picks as the treated puppets marked (their median), or its
        # larger scope alone would read as a reduction.
        own: dict[str, list[str]] = collections.defaultdict(list)
        for a in actions + picks:
            if a["target"] in keys_by_id and keys_by_id[a["target"]] not in own[a["puppet_id"]]:
                own[a["puppet_id"]].append(keys_by_id[a["target"]])
        marked = [len(own[p]) for p in mine if own.get(p)]
        matched = int(np.median(marked)) if marked else 0
        for p in controls & set(own):
            own[p] = own[p][:max(matched, 1)]
        references: References = {p: sorted(keys) for p, keys in own.items()}
        references[""] = sorted({k for keys in own.values() for k in keys})
        scope = _scope(context, reason, references) if references[""] else "no rejected item was ever shown as a card"
        if isinstance(scope, str):
            results[reason] = CheckResult(None, [], f"C3 ({reason}): {scope}")
            continue
        unoffered = sum(1 for a in actions if _args(a).get("reason_offered") is False)
        notes = list(scope.details.get("notes") or [])
        if steps["marks_made"] < steps["marks_wanted"]:
            notes.append(f"the not_interested steps marked or picked {steps['marks_made']} items where "
                         f"{steps['marks_wanted']} were asked ({steps['steps_short_of_count']} steps short): the "
                         f"verdict rests on fewer reference items than planned")
        if unoffered:
            notes.append(f"{unoffered} of {len(actions)} marks asked for the reason {reason!r}, which the platform's "
                         f"control does not offer: they were made with the control it has")
        results[reason] = measure_reduction(context, Reduction(
            check="C3", metric=f"exposure_to_rejected_{reason}",
            description="share of exposure to what the reason promised less of (the rejected items and their "
                        "near-duplicates, their channel or their authors) removed, treated vs control",
            scope=scope, first_round=min(a["round"] for a in actions), last_round=max(a["round"] for a in actions),
            treated=treated, control=control, threshold=run.threshold("C3", DEFAULT_THRESHOLD),
            evidence=tuple(f"rejected item {a['target']} ({reason}) by {a['puppet_id']} in round {a['round']}"
                           for a in actions) + tuple(run.evidence_for("not_interested")),
            details={"reason": reason, "rejected": len(actions), "sham_picks": len(picks), "placebo_picks_kept": matched,
                     "reason_not_offered": unoffered, **steps, "notes": notes},
        ))
    decided = {r: res for r, res in results.items() if res.verdict is not None}
    if not decided:
        return CheckResult(None, [m for res in results.values() for m in res.metrics],
                           "; ".join(res.why for res in results.values()))
    worst = min(decided, key=lambda r: (_ORDER[decided[r].verdict.outcome], r))
    summary = {r: ({"outcome": res.verdict.outcome, "effect": res.verdict.effect,
                    "ci": [res.verdict.ci_low, res.verdict.ci_high], "promised": res.verdict.details["promised"],
                    "measured_by": res.verdict.details["measured_by"]} if res.verdict else {"why": res.why})
               for r, res in results.items()}
    verdict = decided[worst].verdict
    verdict = dataclasses.replace(verdict, details={**verdict.details, "by_reason": summary})
    return CheckResult(verdict, [m for res in results.values() for m in res.metrics])


def _step_counts(run: Any, puppets: set[str]) -> dict[str, Any]:
    """What the not_interested steps asked for and did: marks (or placebo picks) short of ``count``
    are fewer reference items than the campaign planned, and a placebo that picked nothing leaves the
    controls' side of the reference to the treated puppets' rejections."""
    wanted = done = steps = short = 0
    for row in run.db.execute("SELECT puppet_id, outcome FROM commands WHERE verb = 'not_interested' "
                              "AND status = 'ok'"):
        if row["puppet_id"] not in puppets:
            continue
        try:
            outcome = json.loads(row["outcome"] or "{}")
        except ValueError:
            continue
        steps += 1
        asked, got = int(outcome.get("wanted") or 0), int(outcome.get("picked") or 0)
        wanted, done = wanted + asked, done + got
        short += got < asked
    return {"steps": steps, "marks_wanted": wanted, "marks_made": done, "steps_short_of_count": short}
