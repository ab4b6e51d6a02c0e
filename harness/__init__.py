"""The audit harness: persona campaigns driven through real browsers into run databases.

The verbs are functions with the names of the ``algoaudit`` commands (``run``, ``resume``,
``status``, ``validate_campaign``, ``doctor``, ``init_campaign``); ``harness.cli`` is the command
line and the project's composition root. Evidence: ``init_keys`` (``keys init``), ``make_bundle``
and ``verify_bundle`` (``bundle``, ``bundle verify``), ``record_custody`` (the custody table).
"""

from ._api import DoctorCheck, RunStatus, doctor, init_campaign, resume, run, status, validate_campaign
from ._browser import BrowserManager, Fingerprint
from ._bundle import BundleProblem, BundleReport, make_bundle, verify_bundle
from ._campaign import Campaign, LoadedCampaign, load_campaign
from ._custody import record_custody, run_secrets
from ._driver import (
    Account,
    CouponOutcome,
    DisclosurePage,
    Driver,
    FeedCard,
    HotEntry,
    NotInterestedOutcome,
    OnboardingOutcome,
    PriceSeen,
    SwitchState,
)
from ._keys import KeyPair, default_key_dir, init_keys
from ._runner import CampaignRun, Executor, LocalExecutor, ProgressEvent, make_driver
from ._sandbox_driver import SandboxDriver
from ._store import RunStore
from ._types import PuppetId, RunId, SessionId
from .errors import (
    AlgoauditError,
    Blocked,
    BrowserCrashed,
    BrowserError,
    BundleError,
    CampaignAborted,
    ConfigError,
    ControlMissing,
    DriverDrift,
    DriverError,
    NavigationError,
    SigningKeyError,
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
    "BundleError",
    "BundleProblem",
    "BundleReport",
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
    "KeyPair",
    "LoadedCampaign",
    "LocalExecutor",
    "NavigationError",
    "NotInterestedOutcome",
    "OnboardingOutcome",
    "PriceSeen",
    "ProgressEvent",
    "PuppetId",
    "RunId",
    "RunStatus",
    "RunStore",
    "SandboxDriver",
    "SessionId",
    "SigningKeyError",
    "StepTimeout",
    "StoreError",
    "SwitchState",
    "default_key_dir",
    "doctor",
    "init_campaign",
    "init_keys",
    "load_campaign",
    "make_bundle",
    "make_driver",
    "record_custody",
    "resume",
    "run",
    "run_secrets",
    "status",
    "validate_campaign",
    "verify_bundle",
]
