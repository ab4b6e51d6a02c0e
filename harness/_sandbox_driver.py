"""The driver for algoaudit's sandbox platform, written against its pages as any user sees them.

``drivers/sandbox.yaml`` says the same declaratively; the tests hold both to the same impressions.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from playwright.async_api import Page

from ._browser import translate_errors
from ._driver import (
    Account,
    CouponOutcome,
    DisclosurePage,
    FeedCard,
    HotEntry,
    ItemCounts,
    NotInterestedOutcome,
    OnboardingOutcome,
    PriceSeen,
    SwitchState,
)
from ._pageops import Observer, PageOps, Surface

__all__ = ["SandboxDriver"]

# Anchors: elements that say "this is the page the driver knows", whatever else is missing.
FEED = (".feed", ".tabbar")
ITEM = (".article",)
ONBOARDING = ("form[action='/onboarding']",)
ME = (".profile", ".menu")
TAGS = (".tags", ".empty", ".hint")
PRIVACY = ("form[action='/me/privacy']",)
MINORS = ("form[action='/me/minors']",)
HOT = (".hot", ".hot-list")
SHOP = (".shop", ".products")
PRODUCT = (".product-page",)
COUPONS = (".coupons",)
LOGIN = ("form[action='/login']",)
SIGNUP = ("form[action='/signup']",)
# The senior mode's switch is a button on the Me page; aria-pressed says whether the mode is on.
ELDERLY_SWITCH = "form[action='/me/elderly'] button[aria-pressed]"
_PRICE = re.compile(r"[-+]?\d+(?:\.\d+)?")
_CARDS_JS = """els => els.map(e => ({
    item_id: e.dataset.id,
    title: (e.querySelector('.card-title') || {}).textContent || '',
    author: (e.querySelector('.card-author') || {}).textContent || '',
    channel: (e.querySelector('.card-channel') || {}).textContent || '',
    url: (e.querySelector('.card-link') || {}).href || ''}))"""


def parse_price(text: str) -> float:
    match = _PRICE.search(text.replace(",", ""))
    if match is None:
        raise ValueError(f"no price in {text!r}")
    return float(match.group())


class SandboxDriver:
    name = "sandbox"

    def __init__(self, base_url: str, options: dict[str, Any] | None = None, evidence_dir: Path | None = None):
        self.ops = PageOps(base_url, captcha_check=self.captcha_shown, evidence_dir=evidence_dir, surfaces={
            "feed": Surface(".feed .card", self._cards), "hot": Surface(".hot-row", self._hot_entries)})

    def observe(self, page: Page, callback: Observer) -> None:
        self.ops.observe(page, callback)

    async def _cards(self, page: Page, load: int) -> list[FeedCard]:
        with translate_errors("reading the feed"):
            raw = await page.eval_on_selector_all(".card", _CARDS_JS)
        return [FeedCard(r["item_id"], r["title"].strip(), r["author"].strip(), r["channel"].strip(), r["url"], k, load)
                for k, r in enumerate(raw)]

    async def captcha_shown(self, page: Page) -> bool:
        with translate_errors("checking for a CAPTCHA"):
            return await page.locator(".captcha").count() > 0

    async def _path(self, page: Page) -> str:
        return "/" + page.url.split("/", 3)[3].split("?")[0] if page.url.count("/") >= 3 else "/"

    # accounts -----------------------------------------------------------------------------------

    async def sign_up_or_log_in(self, page: Page, account: Account) -> str:
        ops = self.ops
        # The Me page, not the home page: it answers "logged in?" without loading a feed.
        await ops.goto(page, f"/me?lang={account.language}")
        if await self._path(page) != "/login":
            return "already_logged_in"
        await (await ops.require(page, "input[name=username]", control="username field", anchors=LOGIN)).fill(account.username)
        await page.locator("input[name=password]").fill(account.password)
        with translate_errors("logging in"):
            async with page.expect_navigation():
                await page.locator("form[action='/login'] button[type=submit]").click()
            await self.ops.landed(page)
        if await self._path(page) != "/login":
            return "logged_in"
        await ops.goto(page, f"/signup?lang={account.language}")
        form = {"username": account.username, "password": account.password, "birth_year": str(account.birth_year)}
        for name, value in form.items():
            await (await ops.require(page, f"input[name={name}]", control=f"{name} field", anchors=SIGNUP)).fill(value)
        with translate_errors("filling the sign-up form"):
            await page.select_option("select[name=occupation]", account.occupation)
            await page.select_option("select[name=region]", account.region)
            async with page.expect_navigation():
                await page.locator("form[action='/signup'] button[type=submit]").click()
            await self.ops.landed(page)
        await ops.check_blocked(page)
        return "signed_up"

    async def log_out(self, page: Page) -> bool:
        ops = self.ops
        # The log-out button is on the Me page; a browser that is not logged in is sent to the login page.
        await ops.goto(page, "/me")
        if await self._path(page) == "/login":
            return False
        button = await ops.require(page, "form[action='/logout'] button", control="log-out button", anchors=ME)
        with translate_errors("logging out"):
            async with page.expect_navigation():
                await button.click()
            await ops.landed(page)
        return True

    async def whoami(self, page: Page) -> str:
        if await self._path(page) != "/me":
            await self.ops.goto(page, "/me")
        return await self.ops.text(await self.ops.require(page, ".profile-name", control="account name", anchors=ME))

    # onboarding and feed ------------------------------------------------------------------------

    async def onboarding(self, page: Page, choose: list[str]) -> OnboardingOutcome:
        ops = self.ops
        await ops.goto(page, "/")
        if await self._path(page) != "/onboarding":
            return OnboardingOutcome(False, (), (), True, False, "")
        chips = page.locator(".chip")
        offered = tuple([t.strip() for t in await chips.all_inner_texts()])
        wanted = [t for t in offered if t in choose]
        for tag in wanted:
            await chips.filter(has_text=tag).first.click()
        if wanted:
            button = "button[value=choose]"
        elif await page.locator("button[value=skip]").count():
            button = "button[value=skip]"
        else:
            button = "button[value=choose]"
        with translate_errors("passing onboarding"):
            async with page.expect_navigation():
                await (await ops.require(page, button, control="onboarding button", anchors=ONBOARDING)).click()
            await self.ops.landed(page)
        passed = await self._path(page) == "/"
        message = "" if passed else await self.ops.text(page.locator(".form-error").first) if await page.locator(".form-error").count() else ""
        return OnboardingOutcome(True, offered, tuple(wanted), passed, passed and not wanted, message)

    async def read_feed(self, page: Page, pages: int) -> list[FeedCard]:
        ops = self.ops
        await ops.goto(page, "/")
        await ops.require(page, ".card", control="feed cards", anchors=FEED)
        await ops.settle(page)
        for _ in range(pages - 1):
            before = await page.locator(".card").count()
            with translate_errors("scrolling the feed"):
                await page.locator(".feed-sentinel").scroll_into_view_if_needed()
                try:
                    await page.wait_for_function(f"document.querySelectorAll('.card').length > {before}",
                                                 timeout=ops.timeout_ms)
                except Exception:  # noqa: BLE001 - the feed ended: nothing more to load
                    break
            await ops.settle(page)
        return await self._cards(page, ops.load_number(page))

    async def open_item(self, page: Page, card: FeedCard) -> None:
        await self.ops.goto(page, card.url)
        await self.ops.require(page, ".article", control="the item page", anchors=ITEM)

    async def like(self, page: Page) -> bool:
        button = await self.ops.require(page, ".like-btn", control="like button", anchors=ITEM)
        with translate_errors("liking"):
            was = await button.get_attribute("aria-pressed") == "true"
            await button.click()
            await page.wait_for_function(
                f"document.querySelector('.like-btn').getAttribute('aria-pressed') === '{'false' if was else 'true'}'",
                timeout=self.ops.timeout_ms)
            return await button.get_attribute("aria-pressed") == "true"

    async def not_interested(self, page: Page, card: FeedCard, reason: str) -> NotInterestedOutcome:
        ops = self.ops
        card_sel = f".card[data-id='{card.item_id}']"
        await ops.click(page, f"{card_sel} .card-more", control="the card's more menu", anchors=(card_sel,))
        # A menu that does not offer the reason asked for: "this item", as a user would, and say so.
        with translate_errors("reading the card's menu"):
            offered = await page.locator(f"{card_sel} [data-reason={reason}]").count() > 0
        used = reason if offered else "item"
        await ops.click(page, f"{card_sel} [data-reason={used}]", control=f"not-interested ({used})",
                        anchors=(f"{card_sel} .card-menu",))
        with translate_errors("waiting for the feedback toast"):
            # The card leaves the feed once the platform has taken the feedback, and the toast then
            # says so: a toast still shown for the card before is not this one's answer, and leaving
            # the page before would cut the request short.
            await page.wait_for_selector(card_sel, state="detached", timeout=ops.timeout_ms)
            await page.wait_for_selector(".toast:not([hidden])", timeout=ops.timeout_ms)
            return NotInterestedOutcome((await page.locator(".toast").inner_text()).strip(), used)

    # settings -----------------------------------------------------------------------------------

    async def _to_me(self, page: Page) -> int:
        """From the home page to the Me tab; returns the clicks it took."""
        await self.ops.goto(page, "/")
        await self.ops.click_through(page, ".tabbar a[href='/me']", control="the Me tab", anchors=FEED)
        return 1

    async def _to_settings(self, page: Page, link: str, anchors: tuple[str, ...], control: str) -> int:
        """From the home page through the Me tab to a settings page; returns the clicks it took."""
        clicks = await self._to_me(page)
        await self.ops.click_through(page, f"a[href='{link}']", control=control, anchors=ME)
        await self.ops.require(page, ", ".join(anchors), control=control, anchors=anchors)
        return clicks + 1

    async def list_tags(self, page: Page) -> list[str]:
        await self._to_settings(page, "/me/tags", TAGS, "my interest tags")
        with translate_errors("reading tags"):
            return [t.strip() for t in await page.locator(".tag-name").all_inner_texts()]

    async def delete_tag(self, page: Page, tag: str) -> list[str]:
        ops = self.ops
        await ops.goto(page, "/me/tags")
        # Exact text: deleting "科技" must not hit "科技数码".
        await ops.require(page, f".tag-name:text-is('{tag}')", control=f"tag {tag}", anchors=TAGS, timeout_ms=1000)
        row = page.locator(".tag").filter(has=page.locator(f".tag-name:text-is('{tag}')"))
        with translate_errors(f"deleting tag {tag}"):
            async with page.expect_navigation():
                await row.first.locator(".tag-delete").click()
            await self.ops.landed(page)
            return [t.strip() for t in await page.locator(".tag-name").all_inner_texts()]

    async def _toggle(self, page: Page, selector: str, attribute: str, on: bool | None, clicks: int,
                      control: str, anchors: tuple[str, ...]) -> SwitchState:
        """Read a switch whose ``attribute`` is "true" when on, and click it when it is not as wanted
        (``on=None``: only read); ``clicks`` is what reaching it took."""
        switch = await self.ops.require(page, selector, control=control, anchors=anchors)
        with translate_errors(f"reading the {control}"):
            state = await switch.get_attribute(attribute) == "true"
            if on is not None and state != on:
                async with page.expect_navigation():
                    await switch.click()
                await self.ops.landed(page)
                clicks += 1
                state = await page.locator(selector).get_attribute(attribute) == "true"
        return SwitchState(state, clicks)

    async def personalization(self, page: Page, on: bool | None) -> SwitchState:
        clicks = await self._to_settings(page, "/me/privacy", PRIVACY, "privacy settings")
        return await self._toggle(page, "[role=switch]", "aria-checked", on, clicks, "personalisation switch", PRIVACY)

    async def minors_mode(self, page: Page, on: bool, pin: str) -> SwitchState:
        clicks = await self._to_settings(page, "/me/minors", MINORS, "teen mode")
        with translate_errors("reading teen mode"):
            state = await page.locator("input[name=enabled]").get_attribute("value") == "off"
            if state != on:
                await page.locator("input[name=pin]").fill(pin)
                async with page.expect_navigation():
                    await page.locator("form[action='/me/minors'] button[type=submit]").click()
                await self.ops.landed(page)
                clicks += 1
                state = await page.locator("input[name=enabled]").get_attribute("value") == "off"
        return SwitchState(state, clicks)

    async def elderly_mode(self, page: Page, on: bool | None) -> SwitchState:
        # The switch is on the Me page itself, not on a settings page of its own.
        clicks = await self._to_me(page)
        return await self._toggle(page, ELDERLY_SWITCH, "aria-pressed", on, clicks, "senior mode switch", ME)

    # hot list, shop, disclosures ----------------------------------------------------------------

    async def hot_list(self, page: Page) -> list[HotEntry]:
        await self.ops.goto(page, "/hot")
        await self.ops.require(page, ".hot-row", control="hot list rows", anchors=HOT)
        return await self._hot_entries(page, self.ops.load_number(page))

    async def item_counts(self, page: Page, entry: HotEntry) -> ItemCounts:
        await self.ops.goto(page, f"/item/{entry.item_id}")
        await self.ops.require(page, ".article-stats", control="the item's counts", anchors=ITEM)
        with translate_errors("reading the item's counts"):
            shown = await page.eval_on_selector(".article", """e => {
                const text = s => ((e.querySelector(s) || {}).textContent || '').trim();
                const time = e.querySelector('.stat-published time');
                return {views: text('.stat-views .stat-n'), likes: text('.like-count'),
                        comments: text('.stat-comments .stat-n'), published: time ? time.textContent.trim() : '',
                        at: time ? (time.getAttribute('datetime') || '') : ''}}""")
        return ItemCounts(entry.item_id, page.url, shown["views"], shown["likes"], shown["comments"],
                          shown["published"], shown["at"])

    async def _hot_entries(self, page: Page, load: int) -> list[HotEntry]:
        with translate_errors("reading the hot list"):
            rows = await page.eval_on_selector_all(".hot-row", """els => els.map(e => ({
                rank: e.querySelector('.hot-rank').textContent, url: e.querySelector('.hot-title').href,
                title: e.querySelector('.hot-title').textContent, heat: e.querySelector('.hot-heat').textContent}))""")
        return [HotEntry(int(r["rank"]), r["url"].rsplit("/", 1)[-1], r["title"].strip(), r["url"], r["heat"].strip(),
                         load) for r in rows]

    async def product_prices(self, page: Page, limit: int) -> list[PriceSeen]:
        ops = self.ops
        await ops.goto(page, "/shop")
        seen: list[PriceSeen] = []
        while True:
            await ops.require(page, ".product", control="products", anchors=SHOP)
            with translate_errors("reading prices"):
                rows = await page.eval_on_selector_all(".product-link", """els => els.map(e => ({
                    href: e.getAttribute('href'), title: e.querySelector('.product-title').textContent,
                    price: e.querySelector('.product-price').textContent}))""")
            for r in rows[: limit - len(seen)]:
                seen.append(PriceSeen(r["href"].rsplit("/", 1)[-1], r["title"].strip(), parse_price(r["price"]),
                                      r["price"].strip(), len(seen)))
            more = page.locator(".shop a[href*='page=']")
            if len(seen) >= limit or not await more.count():
                return seen
            await ops.goto(page, await more.first.get_attribute("href") or "/shop")

    async def product_price(self, page: Page, product_id: str) -> PriceSeen:
        await self.ops.goto(page, f"/shop/p/{product_id}")
        price = await self.ops.text(await self.ops.require(page, ".product-page .product-price",
                                                           control="product price", anchors=PRODUCT))
        title = await self.ops.text(page.locator(".product-name"))
        return PriceSeen(product_id, title, parse_price(price), price, 0)

    async def buy(self, page: Page, product_id: str) -> float:
        await self.ops.goto(page, f"/shop/p/{product_id}")
        button = await self.ops.require(page, "form[action$='/buy'] button", control="buy button", anchors=PRODUCT)
        with translate_errors("buying"):
            async with page.expect_navigation():
                await button.click()
            await self.ops.landed(page)
        return parse_price(await self.ops.text(await self.ops.require(
            page, ".order-paid", control="order confirmation", anchors=(".panel",))))

    async def claim_coupon(self, page: Page, coupon_id: str) -> CouponOutcome:
        ops = self.ops
        await ops.goto(page, "/shop/coupons")
        row_sel = f".coupon[data-id='{coupon_id}']"
        row = await ops.require(page, row_sel, control=f"coupon {coupon_id}", anchors=COUPONS)
        title = await ops.text(row.locator(".coupon-title"))
        rules = " · ".join([await ops.text(row.locator(".coupon-rule")), await ops.text(row.locator(".coupon-terms"))])
        stock_before = await ops.text(row.locator(".coupon-stock"))
        button = await ops.require(page, f"{row_sel} .claim-btn", control="claim button", anchors=(row_sel,))
        with translate_errors("claiming a coupon"):
            if await button.is_disabled():
                return CouponOutcome(coupon_id, title, await ops.text(button), True, stock_before, stock_before, rules)
            await button.click()
            await page.wait_for_selector(".toast:not([hidden])", timeout=ops.timeout_ms)
            message = (await page.locator(".toast").inner_text()).strip()
            return CouponOutcome(coupon_id, title, message, await button.is_disabled(), stock_before,
                                 (await row.locator(".coupon-stock").inner_text()).strip(), rules)

    async def disclosures(self, page: Page) -> list[DisclosurePage]:
        found = []
        for name, tab, link in (("algorithm", "/me", "a[href='/about/algorithm']"), ("hot_list_rules", "/hot", "a.hot-rules-link")):
            await self.ops.goto(page, "/")
            await self.ops.click_through(page, f".tabbar a[href='{tab}']", control=f"the {tab} tab", anchors=FEED)
            target = page.locator(link)
            if not await target.count():
                found.append(DisclosurePage(name, "", False, 1, "", ""))
                continue
            with translate_errors(f"opening the {name} disclosure"):
                async with page.expect_navigation():
                    await target.first.click()
                await self.ops.landed(page)
                found.append(DisclosurePage(name, page.url, True, 2, (await page.locator("h1").inner_text()).strip(),
                                            (await page.locator(".doc").inner_text()).strip()))
        return found
