"""How steady the neighbourhood's calibration is on real runs, and the twin noise that
``algoaudit plan``'s defaults rest on, over the feed runs of a ``bench/calibration.py`` directory.

    .venv/bin/python bench/neighbourhood_calibration.py [--out DIR] [--per-channel 40 --per-channel 160] [--draws 3]

Per corpus and items per channel: of the (run, draw) pairs, how many reached the 80% target, fell
back to a lower precision, or failed even the floor; the mean precision reached; and the mean
seconds of ``embed_run`` (draw 0, best of three, embeddings from the directory's cache). Then, per
check, the 80th percentile and the largest twin noise of the verdicts the last analysis stored in
the runs, on the compliant sandbox (strength 0) and over every strength.
"""

from __future__ import annotations

import argparse
import sqlite3
import time
from pathlib import Path

import numpy as np

from audits._exposure import BALANCE_CAP, DEFAULT_PRECISION, embed_run
from audits._run import open_run
from embeddings import CalibrationError

REPO = Path(__file__).resolve().parent.parent
CHECKS = ("C1", "C3", "C4", "C5")


def _runs(out: Path) -> list[tuple[str, float, Path]]:
    with sqlite3.connect(out / "results.sqlite") as db:
        rows = db.execute("SELECT DISTINCT language, strength, run_dir FROM results WHERE scenario = 'feed' "
                          "ORDER BY language, strength, run_dir").fetchall()
    return [(language, strength, Path(run_dir)) for language, strength, run_dir in rows]


def calibration_table(runs: list[tuple[str, float, Path]], cache: Path, sizes: list[int], draws: int) -> str:
    lines = ["| corpus | items per channel | (run, draw) | at 80% | fell back | failed | precision reached (mean) "
             "| embed_run s (mean) |", "|---|---|---|---|---|---|---|---|"]
    for language in sorted({r[0] for r in runs}):
        opened = [open_run(run_dir) for lang, _, run_dir in runs if lang == language]
        for size in sizes:
            reached, failed, seconds = [], 0, []
            for run in opened:
                for draw in range(draws):
                    try:
                        space = embed_run(run, cache, per_channel=size, draw=draw)
                    except CalibrationError:
                        failed += 1
                        continue
                    reached.append(space.calibration.target_precision)
                best = []
                for _ in range(3):
                    start = time.perf_counter()
                    try:
                        embed_run(run, cache, per_channel=size)
                    except CalibrationError:
                        pass
                    best.append(time.perf_counter() - start)
                seconds.append(min(best))
            at_target = sum(r == DEFAULT_PRECISION for r in reached)
            lines.append(f"| {language} | {size} | {len(opened) * draws} | {at_target} | {len(reached) - at_target} "
                         f"| {failed} | {np.mean(reached):.2f} | {np.mean(seconds):.3f} |")
    return "\n".join(lines)


def noise_table(runs: list[tuple[str, float, Path]]) -> str:
    noise: dict[str, dict[bool, list[float]]] = {c: {True: [], False: []} for c in CHECKS}
    for _, strength, run_dir in runs:
        with sqlite3.connect(run_dir / "run.sqlite") as db:
            for check, sd in db.execute('SELECT "check", noise_sd FROM verdicts WHERE noise_sd IS NOT NULL'):
                if check in noise:
                    noise[check][strength == 0].append(sd)
    lines = ["| check | compliant: verdicts | p80 | largest | every strength: verdicts | p80 | largest |",
             "|---|---|---|---|---|---|---|"]
    for check in CHECKS:
        compliant, every = noise[check][True], noise[check][True] + noise[check][False]
        cells = [f"{len(v)} | {np.percentile(v, 80):.2f} | {max(v):.2f}" if v else "0 | — | —" for v in (compliant, every)]
        lines.append(f"| {check} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=REPO / ".algoaudit" / "calibration",
                        help="a bench/calibration.py directory whose feed cells have run (and --reanalyse'd)")
    parser.add_argument("--per-channel", type=int, action="append", help=f"repeatable; default: 40 and {BALANCE_CAP}")
    parser.add_argument("--draws", type=int, default=3)
    args = parser.parse_args()
    runs = _runs(args.out)
    if not runs:
        raise SystemExit(f"no feed runs in {args.out / 'results.sqlite'}: run bench/calibration.py --scenario feed")
    cache = args.out / "embedding-cache-reanalyse.sqlite"
    print(f"{len(runs)} feed runs in {args.out}\n")
    print(calibration_table(runs, cache, args.per_channel or [40, BALANCE_CAP], args.draws))
    print()
    print(noise_table(runs))


if __name__ == "__main__":
    main()
