"""Browsers for puppets: one persistent Chromium profile each, a fingerprint that never changes, and
the one place where Playwright's errors become algoaudit's."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from playwright.async_api import BrowserContext, Page, Playwright
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import TimeoutError as PlaywrightTimeout

from .errors import BrowserCrashed, BrowserError, NavigationError, StepTimeout

__all__ = [
    "CHROMIUM_ARGS", "BrowserManager", "Fingerprint", "chromium_path", "fingerprint_for", "translate_errors",
    "watch_data_collection",
]

# Without the background-networking flags Chromium floods a closed network with refused connections.
CHROMIUM_ARGS = (
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-features=RenderDocument",
)

# Playwright's device descriptors for the persona devices, with a desktop of our own.
_DEVICES = {"iphone": "iPhone 13", "android": "Pixel 7"}
_DESKTOP_UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
)


def chromium_path() -> str | None:
    """The Chromium to drive: ``ALGOAUDIT_CHROMIUM``, else Debian's, else whatever is on PATH."""
    for candidate in (os.environ.get("ALGOAUDIT_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser"), shutil.which("google-chrome")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


@dataclasses.dataclass(frozen=True)
class Fingerprint:
    """What a platform can see of a puppet's browser; fixed per puppet for the whole campaign."""

    device: str
    user_agent: str
    viewport: tuple[int, int]
    device_scale_factor: float
    is_mobile: bool
    has_touch: bool
    locale: str
    timezone: str

    def context_options(self) -> dict[str, Any]:
        return {
            "user_agent": self.user_agent,
            "viewport": {"width": self.viewport[0], "height": self.viewport[1]},
            "device_scale_factor": self.device_scale_factor,
            "is_mobile": self.is_mobile,
            "has_touch": self.has_touch,
            "locale": self.locale,
            "timezone_id": self.timezone,
        }


def fingerprint_for(playwright: Playwright, device: str, locale: str, timezone: str) -> Fingerprint:
    if device == "desktop":
        return Fingerprint("desktop", _DESKTOP_UA, (1280, 800), 1.0, False, False, locale, timezone)
    desc = playwright.devices[_DEVICES[device]]
    size = desc["viewport"]
    return Fingerprint(device, desc["user_agent"], (size["width"], size["height"]), desc["device_scale_factor"],
                       desc["is_mobile"], desc["has_touch"], locale, timezone)


@contextlib.contextmanager
def translate_errors(what: str) -> Iterator[None]:
    """Playwright errors become algoaudit's, chained, here and nowhere else."""
    try:
        yield
    except PlaywrightTimeout as exc:
        raise StepTimeout(f"{what}: timed out ({exc.message.splitlines()[0]})") from exc
    except PlaywrightError as exc:
        message = exc.message.splitlines()[0] if exc.message else str(exc)
        if "has been closed" in message or "Target crashed" in message or "Browser closed" in message:
            raise BrowserCrashed(f"{what}: the browser died ({message})") from exc
        if "net::" in message or "NS_ERROR" in message:
            raise NavigationError(f"{what}: {message}") from exc
        raise BrowserError(f"{what}: {message}") from exc


class BrowserManager:
    """Launches puppets' persistent contexts. One browser process per puppet session: a persistent
    profile (cookies, storage, cache) cannot be shared between processes."""

    def __init__(self, playwright: Playwright, profiles_dir: Path, *, headless: bool = True,
                 executable: str | None = None, trace_dir: Path | None = None, har_dir: Path | None = None):
        self.playwright = playwright
        self.profiles_dir = profiles_dir
        self.headless = headless
        self.executable = executable or chromium_path()
        if self.executable is None:
            raise BrowserError("no Chromium found: apt-get install chromium, or set ALGOAUDIT_CHROMIUM")
        self.trace_dir = trace_dir
        self.har_dir = har_dir

    def profile_dir(self, puppet_id: str) -> Path:
        return self.profiles_dir / puppet_id

    @contextlib.asynccontextmanager
    async def session(self, puppet_id: str, fingerprint: Fingerprint, label: str) -> AsyncIterator[Page]:
        """A page in the puppet's own profile; the context is closed (and its trace saved) afterwards."""
        profile = self.profile_dir(puppet_id)
        profile.mkdir(parents=True, exist_ok=True)
        # The fingerprint is written once; a later session with another one would be contamination.
        stamp = profile / "algoaudit-fingerprint.json"
        wanted = json.dumps(dataclasses.asdict(fingerprint), sort_keys=True)
        if stamp.exists() and stamp.read_text() != wanted:
            raise BrowserError(f"profile {profile} was made with another fingerprint")
        stamp.write_text(wanted)
        options = fingerprint.context_options()
        if self.har_dir is not None:
            self.har_dir.mkdir(parents=True, exist_ok=True)
            options["record_har_path"] = str(self.har_dir / f"{label}.har")
        context: BrowserContext
        with translate_errors(f"launching the browser for {puppet_id}"):
            context = await self.playwright.chromium.launch_persistent_context(
                str(profile), executable_path=self.executable, headless=self.headless,
                args=list(CHROMIUM_ARGS), **options,
            )
        try:
            if self.trace_dir is not None:
                await context.tracing.start(screenshots=True, snapshots=True)
            page = context.pages[0] if context.pages else await context.new_page()
            yield page
        finally:
            with contextlib.suppress(PlaywrightError):
                if self.trace_dir is not None:
                    self.trace_dir.mkdir(parents=True, exist_ok=True)
                    await context.tracing.stop(path=str(self.trace_dir / f"{label}.zip"))
            with contextlib.suppress(PlaywrightError):
                await context.close()


# Wraps the browser APIs a page asks permissions (or personal data) through, before any page script
# runs, and reports each call to the harness; the original API is still called, so the page behaves
# as it would for a user. ``permissions.query`` only probes a permission's state: reported as a probe.
_WATCH_JS = """(() => {
  const report = (api, detail) => {
    try { window.__algoauditPermission({api: api, detail: detail || ''}); } catch (e) {}
  };
  const wrap = (owner, name, api, describe) => {
    if (!owner || typeof owner[name] !== 'function') return;
    const original = owner[name];
    owner[name] = function (...args) {
      let detail = '';
      try { detail = describe ? describe(...args) : ''; } catch (e) {}
      report(typeof api === 'function' ? api(...args) : api, detail);
      return original.apply(this, args);
    };
  };
  if (window.Geolocation) {
    wrap(Geolocation.prototype, 'getCurrentPosition', 'geolocation', () => 'getCurrentPosition');
    wrap(Geolocation.prototype, 'watchPosition', 'geolocation', () => 'watchPosition');
  }
  if (window.Notification) wrap(Notification, 'requestPermission', 'notifications', () => 'requestPermission');
  if (window.Clipboard) {
    wrap(Clipboard.prototype, 'readText', 'clipboard', () => 'readText');
    wrap(Clipboard.prototype, 'read', 'clipboard', () => 'read');
  }
  if (window.MediaDevices) {
    wrap(MediaDevices.prototype, 'getUserMedia', (c) => {
      const want = [];
      if (c && c.video) want.push('camera');
      if (c && c.audio) want.push('microphone');
      return want.join('+') || 'media';
    }, (c) => JSON.stringify(c || {}));
  }
  if (window.Permissions) {
    wrap(Permissions.prototype, 'query', 'permissions_query', (d) => (d && d.name) || '');
  }
})();"""
_BINDING = "__algoauditPermission"

# (api, detail, page URL) of a permission request; (host, URL, resource type, page URL) of a request
# to a host other than the target's.
PermissionCallback = Callable[[str, str, str], None]
RequestCallback = Callable[[str, str, str, str], None]


async def watch_data_collection(page: Page, target_url: str, on_permission: PermissionCallback,
                                on_third_party: RequestCallback) -> None:
    """Report every permission request the page's scripts make and every request to a third-party
    host, from the next navigation on. Call before the session's first navigation."""
    own_host = urlsplit(target_url).hostname or ""
    context = page.context

    def permission(source: dict[str, Any], call: dict[str, Any]) -> None:
        frame = source.get("frame")
        on_permission(str(call.get("api", "")), str(call.get("detail", "")), frame.url if frame is not None else "")

    def request(req: Any) -> None:
        host = urlsplit(req.url).hostname
        if host and host != own_host:
            frame_url = ""
            with contextlib.suppress(PlaywrightError):
                frame_url = req.frame.url
            on_third_party(host, req.url, req.resource_type, frame_url)

    # Each session launches its own context (BrowserManager.session), so this binds once per context.
    with translate_errors("watching permission requests"):
        await context.expose_binding(_BINDING, permission)
        await context.add_init_script(_WATCH_JS)
    context.on("request", request)
