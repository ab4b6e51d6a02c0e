"""Running a campaign: the rounds in lock-step, puppets through an executor, failures as rows.

``CampaignRun`` plays OpenWPM's TaskManager: it expands the campaign into (round, puppet) tasks,
gives each a browser session, records a status row for every step, retries failed sessions (a
crashed browser is relaunched on the same profile), pauses a puppet behind a CAPTCHA, and stops
only when more sessions fail in a row than the failure budget allows. A task is done when its
session completed; ``resume`` runs the tasks that are not, skipping the steps already done, so
nothing is lost and nothing is done twice.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import hashlib
import platform
import random
import time
import traceback
from collections.abc import Awaitable, Callable, Iterable
from importlib.metadata import version
from pathlib import Path
from typing import Any, Protocol, TypeVar

from playwright.async_api import Page, async_playwright

from personas import resolve_password

from ._browser import BrowserManager, Fingerprint, fingerprint_for
from ._campaign import Campaign, ExpandedRound, LoadedCampaign, load_campaign
from ._driver import Driver
from ._puppet import PuppetSession, PuppetSpec
from ._sandbox_driver import SandboxDriver
from ._store import RunStore
from ._types import PuppetId, RunId, SessionId
from .errors import (
    Blocked,
    BrowserCrashed,
    BrowserError,
    CampaignAborted,
    ConfigError,
    ControlMissing,
    DriverDrift,
    StepTimeout,
)

__all__ = ["CampaignRun", "Executor", "LocalExecutor", "ProgressEvent", "interleaved", "make_driver"]

T = TypeVar("T")
# Step outcomes that end the step for good: a finding or a broken driver is not retried.
_TERMINAL = ("ok", "missing_control", "driver_drift")


@dataclasses.dataclass(frozen=True)
class ProgressEvent:
    kind: str  # round_started, round_finished, session_started, step_done, session_finished, run_finished
    round: int | None = None
    round_name: str = ""
    phase: str = ""
    puppet_id: str = ""
    group: str = ""
    verb: str = ""
    status: str = ""
    impressions: int = 0
    detail: str = ""


class Executor(Protocol):
    """Runs one round's tasks. Local asyncio here; a distributed engine implements the same call."""

    async def map(self, tasks: Iterable[T], work: Callable[[T], Awaitable[None]]) -> None: ...


class LocalExecutor:
    def __init__(self, concurrency: int):
        self.concurrency = concurrency

    async def map(self, tasks: Iterable[T], work: Callable[[T], Awaitable[None]]) -> None:
        gate = asyncio.Semaphore(self.concurrency)

        async def one(task: T) -> None:
            async with gate:
                await work(task)

        # A TaskGroup cancels the siblings when one task raises (an aborted campaign, an interrupt).
        async with asyncio.TaskGroup() as group:
            for task in tasks:
                group.create_task(one(task))


def make_driver(target_driver: str, base_url: str, options: dict[str, Any], evidence_dir: Path,
                relative_to: Path | None = None) -> Driver:
    """``sandbox``, or a declarative driver file (``*.yaml``, relative to the campaign)."""
    if target_driver == "sandbox":
        return SandboxDriver(base_url, options, evidence_dir)
    from ._declarative import DeclarativeDriver, builtin_driver_path

    path = builtin_driver_path(target_driver)
    if path is None:
        path = Path(target_driver)
        if not path.is_absolute() and relative_to is not None:
            path = relative_to / path
    if not path.exists():
        raise ConfigError(f"unknown driver {target_driver!r}: neither a built-in driver nor a file")
    return DeclarativeDriver.from_file(path, base_url, options, evidence_dir)


def interleaved(puppets: list[PuppetSpec]) -> list[PuppetSpec]:
    """Puppets in turns across their groups: each group's first replica, then each group's second,
    and so on (groups in campaign order). A round's sessions start in this order, so the puppets a
    check compares start in one batch: run group after group, a platform that retrains every minute
    would show the last group a fresher model than the first."""
    groups = list(dict.fromkeys(p.group for p in puppets))
    turn: dict[str, int] = {}
    keyed = []
    for p in puppets:
        keyed.append((turn.get(p.group, 0), groups.index(p.group), p))
        turn[p.group] = turn.get(p.group, 0) + 1
    return [p for _, _, p in sorted(keyed, key=lambda k: k[:2])]


def _username(prefix: str, puppet_id: str) -> str:
    return f"{prefix}_{puppet_id.replace('-', '_')}"[:32]


class CampaignRun:
    def __init__(self, loaded: LoadedCampaign, run_dir: Path, store: RunStore, *,
                 executor: Executor | None = None, progress: Callable[[ProgressEvent], None] | None = None,
                 testing: bool = False, driver: Driver | None = None):
        self.loaded = loaded
        self.campaign: Campaign = loaded.campaign
        self.run_dir = run_dir
        self.store = store
        execution = self.campaign.execution
        self.executor = executor or LocalExecutor(execution.concurrency)
        self.progress = progress or (lambda event: None)
        self.testing = testing
        target = self.campaign.target
        self.driver = driver or make_driver(target.driver, target.base_url, target.options,
                                            run_dir / "artifacts", relative_to=loaded.path.parent)
        prefix = store.run()["account_prefix"]
        self.puppets = [
            PuppetSpec(PuppetId(f"{g.name}-{k}"), loaded.personas[g.persona], g.name, g.role, k,
                       _username(prefix, f"{g.name}-{k}"))
            for g in self.campaign.groups for k in range(g.replicas)
        ]
        self.rounds = self.campaign.expanded_rounds()
        self._failures_in_a_row = 0
        self.dwell_scale = float(target.options.get("dwell_scale", 1.0))

    # creating and reopening -----------------------------------------------------------------------

    @classmethod
    def create(cls, loaded: LoadedCampaign, runs_root: Path, **kwargs: Any) -> CampaignRun:
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
        nonce = hashlib.sha256(f"{time.time_ns()}{loaded.sha256}".encode()).hexdigest()[:4]
        run_id = RunId(f"{loaded.campaign.name}-{stamp}-{nonce}")
        run_dir = runs_root / run_id
        store = RunStore.open(run_dir / "run.sqlite")
        store.create_run(
            run_id=run_id, campaign_name=loaded.campaign.name, campaign_path=str(loaded.path.resolve()),
            campaign_sha256=loaded.sha256, campaign_yaml=loaded.text, target_url=loaded.campaign.target.base_url,
            driver=loaded.campaign.target.driver, account_prefix=loaded.campaign.accounts.prefix or f"a{nonce}",
            algoaudit_version=version("algoaudit"), host=platform.node(),
        )
        run = cls(loaded, run_dir, store, **kwargs)
        store.add_puppets([run._puppet_row(p) for p in run.puppets])
        return run

    @classmethod
    def reopen(cls, run_dir: Path, **kwargs: Any) -> CampaignRun:
        """A run that stopped (interrupted, killed, aborted), to be resumed with the campaign it began with."""
        store = RunStore.open(run_dir / "run.sqlite")
        info = store.run()
        path = Path(info["campaign_path"])
        # The stored text is what ran; the file may have changed since. Personas resolve next to it.
        loaded = load_campaign(path, text=info["campaign_yaml"])
        if loaded.sha256 != info["campaign_sha256"]:
            raise ConfigError(f"{run_dir}: the stored campaign does not match its hash")
        return cls(loaded, run_dir, store, **kwargs)

    def _puppet_row(self, p: PuppetSpec) -> dict[str, Any]:
        persona = p.persona
        return {"puppet_id": p.puppet_id, "persona_id": persona.id, "group_name": p.group, "role": p.role,
                "replica": p.replica, "username": p.username, "device": persona.device, "locale": persona.locale,
                "timezone": persona.timezone, "profile_dir": str(self.run_dir / "profiles" / p.puppet_id)}

    # running ------------------------------------------------------------------------------------

    async def run(self) -> str:
        """Run (or resume) to the end; returns the run's final status."""
        store = self.store
        stale = store.interrupt_running_sessions()
        if stale:
            store.add_event("resume", f"{stale} session(s) left running by a stopped harness marked interrupted")
        store.set_run_status("running")
        execution = self.campaign.execution
        try:
            async with async_playwright() as pw:
                browsers = BrowserManager(
                    pw, self.run_dir / "profiles", headless=execution.headless,
                    trace_dir=self.run_dir / "traces" if execution.trace else None,
                    har_dir=self.run_dir / "har" if execution.har else None,
                )
                fingerprints = {p.puppet_id: fingerprint_for(pw, p.persona.device, p.persona.locale, p.persona.timezone)
                                for p in self.puppets}
                store.add_puppets([{**self._puppet_row(p), "user_agent": fingerprints[p.puppet_id].user_agent,
                                    "viewport": "x".join(map(str, fingerprints[p.puppet_id].viewport))}
                                   for p in self.puppets])
                for rnd in self.rounds:
                    done = store.completed()
                    pending = interleaved([p for p in self.puppets
                                           if p.group in rnd.groups and (p.puppet_id, rnd.index) not in done])
                    if not pending:
                        continue
                    store.start_round(rnd.index, rnd.name, rnd.phase)
                    self.progress(ProgressEvent("round_started", rnd.index, rnd.name, rnd.phase, detail=str(len(pending))))
                    await self.executor.map(pending, lambda p, r=rnd: self._task(browsers, fingerprints[p.puppet_id], p, r))
                    store.finish_round(rnd.index)
                    self._check_contamination(rnd.index)
                    self.progress(ProgressEvent("round_finished", rnd.index, rnd.name, rnd.phase))
                    if execution.pause_between_rounds_s and rnd.index < len(self.rounds) - 1:
                        await asyncio.sleep(execution.pause_between_rounds_s)
        except CampaignAborted:
            store.set_run_status("aborted")
            raise
        except (asyncio.CancelledError, KeyboardInterrupt):
            store.interrupt_running_sessions()
            store.add_event("interrupt", "the harness was stopped; resume continues")
            store.set_run_status("interrupted")
            raise
        complete = all((p.puppet_id, r.index) in store.completed()
                       for r in self.rounds for p in self.puppets if p.group in r.groups)
        # A drifted driver measured nothing: the run is not complete, whatever its sessions say.
        drifted = store.db.execute("SELECT COUNT(*) FROM commands WHERE status = 'driver_drift'").fetchone()[0]
        status = "complete" if complete and not drifted else "incomplete"
        store.set_run_status(status)
        self.progress(ProgressEvent("run_finished", status=status))
        return status

    async def _task(self, browsers: BrowserManager, fingerprint: Fingerprint, puppet: PuppetSpec,
                    rnd: ExpandedRound) -> None:
        execution = self.campaign.execution
        for _ in range(execution.retries + 1):
            status = await self._session(browsers, fingerprint, puppet, rnd)
            if status == "complete":
                self._failures_in_a_row = 0
                return
            if status == "blocked":
                self.store.add_event("captcha", f"paused {execution.captcha_pause_s}s", puppet.puppet_id, rnd.index)
                await asyncio.sleep(execution.captcha_pause_s)
                continue
            self._failures_in_a_row += 1
            if self._failures_in_a_row > execution.failure_budget:
                raise CampaignAborted(f"{self._failures_in_a_row} sessions failed in a row (budget "
                                      f"{execution.failure_budget}); the last: {puppet.puppet_id} in {rnd.name}")
            self.store.add_event("browser_restart", f"retrying after a {status} session", puppet.puppet_id, rnd.index)

    def _steps_done(self, puppet_id: PuppetId, round_index: int) -> set[int]:
        rows = self.store.db.execute(
            "SELECT step_index FROM commands WHERE puppet_id = ? AND round = ? AND status IN (?, ?, ?)",
            [puppet_id, round_index, *_TERMINAL]).fetchall()
        return {r[0] for r in rows}

    async def _session(self, browsers: BrowserManager, fingerprint: Fingerprint, puppet: PuppetSpec,
                       rnd: ExpandedRound) -> str:
        store = self.store
        attempt = store.attempts(puppet.puppet_id, rnd.index) + 1
        session_id = SessionId(f"{puppet.puppet_id}-r{rnd.index}-a{attempt}")
        store.start_session(session_id, puppet.puppet_id, rnd.index, attempt)
        self.progress(ProgressEvent("session_started", rnd.index, rnd.name, rnd.phase, puppet.puppet_id, puppet.group))
        done = self._steps_done(puppet.puppet_id, rnd.index)
        # The same choices on a retry: seeded by puppet and round, not by attempt.
        rng = random.Random(f"{puppet.puppet_id}/{rnd.index}")
        status = "complete"
        try:
            async with browsers.session(puppet.puppet_id, fingerprint, session_id) as page:
                session = PuppetSession(puppet, self.driver, page, store, session_id, rnd.index, rng, self.dwell_scale)
                password = resolve_password(puppet.persona, puppet.puppet_id, self.run_dir / "secrets")
                steps = rnd.steps_for(puppet.group)
                onboard = not any(s.verb == "onboarding" for s in steps) and not store.rows(
                    "observations", puppet_id=puppet.puppet_id, kind="onboarding")
                await self._step(session, page, rnd, -1, "start", {}, lambda: session.start(password, onboard))
                for index, step in enumerate(steps):
                    if index in done:
                        continue
                    await self._step(session, page, rnd, index, step.verb, step.args.model_dump(),
                                     lambda s=step: session.run(s))
        except Blocked as exc:
            status = "blocked"
            store.finish_session(session_id, status, str(exc))
        except (BrowserError, _StepFailed) as exc:
            status = "failed"
            store.finish_session(session_id, status, str(exc))
        except BaseException:
            store.finish_session(session_id, "interrupted", "the harness stopped during this session")
            raise
        else:
            store.finish_session(session_id, status)
        finally:
            self._hash_recordings(session_id, puppet.puppet_id, rnd.index)
        self.progress(ProgressEvent("session_finished", rnd.index, rnd.name, rnd.phase, puppet.puppet_id,
                                    puppet.group, status=status))
        return status

    async def _step(self, session: PuppetSession, page: Page, rnd: ExpandedRound, index: int, verb: str,
                    args: dict[str, Any], work: Callable[[], Awaitable[Any]]) -> None:
        execution = self.campaign.execution
        started = time.perf_counter()
        started_at = dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds")
        status, error, trace, outcome, shot = "ok", None, None, None, None
        try:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow the run's own
            # cancellation (Ctrl-C) when the step finishes at the same moment, and the run goes on.
            async with asyncio.timeout(execution.step_timeout_s):
                outcome = await work()
        except ControlMissing as exc:
            status, error, shot = "missing_control", str(exc), exc.screenshot
        except DriverDrift as exc:
            status, error, shot = "driver_drift", str(exc), exc.screenshot
        except Blocked as exc:
            status, error = "blocked", str(exc)
        except (StepTimeout, TimeoutError) as exc:
            status, error = "timeout", str(exc) or f"{verb} took longer than {execution.step_timeout_s}s"
        except BrowserCrashed as exc:
            status, error = "crashed", str(exc)
        except BrowserError as exc:
            status, error = "error", str(exc)
        except Exception as exc:
            if self.testing:
                raise
            status, error = "error", f"{type(exc).__name__}: {exc}"
        if status != "ok":
            trace = traceback.format_exc()
        command_id = self.store.record_command(
            session_id=session.session_id, puppet_id=session.spec.puppet_id, round=rnd.index, step_index=index,
            verb=verb, args=args, status=status, error=error, traceback=trace, retry=0, started_at=started_at,
            duration_ms=(time.perf_counter() - started) * 1000, outcome=outcome,
        )
        await self._capture(session, page, command_id, f"{session.session_id}-s{index}-{verb}", status, shot)
        self.progress(ProgressEvent("step_done", rnd.index, rnd.name, rnd.phase, session.spec.puppet_id,
                                    session.spec.group, verb, status,
                                    impressions=(outcome or {}).get("cards", 0) if isinstance(outcome, dict) else 0))
        if status == "blocked":
            raise Blocked(error or "blocked")
        if status not in _TERMINAL:
            raise _StepFailed(f"{verb}: {error}")

    async def _capture(self, session: PuppetSession, page: Page, command_id: int, label: str, status: str,
                       shot: Path | None) -> None:
        """Screenshots and HTML as the campaign asks (on error by default), hashed into the run."""
        execution = self.campaign.execution
        where = session.where
        if shot is not None and shot.exists():
            self.store.add_artifact(where, "screenshot", shot, command_id)
        failed = status != "ok"
        folder = self.run_dir / "artifacts"
        folder.mkdir(parents=True, exist_ok=True)
        try:
            if shot is None and (execution.screenshots == "always" or (failed and execution.screenshots == "on_error")):
                path = folder / f"{label}.png"
                await page.screenshot(path=str(path), full_page=True)
                self.store.add_artifact(where, "screenshot", path, command_id)
            if execution.html == "always" or (failed and execution.html == "on_error"):
                path = folder / f"{label}.html"
                path.write_text(await page.content(), encoding="utf-8")
                self.store.add_artifact(where, "html", path, command_id)
        except Exception as exc:  # noqa: BLE001 - a dead page cannot be captured; say so, carry on
            self.store.add_event("capture_failed", f"{label}: {type(exc).__name__}", session.spec.puppet_id,
                                 session.round)

    def _hash_recordings(self, session_id: SessionId, puppet_id: PuppetId, round_index: int) -> None:
        """Playwright writes traces and HAR files when a context closes: hash them into the run then."""
        where = {"session_id": session_id, "puppet_id": puppet_id, "round": round_index}
        for kind, path in (("trace", self.run_dir / "traces" / f"{session_id}.zip"),
                           ("har", self.run_dir / "har" / f"{session_id}.har")):
            if path.exists():
                self.store.add_artifact(where, kind, path)

    def _check_contamination(self, round_index: int) -> None:
        """Two puppets the platform sees as the same account share an identity: record it."""
        rows = self.store.db.execute(
            "SELECT o.puppet_id, o.value FROM observations o WHERE o.kind = 'whoami' AND o.round = ?",
            [round_index]).fetchall()
        by_identity: dict[str, set[str]] = {}
        for puppet_id, value in rows:
            by_identity.setdefault(value, set()).add(puppet_id)
        for identity, puppets in by_identity.items():
            if len(puppets) > 1:
                self.store.add_event("contamination", f"puppets {', '.join(sorted(puppets))} share the platform "
                                     f"identity {identity!r}", None, round_index)


class _StepFailed(Exception):
    """A step failed in a way that ends the session (timeout, crash, error); the task retries."""
