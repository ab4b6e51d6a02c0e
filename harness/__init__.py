"""The audit harness: persona campaigns driven through real browsers into run databases.

The verbs are functions with the names of the ``algoaudit`` commands (``run``, ``resume``,
``status``, ``validate_campaign``, ``doctor``, ``init_campaign``); ``harness.cli`` is the command
line and the project's composition root.
"""

from ._api import DoctorCheck, RunStatus, doctor, init_campaign, resume, run, status, validate_campaign
from ._browser import BrowserManager, Fingerprint
from ._campaign import Campaign, LoadedCampaign, load_campaign
from ._driver import (
    Account,
    CouponOutcome,
    DisclosurePage,
    Driver,
    FeedCard,
    HotEntry,
    OnboardingOutcome,
    PriceSeen,
    SwitchState,
)
from ._runner import CampaignRun, Executor, LocalExecutor, ProgressEvent, make_driver
from ._sandbox_driver import SandboxDriver
from ._store import RunStore
from ._types import PuppetId, RunId, SessionId
from .errors import (
    AlgoauditError,
    Blocked,
    BrowserCrashed,
    BrowserError,
    CampaignAborted,
    ConfigError,
    ControlMissing,
    DriverDrift,
    DriverError,
    NavigationError,
    StepTimeout,
    StoreError,
)

__all__ = [
    "Account",
    "AlgoauditError",
    "Blocked",
    "BrowserCrashed",
    "BrowserError",
    "BrowserManager",
    "Campaign",
    "CampaignAborted",
    "CampaignRun",
    "ConfigError",
    "ControlMissing",
    "CouponOutcome",
    "DisclosurePage",
    "DoctorCheck",
    "Driver",
    "DriverDrift",
    "DriverError",
    "Executor",
    "FeedCard",
    "Fingerprint",
    "HotEntry",
    "LoadedCampaign",
    "LocalExecutor",
    "NavigationError",
    "OnboardingOutcome",
    "PriceSeen",
    "ProgressEvent",
    "PuppetId",
    "RunId",
    "RunStatus",
    "RunStore",
    "SandboxDriver",
    "SessionId",
    "StepTimeout",
    "StoreError",
    "SwitchState",
    "doctor",
    "init_campaign",
    "load_campaign",
    "make_driver",
    "resume",
    "run",
    "status",
    "validate_campaign",
]
