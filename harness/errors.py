"""algoaudit's exceptions, one tree::

    AlgoauditError
    ├── ConfigError                 a campaign or driver file is wrong (names file, line, field)
    ├── StoreError                  the run database cannot be opened or written
    ├── BrowserError                the browser failed (translated once, from Playwright)
    │   ├── NavigationError         a page did not load: network error or a 5xx after retries
    │   ├── StepTimeout             a step took longer than its timeout
    │   └── BrowserCrashed          the browser or the page died
    ├── DriverError                 the driver could not do what a step asked
    │   ├── ControlMissing          the page is the expected one, but the control is not there: a finding
    │   └── DriverDrift             the page is not what the driver expects: the harness needs fixing
    ├── Blocked                     a CAPTCHA or anti-bot wall; the puppet pauses
    ├── CampaignAborted             too many consecutive failures: the run stops, resumable
    ├── SigningKeyError             the auditor's key is missing, unreadable, or would be overwritten
    └── BundleError                 an evidence bundle cannot be made (e.g. a secret would be in it)

Persona files raise ``personas.SpecError`` (that package imports nothing of ours); the CLI treats
it like a ConfigError. Only the CLI turns exceptions into messages and exit codes.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "AlgoauditError",
    "Blocked",
    "BrowserCrashed",
    "BrowserError",
    "BundleError",
    "CampaignAborted",
    "ConfigError",
    "ControlMissing",
    "DriverDrift",
    "DriverError",
    "NavigationError",
    "SigningKeyError",
    "StepTimeout",
    "StoreError",
]


class AlgoauditError(Exception):
    """The root of every error algoaudit raises on purpose."""


class ConfigError(AlgoauditError):
    pass


class StoreError(AlgoauditError):
    pass


class BrowserError(AlgoauditError):
    pass


class NavigationError(BrowserError):
    pass


class StepTimeout(BrowserError):
    pass


class BrowserCrashed(BrowserError):
    pass


class DriverError(AlgoauditError):
    """A step could not be done. ``screenshot`` is the page as it was, when one could be taken."""

    def __init__(self, message: str, *, url: str | None = None, screenshot: Path | None = None):
        super().__init__(message)
        self.url = url
        self.screenshot = screenshot


class ControlMissing(DriverError):
    pass


class DriverDrift(DriverError):
    pass


class Blocked(AlgoauditError):
    def __init__(self, message: str, *, url: str | None = None):
        super().__init__(message)
        self.url = url


class CampaignAborted(AlgoauditError):
    pass


class SigningKeyError(AlgoauditError):
    pass


class BundleError(AlgoauditError):
    pass
