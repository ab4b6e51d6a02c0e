"""Heat and the hot list (热榜).

An item's heat is its outside popularity (a heavy-tailed base that swings over a day) plus the
engagement of this platform's users. Heat is frozen per time bucket so that users who load the
list within one bucket see the same numbers. The compliant list is the top 50 by heat, showing
each item's true heat. ``hotlist_injection`` places k items at ranks their heat does not earn
(as a mapping with ``fake_heat``, the list shows each a heat made up to fit its rank, while its own
page keeps its real counts); ``hotlist_personalized`` re-ranks the list by the user's profile.

Every item has public counts, shown on its page: views, likes, comments and a publish time. In the
reference design they follow the item's heat (which adds attention elsewhere on the web that no page
shows). Variant ``published_heat_formula``: the list is ranked by the formula its rules page
publishes, heat = (views + 5·likes + 10·comments) / (hours since publication + 2)^1.5, on the counts
of the current bucket, which item pages show. Variant ``heat_units``: the list's heat is on a scale
from 万 to 亿 (:func:`heat_text`), and the list refreshes every ``UNITS_BUCKETS`` intervals.
"""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np

from ._config import Faults
from ._content import Catalog
from ._recommender import unit_hash_items
from ._store import UserState

__all__ = ["HEAT_FORMULA", "HOTLIST_SIZE", "HeatModel", "HotEntry", "ItemCounts", "heat_text"]

HOTLIST_SIZE = 50
# Heat one click, one like and one second of dwell add.
CLICK_HEAT = 2_000.0
LIKE_HEAT = 5_000.0
DWELL_HEAT_PER_S = 50.0
_BUCKETS_PER_CYCLE = 24
# Injected items come from this band of the heat ranking: visible, but far from the top.
_INJECT_BAND = (200, 1000)
# published_heat_formula: weights of views, likes and comments, and the decay by age in hours.
HEAT_FORMULA = {"views": 1.0, "likes": 5.0, "comments": 10.0, "offset_h": 2.0, "power": 1.5}
# Items were published up to this many hours before the sandbox started (at least the first).
_AGE_RANGE_H = (2.0, 48.0)
# heat_units: the list refreshes once every this many hot-list intervals.
UNITS_BUCKETS = 5


def heat_text(value: float, lang: str, units: bool) -> str:
    """A heat (or count) as the list shows it. Reference design: 万 with one decimal from 10,000
    (English: k, M); ``units``: three significant digits in 万 / 亿 (English: k / M / B)."""
    if not units:
        if lang == "zh":
            return f"{value / 10000:.1f}万" if value >= 10000 else str(int(value))
        if value >= 1_000_000:
            return f"{value / 1_000_000:.2f}M"
        return f"{value / 1000:.1f}k" if value >= 1000 else str(int(value))
    scales = ((1e8, "亿"), (1e4, "万")) if lang == "zh" else ((1e9, "B"), (1e6, "M"), (1e3, "k"))
    for scale, unit in scales:
        if value >= scale:
            x = value / scale
            digits = 2 if x < 10 else 1 if x < 100 else 0
            return f"{x:.{digits}f}{unit}"
    return str(int(value))


@dataclasses.dataclass(frozen=True)
class ItemCounts:
    views: float
    likes: float
    comments: float
    published_at: float  # epoch seconds, whole minutes


@dataclasses.dataclass(frozen=True)
class HotEntry:
    rank: int
    item: int
    heat_true: float
    heat_shown: float
    injected: bool


class HeatModel:
    def __init__(self, catalog: Catalog, faults: Faults, seed: int, interval_s: float, engagement: np.ndarray):
        self.catalog = catalog
        self.faults = faults
        self.seed = seed
        self.interval_s = interval_s
        self.engagement = engagement
        self._cached: tuple[int, np.ndarray] | None = None
        self._counted: tuple[int, tuple[np.ndarray, np.ndarray, np.ndarray]] | None = None
        variants = faults.variants
        self.formula = variants.published_heat_formula
        self.units = variants.heat_units
        # The list's refresh interval, as its pages state it.
        self.refresh_s = interval_s * (UNITS_BUCKETS if self.units else 1)
        rng = np.random.default_rng([seed, 6])
        n = len(catalog.items)
        anchor = math.floor(time.time() / 60) * 60
        ages = rng.uniform(*_AGE_RANGE_H, size=n)
        self.published_at = anchor - np.round(ages * 60) * 60
        self.like_rate = rng.uniform(0.01, 0.05, size=n)
        self.comment_rate = rng.uniform(0.001, 0.01, size=n)
        injection = faults.hotlist_injection
        self.inject_k, self.fake_heat = ((injection, False) if isinstance(injection, int)
                                         else (injection.count, injection.fake_heat))

    def bucket(self, now: float) -> int:
        return int(now // self.refresh_s)

    def counts(self, bucket: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Views, likes and comments of every item in a bucket, as item pages show them."""
        if self._counted is None or self._counted[0] != bucket:
            if self.formula:
                views = np.round(self.catalog.base_heat + self.engagement / CLICK_HEAT)
            else:
                views = np.round(self.heat(bucket) / 37.0)
            likes = np.round(views * self.like_rate) if self.formula else np.round(self.heat(bucket) / 900.0)
            comments = (np.round(views * self.comment_rate) if self.formula
                        else np.round(self.heat(bucket) / 4000.0))
            self._counted = (bucket, (views, likes, comments))
        return self._counted[1]

    def item_counts(self, item: int, bucket: int) -> ItemCounts:
        views, likes, comments = self.counts(bucket)
        return ItemCounts(float(views[item]), float(likes[item]), float(comments[item]), float(self.published_at[item]))

    def list_heat(self, bucket: int) -> np.ndarray:
        """The heat the list ranks by and shows."""
        if self.formula:
            views, likes, comments = self.counts(bucket)
            f = HEAT_FORMULA
            at = max(bucket * self.refresh_s, float(self.published_at.max()))
            age_h = np.maximum(at - self.published_at, 0.0) / 3600.0
            raw = f["views"] * views + f["likes"] * likes + f["comments"] * comments
            return np.round(raw / (age_h + f["offset_h"]) ** f["power"])
        heat = self.heat(bucket)
        # heat_units: the same order on a scale from 万 to 亿 (a list's top to its 50th spans both).
        return np.round(heat**3 / 1e10) if self.units else heat

    def heat(self, bucket: int) -> np.ndarray:
        if self._cached is None or self._cached[0] != bucket:
            cat = self.catalog
            swing = 1.0 + 0.5 * np.sin(2 * math.pi * bucket / _BUCKETS_PER_CYCLE + cat.heat_phase)
            self._cached = (bucket, np.round(cat.base_heat * swing + self.engagement))
        return self._cached[1]

    def add(self, item: int, amount: float) -> None:
        self.engagement[item] += amount

    def hot_list(self, user: UserState, bucket: int) -> list[HotEntry]:
        cat = self.catalog
        heat = self.list_heat(bucket)
        pool = cat.pool(user.lang)
        if user.minors_mode:
            unsuitable = cat.minors_unsuitable[pool]
            leak = unit_hash_items(pool, self.seed, "minor", user.username) < self.faults.minors_leak
            pool = pool[~unsuitable | leak]
        order = pool[np.argsort(-heat[pool], kind="stable")]
        s = self.faults.hotlist_personalized
        if s > 0 and user.personalized and user.affinity.sum() > 0:
            share = user.affinity / user.affinity.sum()
            head = order[: HOTLIST_SIZE * 10]
            score = heat[head] * (1.0 + 4.0 * s * share[cat.channel_of[head]])
            order = head[np.argsort(-score, kind="stable")]
        top = [int(i) for i in order[:HOTLIST_SIZE]]
        injected: list[int] = []
        k = self.inject_k
        if k:
            lo, hi = _INJECT_BAND
            band = order[lo:hi] if len(order) > lo + k else order[HOTLIST_SIZE:]
            draw = unit_hash_items(band, self.seed, "inject", bucket)
            injected = [int(i) for i in band[np.argsort(draw)[:k]]]
            top = [i for i in top if i not in injected]
            for j, item in enumerate(injected):
                top.insert(min(2 * j, len(top)), item)
            top = top[:HOTLIST_SIZE]
        chosen = set(injected)
        shown = [float(heat[i]) for i in top]
        if self.fake_heat:
            # A made-up heat between the honest neighbours' (above the next one when pinned first).
            for r, item in enumerate(top):
                if item in chosen:
                    below = next((shown[j] for j in range(r + 1, len(top)) if top[j] not in chosen), shown[r])
                    above = next((shown[j] for j in range(r - 1, -1, -1) if top[j] not in chosen), below * 1.2)
                    shown[r] = float(round((above + below) / 2))
        return [
            HotEntry(rank=r + 1, item=i, heat_true=float(heat[i]), heat_shown=shown[r], injected=i in chosen)
            for r, i in enumerate(top)
        ]
