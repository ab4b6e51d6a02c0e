"""The platform's behaviour, independent of HTTP: sessions, feed serving, feedback, tags, switches,
hot list, shop, with every decision written to the ground truth."""

from __future__ import annotations

import json
import time
import zlib
from pathlib import Path

import numpy as np

from ._config import SandboxConfig
from ._content import Catalog, load_catalog
from ._hotlist import CLICK_HEAT, DWELL_HEAT_PER_S, LIKE_HEAT, HeatModel, HotEntry
from ._learned import LearnedModel
from ._recommender import (
    CLICK_WEIGHT,
    DWELL_CAP_S,
    DWELL_WEIGHT_PER_S,
    LIKE_WEIGHT,
    Pick,
    Recommender,
)
from ._shop import ClaimOutcome, Coupon, PriceQuote, Pricing, claim_coupon, coupons_for
from ._store import Feedback, PlatformStore, UserState, hash_pin
from ._truth import TruthWriter

__all__ = ["Platform"]

FEEDBACK_REASONS = ("item", "channel", "author")


class Platform:
    def __init__(self, config: SandboxConfig, catalog: Catalog | None = None):
        self.config = config
        self.faults = config.faults
        self.variants = config.faults.variants
        self.catalog = catalog or load_catalog(config.corpora, config.seed)
        if config.faults.variants.small_catalogue:
            self.catalog = self.catalog.limited(config.faults.variants.small_catalogue)
        data_dir = Path(config.data_dir)
        self.store = PlatformStore(data_dir / "platform.sqlite", len(self.catalog.channels), self.catalog.vectors.shape[1])
        self.truth = TruthWriter(data_dir / "ground_truth.sqlite")
        self.truth.set_meta(
            seed=str(config.seed),
            corpora=[str(p) for p in config.corpora],
            started_at=str(time.time()),
            faults=self.faults.active(),
            chaos=self.faults.chaos.model_dump(),
            variants=self.faults.variants.active(),
        )
        learned = None
        if self.variants.learned_recommender:
            learned = LearnedModel(
                self.catalog.vectors, self.catalog.channel_of, config.seed, data_dir / "learned.sqlite"
            )
        self.recommender = Recommender(self.catalog, self.faults, config.seed, config.page_size, learned)
        self.heat = HeatModel(
            self.catalog, self.faults, config.seed, config.hot_interval_s, self.store.load_heat(len(self.catalog.items))
        )
        self.pricing = Pricing(self.faults, config.seed, config.promo_interval_s)
        self.coupons = {c.id: c for c in coupons_for(self.variants)}

    def close(self) -> None:
        if self.recommender.learned is not None:
            self.recommender.learned.close()
        self.store.close()
        self.truth.close()

    # sessions -----------------------------------------------------------------------------------

    def begin_request(self, user: UserState, now: float, has_visit_cookie: bool, login: bool = False) -> None:
        """Count app sessions: a login, a new browser session, or a long pause starts one."""
        if login:
            cause = "login"
        elif not has_visit_cookie:
            cause = "new_visit"
        elif now - user.last_seen > self.config.session_gap_s:
            cause = "idle"
        else:
            self.store.touch(user, now, new_session=False)
            return
        self.store.touch(user, now, new_session=True)
        self.truth.log("sessions", [{"user_id": user.id, "username": user.username, "session_no": user.session_no, "cause": cause}])
        if self.recommender.session_started(user):
            self.store.save_settings(user, personalized=True, off_since_session=None)
            self._log_switch(user, "personalized", True, "reset")
        self.store.save_profile(user)

    def _log_switch(self, user: UserState, setting: str, value: bool, cause: str) -> None:
        self.truth.log("switches", [{
            "user_id": user.id, "username": user.username, "session_no": user.session_no,
            "setting": setting, "value": int(value), "cause": cause,
        }])

    # feed ---------------------------------------------------------------------------------------

    def feed_page(self, user: UserState, page: int, now: float) -> list[Pick]:
        # Keyed by the username, not the row id, so a run's results don't depend on sign-up order.
        user_key = zlib.crc32(user.username.encode())
        rng = np.random.default_rng([self.config.seed, user_key, user.session_no, user.feed_position])
        heat = self.heat.heat(self.heat.bucket(now))
        picks = self.recommender.feed_page(user, heat, rng)
        start = user.feed_position
        user.feed_position += len(picks)
        self.store.add_seen(user, [p.item for p in picks])
        items = self.catalog.items
        self.truth.log("impressions", [
            {
                "ts": now, "user_id": user.id, "username": user.username, "session_no": user.session_no,
                "surface": "feed", "page": page, "position": start + k, "item_id": items[p.item].id,
                "channel": items[p.item].channel, "reason": p.reason,
                "personalized": int(user.personalized), "minors_mode": int(user.minors_mode),
            }
            for k, p in enumerate(picks)
        ])
        return picks

    def permissions_for_page(self, user: UserState, page: str) -> list[str]:
        """What the page's script asks the browser for (``data_overreach``), logged once per page view."""
        requested = list(self.faults.data_overreach)
        if requested:
            self.truth.log("permissions", [{
                "user_id": user.id, "username": user.username, "page": page, "requested": json.dumps(requested),
            }])
        return requested

    # engagement ---------------------------------------------------------------------------------

    def _engage(self, user: UserState, item: int, kind: str, value: float, weight: float, heat: float) -> None:
        self.recommender.engage(user, item, weight)
        self.store.save_profile(user)
        self.heat.add(item, heat)
        self.store.add_heat(item, heat)
        self.truth.log("engagements", [{
            "user_id": user.id, "username": user.username, "session_no": user.session_no,
            "item_id": self.catalog.items[item].id, "kind": kind, "value": value,
        }])

    def click(self, user: UserState, item: int) -> None:
        self.store.add_opened(user, item)
        self._engage(user, item, "click", 1.0, CLICK_WEIGHT, CLICK_HEAT)

    def dwell(self, user: UserState, item: int, ms: float) -> None:
        seconds = min(max(ms, 0.0) / 1000.0, DWELL_CAP_S)
        self._engage(user, item, "dwell", ms, DWELL_WEIGHT_PER_S * seconds, DWELL_HEAT_PER_S * seconds)

    def toggle_like(self, user: UserState, item: int) -> bool:
        liked = item not in user.likes
        self.store.set_like(user, item, liked)
        sign = 1.0 if liked else -1.0
        self._engage(user, item, "like" if liked else "unlike", 1.0, sign * LIKE_WEIGHT, sign * LIKE_HEAT)
        return liked

    def not_interested(self, user: UserState, item: int, reason: str, now: float) -> None:
        honoured = self.recommender.feedback_honoured(user, item)
        self.store.add_feedback(user, Feedback(item, reason, user.session_no, honoured), now)
        decay = self.faults.not_interested_decay
        self.truth.log("feedback", [{
            "ts": now, "user_id": user.id, "username": user.username, "session_no": user.session_no,
            "item_id": self.catalog.items[item].id, "reason": reason, "honoured": int(honoured),
            "expires_after_session": user.session_no + decay - 1 if decay and honoured else None,
        }])

    # tags and switches --------------------------------------------------------------------------

    def choose_tags(self, user: UserState, channels: list[str], now: float) -> None:
        self.recommender.choose_tags(user, channels)
        for code in channels:
            self.store.set_tag(user, code, "chosen", now)
        self.store.save_profile(user)
        self.store.save_settings(user, onboarded=True)

    def delete_tag(self, user: UserState, code: str, now: float) -> None:
        before, after = self.recommender.delete_tag(user, code)
        self.store.set_tag(user, code, "deleted", now)
        self.store.save_profile(user)
        self.truth.log("tag_changes", [{
            "ts": now, "user_id": user.id, "username": user.username, "session_no": user.session_no,
            "channel": code, "action": "delete", "weight_before": before, "weight_after": after,
            "cosmetic": int(self.faults.tag_delete_cosmetic > 0),
        }])

    def set_personalized(self, user: UserState, on: bool) -> None:
        self.store.save_settings(user, personalized=on, off_since_session=None if on else user.session_no)
        self._log_switch(user, "personalized", on, "user")

    def set_minors_mode(self, user: UserState, on: bool, pin: str) -> bool:
        """Turning it on sets the PIN; turning it off needs the same PIN. False when the PIN is wrong."""
        if on:
            self.store.save_settings(user, minors_mode=True, minors_pin_hash=hash_pin(pin, user.id))
        elif user.minors_pin_hash != hash_pin(pin, user.id):
            return False
        else:
            self.store.save_settings(user, minors_mode=False, minors_pin_hash=None)
        self._log_switch(user, "minors_mode", on, "user")
        return True

    def set_elderly_mode(self, user: UserState, on: bool) -> None:
        self.store.save_settings(user, elderly_mode=on)
        self._log_switch(user, "elderly_mode", on, "user")

    # hot list -----------------------------------------------------------------------------------

    def hot_list(self, user: UserState, now: float) -> list[HotEntry]:
        bucket = self.heat.bucket(now)
        entries = self.heat.hot_list(user, bucket)
        items = self.catalog.items
        personalized = int(self.faults.hotlist_personalized > 0 and user.personalized)
        self.truth.log("hotlist", [
            {
                "ts": now, "bucket": bucket, "user_id": user.id, "username": user.username, "rank": e.rank,
                "item_id": items[e.item].id, "heat_true": e.heat_true, "heat_shown": e.heat_shown,
                "injected": int(e.injected), "personalized": personalized,
            }
            for e in entries
        ])
        self.truth.log("impressions", [
            {
                "ts": now, "user_id": user.id, "username": user.username, "session_no": user.session_no,
                "surface": "hot", "page": 1, "position": e.rank - 1, "item_id": items[e.item].id,
                "channel": items[e.item].channel, "reason": "injected" if e.injected else "heat",
                "personalized": personalized, "minors_mode": int(user.minors_mode),
            }
            for e in entries
        ])
        return entries

    # shop ---------------------------------------------------------------------------------------

    def quotes(self, user: UserState, product_indices: list[int], device: str, surface: str, now: float) -> list[PriceQuote]:
        products = self.catalog.products
        quotes = [self.pricing.quote(products[i], user, device, now) for i in product_indices]
        self.truth.log("prices", [
            {
                "ts": now, "user_id": user.id, "username": user.username, "product_id": q.product.id,
                "surface": surface, "base_price": q.base, "promo": q.promo, "multiplier": q.multiplier,
                "shown_price": q.price, "factors": json.dumps(q.factors),
            }
            for q in quotes
        ])
        return quotes

    def buy(self, user: UserState, product_index: int, device: str, now: float) -> tuple[int, PriceQuote]:
        quote = self.quotes(user, [product_index], device, "checkout", now)[0]
        return self.store.add_order(user, quote.product.id, quote.price, now), quote

    def coupon_remaining(self, coupon: Coupon) -> int:
        return self.store.coupon_remaining(coupon.id, coupon.stock)

    def claim(self, user: UserState, coupon: Coupon, message_for: dict[str, str], now: float) -> tuple[ClaimOutcome, str]:
        result = claim_coupon(coupon, user, self.store, self.faults.coupon_masking, self.config.seed, now)
        message = message_for[result.outcome]
        self.truth.log("coupons", [{
            "ts": now, "user_id": user.id, "username": user.username, "coupon_id": coupon.id,
            "outcome": result.outcome, "message": message, "true_reason": result.true_reason,
            "remaining": self.coupon_remaining(coupon),
        }])
        return result, message

    def log_chaos(self, user_id: int | None, path: str, kind: str) -> None:
        self.truth.log("chaos", [{"user_id": user_id, "path": path, "kind": kind}])
