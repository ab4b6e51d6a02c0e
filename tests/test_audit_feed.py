"""The feed checks C1–C5 end to end: one small campaign against the sandbox served by uvicorn, once
compliant and once with every feed fault at full strength, analysed into verdicts that must follow
the ground truth."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import start_sandbox

from audits import Analysis, analyze
from harness import run

pytestmark = pytest.mark.e2e

# Three puppets in each group a verdict rests on, four in C3's: with two, Welch's t has about one
# degree of freedom, and one puppet whose feed sits off the topic's centre (a full cocoon read at
# 0.46 by one of two rejecting puppets) makes even a plain violation INCONCLUSIVE; "this content"
# is a small share of a feed that varies from puppet to puppet, and with three a side an ignored
# button under a full cocoon once read 0.16 [0.0, 0.51]. The puppets choose their
# interests at onboarding: a full cocoon closes a feed around whatever the profile holds first, and
# a sports fan whose first page held little sport and who opened one finance item was closed into
# finance for good (its rejected topic's exposure read 0 against its twins' 1.0). Five at once.
CAMPAIGN = """
name: feed-{name}
target: {{driver: sandbox, base_url: "{url}", options: {{dwell_scale: 0.05}}}}
groups:
  - {{name: fans, persona: zh-sports-fan, replicas: 4, role: control}}
  - {{name: reject, persona: zh-sports-fan, replicas: 4, role: treatment}}
  - {{name: untag, persona: zh-sports-fan, replicas: 3, role: treatment}}
  - {{name: military, persona: zh-military-fan, replicas: 2}}
  - {{name: fans-on, persona: zh-sports-fan, replicas: 2}}
  - {{name: military-on, persona: zh-military-fan, replicas: 2}}
  - {{name: probe, persona: zh-passive, replicas: 2}}
rounds:
  - {{name: no tags, phase: warmup, groups: [probe], steps: [{{onboarding: {{choose: []}}}}]}}
  - {{name: interests, phase: warmup, groups: [fans, reject, untag, military, fans-on, military-on], steps: [onboarding]}}
  - {{name: warm-up, phase: warmup, repeat: 2, groups: [fans, reject, untag, military, fans-on, military-on],
      steps: [{{read_feed: {{pages: 2}}}}]}}
  - {{name: reject, phase: intervention, groups: [reject], steps: [{{not_interested: {{topic: sports, count: 4, reason: channel}}}}]}}
  - {{name: untag, phase: intervention, groups: [untag], steps: [{{delete_tag: {{topic: sports}}}}]}}
  - {{name: placebo, phase: intervention, groups: [fans], steps: [{{not_interested: {{topic: sports, count: 4, reason: channel, sham: true}}}}]}}
  - {{name: sham, phase: intervention, groups: [military, fans-on, military-on], steps: [{{read_feed: {{pages: 1, engage: false}}}}]}}
  # C3's groups read eight pages ("this content" is a small share of a feed); the others two, or a
  # closed feed would use up a channel of the built-in content and C5's still-on controls would
  # meet other channels in the next round.
  - {{name: measure, phase: measurement, groups: [fans, reject, untag, military, fans-on, military-on],
      steps: [{{read_feed: {{pages: 2, engage: false}}}}, list_tags],
      group_steps: {{fans: [{{read_feed: {{pages: 8, engage: false}}}}, list_tags],
                    reject: [{{read_feed: {{pages: 8, engage: false}}}}, list_tags]}}}}
  - {{name: algorithm off, phase: measurement, groups: [fans, military],
      steps: [{{personalization: {{enabled: false}}}}, {{read_feed: {{pages: 2, engage: false}}}}]}}
  - {{name: still on, phase: measurement, groups: [fans-on, military-on], steps: [personalization, {{read_feed: {{pages: 2, engage: false}}}}]}}
execution: {{concurrency: 5}}
checks: [C1, C2, C3, C4, C5]
check_groups:
  C1: {{narrow: [fans], baseline: [military, military-on]}}
  C2: {{probe: [probe]}}
  C3: {{treated: [reject], control: [fans]}}
  C4: {{treated: [untag], control: [fans]}}
  C5: {{switched: [fans, military], still_on: [fans-on, military-on]}}
"""
FAULTS = ("cocoon", "not_interested_ignored", "tag_delete_cosmetic", "algo_off_leak")


@pytest.fixture(scope="module", params=["compliant", "faulty"])
def analysed(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, Analysis]]:
    kind = request.param
    root = tmp_path_factory.mktemp(kind)
    flags = ["--hot-interval", "1000000000"]
    if kind == "faulty":
        flags += [f for name in FAULTS for f in ("--fault", f"{name}=1.0")] + ["--fault", "forced_tags=3"]
    served = start_sandbox(root / "sandbox", *flags)
    try:
        campaign = root / "feed.yaml"
        campaign.write_text(CAMPAIGN.format(name=kind, url=served.url), encoding="utf-8")
        run_dir = run(campaign, root / "runs")
    finally:
        served.stop()
    yield kind, run_dir, analyze(run_dir, root / "embedding-cache.sqlite")


def test_every_feed_check_follows_the_ground_truth(analysed: tuple[str, Path, Analysis]) -> None:
    kind, _, analysis = analysed
    verdicts = {v.check: v for v in analysis.verdicts}
    assert sorted(verdicts) == ["C1", "C2", "C3", "C4", "C5"], analysis.notes
    for v in verdicts.values():
        assert v.ci_low <= v.effect <= v.ci_high, v
        # Three puppets a side is little power: a compliant platform may be INCONCLUSIVE, never FAIL.
        assert v.outcome == "FAIL" if kind == "faulty" else v.outcome in {"PASS", "INCONCLUSIVE"}, v
    c1, c2, c3, c4, c5 = (verdicts[c] for c in ("C1", "C2", "C3", "C4", "C5"))
    if kind == "compliant":
        assert c1.details["narrow_interest_share"] <= 0.7  # the channel cap keeps other content in view
        assert c2.outcome == "PASS" and c2.details["refused"] == []
        assert c3.effect > 0 and c4.effect > 0
        # C4's floor: the military fans (the campaign names no baseline: every other persona that read),
        # shown some sport as anyone is, less than the controls who kept the tag.
        assert 0 < c4.details["exposure_after"]["baseline"] < c4.details["exposure_after"]["control"]
        assert c5.effect == pytest.approx(0.0, abs=0.05) and c5.details["silent_resets"] == []
    else:
        assert c1.details["narrow_interest_share"] >= 0.7  # the truth is 1.0: the neighbourhood misses a few
        assert c2.details["refused"] == ["probe-0", "probe-1"] and c2.details["tags_forced"]
        assert c4.details["deleted_tags"] == ["体育"] and c4.details["reappeared"] == []
        # More of the profile than tolerated reaches the off feed (not all of it: the switched fans had
        # just read eight pages of a closed sports feed, and the leak shows only what they have not seen).
        assert c5.details["dependence_switched_off"] > c5.threshold * c5.details["dependence_still_on"]
    assert c5.details["clicks_to_switch"] and c3.details["rejected"] >= 4 and c3.evidence
    # Each judged by what it promised, on the channel labels the sandbox's cards show: C3's "not this
    # channel" by the rejected items' channel, C1's interest, C4's deleted tag and C5's personas'.
    # (C3's "this content", measured by near-duplicates, is proven in test_audit_feed_variants.)
    assert c3.details["reason"] == "channel" and c3.details["neighbourhood_errors"] is None
    assert c3.details["promised"] == "the rejected items' channel (体育)"
    # Marks are counted: an ignored button leaves the topic in the feed and every mark is made; one that
    # works may take it away before the last, and the shortfall is said in the verdict's notes.
    assert c3.details["marks_wanted"] == 32 and c3.details["marks_made"] <= 32, c3.details
    assert (c3.details["marks_made"] < 32) == any("were asked" in n for n in c3.details["notes"]), c3.details
    if kind == "faulty":
        assert c3.details["marks_made"] == 32, c3.details
    for v in (c1, c3, c4, c5):
        assert v.details["measured_by"] == "channel labels the platform shows on its cards", v
    assert c1.details["interest_channels"] == ["体育"] and c4.details["channels"] == ["体育"] == c3.details["channels"]
    assert c5.details["interest_channels"] == {"zh-military-fan": ["军事"], "zh-sports-fan": ["体育"]}
    assert c1.details["model"].startswith("intfloat/multilingual-e5-small")  # its homogeneity and topics


def test_a_second_analysis_embeds_nothing_and_rewrites_its_tables(analysed: tuple[str, Path, Analysis]) -> None:
    _, run_dir, first = analysed
    assert first.embedded > 0
    again = analyze(run_dir, run_dir.parent.parent / "embedding-cache.sqlite")
    assert again.embedded == 0  # every title came from the cache
    assert [(v.check, v.effect) for v in again.verdicts] == [(v.check, v.effect) for v in first.verdicts]
    with sqlite3.connect(run_dir / "run.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM verdicts").fetchone()[0] == 5
        per_check = dict(db.execute('SELECT "check", COUNT(*) FROM metrics GROUP BY "check"').fetchall())
    # C3: eight puppets × two rounds (before, after); C4: its three treated, four control and four
    # baseline puppets × two; C2: one row per probe.
    assert per_check["C3"] == 8 * 2 and per_check["C4"] == (3 + 4 + 4) * 2 and per_check["C2"] == 2


def test_a_platform_whose_channels_tell_nothing_apart_leaves_those_checks_undecided(
        analysed: tuple[str, Path, Analysis], tmp_path: Path) -> None:
    """Every card under one channel name: the labels tell nothing apart, and no neighbourhood can be
    calibrated on the run's items. The checks that need one are left undecided, with the reason, and
    the others still give verdicts."""
    _, run_dir, _ = analysed
    copy = tmp_path / run_dir.name
    shutil.copytree(run_dir, copy)
    with sqlite3.connect(copy / "run.sqlite") as db:
        db.execute("UPDATE items SET channel = '体育'")  # the tag C4's puppets delete, so it has its reference
    analysis = analyze(copy, tmp_path / "embedding-cache.sqlite")
    assert [v.check for v in analysis.verdicts] == ["C2"]
    for check in ("C1", "C3", "C4", "C5"):
        assert analysis.notes[check].startswith(f"{check} could not calibrate its neighbourhood"), analysis.notes
    with sqlite3.connect(copy / "run.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM analysis_notes WHERE note LIKE '%could not calibrate%'").fetchone()[0] == 4
