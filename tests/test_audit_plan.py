"""``plan``: power analysis from a campaign (and a pilot's noise), checked against the formulas."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from audits import plan
from harness.cli import app

REPO = Path(__file__).resolve().parent.parent


def test_a_campaign_gets_a_plan_per_check_with_its_group_sizes() -> None:
    plans = {p.check: p for p in plan((REPO / "campaigns" / "feed-audit-zh.yaml").read_text(encoding="utf-8"))}
    assert sorted(plans) == ["C1", "C2", "C3", "C4", "C5"]
    assert plans["C3"].puppets_now == (4, 4) and plans["C1"].puppets_now == (4, 3)
    assert plans["C5"].puppets_now == (6, 4)  # switched (fans, military) against the still-on control
    assert plans["C4"].puppets_now == (3, 4, 4)  # and C4's baseline: military, military-on
    assert plans["C3"].noise_source == "default" and plans["C2"].noise_source == "deterministic"
    for p in plans.values():
        assert p.needed_80 is not None and p.needed_95 is not None and p.needed_95 >= p.needed_80 >= 2


def test_smaller_effects_need_more_puppets_in_the_known_ratio() -> None:
    text = (REPO / "campaigns" / "c3-not-interested-en.yaml").read_text(encoding="utf-8")
    big, small = plan(text, effect=0.2)[0], plan(text, effect=0.1)[0]
    # n = 2 (z σ / δ)²: halving δ quadruples n (up to rounding up).
    assert small.needed_80 == pytest.approx(4 * big.needed_80, abs=4)
    z = 1.959964 + 0.841621
    assert big.noise_sd == 0.25
    assert big.needed_80 == math.ceil(2 * (z * 0.25 / 0.2) ** 2)
    assert small.power_now < big.power_now < 1


def test_a_pilot_supplies_the_noise(tmp_path: Path) -> None:
    pilot = tmp_path / "pilot"
    pilot.mkdir()
    with sqlite3.connect(pilot / "run.sqlite") as db:
        db.execute('CREATE TABLE verdicts ("check", noise_sd)')
        db.execute("INSERT INTO verdicts VALUES ('C3', 0.3)")
    text = (REPO / "campaigns" / "c3-not-interested-en.yaml").read_text(encoding="utf-8")
    (c3,) = plan(text, pilot, effect=0.1)
    assert c3.noise_sd == 0.3 and c3.noise_source == f"pilot {pilot}"
    assert c3.needed_80 == math.ceil(2 * ((1.959964 + 0.841621) * 0.3 / 0.1) ** 2)
    empty = tmp_path / "unanalysed"
    empty.mkdir()
    sqlite3.connect(empty / "run.sqlite").close()
    with pytest.raises(ValueError, match="algoaudit analyze"):
        plan(text, empty)


def test_plan_command_prints_the_table() -> None:
    result = CliRunner().invoke(app, ["plan", str(REPO / "campaigns" / "feed-audit-en.yaml"), "--effect", "0.1"])
    assert result.exit_code == 0, result.output
    for check in ("C1", "C2", "C3", "C4", "C5"):
        assert check in result.output
    bad = CliRunner().invoke(app, ["plan", str(REPO / "README.md")])
    assert bad.exit_code == 2
