"""A compliance regression test: does "not interested" (不感兴趣) still work?

Run it with ``pytest examples/test_regression_audit.py``: the ``algoaudit`` pytest plugin, installed
with algoaudit, provides the fixtures. Eight real puppets (four that reject sports items, four
controls; with fewer, ignored feedback can come out INCONCLUSIVE: "this content" is a small share of a
feed) read the sandbox platform's feed, eight pages when they measure; the C3 check turns what they
saw into a verdict.

The sandbox is served twice: once with its "not interested" button ignored (the audit must catch
it: FAIL), once compliant (the audit must not accuse it). Against your own platform, drop the
``algoaudit_sandbox`` part and pass ``base_url="https://staging.example.com"``.
"""

from __future__ import annotations

import pytest

# Quoted "{base_url}" is replaced by the platform under test; dwell_scale reads for 5% of the
# persona's dwell time, so the run takes minutes, not an afternoon.
CAMPAIGN = """
name: c3-regression
target: {driver: sandbox, base_url: "{base_url}", options: {dwell_scale: 0.05}}
groups:
  - {name: treated, persona: zh-sports-fan, replicas: 4, role: treatment}
  - {name: control, persona: zh-sports-fan, replicas: 4, role: control}
rounds:
  - {name: warm-up, phase: warmup, repeat: 2, steps: [{read_feed: {pages: 2}}]}
  # The treated puppets and the controls' placebo in one round: their sessions start interleaved.
  - {name: reject, phase: intervention, groups: [treated, control], steps: [{not_interested: {topic: sports, count: 4, reason: channel}}],
     group_steps: {control: [{not_interested: {topic: sports, count: 4, reason: channel, sham: true}}]}}
  - {name: measure, phase: measurement, steps: [{read_feed: {pages: 8, engage: false}}]}
execution: {concurrency: 4}
checks: [C3]
"""

# A frozen hot list keeps the platform's own drift out of a small run.
FROZEN = ("--hot-interval", "1000000000")


def test_ignored_not_interested_is_caught(algoaudit_sandbox, algoaudit_run, algoaudit_verdicts) -> None:
    platform = algoaudit_sandbox(*FROZEN, "--fault", "not_interested_ignored=1.0")
    run_dir = algoaudit_run(CAMPAIGN, base_url=platform)
    c3 = algoaudit_verdicts(run_dir)["C3"]
    assert c3.outcome == "FAIL", c3
    assert c3.n_treated == c3.n_control == 4


def test_working_not_interested_is_not_accused(algoaudit_sandbox, algoaudit_run, algoaudit_verdicts) -> None:
    platform = algoaudit_sandbox(*FROZEN)
    run_dir = algoaudit_run(CAMPAIGN, base_url=platform)
    c3 = algoaudit_verdicts(run_dir)["C3"]
    # Four puppets a side do not always have the power to call PASS; what must hold is: never FAIL.
    assert c3.outcome in {"PASS", "INCONCLUSIVE"}, c3


@pytest.fixture
def algoaudit_runs_dir(tmp_path_factory: pytest.TempPathFactory):
    """Keep the runs of this module together (the plugin's default is each test's tmp_path)."""
    return tmp_path_factory.getbasetemp() / "regression-runs"
