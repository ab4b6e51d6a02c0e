"""Campaigns end to end: real Chromium puppets against the sandbox served by uvicorn in its own process,
checked against the sandbox's ground truth."""

from __future__ import annotations

import collections
import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import REPO, ServedSandbox

from harness import _api
from harness._runner import ProgressEvent
from harness._store import RunStore
from sandbox import GroundTruth

pytestmark = pytest.mark.e2e

FROZEN = ("--hot-interval", "1000000000")

EVERY_VERB = """
name: {name}
target: {{driver: {driver}, base_url: "{url}", options: {{dwell_scale: 0.01}}}}
accounts: {{prefix: {prefix}}}
groups:
  - {{name: sport, persona: zh-sports-fan, replicas: 2, role: treatment}}
  - {{name: sportctl, persona: zh-sports-fan, replicas: 2, role: control}}
  - {{name: tech, persona: en-tech-reader, replicas: 2}}
rounds:
  - {{name: onboard, phase: warmup, steps: [onboarding, {{read_feed: {{pages: 2, engage: {engage}}}}}]}}
  - {{name: warm, phase: warmup, steps: [{{read_feed: {{pages: 2, engage: {engage}}}}}]}}
  - name: interventions
    phase: intervention
    groups: [sport]
    steps: [{{not_interested: {{count: 2}}}}, list_tags, {{delete_tag: {{tag: "{tag}"}}}}, {{personalization: {{enabled: false}}}}]
  - name: shop
    phase: measurement
    steps: [hot_list, {{view_products: {{limit: 8}}}}, {{buy: {{strategy: cheapest}}}}, {{claim_coupon: {{coupon: all30}}}}]
  - name: settings
    phase: measurement
    steps: [{{read_feed: {{pages: 1, engage: false}}}}, {{personalization: {{}}}}, disclosures, {{minors_mode: {{enabled: true, pin: "2468"}}}}]
execution: {{concurrency: 3, screenshots: on_error}}
"""


def write_campaign(tmp_path: Path, name: str, url: str, *, driver: str = "sandbox", prefix: str = "e2e",
                   engage: bool = True, tag: str = "体育") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(EVERY_VERB.format(name=name, driver=driver, url=url, prefix=prefix,
                                      engage=str(engage).lower(), tag=tag), encoding="utf-8")
    return path


def seen_by_user(run_dir: Path) -> collections.Counter:
    with sqlite3.connect(run_dir / "run.sqlite") as db:
        return collections.Counter(db.execute(
            "SELECT p.username, m.surface, it.platform_item_id FROM impressions m "
            "JOIN puppets p USING (puppet_id) JOIN items it USING (item_key)").fetchall())


def served_by_user(served: ServedSandbox) -> collections.Counter:
    with GroundTruth(served.truth_path) as truth:
        return collections.Counter((r["username"], r["surface"], r["item_id"]) for r in truth.rows("impressions"))


def test_campaign_with_every_verb_agrees_with_the_server(serve_sandbox: Callable[..., ServedSandbox], tmp_path: Path) -> None:
    served = serve_sandbox(*FROZEN)
    run_dir = _api.run(write_campaign(tmp_path, "every-verb", served.url), tmp_path / "runs")
    store = RunStore.open(run_dir / "run.sqlite")
    assert store.run()["status"] == "complete"
    statuses = collections.Counter(r["status"] for r in store.rows("commands"))
    assert statuses == {"ok": statuses["ok"]}, store.rows("commands", status="error")[:3]
    verbs = {r["verb"] for r in store.rows("commands")}
    assert verbs >= {"start", "onboarding", "read_feed", "not_interested", "list_tags", "delete_tag", "personalization",
                     "hot_list", "view_products", "buy", "claim_coupon", "disclosures", "minors_mode"}
    assert len(store.rows("puppets")) == 6 and len(store.rows("rounds")) == 5

    # Every card the server served is in the run, and nothing else: same users, surfaces, items, counts.
    mine, theirs = seen_by_user(run_dir), served_by_user(served)
    assert sum(mine.values()) > 500
    assert mine == theirs

    with GroundTruth(served.truth_path) as truth:
        rejected = {r["item_id"] for r in truth.rows("feedback")}
        switched = {(r["username"], r["setting"], r["value"]) for r in truth.rows("switches")}
        tags = truth.rows("tag_changes")
    recorded = {r["target"] for r in store.rows("actions", verb="not_interested")}
    assert rejected == recorded and len(recorded) == 4
    assert {(u, "personalized", 0) for u in ("e2e_sport_0", "e2e_sport_1")} <= switched
    assert {r["channel"] for r in tags} == {"sports"}
    whoami = {r["puppet_id"]: r["value"] for r in store.rows("observations", kind="whoami")}
    assert whoami["sport-0"] == "e2e_sport_0" and not store.rows("events", kind="contamination")
    store.close()


def test_declarative_driver_records_the_same_impressions(serve_sandbox: Callable[..., ServedSandbox], tmp_path: Path) -> None:
    results = []
    for driver in ("sandbox", "sandbox-declarative"):
        served = serve_sandbox(*FROZEN, name=f"sandbox-{driver}")
        campaign = write_campaign(tmp_path, f"parity-{driver}", served.url, driver=driver, prefix="twin", engage=False)
        run_dir = _api.run(campaign, tmp_path / f"runs-{driver}")
        with sqlite3.connect(run_dir / "run.sqlite") as db:
            results.append(db.execute(
                "SELECT m.puppet_id, m.round, m.surface, it.platform_item_id FROM impressions m "
                "JOIN items it USING (item_key) ORDER BY m.puppet_id, m.round, m.surface, m.load, m.position").fetchall())
        assert seen_by_user(run_dir) == served_by_user(served)
    assert len(results[0]) > 300
    assert results[0] == results[1]


SLOW_CAMPAIGN = """
name: killed
target: {{driver: sandbox, base_url: "{url}", options: {{dwell_scale: 0.02}}}}
accounts: {{prefix: kill}}
groups: [{{name: g, persona: zh-sports-fan, replicas: 3}}]
rounds:
  - {{name: read, repeat: 4, steps: [{{read_feed: {{pages: 2}}}}, hot_list]}}
execution: {{concurrency: 3}}
"""


def test_sigkill_mid_campaign_then_resume_loses_nothing_and_repeats_nothing(
        serve_sandbox: Callable[..., ServedSandbox], tmp_path: Path) -> None:
    served = serve_sandbox(*FROZEN)
    campaign = tmp_path / "killed.yaml"
    campaign.write_text(SLOW_CAMPAIGN.format(url=served.url), encoding="utf-8")
    runs = tmp_path / "runs"
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "run", str(campaign), "--runs", str(runs)],
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    # Kill once the first round is done and the second is under way (polling the run database).
    deadline = time.monotonic() + 120
    run_db = None
    while time.monotonic() < deadline:
        found = list(runs.glob("*/run.sqlite"))
        if found:
            run_db = found[0]
            try:
                with sqlite3.connect(run_db) as db:
                    done = db.execute("SELECT COUNT(*) FROM sessions WHERE status = 'complete'").fetchone()[0]
                    running = db.execute("SELECT COUNT(*) FROM sessions WHERE status = 'running' AND round = 1").fetchone()[0]
            except sqlite3.OperationalError:  # the schema is not written yet
                done = running = 0
            if done >= 3 and running:
                break
        time.sleep(0.2)
    assert run_db is not None
    os.killpg(proc.pid, signal.SIGKILL)  # the harness and its browsers, with no chance to clean up
    proc.wait()
    with sqlite3.connect(run_db) as db:
        before = set(db.execute("SELECT session_id, surface, load, position, item_key FROM impressions").fetchall())
        complete_before = db.execute("SELECT COUNT(*) FROM sessions WHERE status = 'complete'").fetchone()[0]
    assert before and complete_before < 12

    resumed = subprocess.run([sys.executable, "-m", "harness.cli", "resume", str(run_db.parent)], cwd=REPO,
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    store = RunStore.open(run_db)
    after = {(r["session_id"], r["surface"], r["load"], r["position"], r["item_key"]) for r in store.rows("impressions")}
    assert before <= after  # nothing collected before the kill is lost
    assert store.run()["status"] == "complete"
    # Every (puppet, round) finished exactly once, and every step of it ran ok exactly once.
    assert sorted(store.completed()) == [(f"g-{k}", r) for k in range(3) for r in range(4)]
    ok_steps = collections.Counter((c["puppet_id"], c["round"], c["step_index"]) for c in store.rows("commands", status="ok")
                                   if c["step_index"] >= 0)
    assert set(ok_steps) == {(f"g-{k}", r, s) for k in range(3) for r in range(4) for s in range(2)}
    assert set(ok_steps.values()) == {1}
    statuses = collections.Counter(r["status"] for r in store.rows("sessions"))
    assert statuses["complete"] == 12 and statuses["interrupted"] >= 1
    assert store.rows("events", kind="resume")
    store.close()


def test_captcha_pauses_the_puppet_and_errors_are_retried(serve_sandbox: Callable[..., ServedSandbox], tmp_path: Path) -> None:
    served = serve_sandbox(*FROZEN, "--fault", "chaos.captcha_after=25", "--fault", "chaos.captcha_cooldown_s=2",
                           "--fault", "chaos.error_rate=0.05")
    campaign = tmp_path / "walls.yaml"
    campaign.write_text(f"""
name: walls
target: {{driver: sandbox, base_url: "{served.url}"}}
groups: [{{name: g, persona: zh-passive, replicas: 2}}]
rounds: [{{name: read, repeat: 3, steps: [{{read_feed: {{pages: 2, engage: false}}}}, hot_list, list_tags]}}]
execution: {{concurrency: 2, captcha_pause_s: 2.5, retries: 4}}
""", encoding="utf-8")
    run_dir = _api.run(campaign, tmp_path / "runs")
    store = RunStore.open(run_dir / "run.sqlite")
    assert store.run()["status"] == "complete"
    assert store.rows("events", kind="captcha")
    assert {r["status"] for r in store.rows("sessions")} >= {"complete", "blocked"}
    with GroundTruth(served.truth_path) as truth:
        assert {r["kind"] for r in truth.rows("chaos")} >= {"captcha"}
    store.close()


def test_a_crashed_browser_is_relaunched_on_the_same_profile(serve_sandbox: Callable[..., ServedSandbox],
                                                            tmp_path: Path) -> None:
    served = serve_sandbox(*FROZEN)
    campaign = tmp_path / "crash.yaml"
    campaign.write_text(f"""
name: crash
target: {{driver: sandbox, base_url: "{served.url}"}}
groups: [{{name: g, persona: zh-passive, replicas: 2}}]
rounds: [{{name: read, repeat: 2, steps: [{{read_feed: {{engage: false}}}}, hot_list]}}]
execution: {{concurrency: 2, trace: true, har: true}}
""", encoding="utf-8")
    killed: list[str] = []

    def kill_once(event: ProgressEvent) -> None:
        # After g-0 has logged in for the second round, its Chromium dies, as a real browser may.
        if event.kind == "step_done" and event.puppet_id == "g-0" and event.round == 1 and event.verb == "start" and not killed:
            profile = next((tmp_path / "runs").glob("*/profiles/g-0"))
            subprocess.run(["pkill", "-9", "-f", f"user-data-dir={profile}"], check=False)
            killed.append(str(profile))

    run_dir = _api.run(campaign, tmp_path / "runs", progress=kill_once)
    store = RunStore.open(run_dir / "run.sqlite")
    assert killed and store.run()["status"] == "complete"
    g0 = store.rows("sessions", puppet_id="g-0", round=1)
    assert [s["status"] for s in g0] == ["failed", "complete"]
    assert {c["status"] for c in store.rows("commands", session_id=g0[0]["session_id"])} & {"crashed", "error"}
    assert store.rows("events", kind="browser_restart")
    # Relaunched on its own profile: still logged in, no second sign-up, and no login recorded that was not.
    assert [a["verb"] for a in store.rows("actions", puppet_id="g-0")
            if a["verb"] in ("sign_up", "log_in", "already_logged_in")] == [
        "sign_up", "already_logged_in", "already_logged_in"]
    kinds = {a["kind"] for a in store.rows("artifacts")}
    assert {"trace", "har"} <= kinds
    for artifact in store.rows("artifacts", kind="trace"):
        assert hashlib.sha256((run_dir / artifact["path"]).read_bytes()).hexdigest() == artifact["sha256"]
    store.close()


def test_ctrl_c_stops_cleanly_and_resume_finishes(serve_sandbox: Callable[..., ServedSandbox], tmp_path: Path) -> None:
    served = serve_sandbox(*FROZEN)
    campaign = tmp_path / "stopped.yaml"
    campaign.write_text(SLOW_CAMPAIGN.format(url=served.url).replace("name: killed", "name: stopped"), encoding="utf-8")
    runs = tmp_path / "runs"
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "run", str(campaign), "--runs", str(runs)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        found = list(runs.glob("*/run.sqlite"))
        try:
            if found and sqlite3.connect(found[0]).execute(
                    "SELECT COUNT(*) FROM sessions WHERE status = 'complete'").fetchone()[0] >= 2:
                break
        except sqlite3.OperationalError:  # the schema is not written yet
            pass
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-1500:]
    assert "algoaudit resume" in err
    store = RunStore.open(found[0])
    assert store.run()["status"] == "interrupted"
    assert not store.rows("sessions", status="running")
    store.close()
    assert _api.resume(found[0].parent) == "complete"


@pytest.mark.parametrize("forced", [0, 2])
def test_onboarding_without_tags_is_tried_and_recorded(serve_sandbox: Callable[..., ServedSandbox], tmp_path: Path,
                                                       forced: int) -> None:
    served = serve_sandbox(*FROZEN, "--fault", f"forced_tags={forced}")
    campaign = tmp_path / "c2.yaml"
    campaign.write_text(f"""
name: c2
target: {{driver: sandbox, base_url: "{served.url}"}}
groups: [{{name: skip, persona: zh-sports-fan, replicas: 1}}, {{name: keen, persona: zh-sports-fan, replicas: 1}}]
rounds:
  - {{name: skip, groups: [skip], steps: [{{onboarding: {{choose: []}}}}, {{read_feed: {{pages: 1, engage: false}}}}]}}
  - {{name: keen, groups: [keen], steps: [onboarding, {{read_feed: {{pages: 1, engage: false}}}}]}}
""", encoding="utf-8")
    store = RunStore.open(_api.run(campaign, tmp_path / "runs") / "run.sqlite")
    assert store.run()["status"] == "complete"
    outcomes = {r["puppet_id"]: json.loads(r["value"]) for r in store.rows("observations", kind="onboarding")}
    assert outcomes["skip-0"]["shown"] and outcomes["skip-0"]["chosen"] == []
    assert outcomes["skip-0"]["skipped"] == (forced == 0)
    forced_choices = store.rows("actions", verb="onboarding_forced_choice")
    if forced:
        assert outcomes["skip-0"]["message"] == "请至少选择 2 个兴趣标签"
        # Both puppets end up choosing two tags: the keen one has a single matching interest.
        assert sorted((a["puppet_id"], len(a["target"].split(","))) for a in forced_choices) == [("keen-0", 2), ("skip-0", 2)]
        assert outcomes["keen-0"]["passed"] is False
    else:
        assert forced_choices == []
        assert outcomes["keen-0"]["chosen"] == ["体育"] and outcomes["keen-0"]["passed"]
    store.close()
