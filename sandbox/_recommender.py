"""The feed recommender: profiles from engagement, a mixed and diversified feed, negative feedback.

A profile is a channel-affinity vector plus a content vector (the engagement-weighted sum of the
item vectors); both decay at each new session so that the profile follows recent interest. A
feed page mixes personalised picks with popular items and exploration from the channels the user
knows least, under a per-page channel cap. The feed faults act here: ``cocoon`` removes the mix and
the cap, ``not_interested_*`` weaken negative feedback, ``tag_delete_cosmetic`` keeps deleted
tags in the ranking, ``algo_off_*`` leak the profile into the unpersonalised feed, ``minors_leak``
lets unsuitable channels through minors mode. The lawful design variants (``Faults.variants``)
act here too: feedback that leaves the channel, feedback from the next session on, feeds that never
repeat an opened item, an off-switch feed that ignores earlier blocks.
"""

from __future__ import annotations

import dataclasses
import math
import zlib

import numpy as np

from ._config import Faults
from ._content import Catalog
from ._learned import LearnedModel
from ._store import Feedback, UserState

__all__ = ["Pick", "Recommender", "unit_hash", "unit_hash_items"]

# Engagement weights: what a click, a second of dwell and a like add to a profile.
CLICK_WEIGHT = 1.0
DWELL_WEIGHT_PER_S = 0.1
DWELL_CAP_S = 60.0
LIKE_WEIGHT = 2.0
ONBOARDING_WEIGHT = 3.0
SESSION_DECAY = 0.85
# The compliant feed: a fifth popular, a fifth exploration, at most 40% of a page from one channel.
POPULAR_SHARE = 0.2
EXPLORE_SHARE = 0.2
CHANNEL_CAP_SHARE = 0.4
# "Not interested" in one item scales its channel's affinity by this, and hides close neighbours.
ITEM_FEEDBACK_CHANNEL_FACTOR = 0.2
NEIGHBOUR_COSINE = 0.35
# A tag is shown once its channel holds this share of the profile.
TAG_SHARE = 0.12
# Retrieval: this many random candidates from a large pool, plus the POPULAR_HEAD hottest items.
RANDOM_CANDIDATES = 4000
POPULAR_HEAD = 1000
# Candidates whose content similarity to the profile is computed (the ranking stage).
RERANK_DEPTH = 500
# Items shown in the current or the previous session are not shown again; older ones may resurface.
SEEN_MEMORY_SESSIONS = 2
# The variant learned_recommender: noise added to the model's standardised scores, for variety.
LEARNED_NOISE = 0.3


def unit_hash(*parts: object) -> float:
    """A deterministic number in [0, 1) from its parts: which users (by username) a fault hits, which items."""
    return zlib.crc32("\x1f".join(map(str, parts)).encode()) / 2**32


def unit_hash_items(items: np.ndarray, *parts: object) -> np.ndarray:
    """:func:`unit_hash` for many item indices at once (splitmix64 of the item xor a key)."""
    key = np.uint64(zlib.crc32("\x1f".join(map(str, parts)).encode()) * 0x9E3779B97F4A7C15 % 2**64)
    with np.errstate(over="ignore"):
        z = items.astype(np.uint64) ^ key
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / 2.0**53


@dataclasses.dataclass(frozen=True)
class Pick:
    item: int
    reason: str


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k highest scores, best first, without sorting everything."""
    if k >= len(scores):
        return np.argsort(-scores)
    head = np.argpartition(-scores, k - 1)[:k]
    return head[np.argsort(-scores[head])]


class Recommender:
    def __init__(self, catalog: Catalog, faults: Faults, seed: int, page_size: int,
                 learned: LearnedModel | None = None):
        self.catalog = catalog
        self.faults = faults
        self.seed = seed
        self.page_size = page_size
        # The variant learned_recommender: the model that gives the personal scores (None: hand-written).
        self.learned = learned
        # Rankings that change only with the heat bucket: (the heat array they were made from, ranking).
        self._ranked: dict[tuple[str, ...], tuple[np.ndarray, np.ndarray]] = {}
        self._popularity: tuple[np.ndarray, np.ndarray] | None = None

    def _popularity_z(self, heat: np.ndarray) -> np.ndarray:
        """Standardised log heat of every item; computed once per heat bucket."""
        if self._popularity is None or self._popularity[0] is not heat:
            log_heat = np.log(heat)
            self._popularity = (heat, (log_heat - log_heat.mean()) / (log_heat.std() + 1e-9))
        return self._popularity[1]

    # profile updates ----------------------------------------------------------------------------

    def session_started(self, user: UserState) -> bool:
        """Decay the profile; returns True when the off-switch silently reset (the ``algo_off_reset`` fault)."""
        user.affinity *= SESSION_DECAY
        user.content *= SESSION_DECAY
        if self.learned is not None:
            self.learned.scale(user.username, SESSION_DECAY)
        reset_after = self.faults.algo_off_reset
        return bool(
            reset_after
            and not user.personalized
            and user.off_since_session is not None
            and user.session_no - user.off_since_session >= reset_after
        )

    def engage(self, user: UserState, item: int, weight: float) -> None:
        ch = self.catalog.channel_of[item]
        user.affinity[ch] += weight
        user.content += weight * self.catalog.vectors[item]
        if self.learned is not None:
            self.learned.record(user.username, item, weight)

    def choose_tags(self, user: UserState, channels: list[str]) -> None:
        for code in channels:
            ch = self.catalog.channel_index[code]
            user.affinity[ch] += ONBOARDING_WEIGHT
            user.content += ONBOARDING_WEIGHT * self.catalog.channel_centroids[ch]

    def delete_tag(self, user: UserState, code: str) -> tuple[float, float]:
        """Remove a channel from the profile; a cosmetic deletion keeps a share of it. Returns (before, after)."""
        ch = self.catalog.channel_index[code]
        keep = self.faults.tag_delete_cosmetic
        before = float(user.affinity[ch])
        user.affinity[ch] *= keep
        centroid = self.catalog.channel_centroids[ch]
        along = float(user.content @ centroid)
        if along > 0:
            user.content -= (1.0 - keep) * along * centroid
        if self.learned is not None:
            self.learned.scale(user.username, keep, np.flatnonzero(self.catalog.channel_of == ch))
        return before, float(user.affinity[ch])

    def tags(self, user: UserState) -> list[str]:
        """The interest tags the platform shows: chosen and strongly inferred ones, never a deleted one."""
        total = float(user.affinity.sum())
        inferred = set()
        if total > 0:
            inferred = {self.catalog.channels[ch].code for ch in np.flatnonzero(user.affinity / total >= TAG_SHARE)}
        shown = (inferred | user.chosen_tags) - user.deleted_tags
        return sorted(shown, key=lambda c: self.catalog.channel_index[c])

    def feedback_honoured(self, user: UserState, item: int) -> bool:
        return unit_hash(self.seed, "fb", user.username, item, len(user.feedback)) >= self.faults.not_interested_ignored

    # ranking ------------------------------------------------------------------------------------

    def _active_feedback(self, user: UserState) -> list[Feedback]:
        decay = self.faults.not_interested_decay
        # A lawful design applies feedback from the next session on (the variant feedback_next_session).
        later = self.faults.variants.feedback_next_session
        return [
            fb for fb in user.feedback
            if fb.honoured and (decay == 0 or user.session_no - fb.session_no < decay)
            and not (later and fb.session_no >= user.session_no)
        ]

    def _allowed(self, user: UserState, pool: np.ndarray, exclude_seen: bool, blocks: bool = True) -> np.ndarray:
        """Mask over ``pool``: items the user may be shown (feedback unless not ``blocks``, minors
        mode, seen, opened where the platform never repeats those)."""
        cat = self.catalog
        mask = np.ones(len(pool), dtype=bool)
        if exclude_seen and user.seen:
            since = user.session_no - SEEN_MEMORY_SESSIONS + 1
            recent = np.fromiter((i for i, s in user.seen.items() if s >= since), dtype=np.int64)
            mask &= ~np.isin(pool, recent)
        if self.faults.variants.never_repeat_opened and user.opened:
            mask &= ~np.isin(pool, np.fromiter(user.opened, dtype=np.int64))
        for fb in self._active_feedback(user) if blocks else ():
            if fb.reason == "channel":
                mask &= cat.channel_of[pool] != cat.channel_of[fb.item]
            elif fb.reason == "author":
                mask &= cat.author_of[pool] != cat.author_of[fb.item]
            else:
                mask &= cat.vectors[pool] @ cat.vectors[fb.item] < NEIGHBOUR_COSINE
                mask &= pool != fb.item
        if user.minors_mode:
            unsuitable = cat.minors_unsuitable[pool]
            if unsuitable.any() and self.faults.minors_leak > 0:
                leak = unit_hash_items(pool[unsuitable], self.seed, "minor", user.username)
                keep = unsuitable.copy()
                keep[unsuitable] = leak >= self.faults.minors_leak
                mask &= ~keep
            else:
                mask &= ~unsuitable
        return mask

    def _cocoon(self, user: UserState) -> float:
        # Cold start explores even on a cocoon-prone platform: the fault acts once a profile exists.
        return self.faults.cocoon if user.affinity.sum() > 0 else 0.0

    def _personal_scores(self, user: UserState, pool: np.ndarray, heat: np.ndarray, rng: np.random.Generator):
        """Two stages, as retrieval then ranking: a cheap score over every candidate, then the content
        term for the best RERANK_DEPTH of them (the rest keep the cheap score and rank below)."""
        cat = self.catalog
        s = self._cocoon(user)
        factor = np.ones(len(cat.channels))
        content_only = self.faults.variants.feedback_content_only
        profile = user.content
        for fb in self._active_feedback(user):
            if fb.reason != "item":
                continue
            if content_only:
                # The item leaves the content profile; its channel stays as it was.
                along = float(profile @ cat.vectors[fb.item])
                if along > 0:
                    profile = profile - along * cat.vectors[fb.item]
            else:
                factor[cat.channel_of[fb.item]] *= ITEM_FEEDBACK_CHANNEL_FACTOR
        # Normalised by the profile before the penalty, so that a penalised channel loses share even
        # when the profile holds nothing else.
        total = user.affinity.sum()
        share = user.affinity * factor / total if total > 0 else user.affinity
        channels = cat.channel_of[pool]
        noise = rng.standard_normal(len(pool), dtype=np.float32) * 0.45 * (1.0 - 0.8 * s)
        scores = (2.5 + 4.0 * s) * share[channels] + 0.25 * self._popularity_z(heat)[pool] + noise
        norm = float(np.linalg.norm(profile))
        if norm > 0:
            head = _top(scores, RERANK_DEPTH)
            content = cat.vectors[pool[head]] @ (profile / norm)
            scores[head] += np.where(content > 0, content * factor[channels[head]], content)
        if self.learned is not None:
            self._learned_scores(user, pool, scores, factor, rng)
        return scores

    def _learned_scores(self, user: UserState, pool: np.ndarray, scores: np.ndarray, factor: np.ndarray,
                        rng: np.random.Generator) -> None:
        """The variant learned_recommender: once the model can place the user, every candidate's score
        is the model's, standardised and put on the scale of the hand-written scores (a user it cannot
        place keeps those). A channel scaled down by "not interested" in an item is scaled down here
        too (in log units); the filters and the page's mix act on these scores as on the others."""
        model = self.learned.scores(user.username, pool)
        if model is None:
            return
        z = (model - model.mean()) / (model.std() + 1e-9)
        z += np.log(factor[self.catalog.channel_of[pool]])
        z += rng.standard_normal(len(z), dtype=np.float32) * LEARNED_NOISE
        scores[:] = scores.mean() + scores.std() * z

    def _candidates(self, user: UserState, heat: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Retrieval: a random sample of the user's pool plus the popular head, then the filters."""
        pool = self.catalog.pool(user.lang)
        if len(pool) > RANDOM_CANDIDATES:
            sample = pool[rng.integers(0, len(pool), RANDOM_CANDIDATES)]
            pool = np.unique(np.concatenate([sample, self._popular_head(heat, user.lang)]))
        cand = pool[self._allowed(user, pool, exclude_seen=True)]
        return cand if len(cand) >= self.page_size else pool[self._allowed(user, pool, exclude_seen=False)]

    def _popular_head(self, heat: np.ndarray, lang: str) -> np.ndarray:
        key = ("head", lang)
        cached = self._ranked.get(key)
        if cached is None or cached[0] is not heat:
            pool = self.catalog.pool(lang)
            cached = (heat, pool[_top(heat[pool], POPULAR_HEAD)])
            self._ranked[key] = cached
        return cached[1]

    def feed_page(self, user: UserState, heat: np.ndarray, rng: np.random.Generator) -> list[Pick]:
        """The next page of the user's feed (does not mark it seen)."""
        if not user.personalized:
            return self._unpersonalised_page(user, heat, rng)
        cat = self.catalog
        n = self.page_size
        s = self._cocoon(user)
        cand = self._candidates(user, heat, rng)
        personal = self._personal_scores(user, cand, heat, rng)
        popular = self._popularity_z(heat)[cand] + rng.standard_normal(len(cand), dtype=np.float32) * 0.4
        n_pop = round(n * POPULAR_SHARE * (1.0 - s))
        n_exp = round(n * EXPLORE_SHARE * (1.0 - s))
        cap = n if s >= 1.0 else max(1, math.ceil(n * (CHANNEL_CAP_SHARE + (1.0 - CHANNEL_CAP_SHARE) * s)))
        picks: list[Pick] = []
        taken: set[int] = set()
        per_channel: dict[int, int] = {}

        def take(order: np.ndarray, count: int, reason: str, capped: bool) -> None:
            for j in order:
                if count <= 0:
                    return
                item = int(cand[j])
                ch = int(cat.channel_of[item])
                if item in taken or (capped and per_channel.get(ch, 0) >= cap):
                    continue
                picks.append(Pick(item, reason))
                taken.add(item)
                per_channel[ch] = per_channel.get(ch, 0) + 1
                count -= 1

        take(_top(personal, 20 * n), n - n_pop - n_exp, "personal", capped=True)
        take(_top(popular, 20 * n), n_pop, "popular", capped=True)
        if n_exp:
            total = user.affinity.sum()
            share = user.affinity / total if total > 0 else np.zeros_like(user.affinity)
            # Exploration draws from the half of the channels the user engages with least.
            order = np.argsort(share + rng.uniform(0, 1e-6, size=len(share)))
            unfamiliar = np.zeros(len(share), dtype=bool)
            unfamiliar[order[: max(1, len(order) // 2)]] = True
            explore_idx = np.flatnonzero(unfamiliar[cat.channel_of[cand]])
            take(rng.choice(explore_idx, size=min(len(explore_idx), 20 * n), replace=False), n_exp, "explore", capped=True)
        if len(picks) < n:
            # The best personal picks were all from capped channels: look further down under the
            # cap first; only a pool too small for the cap fills the page regardless.
            order = np.argsort(-personal)
            take(order, n - len(picks), "personal", capped=True)
            take(order, n - len(picks), "personal", capped=False)
        rng.shuffle(picks)
        return picks

    def _regional_order(self, heat: np.ndarray, user: UserState) -> np.ndarray:
        """The region's popularity ranking of the user's pool; computed once per heat bucket."""
        key = ("region", user.lang, user.region)
        cached = self._ranked.get(key)
        if cached is None or cached[0] is not heat:
            cat = self.catalog
            pool = cat.pool(user.lang)
            jitter = 1.0 + 0.3 * unit_hash_items(pool, self.seed, "region", user.region)
            cached = (heat, pool[np.argsort(-(heat[pool] * jitter), kind="stable")])
            self._ranked[key] = cached
        return cached[1]

    def _unpersonalised_page(self, user: UserState, heat: np.ndarray, rng: np.random.Generator) -> list[Pick]:
        """The region's popularity ranking, the same for every user of the region (unless it leaks)."""
        order = self._regional_order(heat, user)
        start = user.feed_position
        # Filter a prefix only: enough for this page unless the user's filters remove most of it.
        depth = start + 4 * self.page_size
        # A lawful design's off feed ignores what the user blocked while personalised.
        blocks = not self.faults.variants.off_feed_ignores_blocks
        while True:
            prefix = order[:depth]
            ranked = prefix[self._allowed(user, prefix, exclude_seen=False, blocks=blocks)]
            if len(ranked) >= start + self.page_size or depth >= len(order):
                break
            depth *= 2
        page = [Pick(int(i), "regional") for i in ranked[start : start + self.page_size]]
        if self.faults.algo_off_leak > 0 and page:
            cand = self._candidates(user, heat, rng)
            personal = self._personal_scores(user, cand, heat, rng)
            best = iter(cand[_top(personal, 4 * self.page_size)].tolist())
            shown = {p.item for p in page}
            for k in range(len(page)):
                if unit_hash(self.seed, "leak", user.username, user.session_no, start + k) < self.faults.algo_off_leak:
                    item = next((b for b in best if b not in shown), None)
                    if item is not None:
                        page[k] = Pick(item, "leak")
                        shown.add(item)
        return page
