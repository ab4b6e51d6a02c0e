"""The harness's verbs as functions; ``algoaudit`` commands of the same names call these."""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from ._browser import CHROMIUM_ARGS, chromium_path
from ._campaign import LoadedCampaign, load_campaign
from ._runner import CampaignRun, ProgressEvent
from ._store import RunStore

__all__ = ["DoctorCheck", "RunStatus", "doctor", "init_campaign", "resume", "run", "status", "validate_campaign"]


def validate_campaign(path: Path) -> LoadedCampaign:
    """Load and check a campaign file; raises SpecError naming file, line and field."""
    return load_campaign(path)


def run(path: Path, runs_root: Path = Path("runs"), *, progress: Callable[[ProgressEvent], None] | None = None,
        on_start: Callable[[Path], None] | None = None, testing: bool = False) -> Path:
    """Run a campaign into a new run folder under ``runs_root``; returns the folder."""
    campaign_run = CampaignRun.create(load_campaign(path), runs_root, progress=progress, testing=testing)
    if on_start is not None:
        on_start(campaign_run.run_dir)
    try:
        asyncio.run(campaign_run.run())
    finally:
        campaign_run.store.close()
    return campaign_run.run_dir


def resume(run_dir: Path, *, progress: Callable[[ProgressEvent], None] | None = None, testing: bool = False) -> str:
    """Continue a stopped run where it stopped; returns its final status."""
    campaign_run = CampaignRun.reopen(run_dir, progress=progress, testing=testing)
    try:
        return asyncio.run(campaign_run.run())
    finally:
        campaign_run.store.close()


@dataclasses.dataclass(frozen=True)
class RunStatus:
    run: dict[str, Any]
    rounds_done: int
    rounds_total: int
    sessions: dict[str, int]
    commands: dict[str, int]
    impressions: int
    items: int
    errors_by_group_phase: list[tuple[str, str, int]]
    events: dict[str, int]


def status(run_dir: Path) -> RunStatus:
    store = RunStore.open(run_dir / "run.sqlite")
    try:
        run_info = {k: v for k, v in store.run().items() if k != "campaign_yaml"}
        loaded = load_campaign(Path(run_info["campaign_path"]), text=store.run()["campaign_yaml"])
        db = store.db
        counts = lambda sql: dict(db.execute(sql).fetchall())  # noqa: E731
        errors = db.execute(
            "SELECT p.group_name, r.phase, COUNT(*) FROM commands c JOIN puppets p USING (puppet_id) "
            "JOIN rounds r ON r.round = c.round WHERE c.status != 'ok' GROUP BY 1, 2 ORDER BY 1, 2").fetchall()
        return RunStatus(
            run=run_info,
            rounds_done=db.execute("SELECT COUNT(*) FROM rounds WHERE finished_at IS NOT NULL").fetchone()[0],
            rounds_total=len(loaded.campaign.expanded_rounds()),
            sessions=counts("SELECT status, COUNT(*) FROM sessions GROUP BY 1"),
            commands=counts("SELECT status, COUNT(*) FROM commands GROUP BY 1"),
            impressions=store.count("impressions"),
            items=store.count("items"),
            errors_by_group_phase=[tuple(r) for r in errors],
            events=counts("SELECT kind, COUNT(*) FROM events GROUP BY 1"),
        )
    finally:
        store.close()


@dataclasses.dataclass(frozen=True)
class DoctorCheck:
    name: str
    ok: bool
    detail: str


def _browser_check() -> DoctorCheck:
    path = chromium_path()
    if path is None:
        return DoctorCheck("browser", False, "no Chromium: apt-get install chromium (or set ALGOAUDIT_CHROMIUM)")

    async def launch() -> str:
        from playwright.async_api import async_playwright

        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=path, args=list(CHROMIUM_ARGS))
            version = browser.version
            await browser.close()
            return version

    try:
        return DoctorCheck("browser", True, f"{path}, Chromium {asyncio.run(launch())}, launched headless")
    except Exception as exc:  # noqa: BLE001 - the doctor reports whatever went wrong
        return DoctorCheck("browser", False, f"{path} did not launch: {exc}")


def _fonts_check() -> DoctorCheck:
    if shutil.which("fc-list") is None:
        return DoctorCheck("CJK fonts", False, "fc-list not found (fontconfig)")
    fonts = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True).stdout
    cjk = sorted({f.split(",")[0].strip() for f in fonts.splitlines() if "CJK" in f})
    if not cjk:
        return DoctorCheck("CJK fonts", False, "no CJK font: apt-get install fonts-noto-cjk (screenshots show boxes)")
    return DoctorCheck("CJK fonts", True, ", ".join(cjk[:3]))


def _target_check(url: str) -> DoctorCheck:
    try:
        response = httpx.get(url, timeout=5, follow_redirects=True)
    except httpx.HTTPError as exc:
        return DoctorCheck("target", False, f"{url} unreachable: {exc}")
    return DoctorCheck("target", response.status_code < 500, f"{url} answered {response.status_code}")


def doctor(target: str | None = None) -> list[DoctorCheck]:
    """What a campaign needs on this machine: a browser that launches, CJK fonts, the target."""
    checks = [_browser_check(), _fonts_check()]
    if target:
        checks.append(_target_check(target))
    return checks


_TEMPLATE = """\
# A campaign: groups of puppets (personas x replicas) and rounds of steps, run in lock-step.
# Validate with: algoaudit campaign validate {path}
name: {name}
description: {description}
target:
  driver: sandbox                # or sandbox-declarative, or a declarative driver file
  base_url: "{target}"
groups:                          # every persona runs as at least two identical puppets (twins)
  - {{name: treated, persona: {persona}, replicas: 2, role: treatment}}
  - {{name: control, persona: {persona}, replicas: 2, role: control}}
rounds:                          # each round is one browser session per puppet of its groups
  - {{name: onboarding, phase: warmup, steps: [onboarding]}}
  - {{name: warm-up, phase: warmup, repeat: 3, steps: [read_feed]}}
  - name: not interested
    phase: intervention
    groups: [treated]
    steps: [{{not_interested: {{topic: {topic}, count: 3}}}}]
  - {{name: measure, phase: measurement, repeat: 3, steps: [{{read_feed: {{engage: false}}}}]}}
execution:
  concurrency: 2
checks: [C3]
"""


def init_campaign(path: Path, *, target: str = "http://127.0.0.1:8765", persona: str = "zh-sports-fan") -> Path:
    """Write a commented starting campaign (a not-interested audit) and check that it loads."""
    from personas import library

    if path.exists():
        raise FileExistsError(f"{path} exists; choose another name")
    chosen = library()[persona]
    topic = chosen.interests[0].topic if chosen.interests else "sports"
    path.write_text(_TEMPLATE.format(path=path, name=path.stem, description=f"Does not interested work for {persona}?",
                                     target=target, persona=persona, topic=topic), encoding="utf-8")
    load_campaign(path)
    return path
