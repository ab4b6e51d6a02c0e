"""Screenshot the first screen of an inspection report into docs/report.png (the README's example).

Serves the sandbox with "not interested" ignored in its own process, runs a small C3 + C6 campaign
against it, analyses the run, writes the report and photographs it with Playwright; or, with
``--run RUN_DIR``, reports an existing analysed run.

    .venv/bin/python scripts/report_screenshot.py [--run RUN_DIR] [--out docs/report.png] [--lang zh|en]
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

from audits import analyze, write_report
from harness import run
from harness._browser import CHROMIUM_ARGS, chromium_path

REPO = Path(__file__).resolve().parent.parent

CAMPAIGN = """
name: report-example
description: 不感兴趣是否有效（平台忽略“不感兴趣”），以及热榜是否由热度排序
target: {{driver: sandbox, base_url: "{url}", options: {{dwell_scale: 0.05}}}}
groups:
  - {{name: treated, persona: zh-sports-fan, replicas: 3, role: treatment}}
  - {{name: control, persona: zh-sports-fan, replicas: 3, role: control}}
rounds:
  - {{name: warm-up, phase: warmup, repeat: 2, steps: [{{read_feed: {{pages: 2}}}}]}}
  - {{name: reject, phase: intervention, groups: [treated], steps: [{{not_interested: {{topic: sports, count: 4}}}}]}}
  - {{name: placebo, phase: intervention, groups: [control], steps: [{{not_interested: {{topic: sports, count: 4, sham: true}}}}]}}
  - {{name: measure, phase: measurement, steps: [{{read_feed: {{pages: 2, engage: false}}}}, hot_list]}}
execution: {{concurrency: 3, screenshots: always}}
checks: [C3, C6]
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sandbox_run(work: Path) -> Path:
    """Serve a sandbox that ignores "not interested", run the example campaign, analyse it."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "sandbox", "serve", "--port", str(port), "--data-dir",
         str(work / "sandbox"), "--hot-interval", "1000000000", "--fault", "not_interested_ignored=1.0"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the sandbox did not start") from None
            time.sleep(0.1)  # polling for readiness
        campaign = work / "campaign.yaml"
        campaign.write_text(CAMPAIGN.format(url=url), encoding="utf-8")
        run_dir = run(campaign, work / "runs")
    finally:
        server.terminate()
        server.wait(timeout=10)
    analyze(run_dir, work / "embedding-cache.sqlite")
    return run_dir


def screenshot(html: Path, out: Path) -> None:
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=list(CHROMIUM_ARGS))
        page = browser.new_page(viewport={"width": 1000, "height": 760})
        page.goto(html.resolve().as_uri())
        out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(out))
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, help="an analysed run folder (default: make one against the sandbox)")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "report.png")
    parser.add_argument("--lang", choices=["zh", "en"], default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = args.run or sandbox_run(Path(tmp))
        html = write_report(run_dir, Path(tmp) / "report", lang=args.lang, pdf=False)[0]
        screenshot(html, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
