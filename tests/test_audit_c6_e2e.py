"""C6 end to end: a hot-list campaign (two personas, twins, entries' own pages opened) against the
sandbox served by uvicorn, driven in real Chromium, on each design the hot list has (the reference
design, a published heat formula, heat in 万 / 亿 refreshed in buckets), compliant and with its
faults at full strength: injected items whose displayed heat is made up to fit their rank, and a
list re-ranked per profile. The verdicts must follow the ground truth."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from conftest import CHROMIUM, start_sandbox

from audits import analyze
from harness import run

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(CHROMIUM is None, reason="Chromium not found: apt-get install chromium")]

CAMPAIGN = """
name: c6-{name}
target: {{driver: {driver}, base_url: "{url}", options: {{dwell_scale: 0.05}}}}
groups:
  - {{name: sports, persona: zh-sports-fan, replicas: 2}}
  - {{name: investor, persona: zh-investor, replicas: 2}}
rounds:
  - {{name: warm-up, phase: warmup, steps: [{{read_feed: {{pages: 2}}}}, disclosures]}}
  - {{name: snapshot, phase: measurement, repeat: 2, steps: [{{hot_list: {{open_entries: 8}}}}]}}
execution: {{concurrency: 4}}
checks: [C6]
thresholds: {{lockstep_window_s: 60}}
"""
FAKED = ("--fault", "hotlist_injection.count=3", "--fault", "hotlist_injection.fake_heat=true")
DESIGNS = {"reference": (), "formula": ("--variant", "published_heat_formula=true"),
           "units": ("--variant", "heat_units=true")}


def _c6(tmp: Path, name: str, *flags: str, driver: str = "sandbox"):
    # A refresh interval longer than the run: the lists compared were computed from the same numbers.
    served = start_sandbox(tmp / f"sandbox-{name}", "--hot-interval", "3600", *flags)
    try:
        campaign = tmp / f"c6-{name}.yaml"
        campaign.write_text(CAMPAIGN.format(name=name, url=served.url, driver=driver), encoding="utf-8")
        run_dir = run(campaign, tmp / "runs")
        (verdict,) = [v for v in analyze(run_dir, tmp / "cache.sqlite").verdicts if v.check == "C6"]
        with sqlite3.connect(served.truth_path) as truth:
            injected = {r for (r,) in truth.execute("SELECT DISTINCT item_id FROM hotlist WHERE injected = 1")}
        return verdict, injected, run_dir
    finally:
        served.stop()


@pytest.mark.parametrize("design", list(DESIGNS))
def test_c6_compliant_design_passes(tmp_path: Path, design: str) -> None:
    verdict, injected, run_dir = _c6(tmp_path, design, *DESIGNS[design])
    assert injected == set()
    assert verdict.outcome == "PASS", verdict
    assert verdict.details["unexplained_items"] == []
    assert verdict.details["entries_opened"] == 4 * 2 * 8
    assert (verdict.details["formula"] is not None) == (design == "formula")
    with sqlite3.connect(run_dir / "run.sqlite") as db:
        heats = [(t, h) for t, h in db.execute("SELECT heat_text, heat FROM hotlist_entries")]
    if design == "units":
        # Shown in 万 and 亿 and read with their units: "76.4亿" is 7.64e9, not 76.4.
        assert any(t.endswith("亿") for t, _ in heats) and any(t.endswith("万") for t, _ in heats)
        assert all(h > 1e6 for _, h in heats)


@pytest.mark.parametrize("design", list(DESIGNS))
def test_c6_pinned_items_with_made_up_heat_fail(tmp_path: Path, design: str) -> None:
    verdict, injected, _ = _c6(tmp_path, design, *DESIGNS[design], *FAKED)
    assert verdict.outcome == "FAIL", verdict
    assert len(injected) >= 3
    # Their heat was made up to fit: the displayed heat alone explains every rank...
    assert verdict.details["unexplained_by_reason"].get("displayed", 0) == 0
    # ...their own pages do not, and nothing else is flagged.
    assert set(verdict.details["unexplained_items"]) <= injected
    # Every judged snapshot (entries opened) shows the three pinned items, all among the first 8.
    assert verdict.effect == pytest.approx(3.0)
    assert verdict.details["snapshots_judged"] == 4 * 2
    reasons = {r for f in verdict.details["flagged_entries"] for r in f["reasons"]}
    assert reasons <= ({"formula_heat", "formula_rank"} if design == "formula" else {"counts"})


@pytest.mark.parametrize("design", ["reference", "formula"])
def test_c6_a_list_ranked_per_profile_fails(tmp_path: Path, design: str) -> None:
    verdict, _, _ = _c6(tmp_path, f"personal-{design}", *DESIGNS[design], "--fault", "hotlist_personalized=1.0")
    assert verdict.outcome == "FAIL", verdict
    dependence = verdict.details["persona_dependence"]
    assert dependence["one_list_presented"] and dependence["outcome"] == "FAIL"
    assert dependence["ci_low"] > dependence["threshold"]
