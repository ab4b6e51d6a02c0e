"""C3 end to end: puppets against the sandbox with "not interested" honoured or ignored, analysed into
verdicts that match the ground truth."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import ServedSandbox

from audits import analyze
from harness import run

pytestmark = pytest.mark.e2e

CAMPAIGN = """
name: c3-{name}
target: {{driver: sandbox, base_url: "{url}", options: {{dwell_scale: 0.05}}}}
groups:
  - {{name: treated, persona: zh-sports-fan, replicas: 3, role: treatment}}
  - {{name: control, persona: zh-sports-fan, replicas: 3, role: control}}
rounds:
  - {{name: warm-up, phase: warmup, repeat: 2, steps: [{{read_feed: {{pages: 2}}}}]}}
  - {{name: reject, phase: intervention, groups: [treated], steps: [{{not_interested: {{topic: sports, count: 4}}}}]}}
  - {{name: sham, phase: intervention, groups: [control], steps: [{{read_feed: {{pages: 1, engage: false}}}}]}}
  - {{name: measure, phase: measurement, steps: [{{read_feed: {{pages: 2, engage: false}}}}]}}
execution: {{concurrency: 3}}
checks: [C3, C5]
"""


# With three puppets a side the compliant platform may come out INCONCLUSIVE (too little power to
# call PASS): what must hold is that it never FAILs, and that ignored feedback always does.
@pytest.mark.parametrize(("ignored", "expected"), [(0.0, {"PASS", "INCONCLUSIVE"}), (1.0, {"FAIL"})])
def test_c3_verdict_follows_the_ground_truth(serve_sandbox: Callable[..., ServedSandbox], tmp_path: Path,
                                             ignored: float, expected: set[str]) -> None:
    served = serve_sandbox("--hot-interval", "1000000000", "--fault", f"not_interested_ignored={ignored}")
    campaign = tmp_path / "c3.yaml"
    campaign.write_text(CAMPAIGN.format(name=f"ignored{int(ignored)}", url=served.url), encoding="utf-8")
    run_dir = run(campaign, tmp_path / "runs")
    cache = tmp_path / "embedding-cache.sqlite"

    first = analyze(run_dir, cache)
    (verdict,) = first.verdicts
    assert verdict.outcome in expected, verdict
    if ignored == 0.0:
        # Feedback works: exposure falls, and the interval reaches what compliance needs.
        assert verdict.effect > 0 and verdict.ci_high >= verdict.threshold, verdict
    else:
        assert verdict.ci_high < verdict.threshold, verdict
    assert verdict.n_treated == verdict.n_control == 3
    assert verdict.ci_low <= verdict.effect <= verdict.ci_high
    assert verdict.details["reference_items"] >= 6 and verdict.evidence
    assert first.notes == {"C5": "C5 has no analysis in this version of algoaudit"}
    assert first.embedded > 0

    again = analyze(run_dir, cache)
    assert again.embedded == 0  # every title came from the cache
    assert again.verdicts[0].effect == pytest.approx(verdict.effect)
    with sqlite3.connect(run_dir / "run.sqlite") as db:
        assert db.execute('SELECT outcome FROM verdicts WHERE "check" = \'C3\'').fetchall() == [(verdict.outcome,)]
        # one row per puppet and round measured (before, and the one measurement round), not appended twice
        assert db.execute("SELECT COUNT(*) FROM metrics").fetchone()[0] == 6 * 2
