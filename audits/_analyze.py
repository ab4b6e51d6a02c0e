"""``analyze``: a run's checks into verdicts, stored beside what the puppets recorded.

Tables it adds to ``run.sqlite`` (rewritten for a check each time it is analysed):

- ``metrics(check, puppet_id, round, metric, value)``: the per-puppet numbers a verdict rests on.
- ``verdicts(check, outcome, metric, effect, ci_low, ci_high, p_value, threshold, noise_sd, mde,
  n_treated, n_control, puppets_needed, direction, evidence, details)``: ``evidence`` and
  ``details`` are JSON.
- ``analysis_notes(check, note)``: checks the campaign asked for that could not be decided, and why
  (too few puppets, nothing to compare, a neighbourhood the run's items cannot calibrate…).

Embeddings are cached across runs in ``embedding-cache.sqlite`` beside the run folder (or a given
path), so a second analysis embeds nothing new.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from embeddings import CalibrationError

from ._c1 import check_c1
from ._c2 import check_c2
from ._c3 import check_c3
from ._c4 import check_c4
from ._c5 import check_c5
from ._c6 import check_c6
from ._c7 import check_c7
from ._c8 import check_c8
from ._c9 import ELDERLY, ELDERLY_NOT_SOUGHT, check_c9, check_c9_elderly
from ._c10 import check_c10
from ._c11 import check_c11
from ._checks import CheckResult, Context
from ._run import open_run
from ._verdict import Verdict

__all__ = ["CHECKS", "COMPANIONS", "Analysis", "analyze"]

CHECKS: dict[str, Callable[[Context], CheckResult]] = {
    "C1": check_c1,
    "C2": check_c2,
    "C3": check_c3,
    "C4": check_c4,
    "C5": check_c5,
    "C6": check_c6,
    "C7": check_c7,
    "C8": check_c8,
    "C9": check_c9,
    ELDERLY: check_c9_elderly,
    "C10": check_c10,
    "C11": check_c11,
}
# Findings that run wherever their check does, each its own verdict (a campaign names only C1–C12),
# with the reason they give when the campaign did not take their step: then they leave no note.
# The elderly mode beside minors' mode.
COMPANIONS: dict[str, dict[str, str]] = {"C9": {ELDERLY: ELDERLY_NOT_SOUGHT}}
_METRICS = ("check", "puppet_id", "round", "metric", "value")
_VERDICTS = tuple(f.name for f in dataclasses.fields(Verdict))


@dataclasses.dataclass(frozen=True)
class Analysis:
    verdicts: list[Verdict]
    notes: dict[str, str]  # check -> why it has no verdict
    embedded: int  # texts embedded by the model in this analysis (0 when all were cached)


def analyze(run_dir: Path, cache_path: Path | None = None, checks: list[str] | None = None) -> Analysis:
    """Analyse ``checks`` (default: those the campaign names, else every implemented one)."""
    run = open_run(run_dir)
    try:
        asked = list(checks or run.campaign.get("checks") or CHECKS)
        silent = {c: why for check in asked for c, why in COMPANIONS.get(check, {}).items() if c not in asked}
        asked += list(silent)
        context = Context(run, cache_path or run_dir.parent / "embedding-cache.sqlite")
        notes = {c: f"{c} has no analysis in this version of algoaudit" for c in asked if c not in CHECKS}
        verdicts: list[Verdict] = []
        for check in (c for c in CHECKS if c in asked):
            try:
                result = CHECKS[check](context)
            except CalibrationError as error:
                # The run's items do not tell the platform's channels apart well enough for this
                # check's neighbourhood: no verdict for it, and the other checks still run.
                result = CheckResult(None, [], f"{check} could not calibrate its neighbourhood on this run's items: {error}")
            run.write("metrics", _METRICS, result.metrics, {"check": check})
            run.write("verdicts", _VERDICTS, [result.verdict.row()] if result.verdict else [], {"check": check})
            if result.verdict is None:
                if silent.get(check) != result.why:
                    notes[check] = result.why
            else:
                verdicts.append(result.verdict)
        run.write("analysis_notes", ("check", "note"), [{"check": c, "note": n} for c, n in notes.items()], {})
        return Analysis(verdicts, notes, context.embedded)
    finally:
        run.close()
