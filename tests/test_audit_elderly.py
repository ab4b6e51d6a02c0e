"""C9's elderly (senior) mode end to end: two puppets look for it and turn it on, once on a compliant
sandbox and once on one without the mode; C9 must report what the ground truth says."""

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


def _c9(tmp: Path, name: str, *flags: str) -> tuple[Verdict, GroundTruth]:
    served = start_sandbox(tmp / f"sandbox-{name}", *flags)
    try:
        campaign = tmp / f"elderly-{name}.yaml"
        campaign.write_text(CAMPAIGN.format(name=name, url=served.url), encoding="utf-8")
        analysis = analyze(run(campaign, tmp / "runs"), tmp / "embedding-cache.sqlite")
    finally:
        served.stop()
    (verdict,) = [v for v in analysis.verdicts if v.check == "C9"]
    return verdict, GroundTruth(served.truth_path)


@pytest.fixture(scope="module")
def c9(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple[Verdict, GroundTruth]]]:
    tmp = tmp_path_factory.mktemp("elderly")
    yield {"present": _c9(tmp, "present"), "missing": _c9(tmp, "missing", "--fault", "elderly_mode_missing=true")}


def test_c9_an_elderly_mode_every_puppet_finds_and_turns_on(c9) -> None:
    verdict, truth = c9["present"]
    assert verdict.outcome == "PASS", verdict
    assert verdict.details["elderly_mode"] == {"sought": 2, "found": 2, "turned_on": 2, "clicks": 2,
                                               "missing_control": 0}
    assert [r["value"] for r in truth.rows("switches", setting="elderly_mode")] == [1, 1]


def test_c9_an_elderly_mode_nobody_finds_fails(c9) -> None:
    verdict, truth = c9["missing"]
    assert truth.faults() == {"elderly_mode_missing": True}
    assert truth.rows("switches", setting="elderly_mode") == []
    assert verdict.outcome == "FAIL", verdict
    assert verdict.metric == "share of puppets seeking the elderly mode that could not reach it"
    assert verdict.effect == 1.0 and verdict.details["elderly_mode"]["found"] == 0
    # Minors' mode worked all the same, and the details say so.
    assert verdict.details["minors_mode"]["outcome"] == "PASS"
    assert "elderly mode: none of the 2 puppets that looked for it found it" in verdict.evidence
    assert sum(": missing_control: " in e for e in verdict.evidence) == 2
