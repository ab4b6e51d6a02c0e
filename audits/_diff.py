"""Regression diffs between two analysed runs (the same campaign before and after a platform
change, or against two platform versions): which verdicts changed, which per-puppet metrics moved
significantly, and which controls appeared or vanished.

Metrics are compared on the puppets of each run's last measured round for that metric, with
``audits.compare`` (bootstrap CI over puppets, permutation p); a delta is significant when the
interval excludes zero and p < 0.05. With two or three puppets a side nothing can be significant:
that is the honest answer, as for the verdicts themselves.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

from ._report import templates
from ._run import RunTables
from ._stats import Comparison, compare

__all__ = ["ControlChange", "MetricDelta", "RunDiff", "VerdictChange", "diff_runs", "render_diff_html"]

CONTROL_STATUSES = ("missing_control", "driver_drift")


@dataclasses.dataclass(frozen=True)
class VerdictChange:
    """One check's verdict in run A and in run B (None: no verdict, see the note)."""

    check: str
    outcome_a: str | None
    outcome_b: str | None
    effect_a: float | None
    effect_b: float | None
    note_a: str = ""
    note_b: str = ""

    @property
    def changed(self) -> bool:
        return self.outcome_a != self.outcome_b


@dataclasses.dataclass(frozen=True)
class MetricDelta:
    """B minus A for one metric of one check, over the puppets of ``group`` (None: every puppet)."""

    check: str
    metric: str
    group: str | None
    round_a: int | None  # None: a metric measured once, without a round
    round_b: int | None
    comparison: Comparison  # effect = mean(B) - mean(A), CI, p, n per run

    @property
    def significant(self) -> bool:
        c = self.comparison
        return (c.ci_low > 0 or c.ci_high < 0) and c.p_value < 0.05


@dataclasses.dataclass(frozen=True)
class ControlChange:
    """How often steps of ``verb`` ended ``status`` (a control missing, or a page the driver did not
    know) in each run."""

    verb: str
    status: str
    count_a: int
    count_b: int

    @property
    def change(self) -> str:
        if self.count_a and not self.count_b:
            return "appeared"  # the control was missing in A and is there in B
        if self.count_b and not self.count_a:
            return "vanished"
        return "same" if self.count_a == self.count_b else ("more" if self.count_b > self.count_a else "fewer")


@dataclasses.dataclass(frozen=True)
class RunDiff:
    run_a: Path
    run_b: Path
    run_id_a: str
    run_id_b: str
    verdicts: list[VerdictChange]
    metrics: list[MetricDelta]
    controls: list[ControlChange]

    @property
    def changed_checks(self) -> list[str]:
        return [v.check for v in self.verdicts if v.changed]

    @property
    def significant_metrics(self) -> list[MetricDelta]:
        return [m for m in self.metrics if m.significant]


class _Side(RunTables):
    def run_id(self, fallback: str) -> str:
        rows = self.rows("runs", "SELECT run_id FROM runs")
        return str(rows[0]["run_id"]) if rows and rows[0]["run_id"] else fallback

    def verdicts(self) -> dict[str, dict[str, Any]]:
        return {str(r["check"]): r for r in self.rows("verdicts", 'SELECT "check", outcome, effect FROM verdicts')}

    def notes(self) -> dict[str, str]:
        rows = self.rows("analysis_notes", 'SELECT "check", note FROM analysis_notes')
        return {str(r["check"]): str(r["note"] or "") for r in rows}

    def last_round_values(self) -> dict[tuple[str, str], tuple[int | None, list[tuple[str, float]]]]:
        """(check, metric) -> its last measured round (None for a metric measured once, without a
        round), and (group, value) per puppet in it."""
        groups = {str(r["puppet_id"]): str(r["group_name"])
                  for r in self.rows("puppets", "SELECT puppet_id, group_name FROM puppets")}
        cells: dict[tuple[str, str], dict[int | None, list[tuple[str, float]]]] = {}
        for r in self.rows("metrics", 'SELECT "check", puppet_id, round, metric, value FROM metrics'):
            try:
                value = float(r["value"])
                rnd = None if r["round"] is None else int(r["round"])
            except (TypeError, ValueError):
                continue
            if math.isfinite(value):
                cells.setdefault((str(r["check"]), str(r["metric"])), {}).setdefault(rnd, []).append(
                    (groups.get(str(r["puppet_id"]), "?"), value))
        out = {}
        for key, by_round in cells.items():
            last = max((rnd for rnd in by_round if rnd is not None), default=None)
            out[key] = (last, by_round[last])
        return out

    def control_counts(self) -> dict[tuple[str, str], int]:
        marks = ", ".join(f"'{s}'" for s in CONTROL_STATUSES)
        return {(str(r["verb"]), str(r["status"])): int(r["n"]) for r in self.rows(
            "commands", f"SELECT verb, status, COUNT(*) AS n FROM commands WHERE status IN ({marks}) GROUP BY 1, 2")}

    def close(self) -> None:
        self.db.close()


def _natural(check: str) -> tuple[int, str]:
    digits = "".join(ch for ch in check if ch.isdigit())
    return (int(digits) if digits else 10_000, check)


def diff_runs(run_a: Path, run_b: Path) -> RunDiff:
    """What changed from run A to run B: verdicts, metrics (B − A), controls."""
    a, b = _Side(Path(run_a)), _Side(Path(run_b))
    try:
        va, vb, na, nb = a.verdicts(), b.verdicts(), a.notes(), b.notes()
        verdicts = [
            VerdictChange(check, (va.get(check) or {}).get("outcome"), (vb.get(check) or {}).get("outcome"),
                          (va.get(check) or {}).get("effect"), (vb.get(check) or {}).get("effect"),
                          na.get(check, ""), nb.get(check, ""))
            for check in sorted(set(va) | set(vb) | set(na) | set(nb), key=_natural)
        ]
        ma, mb = a.last_round_values(), b.last_round_values()
        metrics = []
        for key in sorted(set(ma) & set(mb), key=lambda k: (_natural(k[0]), k[1])):
            (round_a, values_a), (round_b, values_b) = ma[key], mb[key]
            groups: list[str | None] = [None, *sorted({g for g, _ in values_a} & {g for g, _ in values_b})]
            for group in groups:
                xs = [v for g, v in values_a if group in (None, g)]
                ys = [v for g, v in values_b if group in (None, g)]
                metrics.append(MetricDelta(key[0], key[1], group, round_a, round_b, compare(ys, xs)))
        ca, cb = a.control_counts(), b.control_counts()
        controls = [ControlChange(verb, status, ca.get((verb, status), 0), cb.get((verb, status), 0))
                    for verb, status in sorted(set(ca) | set(cb))]
        return RunDiff(Path(run_a), Path(run_b), a.run_id(str(run_a)), b.run_id(str(run_b)), verdicts, metrics,
                       controls)
    finally:
        a.close()
        b.close()


def render_diff_html(diff: RunDiff) -> str:
    """The diff as one self-contained HTML page (no script; everything from the runs escaped)."""
    return templates().get_template("diff.html.j2").render(diff=diff)
