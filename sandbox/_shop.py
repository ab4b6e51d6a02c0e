"""Shop prices and coupons.

The compliant price of a product is its list price times the promotion of the current promo bucket,
the same for every user. ``price_discrimination`` multiplies it by factors of the user's age band,
declared occupation, spending level, returning-customer status and device. Coupons have disclosed
rules and visible stock; ``coupon_masking`` refuses a share of eligible users with a vague "来晚了"
while stock remains. The variant ``coupon_small_stock`` issues a few of each (:data:`SMALL_STOCK`),
which run out while users claim together, and says so in few words (已抢光 / "Sold out").
"""

from __future__ import annotations

import dataclasses

from ._config import AGE_BANDS, Faults, Variants
from ._content import Product
from ._recommender import unit_hash
from ._store import PlatformStore, UserState

__all__ = [
    "COUPONS", "SMALL_STOCK", "ClaimOutcome", "Coupon", "PriceQuote", "Pricing", "age_band", "claim_coupon",
    "coupons_for", "device_of", "spending_level",
]

# Spending levels by the total of a user's orders (CNY).
SPENDING_MID = 500.0
SPENDING_HIGH = 3000.0
PROMO_SHARE = 0.2


def age_band(age: int) -> str:
    for band, upper in zip(AGE_BANDS, (18, 25, 35, 45, 55)):
        if age < upper:
            return band
    return AGE_BANDS[-1]


def spending_level(user: UserState) -> str:
    if user.orders_total >= SPENDING_HIGH:
        return "high"
    return "mid" if user.orders_total >= SPENDING_MID else "low"


def device_of(user_agent: str) -> str:
    ua = user_agent.lower()
    if "iphone" in ua or "ipad" in ua:
        return "ios"
    return "android" if "android" in ua else "desktop"


@dataclasses.dataclass(frozen=True)
class PriceQuote:
    product: Product
    base: float
    promo: float
    multiplier: float
    price: float
    factors: dict[str, float]


class Pricing:
    def __init__(self, faults: Faults, seed: int, promo_interval_s: float):
        self.rules = faults.price_discrimination
        self.seed = seed
        self.promo_interval_s = promo_interval_s

    def promo(self, product: Product, now: float) -> float:
        bucket = int(now // self.promo_interval_s)
        draw = unit_hash(self.seed, "promo", product.id, bucket)
        return round(0.8 + 0.15 * draw / PROMO_SHARE, 2) if draw < PROMO_SHARE else 1.0

    def factors(self, user: UserState, device: str, now: float) -> dict[str, float]:
        rules = self.rules
        found = {
            "age_band": rules.age_band.get(age_band(user.age(now)), 1.0),  # type: ignore[call-overload]
            "occupation": rules.occupation.get(user.occupation, 1.0),  # type: ignore[call-overload]
            "spending": rules.spending.get(spending_level(user), 1.0),  # type: ignore[call-overload]
            "returning": rules.returning if user.orders_count > 0 else 1.0,
            "device": rules.device.get(device, 1.0),  # type: ignore[call-overload]
        }
        return {k: v for k, v in found.items() if v != 1.0}

    def quote(self, product: Product, user: UserState, device: str, now: float) -> PriceQuote:
        factors = self.factors(user, device, now)
        multiplier = 1.0
        for value in factors.values():
            multiplier *= value
        promo = self.promo(product, now)
        price = round(product.price * promo * multiplier, 2)
        return PriceQuote(product, product.price, promo, round(multiplier, 6), price, factors)


@dataclasses.dataclass(frozen=True)
class Coupon:
    id: str
    title_zh: str
    title_en: str
    threshold: float
    discount: float
    stock: int
    new_users_only: bool

    def title(self, lang: str) -> str:
        return self.title_zh if lang == "zh" else self.title_en


COUPONS = (
    Coupon("new20", "新人专享券", "New-user coupon", 99.0, 20.0, 100_000, True),
    Coupon("all30", "全场通用券", "Store-wide coupon", 300.0, 30.0, 100_000, False),
    Coupon("big100", "大额满减券", "Big-spender coupon", 2000.0, 100.0, 100_000, False),
    Coupon("flash50", "限量秒杀券", "Flash coupon", 500.0, 50.0, 5, False),
)
# The variant coupon_small_stock: fewer of each than the puppets of a lock-step coupon campaign.
SMALL_STOCK = {"new20": 2, "all30": 3, "big100": 2, "flash50": 2}


def coupons_for(variants: Variants) -> tuple[Coupon, ...]:
    """The coupon desk of a design: the reference stocks, or the small ones."""
    if not variants.coupon_small_stock:
        return COUPONS
    return tuple(dataclasses.replace(c, stock=SMALL_STOCK[c.id]) for c in COUPONS)


@dataclasses.dataclass(frozen=True)
class ClaimOutcome:
    outcome: str  # success | already | ineligible | sold_out | refused
    true_reason: str  # what really decided it: the same as outcome, or "masked"


def claim_coupon(coupon: Coupon, user: UserState, store: PlatformStore, masking: float, seed: int, now: float) -> ClaimOutcome:
    """Decide a claim. Real reasons first; masking only hits users who would otherwise succeed."""
    if coupon.id in user.coupons:
        return ClaimOutcome("already", "already")
    if coupon.new_users_only and user.orders_count > 0:
        return ClaimOutcome("ineligible", "ineligible")
    remaining = store.coupon_remaining(coupon.id, coupon.stock)
    if remaining <= 0:
        return ClaimOutcome("sold_out", "sold_out")
    if masking > 0 and unit_hash(seed, "coupon", user.username, coupon.id) < masking:
        return ClaimOutcome("refused", "masked")
    if not store.take_coupon(user, coupon.id, now):
        return ClaimOutcome("sold_out", "sold_out")
    return ClaimOutcome("success", "success")
