"""The elderly (senior) mode end to end, a finding of its own (C9-elderly) beside minors' mode (C9):
two puppets turn minors' mode on and look for the elderly mode, on the reference design, on the
lawful variant without an elderly mode, and on that variant with a leaking minors' mode. Each
verdict must follow the ground truth, and neither may decide the other."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import start_sandbox

from audits import analyze
from audits._verdict import Verdict
from harness import run
from sandbox import GroundTruth

pytestmark = pytest.mark.e2e

CAMPAIGN = """
name: elderly-{name}
target: {{driver: sandbox, base_url: "{url}", options: {{dwell_scale: 0.05}}}}
groups:
  - {{name: teen, persona: zh-teen-gamer, replicas: 2, role: treatment}}
rounds:
  - name: modes
    phase: intervention
    steps: [{{minors_mode: {{enabled: true}}}}, {{elderly_mode: {{enabled: true}}}}]
  - {{name: measure, phase: measurement, steps: [{{read_feed: {{pages: 1, engage: false}}}}]}}
execution: {{concurrency: 2}}
checks: [C9]
"""


def _c9(tmp: Path, name: str, *flags: str) -> tuple[dict[str, Verdict], GroundTruth]:
    served = start_sandbox(tmp / f"sandbox-{name}", *flags)
    try:
        campaign = tmp / f"elderly-{name}.yaml"
        campaign.write_text(CAMPAIGN.format(name=name, url=served.url), encoding="utf-8")
        analysis = analyze(run(campaign, tmp / "runs"), tmp / "embedding-cache.sqlite")
    finally:
        served.stop()
    assert analysis.notes == {}
    return {v.check: v for v in analysis.verdicts}, GroundTruth(served.truth_path)


@pytest.fixture(scope="module")
def c9(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple[dict[str, Verdict], GroundTruth]]]:
    tmp = tmp_path_factory.mktemp("elderly")
    yield {"present": _c9(tmp, "present"), "missing": _c9(tmp, "missing", "--variant", "no_elderly_mode=true"),
           "leak": _c9(tmp, "leak", "--variant", "no_elderly_mode=true", "--fault", "minors_leak=1.0")}


def test_an_elderly_mode_every_puppet_finds_and_turns_on(c9) -> None:
    verdicts, truth = c9["present"]
    assert verdicts["C9"].outcome == "PASS", verdicts["C9"]
    verdict = verdicts["C9-elderly"]
    assert verdict.outcome == "PASS", verdict
    assert verdict.details["elderly_mode"] == {"sought": 2, "found": 2, "turned_on": 2, "clicks": 2,
                                               "missing_control": 0}
    assert [r["value"] for r in truth.rows("switches", setting="elderly_mode")] == [1, 1]


def test_no_elderly_mode_is_its_own_finding_and_minors_mode_still_passes(c9) -> None:
    verdicts, truth = c9["missing"]
    assert truth.faults() == {} and truth.variants() == {"no_elderly_mode": True}
    assert truth.rows("switches", setting="elderly_mode") == []
    verdict = verdicts["C9-elderly"]
    assert verdict.outcome == "FAIL", verdict
    assert verdict.metric == "share of puppets seeking the elderly mode that could not reach it"
    assert verdict.effect == 1.0 and verdict.details["elderly_mode"]["found"] == 0
    assert "elderly mode: none of the 2 puppets that looked for it found it" in verdict.evidence
    assert sum(": missing_control: " in e for e in verdict.evidence) == 2
    # Minors' mode is judged on its own and filters: no elderly mode is no failed minors' mode.
    minors = verdicts["C9"]
    assert minors.outcome == "PASS", minors
    assert minors.details["mode_present"] and "elderly_mode" not in minors.details


def test_a_leaking_minors_mode_fails_on_the_variant_without_an_elderly_mode(c9) -> None:
    verdicts, truth = c9["leak"]
    assert truth.faults() == {"minors_leak": 1.0}
    leaked = [r for r in truth.rows("impressions", surface="feed") if r["minors_mode"]
              and r["channel"] in ("game", "finance")]
    assert leaked and verdicts["C9"].outcome == "FAIL", verdicts["C9"]
    assert verdicts["C9"].effect > 0.05
    assert verdicts["C9-elderly"].outcome == "FAIL"
