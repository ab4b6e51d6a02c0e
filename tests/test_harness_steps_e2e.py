"""Steps that reach their count, groups that start interleaved, and logging out, end to end: real
Chromium puppets against the sandbox served by uvicorn in its own process, read against the
sandbox's ground truth."""

from __future__ import annotations

import collections
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import ServedSandbox

from harness import _api
from harness._store import RunStore
from sandbox import GroundTruth

pytestmark = pytest.mark.e2e

FROZEN = ("--hot-interval", "1000000000")

CAMPAIGN = """
name: steps-{driver}
target: {{driver: {driver}, base_url: "{url}", options: {{dwell_scale: 0.01}}}}
accounts: {{prefix: st}}
groups:
  - {{name: treated, persona: zh-sports-fan, replicas: 2, role: treatment}}
  - {{name: control, persona: zh-sports-fan, replicas: 2, role: control}}
rounds:
  - {{name: onboard, phase: warmup, steps: [onboarding, {{read_feed: {{pages: 1, engage: false}}}}]}}
  - name: reject
    phase: intervention
    groups: [treated]
    steps: [{{not_interested: {{topic: sports, count: {count}, max_pages: 8}}}},
            {{not_interested: {{topic: sports, count: 40, max_pages: 1}}}}]
  - name: placebo
    phase: intervention
    groups: [control]
    steps: [{{not_interested: {{topic: sports, count: {count}, max_pages: 8, sham: true}}}}, log_out]
  - {{name: back, phase: measurement, groups: [control], steps: [log_out, log_in, list_tags]}}
execution: {{concurrency: 2}}
"""


@pytest.mark.parametrize("driver", ["sandbox", "sandbox-declarative"])
def test_steps_reach_their_count_groups_interleave_and_log_out_logs_in_again(
        serve_sandbox: Callable[..., ServedSandbox], tmp_path: Path, driver: str) -> None:
    # A platform that ignores the button keeps showing the topic, so the count can be reached; one
    # that honours it shows little of it after the first marks (the step's shortfall says so).
    served = serve_sandbox(*FROZEN, "--fault", "not_interested_ignored=1.0")
    count = 12  # more than one feed page load (20 cards, about 9 of sport) holds: the step must read on
    campaign = tmp_path / "steps.yaml"
    campaign.write_text(CAMPAIGN.format(driver=driver, url=served.url, count=count), encoding="utf-8")
    store = RunStore.open(_api.run(campaign, tmp_path / "runs") / "run.sqlite")
    assert store.run()["status"] == "complete"
    statuses = collections.Counter(r["status"] for r in store.rows("commands"))
    assert statuses == {"ok": statuses["ok"]}, store.rows("commands", status="error")[:3]
    with GroundTruth(served.truth_path) as truth:
        feedback = truth.rows("feedback")
        logins = collections.Counter(r["username"] for r in truth.rows("sessions") if r["cause"] == "login")

    # Marked: exactly the count asked, over several feed pages, each page load recorded as shown.
    steps = {(c["puppet_id"], c["step_index"]): json.loads(c["outcome"]) for c in store.rows("commands", round=1)
             if c["step_index"] >= 0}
    for k in range(2):
        full, short = steps[(f"treated-{k}", 0)], steps[(f"treated-{k}", 1)]
        assert (full["wanted"], full["marked"], full["picked"], full["shortfall"]) == (count, count, count, 0)
        assert 2 <= full["pages_read"] <= 8 and full["reasons_used"] == ["item"]
        marked = [a for a in store.rows("actions", puppet_id=f"treated-{k}", verb="not_interested")]
        assert len(marked) == count + short["marked"]
        # The step read on until the count was reached: its last page gave the last marks.
        assert max(json.loads(a["args"])["page"] for a in marked[:count]) == full["pages_read"]
        assert all(json.loads(a["args"])["reason_offered"] for a in marked)
        session = store.rows("commands", puppet_id=f"treated-{k}", round=1)[0]["session_id"]
        loads = {m["load"] for m in store.rows("impressions", session_id=session, surface="feed")}
        assert len(loads) == full["pages_read"] + 1  # and the short step's one page
        # One page and 40 wanted: what it found is marked, the rest is its shortfall.
        assert short["pages_read"] == 1 and short["shortfall"] == 40 - short["marked"] > 0
        assert short["marked"] == short["picked"] == len(short["items"])
    by_user = collections.Counter(r["username"] for r in feedback)
    assert by_user == {"st_treated_0": count + steps[("treated-0", 1)]["marked"],
                       "st_treated_1": count + steps[("treated-1", 1)]["marked"]}

    # The placebo picks as many the same way, over as many pages as it takes, and presses nothing.
    for k in range(2):
        sham = json.loads(store.rows("commands", puppet_id=f"control-{k}", round=2, step_index=0)[0]["outcome"])
        assert (sham["picked"], sham["marked"], sham["shortfall"]) == (count, 0, 0) and sham["pages_read"] >= 2
        assert len(store.rows("actions", puppet_id=f"control-{k}", verb="not_interested_sham")) == count

    # Rounds start their puppets in turns across groups: treated-0, control-0, treated-1, control-1.
    onboard = [r[0] for r in store.db.execute("SELECT puppet_id FROM sessions WHERE round = 0 ORDER BY rowid")]
    assert onboard == ["treated-0", "control-0", "treated-1", "control-1"]

    # Logging in is recorded only when it happened: signed up once, then already logged in, until
    # a log-out; the next session logged in again, and so did a log_in step after a log_out.
    for k in range(2):
        verbs = [a["verb"] for a in store.rows("actions", puppet_id=f"control-{k}")
                 if a["verb"] in ("sign_up", "log_in", "already_logged_in", "log_out")]
        assert verbs == ["sign_up", "already_logged_in", "log_out", "log_in", "log_out", "log_in"]
        outs = [a["outcome"] for a in store.rows("actions", puppet_id=f"control-{k}", verb="log_out")]
        assert outs == ["ok", "ok"]
        # The platform counted the same: the sign-up's session, the next session's login, the step's.
        assert logins[f"st_control_{k}"] == 3
        treated = [a["verb"] for a in store.rows("actions", puppet_id=f"treated-{k}")
                   if a["verb"] in ("sign_up", "log_in", "already_logged_in")]
        assert treated == ["sign_up", "already_logged_in"] and logins[f"st_treated_{k}"] == 1
    store.close()
