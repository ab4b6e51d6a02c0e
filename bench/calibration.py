"""Calibration of the checks against the sandbox's ground truth: every scenario's campaign, with its
fault off and at each strength, over seeds and corpora; then a table of verdicts against truth.

    .venv/bin/python bench/calibration.py [--scenario feed] [--language zh] [--seeds 5] [--parallel 2] [--out DIR]
    .venv/bin/python bench/calibration.py --table-only
    .venv/bin/python bench/calibration.py --reanalyse [--scenario feed]

A cell is (scenario, language, strength, seed): a fresh sandbox served by uvicorn with
``--seed``, the language's corpus (toutiao for zh, agnews for en; see ``_scenario.CORPORA``) and
the fault flags, one campaign run, one analysis. Cells are slow (minutes each), so the bench is a
long run that can stop at any time: results go to ``DIR/results.sqlite`` as each cell ends, a
cell interrupted mid-run is resumed (same sandbox data, ``harness.resume``) and finished cells
are skipped. Browser profiles are deleted after a cell; its run.sqlite and the ground truth stay,
so ``--reanalyse`` can judge the same runs again after a check changes, without the browsers.
A cell spends most of its time waiting on pages (about 0.6 CPU-core in use), so ``--parallel``
runs several cells at once, each in its own process with its own sandbox.

The table: check, fault, strength, verdict counts, the mean estimated effect and the mean true
effect, how often the 95% interval covered the true effect, and the median seconds a cell's run
took (sandbox start to run end, before the analysis). Targets: no FAIL at strength 0,
≥ 95% FAIL at the strongest, intervals that cover the truth. A second table sums each check up
over every design it ran on: the reference design and each lawful variant (scenarios
``feed+VARIANT`` and the market's), both corpora: false FAILs, the share INCONCLUSIVE, the FAIL
rate at full strength by design, and the interval's coverage of the truth.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import math
import os
import shutil
import sqlite3
import sys
import time
import urllib.parse
from pathlib import Path

import numpy as np
from _calibration_feed import SCENARIOS as FEED
from _scenario import CORPORA, Scenario
from _served import free_port, start_sandbox, stop_sandbox

from audits import analyze
from harness import resume, run, status

try:
    from _calibration_market import SCENARIOS as MARKET
except ImportError:  # the shop and hot-list scenarios ship separately
    MARKET = []

REPO = Path(__file__).resolve().parent.parent
CORPUS_DIR = REPO.parent / "shared" / "corpus"
SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    scenario TEXT, language TEXT, strength REAL, seed INTEGER, "check" TEXT, outcome TEXT,
    effect REAL, ci_low REAL, ci_high REAL, threshold REAL, truth REAL, run_dir TEXT, seconds REAL,
    PRIMARY KEY (scenario, language, strength, seed, "check"));
CREATE TABLE IF NOT EXISTS cells (
    scenario TEXT, language TEXT, strength REAL, seed INTEGER, status TEXT, seconds REAL, note TEXT,
    PRIMARY KEY (scenario, language, strength, seed));
"""


def _corpus_flags(scenario: Scenario, language: str) -> list[str]:
    if any(f == "--corpus" for f in scenario.flags(scenario.levels[0])):
        return []  # the scenario serves its own corpus (products)
    path = CORPUS_DIR / CORPORA[language]
    if not path.exists():
        raise SystemExit(f"{path} is missing: the calibration runs on the shared corpora")
    return ["--corpus", str(path)]


def _connect(out: Path) -> sqlite3.Connection:
    db = sqlite3.connect(out / "results.sqlite", timeout=120)
    db.executescript(SCHEMA)
    return db


def _run_cell_in_process(out: Path, name: str, language: str, strength: float, seed: int) -> str:
    scenario = next(s for s in FEED + MARKET if s.name == name)
    db = _connect(out)
    try:
        run_cell(db, out, scenario, language, strength, seed)
    finally:
        db.close()
    return f"{name} {language} strength {strength:g} seed {seed}"


def run_cell(db: sqlite3.Connection, out: Path, scenario: Scenario, language: str, strength: float, seed: int) -> None:
    cell = out / scenario.name / language / f"s{strength:g}-seed{seed}"
    data_dir, runs_root = cell / "sandbox", cell / "runs"
    previous = sorted(runs_root.glob("*/run.sqlite")) if runs_root.exists() else []
    flags = ["--seed", str(seed), *_corpus_flags(scenario, language), *scenario.flags(strength)]
    started = time.monotonic()
    if previous:
        # Interrupted earlier: the same sandbox data on the same port (the stored campaign names it,
        # and resume refuses a campaign that no longer matches its hash), the same run, continued.
        run_dir = previous[-1].parent
        proc = start_sandbox(data_dir, _port_of(run_dir), *flags, fresh=False)
        try:
            resume(run_dir)
        finally:
            stop_sandbox(proc)
    else:
        port = free_port()
        proc = start_sandbox(data_dir, port, *flags)
        try:
            campaign = cell / "campaign.yaml"
            campaign.parent.mkdir(parents=True, exist_ok=True)
            campaign.write_text(scenario.campaign(f"http://127.0.0.1:{port}", language), encoding="utf-8")
            run_dir = run(campaign, runs_root)
        finally:
            stop_sandbox(proc)
    state = status(run_dir).run["status"]
    seconds = time.monotonic() - started
    if state != "complete":
        db.execute("INSERT OR REPLACE INTO cells VALUES (?, ?, ?, ?, ?, ?, ?)",
                   [scenario.name, language, strength, seed, state, seconds, "run did not complete"])
        db.commit()
        return
    # One embedding cache per worker process: the cells in parallel do not contend for one file.
    record(db, out / f"embedding-cache-{os.getpid()}.sqlite", scenario, language, strength, seed, run_dir, seconds)
    shutil.rmtree(run_dir / "profiles", ignore_errors=True)


def record(db: sqlite3.Connection, cache: Path, scenario: Scenario, language: str, strength: float, seed: int,
           run_dir: Path, seconds: float) -> None:
    """Analyse a finished cell's run and store its verdicts beside the ground truth."""
    analysis = analyze(run_dir, cache, checks=list(scenario.checks))
    truth = scenario.truth(run_dir.parent.parent / "sandbox" / "ground_truth.sqlite", run_dir, strength)
    with db:
        for v in analysis.verdicts:
            db.execute("INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       [scenario.name, language, strength, seed, v.check, v.outcome, v.effect, v.ci_low, v.ci_high,
                        v.threshold, truth.get(v.check, math.nan), str(run_dir), seconds])
            for part in _parts(v):
                db.execute("INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                           [scenario.name, language, strength, seed, part["check"], part["outcome"], part["effect"],
                            part["ci_low"], part["ci_high"], v.threshold, truth.get(part["check"], math.nan),
                            str(run_dir), seconds])
        for check in analysis.notes:
            db.execute("INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?, ?, 'NONE', NULL, NULL, NULL, NULL, ?, ?, ?)",
                       [scenario.name, language, strength, seed, check, truth.get(check, math.nan), str(run_dir), seconds])
        db.execute("INSERT OR REPLACE INTO cells VALUES (?, ?, ?, ?, 'done', ?, ?)",
                   [scenario.name, language, strength, seed, seconds, json.dumps(analysis.notes, ensure_ascii=False)])


def _merge_caches(out: Path, merged: Path) -> None:
    """The workers' embedding caches in one file, so that analysing the runs again embeds nothing
    the cells already embedded (the caches share their schema; a text's vector is the same in each)."""
    workers = sorted(p for p in out.glob("embedding-cache-*.sqlite") if p != merged)
    if not workers:
        return
    if not merged.exists():
        shutil.copyfile(max(workers, key=lambda p: p.stat().st_size), merged)
    with sqlite3.connect(merged) as db:
        for worker in workers:
            db.execute("ATTACH DATABASE ? AS worker", [str(worker)])
            db.execute("INSERT OR IGNORE INTO models SELECT * FROM worker.models")
            db.execute("INSERT OR IGNORE INTO embeddings SELECT * FROM worker.embeddings")
            db.commit()
            db.execute("DETACH DATABASE worker")


def _parts(verdict) -> list[dict]:
    """A verdict on the largest of several parts (C7's attributes) as one row per part
    (``C7:age_band=45-54``), each with the outcome the check gave it."""
    return [{"check": f"{verdict.check}:{part['attribute']}={part['value']}", "outcome": part["outcome"],
             "effect": part["gap_pct"], "ci_low": part["ci_low"], "ci_high": part["ci_high"]}
            for part in (verdict.details or {}).get("by_attribute", [])]


def _port_of(run_dir: Path) -> int:
    with sqlite3.connect(run_dir / "run.sqlite") as db:
        return int(urllib.parse.urlsplit(db.execute("SELECT target_url FROM runs").fetchone()[0]).port)


def table(db: sqlite3.Connection) -> str:
    rows = db.execute(
        'SELECT scenario, "check", language, strength, outcome, effect, ci_low, ci_high, truth, seconds FROM results '
        'ORDER BY "check", language, strength').fetchall()
    groups: dict[tuple, list] = {}
    faults = {s.name: s.fault for s in FEED + MARKET}
    for scenario, check, language, strength, outcome, effect, lo, hi, truth, seconds in rows:
        groups.setdefault((check, faults.get(scenario, scenario), language, strength), []).append(
            (outcome, effect, lo, hi, truth, seconds))
    lines = ["| check | fault | corpus | strength | runs | PASS | INCONCL. | FAIL | estimate (mean) | truth (mean) | CI covers truth | run s (median) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for (check, fault, language, strength), cells in groups.items():
        counts = {o: sum(c[0] == o for c in cells) for o in ("PASS", "INCONCLUSIVE", "FAIL")}
        effects = [c[1] for c in cells if c[1] is not None]
        truths = [c[4] for c in cells if c[4] is not None and not math.isnan(c[4])]
        # Within floating-point noise: a price gap measured as 3.000000000000002% covers a planted 3%.
        covered = [c[2] - 1e-9 <= c[4] <= c[3] + 1e-9 for c in cells
                   if c[1] is not None and c[4] is not None and not math.isnan(c[4])]
        lines.append(f"| {check} | {fault} | {CORPORA.get(language, language)} | {strength:g} | {len(cells)} | "
                     f"{counts['PASS']} | {counts['INCONCLUSIVE']} | {counts['FAIL']} | "
                     f"{np.mean(effects) if effects else float('nan'):.3f} | "
                     f"{np.mean(truths) if truths else float('nan'):.3f} | "
                     f"{sum(covered)}/{len(covered)} | {np.median([c[5] for c in cells]):.0f} |")
    return "\n".join(lines)


def summary(db: sqlite3.Connection) -> str:
    """Per check, over every design it ran on (the reference and each variant) and both corpora:
    false FAILs on a compliant platform (target 0), the share INCONCLUSIVE, the FAIL rate with the
    faults at full strength in each design (target ≥ 95%), and how often the interval covered the
    truth (target ≥ 90%)."""
    scenarios = {s.name: s for s in FEED + MARKET}
    rows = db.execute('SELECT scenario, "check", strength, outcome, ci_low, ci_high, truth FROM results '
                      "WHERE outcome != 'NONE' AND \"check\" NOT LIKE '%:%'").fetchall()
    by_check: dict[str, list] = {}
    for row in rows:
        if row[0] in scenarios:
            by_check.setdefault(row[1], []).append(row)
    lines = ["| check | designs | false FAIL (compliant) | INCONCL. (compliant / full) | FAIL at full strength, by design | CI covers truth |",
             "|---|---|---|---|---|---|"]
    for check, cells in sorted(by_check.items(), key=lambda kv: (len(kv[0]), kv[0])):
        compliant = [c for c in cells if c[2] == 0]
        full = [c for c in cells if c[2] == max(scenarios[c[0]].levels)]
        designs = sorted({scenarios[c[0]].variant or "reference" for c in cells})
        per_design = []
        for design in designs:
            mine = [c for c in full if (scenarios[c[0]].variant or "reference") == design]
            if mine:
                per_design.append(f"{design} {sum(c[3] == 'FAIL' for c in mine)}/{len(mine)}")
        covered = [c[4] - 1e-9 <= c[6] <= c[5] + 1e-9 for c in cells if c[6] is not None and not math.isnan(c[6])]

        def share(group: list, outcome: str) -> str:
            return f"{sum(c[3] == outcome for c in group) / len(group):.2f}" if group else "—"

        lines.append(f"| {check} | {len(designs)} | {sum(c[3] == 'FAIL' for c in compliant)}/{len(compliant)} | "
                     f"{share(compliant, 'INCONCLUSIVE')} / {share(full, 'INCONCLUSIVE')} | {'; '.join(per_design)} | "
                     f"{sum(covered)}/{len(covered)} ({(sum(covered) / len(covered)) if covered else float('nan'):.2f}) |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", action="append", help="scenario name (repeatable); default: all")
    parser.add_argument("--language", action="append", choices=sorted(CORPORA), help="default: each scenario's")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--parallel", type=int, default=1, help="cells at once, each in its own process")
    parser.add_argument("--out", type=Path, default=REPO / ".algoaudit" / "calibration")
    parser.add_argument("--table-only", action="store_true", help="print the table of the cells done so far")
    parser.add_argument("--reanalyse", action="store_true",
                        help="analyse the finished cells' runs again (after a change to a check), without running them")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    db = _connect(args.out)
    if args.reanalyse:
        cache = args.out / "embedding-cache-reanalyse.sqlite"
        _merge_caches(args.out, cache)
        scenarios = {s.name: s for s in FEED + MARKET}
        done = db.execute("SELECT scenario, language, strength, seed, seconds FROM cells WHERE status = 'done'").fetchall()
        for name, language, strength, seed, seconds in done:
            if name not in scenarios or (args.scenario and name not in args.scenario):
                continue
            runs = sorted((args.out / name / language / f"s{strength:g}-seed{seed}" / "runs").glob("*/run.sqlite"))
            record(db, cache, scenarios[name], language, strength, seed, runs[-1].parent, seconds)
            print(f"re-analysed {name} {language} strength {strength:g} seed {seed}", flush=True)
    elif not args.table_only:
        scenarios = [s for s in FEED + MARKET if not args.scenario or s.name in args.scenario]
        # Seed-major order: whenever the bench stops, every strength has about as many seeds.
        cells = [(s, lang, level, seed) for seed in range(args.seeds) for s in scenarios
                 for lang in s.languages if not args.language or lang in args.language for level in s.levels]
        done = {tuple(r) for r in db.execute("SELECT scenario, language, strength, seed FROM cells WHERE status = 'done'")}
        todo = [c for c in cells if (c[0].name, c[1], float(c[2]), c[3]) not in done]
        print(f"{len(cells)} cells, {len(cells) - len(todo)} done, {len(todo)} to run", flush=True)
        with concurrent.futures.ProcessPoolExecutor(max_workers=args.parallel) as pool:
            futures = [pool.submit(_run_cell_in_process, args.out, s.name, lang, float(level), seed)
                       for s, lang, level, seed in todo]
            for k, future in enumerate(concurrent.futures.as_completed(futures), 1):
                try:
                    print(f"[{k}/{len(todo)}] {future.result()}", flush=True)
                except Exception as error:  # noqa: BLE001 - one cell's failure must not hide the others'
                    # e.g. a campaign aborted after sessions failed in a row on an overloaded machine
                    print(f"[{k}/{len(todo)}] a cell failed: {error!r}; run the bench again to resume it", flush=True)
    print(table(db))
    print()
    print(summary(db))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
