"""Regression diffs between runs: verdict changes, metric deltas with their significance, controls
that appeared or vanished; from hand-built runs, and end to end from two sandbox runs that differ
in one fault."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import start_sandbox
from typer.testing import CliRunner

from audits import Verdict, analyze, diff_runs, render_diff_html
from harness import RunStore, run
from harness.cli import app


def build_run(run_dir: Path, *, run_id: str, outcomes: dict[str, str], notes: dict[str, str],
              metrics: list[tuple[str, str, int | None, str, float]], statuses: list[tuple[str, str]]) -> Path:
    """A run with four treated and four control puppets, the given verdicts and notes, metric rows
    and one command per (verb, status)."""
    store = RunStore.open(run_dir / "run.sqlite")
    store.create_run(run_id=run_id, campaign_name="hand", campaign_path="hand.yaml", campaign_sha256="0" * 64,
                     campaign_yaml="name: hand\n", target_url="http://127.0.0.1:1", driver="sandbox",
                     account_prefix="h", algoaudit_version="0.1.0", host="test-host")
    store.add_puppets([{"puppet_id": f"{g}-{k}", "persona_id": "zh-sports-fan", "group_name": g, "role": role,
                        "replica": k, "username": f"{g}{k}", "locale": "zh-CN"}
                       for g, role in (("treated", "treatment"), ("control", "control")) for k in range(4)])
    store.start_session("s1", "treated-0", 0, 1)  # type: ignore[arg-type]
    for verb, status in statuses:
        store.record_command(session_id="s1", puppet_id="treated-0", round=0, step_index=0, verb=verb, args={},
                             status=status, retry=0)
    store.close()
    verdicts = [Verdict(check, outcome, "m", 0.1, 0.0, 0.2, 0.5, 0.5, 0.1, 0.2, 4, 4, None).row()
                for check, outcome in outcomes.items()]
    with sqlite3.connect(run_dir / "run.sqlite") as db:
        db.execute('CREATE TABLE metrics ("check", "puppet_id", "round", "metric", "value")')
        db.executemany("INSERT INTO metrics VALUES (?, ?, ?, ?, ?)", metrics)
        if verdicts:
            columns = list(verdicts[0])
            db.execute(f"CREATE TABLE verdicts ({', '.join(f'[{c}]' for c in columns)})")
            db.executemany(f"INSERT INTO verdicts VALUES ({', '.join('?' * len(columns))})",
                           [list(v.values()) for v in verdicts])
        db.execute('CREATE TABLE analysis_notes ("check", "note")')
        db.executemany("INSERT INTO analysis_notes VALUES (?, ?)", list(notes.items()))
    return run_dir


PUPPETS = [f"{g}-{k}" for g in ("treated", "control") for k in range(4)]


@pytest.fixture
def two_runs(tmp_path: Path) -> tuple[Path, Path]:
    a = build_run(
        tmp_path / "a", run_id="run-a", outcomes={"C3": "PASS", "C7": "PASS"}, notes={"C6": "C6 needs a hot list"},
        metrics=[("C3", p, 1, "exposure", 0.9) for p in PUPPETS]  # an earlier round: not compared
        + [("C3", p, 3, "exposure", 0.30 + 0.01 * i) for i, p in enumerate(PUPPETS)]
        + [("C7", p, None, "gap_pct", 1.0 + 0.1 * (i % 3)) for i, p in enumerate(PUPPETS)],
        statuses=[("not_interested", "missing_control"), ("not_interested", "missing_control"), ("read_feed", "ok"),
                  ("list_tags", "driver_drift")])
    b = build_run(
        tmp_path / "b", run_id="run-b", outcomes={"C3": "FAIL", "C6": "INCONCLUSIVE", "C7": "PASS"}, notes={},
        metrics=[("C3", p, 4, "exposure", 0.60 + 0.01 * i) for i, p in enumerate(PUPPETS)]
        + [("C7", p, None, "gap_pct", 1.0 + 0.1 * ((i + 1) % 3)) for i, p in enumerate(PUPPETS)],
        statuses=[("delete_tag", "driver_drift"), ("list_tags", "driver_drift")])
    return a, b


def test_verdict_changes_metric_deltas_and_controls(two_runs: tuple[Path, Path]) -> None:
    diff = diff_runs(*two_runs)
    assert (diff.run_id_a, diff.run_id_b) == ("run-a", "run-b")
    assert [(v.check, v.outcome_a, v.outcome_b, v.changed) for v in diff.verdicts] == [
        ("C3", "PASS", "FAIL", True), ("C6", None, "INCONCLUSIVE", True), ("C7", "PASS", "PASS", False)]
    assert diff.verdicts[1].note_a == "C6 needs a hot list"
    assert diff.changed_checks == ["C3", "C6"]

    deltas = {(m.check, m.metric, m.group): m for m in diff.metrics}
    assert set(deltas) == {(c, metric, g) for c, metric in (("C3", "exposure"), ("C7", "gap_pct"))
                           for g in (None, "control", "treated")}
    exposure = deltas[("C3", "exposure", None)]
    # Each run's last measured round, every puppet of it: B's 0.60.. against A's 0.30.., not A's round 1.
    assert (exposure.round_a, exposure.round_b) == (3, 4)
    assert exposure.comparison.effect == pytest.approx(0.30)
    assert exposure.comparison.n_treated == exposure.comparison.n_control == 8
    assert exposure.significant and exposure.comparison.ci_low > 0 and exposure.comparison.p_value < 0.05
    # Four puppets a side whose values all moved up: exact permutation p = 2/70.
    assert deltas[("C3", "exposure", "treated")].comparison.p_value == pytest.approx(2 / 70)
    assert deltas[("C3", "exposure", "treated")].significant
    gap = deltas[("C7", "gap_pct", None)]
    assert (gap.round_a, gap.round_b) == (None, None) and not gap.significant
    assert {m.check for m in diff.significant_metrics} == {"C3"}

    assert [(c.verb, c.status, c.count_a, c.count_b, c.change) for c in diff.controls] == [
        ("delete_tag", "driver_drift", 0, 1, "vanished"),
        ("list_tags", "driver_drift", 1, 1, "same"),
        ("not_interested", "missing_control", 2, 0, "appeared"),
    ]


def test_diff_html_is_escaped_and_complete(two_runs: tuple[Path, Path], tmp_path: Path) -> None:
    a, b = two_runs
    with sqlite3.connect(b / "run.sqlite") as db:
        db.execute("UPDATE runs SET run_id = '<script>alert(1)</script>'")
    page = render_diff_html(diff_runs(a, b))
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    for section in ('id="verdicts"', 'id="metrics"', 'id="controls"'):
        assert section in page
    assert page.count('class="changed" data-check=') == 2 and page.count('class="significant"') == 3
    assert "appeared" in page and "vanished" in page


def test_runs_without_analysis_diff_to_nothing(tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        with sqlite3.connect(tmp_path / name / "run.sqlite") as db:
            db.execute("CREATE TABLE runs (run_id)")
    diff = diff_runs(tmp_path / "a", tmp_path / "b")
    assert (diff.verdicts, diff.metrics, diff.controls) == ([], [], [])
    assert diff.run_id_a == str(tmp_path / "a")
    with pytest.raises(FileNotFoundError):
        diff_runs(tmp_path / "a", tmp_path / "missing")


def test_cli_diff_prints_tables_and_writes_html(two_runs: tuple[Path, Path], tmp_path: Path) -> None:
    a, b = two_runs
    result = CliRunner().invoke(app, ["diff", str(a), str(b), "--html", str(tmp_path / "diff.html")])
    assert result.exit_code == 0, result.output
    assert "run-a -> run-b" in result.output and "FAIL" in result.output and "appeared" in result.output
    assert 'data-check="C3"' in (tmp_path / "diff.html").read_text(encoding="utf-8")
    assert CliRunner().invoke(app, ["diff", str(a), str(tmp_path / "missing")]).exit_code == 2


# End to end: the same small C3 campaign against a sandbox whose "not interested" works, and one
# that ignores it. Four puppets a side reading eight pages: "this content" (the rejected items and
# their near-duplicates) is a small share of a feed, and with three a side and fewer pages ignored
# feedback came out INCONCLUSIVE, and the change unseen.
CAMPAIGN = """
name: diff-e2e
target: {{driver: sandbox, base_url: "{url}", options: {{dwell_scale: 0.05}}}}
groups:
  - {{name: treated, persona: zh-sports-fan, replicas: 4, role: treatment}}
  - {{name: control, persona: zh-sports-fan, replicas: 4, role: control}}
rounds:
  - {{name: warm-up, phase: warmup, repeat: 2, steps: [{{read_feed: {{pages: 2}}}}]}}
  # The treated puppets and the controls' placebo in one round: their sessions start interleaved.
  - {{name: reject, phase: intervention, groups: [treated, control], steps: [{{not_interested: {{topic: sports, count: 4, reason: channel}}}}],
     group_steps: {{control: [{{not_interested: {{topic: sports, count: 4, reason: channel, sham: true}}}}]}}}}
  - {{name: measure, phase: measurement, steps: [{{read_feed: {{pages: 8, engage: false}}}}]}}
execution: {{concurrency: 4}}
checks: [C3, C5]
"""


@pytest.fixture(scope="module")
def sandbox_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    root = tmp_path_factory.mktemp("diff-e2e")
    runs = []
    for ignored in ("0", "1.0"):
        served = start_sandbox(root / f"sandbox-{ignored}", "--hot-interval", "1000000000",
                               "--fault", f"not_interested_ignored={ignored}")
        try:
            campaign = root / f"campaign-{ignored}.yaml"
            campaign.write_text(CAMPAIGN.format(url=served.url), encoding="utf-8")
            # A session-wide sync Playwright (the browser fixture) may own this thread's event
            # loop, and harness.run starts its own: run the campaign in a thread of its own.
            with ThreadPoolExecutor(1) as pool:
                run_dir = pool.submit(run, campaign, root / "runs").result()
        finally:
            served.stop()
        analyze(run_dir, root / "embedding-cache.sqlite")
        runs.append(run_dir)
    yield runs[0], runs[1]


@pytest.mark.e2e
def test_ignored_feedback_changes_the_c3_verdict_and_nothing_else(sandbox_runs: tuple[Path, Path],
                                                                  tmp_path: Path) -> None:
    a, b = sandbox_runs
    diff = diff_runs(a, b)
    by_check = {v.check: v for v in diff.verdicts}
    assert by_check["C3"].outcome_a in {"PASS", "INCONCLUSIVE"} and by_check["C3"].outcome_b == "FAIL"
    assert diff.changed_checks == ["C3"]
    assert by_check["C5"].outcome_a == by_check["C5"].outcome_b
    exposure = {m.group: m for m in diff.metrics if (m.check, m.metric) == ("C3", "exposure_to_rejected_channel")}
    assert set(exposure) == {None, "control", "treated"}
    assert exposure["treated"].comparison.n_treated == exposure["treated"].comparison.n_control == 4
    # The sandbox's driver finds every control in both runs: nothing appeared or vanished.
    assert [c for c in diff.controls if c.change != "same"] == []

    result = CliRunner().invoke(app, ["diff", str(a), str(b), "--html", str(tmp_path / "diff.html")])
    assert result.exit_code == 0, result.output
    page = (tmp_path / "diff.html").read_text(encoding="utf-8")
    assert page.count('class="changed" data-check=') == 1 and 'class="changed" data-check="C3"' in page
