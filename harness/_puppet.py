"""A puppet: a persona with an account and a browser profile, doing a round's steps as that persona would.

The driver knows the platform; the puppet decides (which items interest it, how long it reads,
what it likes) and records everything it sees as soon as it has seen it.
"""

from __future__ import annotations

import dataclasses
import random
from typing import Any

from playwright.async_api import Page

from personas import Persona

from ._browser import translate_errors, watch_data_collection
from ._campaign import OnboardingArgs, Step
from ._driver import Account, Driver, SwitchState
from ._store import RunStore
from ._types import PuppetId, SessionId
from .errors import ControlMissing

__all__ = ["PuppetSpec", "PuppetSession"]


@dataclasses.dataclass(frozen=True)
class PuppetSpec:
    puppet_id: PuppetId
    persona: Persona
    group: str
    role: str
    replica: int
    username: str

    def account(self, password: str) -> Account:
        a = self.persona.attributes
        return Account(self.username, password, a.birth_year, a.occupation, self.persona.region, self.persona.language)


class PuppetSession:
    """One puppet in one round: a browser page, the driver, and where to record."""

    def __init__(self, spec: PuppetSpec, driver: Driver, page: Page, store: RunStore, session_id: SessionId,
                 round_index: int, rng: random.Random, dwell_scale: float):
        self.spec = spec
        self.persona = spec.persona
        self.driver = driver
        self.page = page
        self.store = store
        self.session_id = session_id
        self.round = round_index
        self.rng = rng
        self.dwell_scale = dwell_scale
        self.where = {"session_id": session_id, "puppet_id": spec.puppet_id, "round": round_index}
        self._password: str | None = None

    def _record(self, table: str, rows: list[dict[str, Any]]) -> None:
        self.store.add_rows(table, self.where, rows)

    async def start(self, password: str, onboard: bool) -> None:
        """Log in (signing up the first time); ``onboard``: pass onboarding as the persona would, for
        campaigns that do not make it a step of their own."""
        self.driver.observe(self.page, self._record_shown)
        await watch_data_collection(self.page, self.store.run()["target_url"], self._record_permission,
                                    self._record_third_party)
        self._password = password
        await self._sign_in()
        if onboard:
            await self._onboarding(OnboardingArgs())
        self._record("observations", [{"kind": "whoami", "value": await self.driver.whoami(self.page)}])

    async def _sign_in(self) -> str:
        """Log in, signing up the first time; the action says which (``already_logged_in``: the
        browser was, and nothing was done)."""
        assert self._password is not None, "start() comes first"
        how = await self.driver.sign_up_or_log_in(self.page, self.spec.account(self._password))
        verb = {"signed_up": "sign_up", "logged_in": "log_in"}.get(how, how)
        self._record("actions", [{"verb": verb, "target": self.spec.username, "outcome": "ok"}])
        return verb

    async def run(self, step: Step) -> dict[str, Any]:
        """Do one step; returns a summary for the command row."""
        handler = getattr(self, f"_{step.verb}")
        return await handler(step.args)

    # steps --------------------------------------------------------------------------------------

    def _interest_tags(self, offered: tuple[str, ...]) -> list[str]:
        return [t for t in offered if self.persona.interest_in(t, t) is not None]

    async def _onboarding(self, args: Any) -> dict[str, Any]:
        page, driver = self.page, self.driver
        # "interests": the channels the persona cares about, as platforms name them; the driver
        # chooses those it is offered. An empty list asks to get through without choosing (C2).
        if args.choose == "interests":
            choose = [name for interest in self.persona.interests for name in interest.channels]
        else:
            choose = list(args.choose)
        first = await driver.onboarding(page, choose)
        outcome = dataclasses.asdict(first)
        self._record("observations", [{"kind": "onboarding", "value": outcome}])
        if not first.passed:
            # A platform that forces tags: choose more until it lets the puppet in, and say so.
            mine = self._interest_tags(first.offered)
            ordered = mine + [t for t in first.offered if t not in mine]
            for k in range(1, len(ordered) + 1):
                forced = await driver.onboarding(page, ordered[:k])
                if forced.passed:
                    self._record("actions", [{"verb": "onboarding_forced_choice", "target": ",".join(ordered[:k]),
                                              "outcome": "passed", "message": first.message}])
                    break
        return outcome

    def _record_permission(self, api: str, detail: str, page_url: str) -> None:
        self._record("permission_requests", [{"api": api, "detail": detail, "page_url": page_url}])

    def _record_third_party(self, host: str, url: str, resource_type: str, page_url: str) -> None:
        self._record("third_party_requests", [{"host": host, "url": url, "resource_type": resource_type,
                                               "page_url": page_url}])

    def _record_shown(self, surface: str, entries: list[Any]) -> None:
        rows = [dataclasses.asdict(e) for e in entries]
        if surface == "hot":
            self.store.add_hotlist(self.where, rows)
        else:
            self.store.add_impressions(self.where, surface, rows)

    async def _read_feed(self, args: Any) -> dict[str, Any]:
        behaviour = self.persona.behaviour
        cards = await self.driver.read_feed(self.page, args.pages or behaviour.scroll_pages)
        self._record_shown("feed", cards)
        read = liked = 0
        if args.engage:
            for card in cards:
                interesting = self.persona.interest_in(card.title, card.channel) is not None
                p_read = behaviour.read_probability.interesting if interesting else behaviour.read_probability.other
                if self.rng.random() >= p_read:
                    continue
                lo, hi = behaviour.dwell_seconds.interesting if interesting else behaviour.dwell_seconds.other
                dwell_ms = self.rng.uniform(lo, hi) * 1000 * self.dwell_scale
                await self.driver.open_item(self.page, card)
                await self.page.wait_for_timeout(dwell_ms)  # the persona reading: behaviour, not a wait
                did_like = interesting and self.rng.random() < behaviour.like_probability
                if did_like:
                    await self.driver.like(self.page)
                    liked += 1
                read += 1
                self.store.set_dwell(self.session_id, card.item_id, card.load, dwell_ms)
                self._record("actions", [{"verb": "read", "target": card.item_id, "outcome": "liked" if did_like else "read",
                                          "args": {"dwell_ms": round(dwell_ms)}}])
            # Leaving the last item page is what makes the browser report its dwell time.
            await self.page.goto("about:blank")
        return {"cards": len(cards), "read": read, "liked": liked}

    async def _not_interested(self, args: Any) -> dict[str, Any]:
        """Mark (or, ``sham``, only pick) ``count`` feed cards of the topic, reading feed pages, one
        page load each, until there are enough or ``max_pages`` were read."""
        done: list[str] = []
        used: list[str] = []
        pages_read = cards_read = 0
        while len(done) < args.count and pages_read < args.max_pages:
            cards = await self.driver.read_feed(self.page, 1)
            pages_read += 1
            cards_read += len(cards)
            self._record_shown("feed", cards)
            for card in cards:
                if len(done) >= args.count:
                    break
                if card.item_id in done or (args.topic is not None
                                            and self.persona.interest_in(card.title, card.channel) != args.topic):
                    continue
                row: dict[str, Any] = {"reason": args.reason, "topic": args.topic, "page": pages_read}
                if args.sham:
                    self._record("actions", [{"verb": "not_interested_sham", "target": card.item_id,
                                              "outcome": "picked", "args": row}])
                else:
                    outcome = await self.driver.not_interested(self.page, card, args.reason)
                    used.append(outcome.reason)
                    row.update(reason_used=outcome.reason, reason_offered=outcome.reason == args.reason)
                    self._record("actions", [{"verb": "not_interested", "target": card.item_id, "outcome": "ok",
                                              "message": outcome.message, "args": row}])
                done.append(card.item_id)
        return {"wanted": args.count, "marked": 0 if args.sham else len(done), "picked": len(done),
                "shortfall": args.count - len(done), "pages_read": pages_read, "cards": cards_read,
                "reasons_used": sorted(set(used)), "items": done}

    async def _log_out(self, args: Any) -> dict[str, Any]:
        was_in = await self.driver.log_out(self.page)
        self._record("actions", [{"verb": "log_out", "target": self.spec.username,
                                  "outcome": "ok" if was_in else "not_logged_in"}])
        return {"logged_out": was_in}

    async def _log_in(self, args: Any) -> dict[str, Any]:
        return {"action": await self._sign_in()}

    async def _list_tags(self, args: Any) -> dict[str, Any]:
        tags = await self.driver.list_tags(self.page)
        self._record("observations", [{"kind": "tags", "value": tags}])
        return {"tags": tags}

    async def _delete_tag(self, args: Any) -> dict[str, Any]:
        tags = await self.driver.list_tags(self.page)
        self._record("observations", [{"kind": "tags", "value": tags}])
        if args.tag is not None:
            wanted = [args.tag]
        else:
            wanted = [t for t in tags if self.persona.interest_in(t, t) == args.topic]
        if not wanted or wanted[0] not in tags:
            raise ControlMissing(f"no tag {args.tag or args.topic!r} among the listed tags {tags}", url=self.page.url)
        after = await self.driver.delete_tag(self.page, wanted[0])
        self._record("actions", [{"verb": "delete_tag", "target": wanted[0], "outcome": "ok" if wanted[0] not in after else "still_listed"}])
        self._record("observations", [{"kind": "tags", "value": after}])
        return {"deleted": wanted[0], "tags_after": after}

    def _record_switch(self, verb: str, wanted: bool | None, state: SwitchState) -> dict[str, Any]:
        """A switch the puppet set (an action, unless it only read it) and what it then showed."""
        if wanted is not None:
            self._record("actions", [{"verb": verb, "target": "on" if wanted else "off",
                                      "outcome": "on" if state.on else "off"}])
        self._record("observations", [{"kind": verb, "value": dataclasses.asdict(state)}])
        return dataclasses.asdict(state)

    async def _personalization(self, args: Any) -> dict[str, Any]:
        state = await self.driver.personalization(self.page, args.enabled)
        return self._record_switch("personalization", args.enabled, state)

    async def _minors_mode(self, args: Any) -> dict[str, Any]:
        state = await self.driver.minors_mode(self.page, args.enabled, args.pin)
        return self._record_switch("minors_mode", args.enabled, state)

    async def _elderly_mode(self, args: Any) -> dict[str, Any]:
        state = await self.driver.elderly_mode(self.page, args.enabled)
        return self._record_switch("elderly_mode", args.enabled, state)

    async def _hot_list(self, args: Any) -> dict[str, Any]:
        entries = await self.driver.hot_list(self.page)
        self._record_shown("hot", entries)
        opened = 0
        for entry in entries[: args.open_entries]:
            # Each entry's own page, read as soon as possible after the list: the counts its heat
            # should follow. Linked to the snapshot by the list's page load and the entry's rank.
            counts = await self.driver.item_counts(self.page, entry)
            self._record("observations", [{"kind": "hot_entry", "value": {
                "load": entry.load, "rank": entry.rank, "heat_text": entry.heat_text, **dataclasses.asdict(counts)}}])
            opened += 1
        return {"entries": len(entries), "opened": opened}

    async def _view_products(self, args: Any) -> dict[str, Any]:
        prices = await self.driver.product_prices(self.page, args.limit)
        self._record("prices", [{"surface": "list", **dataclasses.asdict(p)} for p in prices])
        return {"products": len(prices)}

    async def _product_price(self, args: Any) -> dict[str, Any]:
        price = await self.driver.product_price(self.page, args.product)
        self._record("prices", [{"surface": "product", **dataclasses.asdict(price)}])
        return {"price": price.price}

    async def _buy(self, args: Any) -> dict[str, Any]:
        if args.product is not None:
            product = args.product
        else:
            listed = await self.driver.product_prices(self.page, 200)
            pick = min if args.strategy == "cheapest" else max
            product = pick(listed, key=lambda p: p.price).product_id
        spent, bought = 0.0, 0
        while bought < args.count or (args.until_spent is not None and spent < args.until_spent):
            paid = await self.driver.buy(self.page, product)
            spent += paid
            bought += 1
            self._record("actions", [{"verb": "buy", "target": product, "outcome": "ok", "args": {"paid": paid}}])
        return {"product": product, "bought": bought, "spent": round(spent, 2)}

    async def _claim_coupon(self, args: Any) -> dict[str, Any]:
        outcome = await self.driver.claim_coupon(self.page, args.coupon)
        row = dataclasses.asdict(outcome)
        row["claimed"] = int(row["claimed"])
        self._record("coupons", [row])
        return {"message": outcome.message, "claimed": outcome.claimed}

    async def _disclosures(self, args: Any) -> dict[str, Any]:
        pages = await self.driver.disclosures(self.page)
        rows = []
        for p in pages:
            value = dataclasses.asdict(p)
            if p.found and p.url:
                value["archive"] = await self._archive(p.url, f"disclosure-{p.name}")
            rows.append({"kind": "disclosure", "value": value})
        self._record("observations", rows)
        return {"found": [p.name for p in pages if p.found], "missing": [p.name for p in pages if not p.found]}

    async def _archive(self, url: str, label: str) -> list[dict[str, str]]:
        """A page as found, kept as evidence: screenshot and HTML under the run's artifacts, hashed."""
        if self.store.path is None:
            return []
        folder = self.store.path.parent / "artifacts"
        folder.mkdir(parents=True, exist_ok=True)
        stem = folder / f"{self.session_id}-{label}"
        with translate_errors(f"archiving {url}"):
            await self.page.goto(url)
            await self.page.screenshot(path=str(stem.with_suffix(".png")), full_page=True)
            stem.with_suffix(".html").write_text(await self.page.content(), encoding="utf-8")
        kept = []
        for kind, path in (("disclosure_screenshot", stem.with_suffix(".png")), ("disclosure_html", stem.with_suffix(".html"))):
            digest = self.store.add_artifact(self.where, kind, path)
            kept.append({"kind": kind, "path": str(path.relative_to(self.store.path.parent)), "sha256": digest})
        return kept
