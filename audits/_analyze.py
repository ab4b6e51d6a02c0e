"""``analyze``: a run's checks into verdicts, stored beside what the puppets recorded.

Tables it adds to ``run.sqlite`` (rewritten for a check each time it is analysed):

- ``metrics(check, puppet_id, round, metric, value)``: the per-puppet numbers a verdict rests on.
- ``verdicts(check, outcome, metric, effect, ci_low, ci_high, p_value, threshold, noise_sd, mde,
  n_treated, n_control, puppets_needed, evidence, details)``: ``evidence`` and ``details`` are JSON.
- ``analysis_notes(check, note)``: checks the campaign asked for that could not be decided, and why.

Embeddings are cached across runs in ``embedding-cache.sqlite`` beside the run folder (or a given
path), so a second analysis embeds nothing new.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ._c3 import check_c3
from ._exposure import embed_run
from ._run import open_run
from ._verdict import Verdict

__all__ = ["Analysis", "analyze"]

IMPLEMENTED = ("C3",)
_METRICS = ("check", "puppet_id", "round", "metric", "value")
_VERDICTS = tuple(f.name for f in dataclasses.fields(Verdict))


@dataclasses.dataclass(frozen=True)
class Analysis:
    verdicts: list[Verdict]
    notes: dict[str, str]  # check -> why it has no verdict
    embedded: int  # texts embedded by the model in this analysis (0 when all were cached)


def analyze(run_dir: Path, cache_path: Path | None = None) -> Analysis:
    run = open_run(run_dir)
    try:
        asked = list(run.campaign.get("checks") or IMPLEMENTED)
        notes = {c: f"{c} has no analysis in this version of algoaudit" for c in asked if c not in IMPLEMENTED}
        verdicts: list[Verdict] = []
        embedded = 0
        if "C3" in asked:
            space = embed_run(run, cache_path or run_dir.parent / "embedding-cache.sqlite")
            embedded = space.embedded
            verdict, metrics, why = check_c3(run, space)
            run.write("metrics", _METRICS, metrics, {"check": "C3"})
            if verdict is None:
                notes["C3"] = why
            else:
                verdicts.append(verdict)
            run.write("verdicts", _VERDICTS, [verdict.row()] if verdict else [], {"check": "C3"})
        run.write("analysis_notes", ("check", "note"), [{"check": c, "note": n} for c, n in notes.items()], {})
        return Analysis(verdicts, notes, embedded)
    finally:
        run.close()
