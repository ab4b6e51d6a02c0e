"""Heat and the hot list (热榜).

An item's heat is its outside popularity (a heavy-tailed base that swings over a day) plus the
engagement of this platform's users. Heat is frozen per time bucket so that users who load the
list within one bucket see the same numbers. The compliant list is the top 50 by heat, showing
each item's true heat. ``hotlist_injection`` places k items at ranks their heat does not earn;
``hotlist_personalized`` re-ranks the list by the user's profile.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ._config import Faults
from ._content import Catalog
from ._recommender import unit_hash_items
from ._store import UserState

__all__ = ["HeatModel", "HotEntry", "HOTLIST_SIZE"]

HOTLIST_SIZE = 50
# Heat one click, one like and one second of dwell add.
CLICK_HEAT = 2_000.0
LIKE_HEAT = 5_000.0
DWELL_HEAT_PER_S = 50.0
_BUCKETS_PER_CYCLE = 24
# Injected items come from this band of the heat ranking: visible, but far from the top.
_INJECT_BAND = (200, 1000)


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

    def bucket(self, now: float) -> int:
        return int(now // self.interval_s)

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
        heat = self.heat(bucket)
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
        k = self.faults.hotlist_injection
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
        return [
            HotEntry(rank=r + 1, item=i, heat_true=float(heat[i]), heat_shown=float(heat[i]), injected=i in chosen)
            for r, i in enumerate(top)
        ]
