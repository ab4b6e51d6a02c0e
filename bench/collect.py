"""Collection overhead of the harness: a campaign of feed reads against the sandbox, compared with a
bare Playwright script doing the same navigation in the same process.

    .venv/bin/python bench/collect.py [--puppets 4] [--rounds 3] [--pages 3] [--concurrency 2]

Both phases run N puppets for R rounds, C at a time, each session a fresh Chromium on the puppet's
own profile that opens the feed and scrolls it to P pages; only the sandbox's data folder differs
(a fresh sandbox per phase, so accounts do not collide). For each it prints impressions, wall time,
impressions/s, CPU seconds (this process and its reaped children: Chromium, the Playwright driver)
per 1,000 impressions and peak PSS per concurrent puppet, then the harness/bare ratios (aim for
impressions/s: >= 0.8) and the sandbox's own CPU time, since it shares the cores.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import resource
import shutil
import sqlite3
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


from harness._api import run as run_campaign
from harness._browser import CHROMIUM_ARGS, chromium_path
from harness._runner import ProgressEvent

from _served import cpu_seconds, free_port, start_sandbox, stop_sandbox  # noqa: E402 - bench/ is on sys.path

# Heat frozen for the whole run, so the harness and the bare script see the same feeds.
FROZEN_HEAT = ("--hot-interval", "1000000000")

REPO = Path(__file__).resolve().parent.parent

PERSONA = "zh-passive"  # no interests: its puppets open no items, so only collection is measured
# What a zh-passive puppet signs up with and looks like (personas/library/zh-passive.yaml).
BIRTH_YEAR, OCCUPATION, REGION, DEVICE, LOCALE, TIMEZONE = "1984", "worker", "henan", "Pixel 7", "zh-CN", "Asia/Shanghai"
TIMEOUT_MS = 10_000


# processes ------------------------------------------------------------------------------------------


def own_cpu_seconds() -> float:
    """This process and every child it has reaped (which include their reaped children)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def descendants(root: int, exclude: set[int]) -> list[int]:
    """``root`` and every process below it (by /proc/*/stat parent links), without the ``exclude`` subtrees."""
    children: dict[int, list[int]] = collections.defaultdict(list)
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            ppid = int(Path(f"/proc/{entry.name}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children[ppid].append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        if pid in exclude:
            continue
        found.append(pid)
        todo.extend(children.get(pid, ()))
    return found


def pss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass  # gone between the listing and the read
    return 0


def tree_pss_kb(exclude: set[int]) -> int:
    return sum(pss_kb(pid) for pid in descendants(os.getpid(), exclude))


class PssSampler(threading.Thread):
    """Samples the PSS of this process and its descendants (without the sandbox) every ``interval`` s."""

    def __init__(self, exclude: set[int], interval: float = 0.2):
        super().__init__(daemon=True)
        self.exclude, self.interval = exclude, interval
        self.peak_kb = 0
        self.samples = 0
        self.cpu_s = 0.0  # this thread's own CPU time, taken out of the phase's figure
        self._stop_event = threading.Event()

    def run(self) -> None:
        while True:
            self.peak_kb = max(self.peak_kb, tree_pss_kb(self.exclude))
            self.samples += 1
            self.cpu_s = time.thread_time()
            if self._stop_event.wait(self.interval):
                return

    def stop(self) -> int:
        self._stop_event.set()
        self.join()
        return self.peak_kb


# a measured phase -----------------------------------------------------------------------------------


class Figures:
    def __init__(self, name: str):
        self.name = name
        self.impressions = 0
        self.read_feed_cards = 0  # harness: the cards read_feed returned (what the bare script counts)
        self.wall_s = 0.0
        self.cpu_s = 0.0
        self.sampler_cpu_s = 0.0
        self.peak_pss_mb_per_puppet = 0.0
        self.sandbox_cpu_s = 0.0
        self.notes: list[str] = []

    @property
    def rate(self) -> float:
        return self.impressions / self.wall_s if self.wall_s else 0.0

    @property
    def cpu_per_1000(self) -> float:
        return self.cpu_s / self.impressions * 1000 if self.impressions else float("nan")


def measure(figures: Figures, sandbox: subprocess.Popen[bytes], concurrency: int, work: Callable[[], int]) -> None:
    """Run ``work`` (returns impressions) and fill ``figures`` with what it cost."""
    exclude = {sandbox.pid}
    baseline_kb = tree_pss_kb(exclude)
    sampler = PssSampler(exclude)
    sandbox_before = cpu_seconds(sandbox.pid)
    cpu_before = own_cpu_seconds()
    started = time.perf_counter()
    sampler.start()
    try:
        figures.impressions = work()
    finally:
        figures.wall_s = time.perf_counter() - started
        peak_kb = sampler.stop()
        figures.sampler_cpu_s = sampler.cpu_s
        figures.cpu_s = own_cpu_seconds() - cpu_before - sampler.cpu_s
        figures.sandbox_cpu_s = cpu_seconds(sandbox.pid) - sandbox_before
    figures.peak_pss_mb_per_puppet = (peak_kb - baseline_kb) / 1024 / concurrency
    left = [p for p in descendants(os.getpid(), exclude) if p != os.getpid()]
    if left:
        figures.notes.append(f"{len(left)} child process(es) still alive after the phase: their CPU is not counted")


# the harness ----------------------------------------------------------------------------------------

CAMPAIGN = """\
name: bench-collect
target: {{driver: sandbox, base_url: "{base}"}}
groups:
  - {{name: readers, persona: {persona}, replicas: {puppets}}}
rounds:
  # A new account lands on the onboarding screen, and nothing in read_feed passes it: without this
  # step every read_feed of the campaign ends in driver_drift on /onboarding and records nothing.
  # zh-passive has no interests, so the step skips it, as the bare script does.
  - {{name: first, phase: measurement, steps: [onboarding, {{read_feed: {{pages: {pages}, engage: false}}}}]}}
{more}execution: {{concurrency: {concurrency}, screenshots: never, html: never}}
"""
MORE_ROUNDS = """\
  - {{name: collect, phase: measurement, repeat: {repeat}, steps: [{{read_feed: {{pages: {pages}, engage: false}}}}]}}
"""


def harness_phase(args: argparse.Namespace, base: str, tmp: Path, figures: Figures) -> int:
    path = tmp / "bench-collect.yaml"
    more = MORE_ROUNDS.format(repeat=args.rounds - 1, pages=args.pages) if args.rounds > 1 else ""
    path.write_text(CAMPAIGN.format(base=base, persona=PERSONA, puppets=args.puppets, more=more,
                                    pages=args.pages, concurrency=args.concurrency), encoding="utf-8")
    steps: collections.Counter[str] = collections.Counter()

    def progress(event: ProgressEvent) -> None:
        if event.kind == "step_done":
            steps[f"{event.verb}:{event.status}"] += 1
            if event.verb == "read_feed":
                figures.read_feed_cards += event.impressions

    run_dir = run_campaign(path, tmp / "runs", progress=progress)
    db = sqlite3.connect(run_dir / "run.sqlite")
    try:
        impressions = db.execute("SELECT COUNT(*) FROM impressions WHERE surface = 'feed'").fetchone()[0]
        sessions = dict(db.execute("SELECT status, COUNT(*) FROM sessions GROUP BY 1").fetchall())
        errors = db.execute("SELECT verb, status, error FROM commands WHERE status != 'ok' LIMIT 3").fetchall()
    finally:
        db.close()
    figures.notes.append("steps " + ", ".join(f"{k} {v}" for k, v in sorted(steps.items()))
                         + "; sessions " + ", ".join(f"{k} {v}" for k, v in sorted(sessions.items())))
    for verb, status, error in errors:
        figures.notes.append(f"{verb} {status}: {(error or '').splitlines()[0][:160]}")
    return impressions


# bare Playwright ------------------------------------------------------------------------------------


async def bare_session(pw: Any, device: dict[str, Any], profile: Path, base: str, username: str, first: bool,
                       pages: int) -> int:
    context = await pw.chromium.launch_persistent_context(
        str(profile), executable_path=chromium_path(), headless=True, args=list(CHROMIUM_ARGS), **device)
    try:
        page = context.pages[0] if context.pages else await context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        if first:
            await page.goto(f"{base}/signup?lang=zh", wait_until="domcontentloaded")
            await page.fill("input[name=username]", username)
            await page.fill("input[name=password]", "benchmark")
            await page.fill("input[name=birth_year]", BIRTH_YEAR)
            await page.select_option("select[name=occupation]", OCCUPATION)
            await page.select_option("select[name=region]", REGION)
            async with page.expect_navigation():
                await page.click("form[action='/signup'] button[type=submit]")
            async with page.expect_navigation():
                await page.click("button[value=skip]")
        await page.goto(f"{base}/", wait_until="domcontentloaded")
        await page.wait_for_load_state("networkidle")
        for _ in range(pages - 1):
            before = await page.locator(".card").count()
            await page.locator(".feed-sentinel").scroll_into_view_if_needed()
            try:
                await page.wait_for_function(f"document.querySelectorAll('.card').length > {before}")
            except Exception:  # noqa: BLE001 - the feed ended
                break
            await page.wait_for_load_state("networkidle")
        ids = await page.eval_on_selector_all(".card", "els => els.map(e => e.dataset.id)")
        return len(ids)
    finally:
        await context.close()


async def bare(args: argparse.Namespace, base: str, profiles: Path) -> int:
    from playwright.async_api import async_playwright

    total = 0
    async with async_playwright() as pw:
        d = pw.devices[DEVICE]
        device = {"user_agent": d["user_agent"], "viewport": d["viewport"], "device_scale_factor": d["device_scale_factor"],
                  "is_mobile": d["is_mobile"], "has_touch": d["has_touch"], "locale": LOCALE, "timezone_id": TIMEZONE}
        gate = asyncio.Semaphore(args.concurrency)

        async def one(k: int, first: bool) -> int:
            async with gate:
                return await bare_session(pw, device, profiles / f"bare-{k}", base, f"bare_{k:03d}", first, args.pages)

        for rnd in range(args.rounds):
            total += sum(await asyncio.gather(*(one(k, rnd == 0) for k in range(args.puppets))))
    return total


# main -----------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--puppets", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pages", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=2)
    args = parser.parse_args()
    if chromium_path() is None:
        raise SystemExit("no Chromium: apt-get install chromium (or set ALGOAUDIT_CHROMIUM)")

    harness, bare_figures = Figures("harness"), Figures("bare")
    load_before = os.getloadavg()[0]
    tmp = Path(tempfile.mkdtemp(prefix="algoaudit-collect-"))
    try:
        port = free_port()
        sandbox = start_sandbox(tmp / "sandbox-harness", port, *FROZEN_HEAT)
        try:
            measure(harness, sandbox, args.concurrency,
                    lambda: harness_phase(args, f"http://127.0.0.1:{port}", tmp, harness))
        finally:
            stop_sandbox(sandbox)
        port = free_port()
        sandbox = start_sandbox(tmp / "sandbox-bare", port, *FROZEN_HEAT)
        try:
            measure(bare_figures, sandbox, args.concurrency,
                    lambda: asyncio.run(bare(args, f"http://127.0.0.1:{port}", tmp / "bare-profiles")))
        finally:
            stop_sandbox(sandbox)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"feed collection: {args.puppets} puppets x {args.rounds} rounds x {args.pages} pages, "
          f"{args.concurrency} concurrent, persona {PERSONA}, {os.cpu_count()} cores "
          f"(load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after)")
    print(f"  {'':<9}{'impressions':>12}{'wall s':>9}{'impr/s':>9}{'CPU-s/1k impr':>15}{'PSS MB/puppet':>15}"
          f"{'sandbox CPU-s':>15}")
    for f in (harness, bare_figures):
        print(f"  {f.name:<9}{f.impressions:>12}{f.wall_s:>9.1f}{f.rate:>9.1f}{f.cpu_per_1000:>15.1f}"
              f"{f.peak_pss_mb_per_puppet:>15.0f}{f.sandbox_cpu_s:>15.2f}")
    rate_ratio = harness.rate / bare_figures.rate if bare_figures.rate else float("nan")
    cpu_ratio = harness.cpu_per_1000 / bare_figures.cpu_per_1000 if bare_figures.impressions else float("nan")
    print(f"  harness/bare  impressions/s {rate_ratio:.2f} (aim: >= 0.8)   CPU per 1,000 impressions {cpu_ratio:.2f}")
    print(f"  CPU = this process + reaped children (Chromium, Playwright driver), less the PSS sampler's own "
          f"{harness.sampler_cpu_s:.2f} / {bare_figures.sampler_cpu_s:.2f} s; PSS excludes the sandbox")
    if harness.read_feed_cards and harness.read_feed_cards != harness.impressions:
        adjusted = harness.read_feed_cards / harness.wall_s / bare_figures.rate if bare_figures.rate else float("nan")
        print(f"  harness: {harness.impressions - harness.read_feed_cards} of its impressions were recorded when the "
              f"onboarding step landed on the feed; on read_feed's {harness.read_feed_cards} cards alone the "
              f"impressions/s ratio is {adjusted:.2f}")
    for f in (harness, bare_figures):
        for note in f.notes:
            print(f"  {f.name}: {note}")


if __name__ == "__main__":
    main()
