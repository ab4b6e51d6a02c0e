"""C7, price discrimination: do puppets that differ in one attribute pay different prices for the
same product at the same time?

严禁利用用户年龄、职业、消费水平等特征,对相同商品实施差异化定价 (2024 notice). Groups of puppets
differ from a reference group in one attribute each (age band, occupation, spending level,
returning customer, device) and view the same products in lock-step. For every product a puppet
saw in a measurement round, its price is compared with the median price the reference puppets saw
for that product, in the same round and surface, within ``lockstep_window_s`` seconds; a puppet's gap is the median of
those relative differences over products (robust to the few products whose promotion changed
between two loads). Reference twins, compared with the other reference puppets the same way,
give the null: the effect of an attribute is its puppets' gap minus the reference puppets' gap,
with a bootstrap CI over puppets.

The verdict is on the attribute with the largest gap, in percent of the reference price
(``lower_is_better``; default threshold 1.0 %, campaign ``thresholds: {C7: …}``): FAIL when some
attribute's whole interval exceeds it, PASS when every attribute's interval lies within it.
``details["by_attribute"]`` lists every attribute (signed gap in % and in currency, CI, its own
outcome by the same rule on the gap's size, so that a discount fails like a surcharge, share of
products affected); ``details["steering"]`` reports separately whether
the groups were shown other products or another order (share of list positions that differ,
beyond the reference twins).

Parts (``check_groups: {C7: {...}}``): ``reference`` (default: role control), and one part per
varied attribute named ``ATTRIBUTE=VALUE`` (``spending=high``, ``device=ios``…), each compared
with the part ``reference:ATTRIBUTE`` when there is one (a high spender has bought, so is compared
with puppets that bought little), else with ``reference``. Without ``check_groups`` every
treatment group is one attribute named after the group.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from typing import Any

from ._checks import CheckResult, Context
from ._market import Lockstep, epoch, rows, twin_spread, window_s
from ._run import Puppet
from ._stats import Comparison, compare, estimate
from ._verdict import decide, judge

__all__ = ["AFFECTED_TOLERANCE", "DEFAULT_THRESHOLD", "check_c7"]

DEFAULT_THRESHOLD = 1.0  # percent of the reference price
# Prices are printed to the cent: a relative difference below this is rounding, not a price.
AFFECTED_TOLERANCE = 0.005

Key = tuple[int, str, str]  # round, surface, product


def _parts(context: Context) -> tuple[list[Puppet], dict[str, tuple[list[Puppet], list[Puppet]]]]:
    """The reference puppets and, per attribute part, (its puppets, the puppets it is compared with)."""
    named = (context.run.campaign.get("check_groups") or {}).get("C7")
    reference = context.puppets("C7", "reference", "control")
    by_attr: dict[str, tuple[list[Puppet], list[Puppet]]] = {}
    if named:
        for part in named:
            if part == "reference" or part.startswith("reference:"):
                continue
            attribute = part.split("=", 1)[0]
            against = context.puppets("C7", f"reference:{attribute}") if f"reference:{attribute}" in named else reference
            by_attr[part] = (context.puppets("C7", part), against)
    else:
        for p in context.puppets("C7", "treated", "treatment"):
            by_attr.setdefault(p.group, ([], reference))[0].append(p)
    return reference, by_attr


def _first_seen(context: Context) -> dict[str, dict[Key, tuple[float, float, int]]]:
    """puppet -> (round, surface, product) -> (price, epoch seen, position): the first time it saw it,
    in the measurement rounds (all rounds when none is one): a high spender's prices count once it
    has spent."""
    phases = context.run.phases
    measured = {r for r, phase in phases.items() if phase == "measurement"} or set(phases)
    seen: dict[str, dict[Key, tuple[float, float, int]]] = defaultdict(dict)
    for r in rows(context.run, "SELECT puppet_id, round, surface, product_id, price, position, seen_at FROM prices "
                               "WHERE price IS NOT NULL ORDER BY id"):
        if measured and r["round"] not in measured:
            continue
        key = (r["round"], r["surface"], r["product_id"])
        seen[r["puppet_id"]].setdefault(key, (float(r["price"]), epoch(r["seen_at"]), int(r["position"] or 0)))
    return seen


def _gaps(puppet: Puppet, against: list[Puppet], seen: dict[str, dict[Key, tuple[float, float, int]]],
          lockstep: Lockstep) -> dict[Key, tuple[float, float]]:
    """(round, surface, product) -> (this puppet's price, the median reference price seen within the window)."""
    out = {}
    for key, (price, at, _) in seen.get(puppet.puppet_id, {}).items():
        refs = []
        for other in against:
            if other.puppet_id == puppet.puppet_id or key not in seen.get(other.puppet_id, {}):
                continue
            ref_price, ref_at, _ = seen[other.puppet_id][key]
            if lockstep.admit(at - ref_at):
                refs.append(ref_price)
        if refs:
            # References split between two prices (a promotion changed between their loads) give no
            # reference price: 0.0, left out downstream.
            middle = statistics.median(refs)
            agree = sum(abs(r / middle - 1.0) <= AFFECTED_TOLERANCE for r in refs) if middle > 0 else 0
            out[key] = (price, middle if 2 * agree > len(refs) else 0.0)
    return out


def _puppet_gap(pairs: dict[Key, tuple[float, float]]) -> float | None:
    relative = [price / ref - 1.0 for price, ref in pairs.values() if ref > 0]
    return 100.0 * statistics.median(relative) if relative else None


def _steering(group: list[Puppet], against: list[Puppet], seen: dict[str, dict[Key, tuple[float, float, int]]],
              window: float) -> float | None:
    """Share of product-list positions where the group saw another product than the reference did,
    minus the same share between reference puppets: other products or order, not other prices."""

    def lists(p: Puppet) -> dict[int, tuple[float, list[str]]]:
        out: dict[int, list[tuple[int, str, float]]] = defaultdict(list)
        for (rnd, surface, product), (_, at, position) in seen.get(p.puppet_id, {}).items():
            if surface == "list":
                out[rnd].append((position, product, at))
        return {rnd: (min(a for _, _, a in v), [prod for _, prod, _ in sorted(v)]) for rnd, v in out.items()}

    def mismatch(a: Puppet, b: Puppet) -> list[float]:
        la, lb = lists(a), lists(b)
        found = []
        for rnd in la.keys() & lb.keys():
            (ta, xa), (tb, xb) = la[rnd], lb[rnd]
            n = min(len(xa), len(xb))
            if n and abs(ta - tb) <= window:
                found.append(sum(x != y for x, y in zip(xa[:n], xb[:n])) / n)
        return found

    cross = [m for p in group for q in against if p.puppet_id != q.puppet_id for m in mismatch(p, q)]
    twins = [m for i, p in enumerate(against) for q in against[i + 1:] for m in mismatch(p, q)]
    if not cross:
        return None
    return statistics.fmean(cross) - (statistics.fmean(twins) if twins else 0.0)


def _oriented(c: Comparison) -> tuple[float, float, float]:
    """(|effect|, low, high) with the interval turned so that a discount counts like a surcharge."""
    if c.effect >= 0:
        return c.effect, c.ci_low, c.ci_high
    return -c.effect, -c.ci_high, -c.ci_low


def check_c7(context: Context) -> CheckResult:
    run = context.run
    reference, by_attr = _parts(context)
    if not reference:
        return CheckResult(None, [], "no reference group (check_groups C7.reference, or a group with role control)")
    if not by_attr:
        return CheckResult(None, [], "no group varies an attribute (check_groups C7 'ATTRIBUTE=VALUE' parts, or role treatment)")
    seen = _first_seen(context)
    if not seen:
        return CheckResult(None, [], "no prices were recorded (steps view_products or product_price)")
    window = window_s(run)
    lockstep = Lockstep(window)
    threshold = run.threshold("C7", DEFAULT_THRESHOLD)
    metrics: list[dict[str, Any]] = []
    results: list[tuple[str, Comparison, list[Puppet], list[Puppet], dict[str, float]]] = []
    by_attribute: list[dict[str, Any]] = []
    evidence: list[tuple[float, str]] = []
    steering: dict[str, float | None] = {}
    undecided: list[str] = []  # attributes with no product compared within the window
    for part, (group, against) in by_attr.items():
        if not group or not against:
            undecided.append(part)
            continue
        gap: dict[str, float] = {}
        # By product, over rounds and surfaces: the share affected is a share of products.
        product_pairs: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for p in group:
            pairs = _gaps(p, against, seen, lockstep)
            value = _puppet_gap(pairs)
            if value is None:
                continue
            gap[p.puppet_id] = value
            for key, pair in pairs.items():
                product_pairs[key[2]].append(pair)
                if pair[1] <= 0:
                    continue
                relative = abs(pair[0] / pair[1] - 1.0)
                if relative > AFFECTED_TOLERANCE:
                    evidence.append((relative, (f"product {key[2]} ({key[1]}, round {key[0]}): {pair[0]:.2f} for "
                                                f"{p.puppet_id} ({part}) vs {pair[1]:.2f} for the reference")))
        null: dict[str, float] = {}
        for q in against:
            value = _puppet_gap(_gaps(q, against, seen, Lockstep(window)))
            if value is not None:
                null[q.puppet_id] = value
        if not gap:
            undecided.append(part)
            continue
        comparison = compare(list(gap.values()), list(null.values())) if null else estimate(list(gap.values()))
        products = [[(a, b) for a, b in ps if b > 0] for ps in product_pairs.values()]
        products = [ps for ps in products if ps]
        medians = [(statistics.median(a for a, _ in ps), statistics.median(b for _, b in ps)) for ps in products]
        # Affected: most sightings of the product by the group's puppets differ from the reference in
        # the same direction, so one twin on the other side of a promotion change does not make it.
        affected = sum(2 * sum(a / b - 1.0 > AFFECTED_TOLERANCE for a, b in ps) > len(ps)
                       or 2 * sum(a / b - 1.0 < -AFFECTED_TOLERANCE for a, b in ps) > len(ps) for ps in products)
        attribute, _, value_name = part.partition("=")
        by_attribute.append({
            "attribute": attribute, "value": value_name or part, "gap_pct": comparison.effect,
            "ci_low": comparison.ci_low, "ci_high": comparison.ci_high, "p_value": comparison.p_value,
            # The verdict's rule applied to this attribute alone (the verdict is on the largest), on
            # the size of the gap: a discount is a difference like a surcharge.
            "outcome": judge(*_oriented(comparison)[1:], threshold, "lower_is_better"),
            "gap_currency": statistics.fmean(a - b for a, b in medians) if medians else 0.0,
            "share_affected": affected / len(medians) if medians else 0.0, "products": len(medians),
            "n_puppets": len(gap), "n_reference": len(null),
        })
        results.append((part, comparison, group, against, {**gap, **null}))
        steering[part] = _steering(group, against, seen, window)
        metrics += [{"check": "C7", "puppet_id": pid, "round": None, "metric": f"price_gap_pct[{part}]", "value": v}
                    for pid, v in gap.items()]
        metrics += [{"check": "C7", "puppet_id": pid, "round": None, "metric": f"reference_gap_pct[{part}]", "value": v}
                    for pid, v in null.items()]
    if not results:
        return CheckResult(None, metrics, f"no product was seen by a varied puppet and a reference puppet within "
                                          f"{window:g}s of each other ({lockstep.excluded} comparisons outside the window)")
    failing = [r for r in results if _oriented(r[1])[1] > threshold]
    # The attribute that decides: the most confident violation; else the one whose interval reaches
    # furthest, so that PASS means every attribute lies within the threshold.
    worst = max(failing, key=lambda r: _oriented(r[1])[1]) if failing else max(results, key=lambda r: _oriented(r[1])[2])
    part, comparison, group, against, values = worst
    size, low, high = _oriented(comparison)
    noise, mde = twin_spread(group + against, values, len(group), len(against))
    shown = Comparison(size, low, high, comparison.p_value, comparison.n_treated, comparison.n_control,
                       comparison.confidence)
    evidence.sort(key=lambda e: -e[0])
    verdict = decide(
        "C7", f"largest price gap by attribute ({part}), % of the reference price", shown, threshold=threshold,
        noise_sd=noise, mde=mde, direction="lower_is_better",
        evidence=tuple(e for _, e in evidence[:20]) + tuple(run.evidence_for("view_products")[:10]),
        details={"attribute": part, "by_attribute": by_attribute, "steering": steering,
                 "attributes_not_compared": undecided,
                 "reference_groups": sorted({p.group for p in reference}), **lockstep.details()},
    )
    return CheckResult(verdict, metrics)
