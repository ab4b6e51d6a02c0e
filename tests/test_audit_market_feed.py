"""C6 (hot list), C9 (minors' mode), C10 (disclosure) and C11 (data collection) end to end: one feed
campaign against a compliant sandbox and one against a sandbox with injected hot-list items, a
leaking minors' mode, no disclosure pages and a feed that asks for geolocation and notifications;
the verdicts must follow the ground truth."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ServedSandbox, start_sandbox

from audits import analyze
from audits._analyze import Analysis
from harness import run

pytestmark = pytest.mark.e2e

CAMPAIGN = """
name: feed-{name}
target: {{driver: sandbox, base_url: "{url}", options: {{dwell_scale: 0.05}}}}
groups:
  - {{name: teen, persona: zh-teen-gamer, replicas: 2, role: treatment}}
  - {{name: gamer, persona: zh-teen-gamer, replicas: 2, role: control}}
  - {{name: sports, persona: zh-sports-fan, replicas: 2, role: baseline}}
rounds:
  - {{name: look around, phase: warmup, steps: [hot_list, disclosures]}}
  - {{name: teen mode, phase: intervention, groups: [teen], steps: [{{minors_mode: {{enabled: true}}}}]}}
  - {{name: measure, phase: measurement, steps: [hot_list, {{read_feed: {{pages: 2, engage: false}}}}]}}
execution: {{concurrency: 6}}
checks: [C6, C9, C10, C11]
thresholds: {{lockstep_window_s: 60}}
check_groups:
  C6: {{observers: [gamer, sports]}}
"""
FAULTS = ("--fault", "hotlist_injection=3", "--fault", "minors_leak=1.0", "--fault", "disclosure_missing=true",
          "--fault", "data_overreach=[geolocation, notifications]")


def _campaign_run(tmp: Path, name: str, *flags: str) -> tuple[Analysis, Path, ServedSandbox]:
    # One hot-list bucket for the whole run: the lists compared were computed from the same heat.
    served = start_sandbox(tmp / f"sandbox-{name}", "--hot-interval", "1000000000", *flags)
    try:
        campaign = tmp / f"feed-{name}.yaml"
        campaign.write_text(CAMPAIGN.format(name=name, url=served.url), encoding="utf-8")
        run_dir = run(campaign, tmp / "runs")
        return analyze(run_dir, tmp / "embedding-cache.sqlite"), run_dir, served
    finally:
        served.stop()


@pytest.fixture(scope="module")
def feed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple[Analysis, Path, ServedSandbox]]]:
    tmp = tmp_path_factory.mktemp("feed")
    yield {"off": _campaign_run(tmp, "off"), "on": _campaign_run(tmp, "on", *FAULTS)}


def _verdict(analysis: Analysis, check: str):
    (verdict,) = [v for v in analysis.verdicts if v.check == check]
    return verdict


def test_c6_honest_hot_list_passes_and_is_the_same_for_everyone(feed) -> None:
    verdict = _verdict(feed["off"][0], "C6")
    assert verdict.outcome == "PASS", verdict
    assert verdict.effect == 0.0 and verdict.details["unexplained_items"] == []
    assert verdict.details["persona_dependence"]["excess_over_twins"] == pytest.approx(0.0, abs=0.05)
    assert verdict.details["rules_page"] is True
    assert verdict.details["window_achieved_s"] <= 60


def test_c6_injected_items_fail(feed) -> None:
    analysis, _, served = feed["on"]
    verdict = _verdict(analysis, "C6")
    assert verdict.outcome == "FAIL", verdict
    with sqlite3.connect(served.truth_path) as truth:
        injected = {r for (r,) in truth.execute("SELECT DISTINCT item_id FROM hotlist WHERE injected = 1")}
    assert verdict.effect == pytest.approx(3.0)
    assert set(verdict.details["unexplained_items"]) == injected
    assert verdict.details["rules_page"] is False


def test_c9_minors_mode_filters_when_it_works(feed) -> None:
    verdict = _verdict(feed["off"][0], "C9")
    assert verdict.outcome == "PASS", verdict
    assert verdict.details["mode_present"] and verdict.details["normal_unsuitable_share"] > 0.1


def test_c9_leaking_minors_mode_fails(feed) -> None:
    analysis, _, served = feed["on"]
    verdict = _verdict(analysis, "C9")
    assert verdict.outcome == "FAIL", verdict
    with sqlite3.connect(served.truth_path) as truth:
        leaked = truth.execute("SELECT COUNT(*) FROM impressions WHERE minors_mode = 1 AND channel IN ('game', 'finance')"
                               ).fetchone()[0]
    assert leaked > 0 and verdict.effect > 0.05


def test_c10_disclosures_found_and_archived(feed) -> None:
    analysis, run_dir, _ = feed["off"]
    verdict = _verdict(analysis, "C10")
    assert verdict.outcome == "PASS", verdict
    assert verdict.details["pages"]["filing_number"]["found"] == 6
    archived = [e for e in verdict.evidence if "sha256:" in e and "disclosure_html" in e]
    assert archived
    with sqlite3.connect(run_dir / "run.sqlite") as db:
        kinds = {k for (k,) in db.execute("SELECT kind FROM artifacts")}
    assert {"disclosure_screenshot", "disclosure_html"} <= kinds


def test_c10_missing_disclosures_fail(feed) -> None:
    verdict = _verdict(feed["on"][0], "C10")
    assert verdict.outcome == "FAIL", verdict
    assert verdict.effect == 1.0


def test_c11_a_quiet_feed_passes(feed) -> None:
    verdict = _verdict(feed["off"][0], "C11")
    assert verdict.outcome == "PASS", verdict
    assert verdict.details["third_party_hosts"] == {}


def test_c11_permission_requests_are_recorded_and_fail(feed) -> None:
    analysis, run_dir, served = feed["on"]
    verdict = _verdict(analysis, "C11")
    assert verdict.outcome == "FAIL", verdict
    assert verdict.effect == 2.0 and verdict.details["unneeded_requested"] == ["geolocation", "notifications"]
    with sqlite3.connect(run_dir / "run.sqlite") as db:
        recorded = db.execute("SELECT api, page_url FROM permission_requests").fetchall()
    with sqlite3.connect(served.truth_path) as truth:
        pages = truth.execute("SELECT COUNT(*) FROM permissions").fetchone()[0]
    # Every feed page the server answered asked for both; the harness saw every ask.
    assert len(recorded) == 2 * pages
    assert all(url.startswith(served.url) for _, url in recorded)
