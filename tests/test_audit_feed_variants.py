"""C3 and C5 end to end on lawful designs other than the reference one, and on a faulty platform
built on them: a check that absorbed the reference design would accuse these compliant platforms.

- content-only "not interested" (the item and its close kin go, the channel stays) with an off
  feed that ignores earlier blocks;
- feedback from the next session on, with a feed that never repeats an opened item;
- the first two variants with "not interested" ignored, half the off feed still personalised and
  the switch silently back on at the next login.

The switched puppets log out after switching off and log in again for the next round, where they
read the switch and the feed: a switch that turned itself back on is seen there.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import start_sandbox

from audits import Analysis, analyze
from harness import run
from sandbox import GroundTruth

pytestmark = pytest.mark.e2e

CAMPAIGN = """
name: feed-variants-{name}
target: {{driver: sandbox, base_url: "{url}", options: {{dwell_scale: 0.05}}}}
groups:
  - {{name: fans, persona: zh-sports-fan, replicas: 4, role: control}}
  - {{name: reject, persona: zh-sports-fan, replicas: 4, role: treatment}}
  - {{name: military, persona: zh-military-fan, replicas: 2}}
  - {{name: fans-on, persona: zh-sports-fan, replicas: 2}}
  - {{name: military-on, persona: zh-military-fan, replicas: 2}}
rounds:
  - {{name: interests, phase: warmup, steps: [onboarding]}}
  - {{name: warm-up, phase: warmup, repeat: 2, steps: [{{read_feed: {{pages: 2}}}}]}}
  - name: feedback
    phase: intervention
    groups: [reject, fans]
    steps: [{{not_interested: {{topic: sports, count: 4}}}}]
    group_steps: {{fans: [{{not_interested: {{topic: sports, count: 4, sham: true}}}}]}}
  - {{name: measure, phase: measurement, groups: [reject, fans], repeat: 2, steps: [{{read_feed: {{pages: 8, engage: false}}}}]}}
  - name: switch
    phase: measurement
    groups: [fans, military, fans-on, military-on]
    steps: [{{personalization: {{enabled: false}}}}, {{read_feed: {{pages: 2, engage: false}}}}, log_out]
    group_steps:
      fans-on: [personalization, {{read_feed: {{pages: 2, engage: false}}}}]
      military-on: [personalization, {{read_feed: {{pages: 2, engage: false}}}}]
  - {{name: next login, phase: measurement, groups: [fans, military], steps: [personalization, {{read_feed: {{pages: 1, engage: false}}}}]}}
execution: {{concurrency: 5}}
checks: [C3, C5]
check_groups:
  C3: {{treated: [reject], control: [fans]}}
  C5: {{switched: [fans, military], still_on: [fans-on, military-on]}}
"""
DESIGNS = {
    "content-only": ["--variant", "feedback_content_only=true", "--variant", "off_feed_ignores_blocks=true"],
    "next-session": ["--variant", "feedback_next_session=true", "--variant", "never_repeat_opened=true"],
    "faulty": ["--variant", "feedback_content_only=true", "--variant", "never_repeat_opened=true",
               "--fault", "not_interested_ignored=1.0", "--fault", "algo_off_leak=0.5", "--fault", "algo_off_reset=1"],
}


@pytest.fixture(scope="module", params=sorted(DESIGNS))
def analysed(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[tuple[str, Path, Analysis, Path]]:
    name = request.param
    root = tmp_path_factory.mktemp(name)
    served = start_sandbox(root / "sandbox", "--hot-interval", "1000000000", *DESIGNS[name])
    try:
        campaign = root / "feed.yaml"
        campaign.write_text(CAMPAIGN.format(name=name, url=served.url), encoding="utf-8")
        run_dir = run(campaign, root / "runs")
    finally:
        served.stop()
    yield name, run_dir, analyze(run_dir, root / "embedding-cache.sqlite"), served.truth_path


def test_c3_and_c5_judge_each_design_by_what_it_claims(analysed: tuple[str, Path, Analysis, Path]) -> None:
    name, run_dir, analysis, truth_path = analysed
    verdicts = {v.check: v for v in analysis.verdicts}
    assert sorted(verdicts) == ["C3", "C5"], analysis.notes
    c3, c5 = verdicts["C3"], verdicts["C5"]
    for v in (c3, c5):
        assert 0.0 <= v.ci_low <= v.effect <= v.ci_high <= 1.0, v
    with GroundTruth(truth_path) as truth:
        variants, faults = truth.variants(), truth.faults()
        resets = truth.rows("switches", cause="reset")
    # The puppets the verdicts compare started their sessions together, not group after group.
    assert c3.details["start_gap_s"]["intervention"] is not None and c3.details["start_gap_s"]["intervention"] < 60
    assert c3.details["marks_wanted"] == 32 and c3.details["marks_made"] <= 32, c3.details
    assert (c3.details["marks_made"] < 32) == any("were asked" in n for n in c3.details["notes"]), c3.details
    if name == "faulty":
        assert faults == {"not_interested_ignored": 1.0, "algo_off_leak": 0.5, "algo_off_reset": 1}
        # An ignored button keeps every mark possible, and is never passed; "this content" is a tenth
        # of a feed or less, and four puppets a side FAILed it in two of three runs (INCONCLUSIVE
        # 0.18 [0.0, 0.53] in the third: near-duplicate exposure differs from puppet to puppet).
        assert c3.outcome != "PASS" and c3.ci_high < 0.8 and c3.details["marks_made"] == 32, c3
        # The switch turned itself back on at the next login, and the puppets saw it there.
        assert resets and c5.details["silent_resets"] and c5.outcome == "FAIL", c5
    else:
        assert faults == {} and len(variants) == 2 and not resets
        # A compliant platform may leave a verdict undecided on so few puppets; it is never accused.
        assert c3.outcome in {"PASS", "INCONCLUSIVE"}, c3
        assert c5.outcome in {"PASS", "INCONCLUSIVE"} and not c5.details["silent_resets"], c5
    if name == "content-only":
        # What the button promised (the rejected items and their near-duplicates) went, and the channel
        # stayed in the treated puppets' feeds, as its label said: measured at the channel, as C3
        # once did, this compliant platform read as a button that did nothing.
        # (Its estimate read 0.81, 0.75 and 0.57 in three runs: never FAIL is what four a side can hold.)
        assert c3.details["promised"] == "the rejected items and their near-duplicates"
        late = c3.details["rounds"]["later"]
        sports = {group: _label_share(run_dir, group, late, "体育") for group in ("reject", "fans")}
        assert sports["reject"] >= 0.6 * sports["fans"] > 0, sports


def _label_share(run_dir: Path, group: str, round_index: int, channel: str) -> float:
    """The share of a group's feed cards in a round that the platform labelled with ``channel``."""
    with sqlite3.connect(run_dir / "run.sqlite") as db:
        labels = [r[0] for r in db.execute(
            "SELECT i.channel FROM impressions m JOIN items i USING (item_key) JOIN puppets p USING (puppet_id) "
            "WHERE p.group_name = ? AND m.round = ? AND m.surface = 'feed'", [group, round_index])]
    return sum(label == channel for label in labels) / len(labels)
