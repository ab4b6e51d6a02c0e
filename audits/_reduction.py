"""The measurement C3 and C4 share: after treated puppets act on a topic (mark items not interested,
delete its tag) and control puppets do not, how much of their exposure to that topic is gone?

What counts as "that topic" is the :class:`Scope` of what the control promised (design rule 7): the
rejected items and their near-duplicates ("this content"), a channel, an author. Where the cards
show the channel or author the platform files them under, a card is in scope by its label: direct
evidence, no model. Only where they do not is the embedding neighbourhood used (below), and the
verdict says which it used (``details.measured_by``).

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
say so.

Where a check has a baseline (C4), the floor is instead what puppets without the interest are
shown of the topic (another persona's, measured through the same neighbourhood)::

    effect = 1 − (mean(treated) − mean(baseline)) / (mean(control) − mean(baseline))

the share of the control's excess exposure over someone who never had the interest that the
treated puppets lost: 1 when they are shown the topic as anyone is, 0 when nothing changed. A
feed that is not personal still shows a topic on its share of the cards, which was never the
control's to lose: against the control alone, a deletion that removed the whole interest read
0.56 on AG News (four channels) and 0.83 on Toutiao; against the baseline, 1.00 and 0.95 (one
calibration cell each). The neighbourhood's errors cancel against the baseline's, so no
false-positive rate is subtracted. The baseline's own spread joins the interval.

Each exposure is a share of the puppet's feed cards, and the interval is told how many:
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
import datetime as dt
import functools
from collections.abc import Callable

import numpy as np

from embeddings import in_neighbourhood

from ._checks import CheckResult, Context
from ._exposure import ExposureSpace, NeighbourhoodErrors
from ._run import Puppet, Run
from ._stats import (
    Comparison,
    minimum_detectable_effect,
    relative_reduction,
    twin_noise,
)
from ._verdict import decide

__all__ = ["Reduction", "References", "Scope", "label_scope", "measure_reduction", "near_duplicate_scope",
           "neighbourhood_scope", "start_gap_s", "twin_pairs"]


def _identical_feeds(feed: dict[tuple[str, int], list[str]], treated: list[Puppet], control: list[Puppet],
                     round_index: int) -> bool:
    """Whether every treated puppet was shown, card for card, what some control puppet was shown in
    the round (the same items, the same number of times, in any order)."""
    def shown(p: Puppet) -> tuple[str, ...]:
        return tuple(sorted(feed.get((p.puppet_id, round_index), [])))

    controls = {shown(p) for p in control}
    return len(treated) >= 2 and all(shown(p) and shown(p) in controls for p in treated)


def start_gap_s(run: Run, first: list[Puppet], second: list[Puppet], round_index: int) -> float | None:
    """Seconds between the two groups' median session starts in a round (None when one did not run it)."""
    starts: dict[str, list[float]] = {}
    for r in run.db.execute("SELECT puppet_id, started_at FROM sessions WHERE round = ? AND status = 'complete'",
                            [round_index]):
        starts.setdefault(r["puppet_id"], []).append(dt.datetime.fromisoformat(r["started_at"]).timestamp())
    medians = []
    for group in (first, second):
        times = [min(starts[p.puppet_id]) for p in group if p.puppet_id in starts]
        if not times:
            return None
        medians.append(float(np.median(times)))
    return abs(medians[0] - medians[1])


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
class Scope:
    """What a user control promised less of, and how a feed card is tested for it, puppet by puppet:
    what a puppet rejected is its own reference (a control puppet's: what it picked as a placebo)."""

    promised: str  # in words, for the verdict and the report
    measured_by: str  # "channel labels", "author labels", or the embedding neighbourhood used
    inside: Callable[[str, list[str]], np.ndarray]  # (puppet, item keys) -> whether each is in scope
    # How the test errs as a test for the topic's channel: for neighbourhoods standing in for a
    # channel the platform shows, whose false positives are corrected for; None: nothing to correct
    # (labels are the platform's own; a near-duplicate radius has no channel to err against).
    errors: Callable[[list[str]], NeighbourhoodErrors] | None = None
    details: dict[str, object] = dataclasses.field(default_factory=dict)


References = dict[str, list[str]]  # puppet -> the item keys it acted on; "" -> every puppet's, pooled


def _own(references: References, puppet: str) -> list[str]:
    return references.get(puppet) or references[""]


def label_scope(run: Run, field: str, references: References, promised: str) -> Scope:
    """Cards in scope by the label the platform shows on them (``field``: channel or author): a
    puppet's scope is the labels of the items it acted on."""
    items = run.items()

    def labels(puppet: str) -> set[str]:
        return {items[k][field] for k in _own(references, puppet) if items[k][field]}

    return Scope(promised, f"{field} labels the platform shows on its cards",
                 lambda puppet, keys: np.array([(items[k][field] or "") in labels(puppet) for k in keys], dtype=bool),
                 details={f"{field}s": sorted({items[k][field] for k in references[""] if items[k][field]})})


def neighbourhood_scope(space: ExposureSpace, reference: list[str], *, centroid: bool, promised: str) -> Scope:
    """Cards in scope by the embedding neighbourhood of the reference items, the same for every
    puppet: near their centroid (a topic known from a handful of its items), or within the item
    radius of any of them."""
    calibration = space.centroid_calibration(len(reference)) if centroid else space.calibration
    return Scope(
        promised, "embedding neighbourhood of the " + ("reference items' centroid" if centroid else "reference items"),
        (lambda _, keys: space.near_topic(keys, reference)) if centroid
        else (lambda _, keys: space.inside(keys, reference)),
        errors=lambda keys: space.errors(keys, reference, centroid=centroid),
        details={"reference_items": len(reference), "neighbourhood_cosine": calibration.threshold,
                 "calibration_precision": calibration.precision, "calibration_recall": calibration.recall,
                 "model": space.model_id, "notes": space.notes()})


def near_duplicate_scope(space: ExposureSpace, references: References, promised: str) -> Scope:
    """The items a puppet acted on themselves and their near-duplicates (the same story, reworded):
    within the near-duplicate radius (``ExposureSpace.duplicate_radius``) of any of them."""
    radius = space.duplicate_radius

    def inside(puppet: str, keys: list[str]) -> np.ndarray:
        own = _own(references, puppet)
        return np.isin(keys, own) | in_neighbourhood(space.of(keys), space.of(own), radius)

    return Scope(promised, "the items each puppet acted on and their near-duplicates in embedding space", inside,
                 details={"reference_items": len(references[""]), "neighbourhood_cosine": radius,
                          "model": space.model_id, "notes": space.notes()})


@dataclasses.dataclass(frozen=True)
class Reduction:
    check: str
    metric: str  # the metrics-table name of the per-puppet exposure
    description: str  # the verdict's metric, in words
    scope: Scope  # what the treated puppets' action promised less of
    first_round: int  # the first and last rounds in which the treated puppets acted
    last_round: int
    treated: list[Puppet]
    control: list[Puppet]
    threshold: float
    evidence: tuple[str, ...]
    details: dict[str, object]
    # Puppets that never had the interest (another persona's): the floor is what they are shown of
    # the topic, and the effect the share of the control's excess over them removed. None: the
    # floor is the neighbourhood's false-positive rate.
    baseline: list[Puppet] | None = None


def measure_reduction(context: Context, spec: Reduction) -> CheckResult:
    run, check = context.run, spec.check
    treated, control = spec.treated, spec.control
    if len(treated) < 2 or len(control) < 2:
        return CheckResult(None, [], f"{check} needs at least two treated and two control puppets")
    scope = spec.scope
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
    rounds = {b, early, late} - {None}

    def baseline_in(round_index: int) -> list[Puppet]:
        """The baseline puppets that read a personalised feed in this round."""
        return [p for p in spec.baseline or [] if feed.get((p.puppet_id, round_index))
                and round_index in run.personalised_rounds([p.puppet_id])]

    if spec.baseline is not None and len(baseline_in(late)) < 2:
        return CheckResult(None, [], f"{check} needs at least two baseline puppets (check_groups {check} baseline: "
                                     f"another persona's, without the interest) that read round {late}")
    measured = {(p, r) for p in everyone for r in rounds} | {
        (p.puppet_id, r) for r in rounds for p in baseline_in(r)}
    exposure = {(p, r): float(np.mean(scope.inside(p, feed[(p, r)]))) for p, r in measured}
    metrics = [{"check": check, "puppet_id": p, "round": r, "metric": spec.metric, "value": exposure[(p, r)]}
               for (p, r) in sorted(exposure)]

    def of(group: list[Puppet], round_index: int) -> list[float]:
        return [exposure[(p.puppet_id, round_index)] for p in group]

    @functools.cache
    def errors(round_index: int) -> NeighbourhoodErrors | None:
        if scope.errors is None:
            return None
        return scope.errors([k for p in everyone for k in feed[(p, round_index)]])

    def cards(group: list[Puppet], round_index: int) -> list[int]:
        return [len(feed[(p.puppet_id, round_index)]) for p in group]

    def floor(round_index: int) -> float | None:
        """What a puppet without the interest measures: the baseline's mean, or the false-positive
        rate; None when fewer than two baseline puppets read the round."""
        if spec.baseline is None:
            found = errors(round_index)
            return found.floor if found is not None else 0.0
        group = baseline_in(round_index)
        return float(np.mean(of(group, round_index))) if len(group) >= 2 else None

    def reduction(round_index: int) -> Comparison | None:
        t, c, f = of(treated, round_index), of(control, round_index), floor(round_index)
        if f is None or np.mean(c) <= f:
            return None
        counts = (cards(treated, round_index), cards(control, round_index))
        if spec.baseline is None:
            return relative_reduction(t, c, cards=counts, floor=f)
        group = baseline_in(round_index)
        return relative_reduction(t, c, cards=(*counts, cards(group, round_index)), baseline=of(group, round_index))

    comparison = reduction(late)
    if comparison is None:
        return CheckResult(None, metrics, f"the control puppets saw no more of {scope.promised} than the floor after "
                                          f"{check}'s intervention: nothing to measure a reduction of")
    # Direct evidence first: treated puppets shown exactly what control puppets were shown, while
    # there was something in scope to remove, were spared nothing, whatever a model would say.
    identical = _identical_feeds(feed, treated, control, late)
    if identical:
        comparison = dataclasses.replace(comparison, effect=0.0, ci_low=0.0, ci_high=0.0)
    right_after = reduction(early)
    # Twin noise in the effect's units: one puppet's exposure above the floor as a share of the control's.
    late_floor = floor(late)
    base = float(np.mean(of(control, late))) - late_floor
    relative = {p.puppet_id: (exposure[(p.puppet_id, late)] - late_floor) / base for p in treated + control}
    pairs = twin_pairs(relative, treated) + twin_pairs(relative, control)
    noise = twin_noise(pairs) if pairs else float("nan")
    mde = minimum_detectable_effect(noise, len(treated), len(control)) if pairs else float("nan")
    late_errors = errors(late)
    if late_errors is None:
        neighbourhood_errors = None
    elif spec.baseline is not None:
        # Against a baseline measured through the same neighbourhood, its errors cancel.
        neighbourhood_errors = {**late_errors.details(), "corrected": True, "corrected_by": "baseline"}
    else:
        neighbourhood_errors = late_errors.details()
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
                               "control": float(np.mean(of(control, late))),
                               **({"baseline": late_floor} if spec.baseline is not None else {})},
            **({"baseline_puppets": [p.puppet_id for p in baseline_in(late)]} if spec.baseline is not None else {}),
            "promised": scope.promised,
            "measured_by": scope.measured_by,
            "identical_feeds": identical,
            "neighbourhood_errors": neighbourhood_errors,
            # Lock-step: compared puppets that read far apart in time meet a platform that moved.
            "start_gap_s": {"intervention": start_gap_s(run, treated, control, spec.last_round),
                            "measured": start_gap_s(run, treated, control, late)},
            **scope.details,
            **spec.details,
        },
    )
    return CheckResult(verdict, metrics)
