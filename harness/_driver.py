"""The driver protocol: the verbs the checks need, as a platform's pages offer them.

A driver knows one platform's pages (URLs, selectors, wording); the puppet decides what to do.
Drivers return plain observations; what they cannot do raises :class:`ControlMissing` (the
platform lacks the control: a finding) or :class:`DriverDrift` (the page changed: fix the driver).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from playwright.async_api import Page

from ._counts import parse_count

__all__ = [
    "Account",
    "CouponOutcome",
    "DisclosurePage",
    "Driver",
    "FeedCard",
    "HotEntry",
    "ItemCounts",
    "LOGIN_OUTCOMES",
    "NotInterestedOutcome",
    "OnboardingOutcome",
    "PriceSeen",
    "SwitchState",
]


@dataclasses.dataclass(frozen=True)
class Account:
    """What signing up asks for. The password never leaves the puppet: it is not stored in a run."""

    username: str
    password: str = dataclasses.field(repr=False)
    birth_year: int
    occupation: str
    region: str
    language: str


@dataclasses.dataclass(frozen=True)
class FeedCard:
    item_id: str
    title: str
    author: str
    channel: str
    url: str
    position: int
    load: int = 0  # which page load of the session showed it: a feed shown twice is two exposures


@dataclasses.dataclass(frozen=True)
class HotEntry:
    rank: int
    item_id: str
    title: str
    url: str
    heat_text: str  # as displayed
    load: int = 0
    heat_value: float | None = None  # the displayed heat as a number ("11.8万" is 118000); from heat_text when not given

    def __post_init__(self) -> None:
        if self.heat_value is None:
            object.__setattr__(self, "heat_value", parse_count(self.heat_text))


@dataclasses.dataclass(frozen=True)
class ItemCounts:
    """An item's public counts as its own page shows them (texts as displayed, numbers parsed from
    them when not given), and its publish time: ``published_at`` machine-readable (ISO 8601) where the
    page offers it, ``published_text`` as displayed."""

    item_id: str
    url: str
    views_text: str
    likes_text: str
    comments_text: str
    published_text: str
    published_at: str = ""
    views: float | None = None
    likes: float | None = None
    comments: float | None = None

    def __post_init__(self) -> None:
        for name in ("views", "likes", "comments"):
            if getattr(self, name) is None:
                object.__setattr__(self, name, parse_count(getattr(self, f"{name}_text")))


@dataclasses.dataclass(frozen=True)
class PriceSeen:
    product_id: str
    title: str
    price: float
    price_text: str
    position: int


@dataclasses.dataclass(frozen=True)
class CouponOutcome:
    coupon_id: str
    title: str
    message: str
    claimed: bool
    stock_before: str
    stock_after: str
    rules: str


@dataclasses.dataclass(frozen=True)
class NotInterestedOutcome:
    message: str  # what the platform said
    # The reason the platform's control took: the one asked for, another where the card's menu does
    # not offer it, or "" for a "not interested" control with no reasons at all.
    reason: str


# What sign_up_or_log_in did: created the account, logged in with it, or found the browser logged in.
LOGIN_OUTCOMES = ("signed_up", "logged_in", "already_logged_in")


@dataclasses.dataclass(frozen=True)
class OnboardingOutcome:
    shown: bool  # an onboarding screen was there at all
    offered: tuple[str, ...]  # the tags it offered
    chosen: tuple[str, ...]
    passed: bool  # the feed was reached
    skipped: bool  # the feed was reached without choosing any tag
    message: str  # what the screen said when it refused


@dataclasses.dataclass(frozen=True)
class SwitchState:
    on: bool
    clicks: int  # clicks from the home page to the control


@dataclasses.dataclass(frozen=True)
class DisclosurePage:
    name: str
    url: str
    found: bool
    clicks: int
    title: str
    text: str


@runtime_checkable
class Driver(Protocol):
    """One platform's pages. Every verb runs in the puppet's page and leaves it on a page of the platform."""

    name: str

    def observe(self, page: Page, callback: Callable[[str, list[FeedCard] | list[HotEntry]], None]) -> None:
        """Report every list of items the page lands on (``feed`` cards, a ``hot`` list), whichever verb
        led there: what was shown was seen, and the platform counts it as shown."""
        ...

    async def sign_up_or_log_in(self, page: Page, account: Account) -> str:
        """Ensure the account is logged in: ``signed_up`` (created now), ``logged_in`` (it existed and
        logged in now) or ``already_logged_in`` (the browser was)."""
        ...

    async def log_out(self, page: Page) -> bool:
        """Log out as a user would; True when the browser was logged in (False: it was not)."""
        ...

    async def whoami(self, page: Page) -> str:
        """The account name the platform shows: the contamination check compares puppets by it."""
        ...

    async def onboarding(self, page: Page, choose: list[str]) -> OnboardingOutcome:
        """Pass onboarding choosing these tags; with none, try to get through without choosing."""
        ...

    async def read_feed(self, page: Page, pages: int) -> list[FeedCard]:
        """Open the feed, scroll to its end ``pages - 1`` times (each time until more cards came), and
        return every card loaded, in order: a feed that prefetches shows more than ``pages`` pages."""
        ...

    async def open_item(self, page: Page, card: FeedCard) -> None: ...

    async def like(self, page: Page) -> bool:
        """Like the open item; True when it is liked afterwards."""
        ...

    async def not_interested(self, page: Page, card: FeedCard, reason: str) -> NotInterestedOutcome:
        """Mark a feed card not interested (reason ``item``, ``channel`` or ``author``); the platform's
        message and the reason its control took (another where the asked one is not offered)."""
        ...

    async def list_tags(self, page: Page) -> list[str]: ...

    async def delete_tag(self, page: Page, tag: str) -> list[str]:
        """Delete one tag; the tags listed afterwards."""
        ...

    async def personalization(self, page: Page, on: bool | None) -> SwitchState:
        """Set the personalisation switch (None: only read it)."""
        ...

    async def minors_mode(self, page: Page, on: bool, pin: str) -> SwitchState: ...

    async def item_counts(self, page: Page, entry: HotEntry) -> ItemCounts:
        """Open a hot-list entry's own page and read its public counts and publish time."""
        ...

    async def elderly_mode(self, page: Page, on: bool | None) -> SwitchState:
        """Set the elderly (senior) mode (None: only read it)."""
        ...

    async def hot_list(self, page: Page) -> list[HotEntry]: ...

    async def product_prices(self, page: Page, limit: int) -> list[PriceSeen]:
        """Prices on the product list, in the order shown."""
        ...

    async def product_price(self, page: Page, product_id: str) -> PriceSeen: ...

    async def buy(self, page: Page, product_id: str) -> float:
        """Buy one; the price paid."""
        ...

    async def claim_coupon(self, page: Page, coupon_id: str) -> CouponOutcome: ...

    async def disclosures(self, page: Page) -> list[DisclosurePage]:
        """Find the algorithm and hot-list disclosure pages from the home page."""
        ...

    async def captcha_shown(self, page: Page) -> bool: ...
