"""Page operations every driver shares: navigation with retries, finding controls, telling a missing
control (a finding) from a changed page (driver drift), with a screenshot as evidence."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from playwright.async_api import Locator, Page


from ._browser import translate_errors
from .errors import Blocked, ControlMissing, DriverDrift, NavigationError

__all__ = ["Observer", "PageOps", "Retry", "Surface"]

# Told of every list of items a page showed: the surface's name and its entries.
Observer = Callable[[str, list[Any]], None]


@dataclasses.dataclass(frozen=True)
class Surface:
    """A list of items a platform shows (``feed``, ``hot``): how to spot it and how to read it."""

    selector: str
    extract: Callable[[Page, int], Awaitable[list[Any]]]


@dataclasses.dataclass(frozen=True)
class Retry:
    attempts: int = 4
    first_delay_s: float = 0.5
    factor: float = 2.0


class PageOps:
    """Bound to one platform: its base URL, how it shows a CAPTCHA, where screenshots go."""

    def __init__(self, base_url: str, *, captcha_check: Callable[[Page], Awaitable[bool]],
                 surfaces: dict[str, Surface] | None = None, evidence_dir: Path | None = None,
                 retry: Retry = Retry(), timeout_ms: float = 10_000):
        self.base_url = base_url.rstrip("/") + "/"
        self.captcha_check = captcha_check
        self.surfaces = surfaces or {}
        self.evidence_dir = evidence_dir
        self.retry = retry
        self.timeout_ms = timeout_ms
        self._observers: dict[Page, Observer] = {}
        self._loads: dict[Page, int] = {}
        self._inflight: dict[Page, int] = {}
        self._last_activity: dict[Page, float] = {}

    def observe(self, page: Page, callback: Observer) -> None:
        self._track(page)
        self._observers[page] = callback
        page.on("close", lambda _: (self._observers.pop(page, None), self._loads.pop(page, None)))

    def load_number(self, page: Page) -> int:
        return self._loads.get(page, 0)

    async def landed(self, page: Page) -> None:
        """After any navigation: count the page load and report every list of items it shows (a feed,
        a hot list) once the page's own requests are done: a prefetched page the user never scrolled
        to was still shown, and the platform counts it as shown."""
        self._loads[page] = self._loads.get(page, 0) + 1
        await self.check_blocked(page)
        observer = self._observers.get(page)
        if observer is None:
            return
        settled = False
        for name, surface in self.surfaces.items():
            with translate_errors(f"looking for a {name}"):
                if not await page.locator(surface.selector).count():
                    continue
            if not settled:
                await self.settle(page)
                settled = True
            observer(name, await surface.extract(page, self._loads[page]))

    async def click_through(self, page: Page, selector: str, *, control: str, anchors: tuple[str, ...]) -> None:
        """Click a link or button that leads to another page, and land there."""
        locator = await self.require(page, selector, control=control, anchors=anchors)
        with translate_errors(f"following {control}"):
            async with page.expect_navigation():
                await locator.click()
        await self.landed(page)

    def url(self, path: str) -> str:
        return urljoin(self.base_url, path.lstrip("/"))

    async def goto(self, page: Page, path: str) -> None:
        """Navigate, retrying network errors and 5xx answers with back-off; a CAPTCHA raises Blocked."""
        url = self.url(path)
        delay = self.retry.first_delay_s
        for attempt in range(1, self.retry.attempts + 1):
            failure = None
            try:
                with translate_errors(f"opening {url}"):
                    response = await page.goto(url, wait_until="domcontentloaded")
                if response is not None and response.status >= 500:
                    failure = f"{url} answered {response.status}"
            except NavigationError as exc:
                failure = str(exc)
            if failure is None:
                await self.landed(page)
                return
            if attempt == self.retry.attempts:
                raise NavigationError(f"{failure} (after {attempt} attempts)")
            await asyncio.sleep(delay)
            delay *= self.retry.factor

    async def check_blocked(self, page: Page) -> None:
        if await self.captcha_check(page):
            raise Blocked(f"a CAPTCHA wall at {page.url}", url=page.url)

    def _track(self, page: Page) -> None:
        if page in self._inflight:
            return
        self._inflight[page] = 0

        def started(_: object) -> None:
            self._inflight[page] = self._inflight.get(page, 0) + 1
            self._last_activity[page] = time.monotonic()

        def ended(_: object) -> None:
            self._inflight[page] = max(0, self._inflight.get(page, 0) - 1)
            self._last_activity[page] = time.monotonic()

        page.on("request", started)
        page.on("requestfinished", ended)
        page.on("requestfailed", ended)
        page.on("close", lambda _: (self._inflight.pop(page, None), self._last_activity.pop(page, None)))

    async def settle(self, page: Page, quiet_s: float = 0.1) -> None:
        """Wait until the page's own requests are done (infinite-scroll fetches) and stay done a moment.

        Playwright's "networkidle" is a load state: once reached after loading, it is never awaited
        again, so a fetch started by scrolling needs requests counted here."""
        self._track(page)
        with translate_errors(f"waiting for {page.url} to settle"):
            await page.wait_for_load_state("networkidle", timeout=self.timeout_ms)
        deadline = time.monotonic() + self.timeout_ms / 1000
        while time.monotonic() < deadline:
            # Quiet since the page's last request started or ended: a second settle costs nothing.
            idle = time.monotonic() - self._last_activity.get(page, 0.0)
            if not self._inflight.get(page, 0) and idle >= quiet_s:
                return
            await asyncio.sleep(0.02)

    async def screenshot(self, page: Page, label: str) -> Path | None:
        if self.evidence_dir is None:
            return None
        self.evidence_dir.mkdir(parents=True, exist_ok=True)
        stamp = hashlib.sha256(f"{label}{time.time_ns()}".encode()).hexdigest()[:8]
        path = self.evidence_dir / f"{label}-{stamp}.png"
        try:
            await page.screenshot(path=str(path), full_page=True)
        except Exception:  # noqa: BLE001 - evidence is best effort once the page is in trouble
            return None
        return path

    async def require(self, page: Page, selector: str, *, control: str, anchors: tuple[str, ...],
                      timeout_ms: float | None = None) -> Locator:
        """The first element matching ``selector``. When it does not come, the anchors decide: the page
        is the expected one (an anchor is there) and lacks the control, or the page is not what the
        driver knows (no anchor): drift."""
        locator = page.locator(selector).first
        try:
            with translate_errors(f"waiting for {control}"):
                await locator.wait_for(state="attached", timeout=timeout_ms or self.timeout_ms)
            return locator
        except Exception as exc:  # noqa: BLE001 - any failure to find it is classified below
            await self.check_blocked(page)
            shot = await self.screenshot(page, control.replace(" ", "-"))
            for anchor in anchors:
                if await page.locator(anchor).count():
                    raise ControlMissing(f"{page.url} has no {control} ({selector})", url=page.url,
                                         screenshot=shot) from exc
            raise DriverDrift(f"{page.url} is not the page the driver expects for {control}: none of "
                              f"{', '.join(anchors)} is there", url=page.url, screenshot=shot) from exc

    async def click(self, page: Page, selector: str, *, control: str, anchors: tuple[str, ...]) -> None:
        locator = await self.require(page, selector, control=control, anchors=anchors)
        with translate_errors(f"clicking {control}"):
            await locator.click()

    async def text(self, locator: Locator) -> str:
        with translate_errors("reading text"):
            return (await locator.inner_text()).strip()
