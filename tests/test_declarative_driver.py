"""The declarative driver: driver files are checked when loaded, every mistake named by file, line and
field; the packaged sandbox.yaml drives the sandbox exactly as the hand-written SandboxDriver does."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from conftest import ServedSandbox
from playwright.async_api import Page, async_playwright

from harness._browser import CHROMIUM_ARGS, chromium_path
from harness._declarative import DeclarativeDriver, builtin_driver_path
from harness._driver import Account, Driver, FeedCard, NotInterestedOutcome, SwitchState
from harness._runner import make_driver
from harness._sandbox_driver import SandboxDriver
from harness.errors import Blocked, ConfigError, ControlMissing, DriverDrift

SANDBOX_YAML = builtin_driver_path("sandbox-declarative")
FROZEN = ("--seed", "7", "--hot-interval", "1000000000")
PROMO_INTERVAL_S = 600  # the sandbox's promotions change with the wall clock, every 10 minutes
ACCOUNT = Account("parity_user", "correct horse", 1990, "teacher", "sichuan", "zh")


# loading --------------------------------------------------------------------------------------

def test_the_packaged_sandbox_driver_loads_and_is_a_driver(tmp_path: Path) -> None:
    assert SANDBOX_YAML is not None and SANDBOX_YAML.name == "sandbox.yaml"
    assert builtin_driver_path("no-such-driver") is None
    driver = make_driver("sandbox-declarative", "http://127.0.0.1:9", {"dwell_scale": 0.1}, tmp_path)
    assert isinstance(driver, DeclarativeDriver) and isinstance(driver, Driver)
    assert driver.name == "sandbox-declarative"


def mutate(old: str, new: str) -> str:
    """The packaged sandbox.yaml with one mistake made in it."""
    text = SANDBOX_YAML.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    return text.replace(old, new)


def load_error(tmp_path: Path, text: str) -> tuple[Path, str]:
    path = tmp_path / "driver.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        DeclarativeDriver.from_file(path, "http://127.0.0.1:9")
    return path, str(caught.value)


def line_of(text: str, *starts: str) -> int:
    """The number of the line starting with the last of ``starts``, each found after the one before."""
    lines = text.splitlines()
    number = 0
    for start in starts:
        number = next(n for n in range(number, len(lines)) if lines[n].startswith(start))
    return number + 1


# (mistake, old text, new text, how the line starts (after other lines), the field named, the problem)
MISTAKES = [
    ("unknown primitive", "    - settle\n    - repeat", "    - setle\n    - repeat", ["    - setle"],
     "verbs.read_feed.2", "unknown step 'setle'; a step is one of: goto, on_page, click"),
    ("unknown page", "    - goto: hot\n", "    - goto: hott\n", ["    - goto: hott"], "verbs.hot_list.0.goto",
     "unknown page 'hott'; the pages are: home, login"),
    ("unknown placeholder", 'value: "{pin}"', 'value: "{pim}"', ["  minors_mode:", "        - fill:"],
     "verbs.minors_mode.5.then.0.fill.value", "unknown placeholder {pim}; minors_mode has: {clicks}, {on}"),
    ("unknown placeholder in a page's path", '  product: {path: "/shop/p/{product_id}"',
     '  product: {path: "/shop/p/{product}"', ["  product_price:", "    - goto: product"],
     "verbs.product_price.0.goto", "the path of page 'product' uses {product}, which product_price does not have"),
    ("misspelt verb", "  whoami:\n", "  who_am_i:\n", ["  who_am_i:"], "verbs.who_am_i",
     "unknown field; expected one of: sign_up_or_log_in, whoami,"),
    ("wrong type", "{selector: .card, control: feed cards}", "{selector: .card, control: feed cards, timeout_ms: soon}",
     ["  read_feed:", "    - wait_for:"], "verbs.read_feed.1.wait_for.timeout_ms", "must be a number (got 'soon')"),
    ("wrong shape", '    - repeat: "{pages} - 1"', "    - repeat: many", ["    - repeat: many"],
     "verbs.read_feed.3.repeat", "must be a whole number, or a placeholder with an optional + or - number"),
    ("a key for a step it does not have", "    - goto: hot\n", "    - goto: hot\n      then: []\n",
     ["    - goto: hot"], "verbs.hot_list.0", "a goto step has no 'then'; its keys are: goto"),
    ("YAML reads on as true", '- return: {"on": "{state}", clicks: "{clicks}"}\n\n  minors_mode',
     '- return: {on: "{state}", clicks: "{clicks}"}\n\n  minors_mode', ["    - return: {on:"],
     "verbs.personalization.6.return", "a key reads as true or false: YAML takes a bare on, off, yes or no"),
    ("wrong record fields", "      heat_text: {selector: .hot-heat, text: true}",
     "      heat: {selector: .hot-heat, text: true}", ["surfaces:", "  hot:", "    fields:"], "surfaces.hot.fields",
     "a HotEntry lacks heat_text and has no field heat"),
    ("wrong return fields", 'price_text: "{price}"}', 'price_txt: "{price}"}', ["    - return: {product_id:"],
     "verbs.product_price.3.return", "a PriceSeen lacks price_text and has no field price_txt"),
    ("no return", '    - return: "{shown}"\n', "", ["  whoami:", "    - extract:"], "verbs.whoami.2",
     "whoami must end with a return step"),
    ("control before any page", "  like:\n    - on_page: item\n", "  like:\n", ["  like:", "    - extract:"],
     "verbs.like.0", "which page is this on?"),
    ("until_more outside a repeat", "    - extract_list: {name: cards, surface: feed}",
     "    - scroll_into_view: {selector: .feed-sentinel, until_more: .card}\n"
     "    - extract_list: {name: cards, surface: feed}", ["    - scroll_into_view:"],
     "verbs.read_feed.4.scroll_into_view.until_more", "until_more belongs inside a repeat"),
    ("a login's old yes-or-no result", "        - return: already_logged_in\n", "        - return: false\n",
     ["  sign_up_or_log_in:", "        - return: false"], "verbs.sign_up_or_log_in.1.then.0.return",
     "sign_up_or_log_in returns one of signed_up, logged_in, already_logged_in, not 'false'"),
    ("duplicate key", "  hot: {path: /hot,", "  shop: {path: /hot,", ["  shop: {path: /shop"], "pages.shop",
     "duplicate key (first on line"),
]


@pytest.mark.parametrize(("old", "new", "starts", "field", "problem"), [m[1:] for m in MISTAKES],
                         ids=[m[0] for m in MISTAKES])
def test_a_mistake_names_file_line_and_field(tmp_path: Path, old: str, new: str, starts: list[str], field: str,
                                             problem: str) -> None:
    text = mutate(old, new)
    path, message = load_error(tmp_path, text)
    assert f"{path}:{line_of(text, *starts)}: field {field!r}: {problem}" in message


def test_a_missing_verb_is_named(tmp_path: Path) -> None:
    original = SANDBOX_YAML.read_text(encoding="utf-8")
    start = original.index("  whoami:")
    block = original[start:original.index("  onboarding:", start)]
    text = mutate(block, "")
    path, message = load_error(tmp_path, text)
    assert message == f"{path}:{line_of(text, 'verbs:')}: field 'verbs.whoami': required field is missing"


def test_bad_yaml_names_file_and_line(tmp_path: Path) -> None:
    text = mutate("{selector: .hot-row, control: hot list rows}", "{selector: .hot-row, control: hot list rows")
    path, message = load_error(tmp_path, text)
    opened = line_of(text, "  hot_list:", "    - wait_for:")
    # The parser notices on the next line; it names the line where the mapping was opened too.
    assert message == (f"{path}:{opened + 1}: invalid YAML: while parsing a flow mapping at line {opened}, "
                       "expected ',' or '}', but got ':'")


def test_every_mistake_in_a_file_is_reported_at_once(tmp_path: Path) -> None:
    text = mutate("    - goto: hot\n", "    - goto: hott\n")
    text = text.replace("    - settle\n    - repeat", "    - setle\n    - repeat")
    # The shape of the steps first; what they refer to once the shape is right.
    path, message = load_error(tmp_path, text)
    assert message.splitlines() == [
        f"{path}:{line_of(text, '    - setle')}: field 'verbs.read_feed.2': unknown step 'setle'; a step is one of: "
        "goto, on_page, click, fill, select, wait_for, scroll_into_view, settle, expect_navigation, extract, "
        "extract_list, set, append, if, repeat, for_each, return"]
    text = text.replace("    - setle\n", "    - settle\n").replace('value: "{pin}"', 'value: "{pim}"')
    path, message = load_error(tmp_path, text)
    assert [line.split(": field ")[0] for line in message.splitlines()] == [
        f"{path}:{line_of(text, '  minors_mode:', '        - fill:')}", f"{path}:{line_of(text, '    - goto: hott')}"]


# end to end -----------------------------------------------------------------------------------

def portless(value: Any) -> Any:
    """Results with addresses reduced to their paths: the two sandboxes listen on different ports."""
    if isinstance(value, list | tuple):
        return [portless(item) for item in value]
    if dataclasses.is_dataclass(value) and hasattr(value, "url"):
        return dataclasses.replace(value, url=urlsplit(value.url).path)
    return value


Call = Callable[[Driver, Page, int], Awaitable[Any]]


class Twins:
    """The same account driven by the two drivers, each against its own sandbox, one verb at a time."""

    def __init__(self, drivers: list[Driver], pages: list[Page]):
        self.drivers = drivers
        self.pages = pages
        self.shown: list[list[tuple[str, int, list[str]]]] = [[], []]
        for side, (driver, page) in enumerate(zip(drivers, pages, strict=True)):
            driver.observe(page, lambda surface, items, side=side: self.shown[side].append(
                (surface, items[0].load if items else -1, [item.item_id for item in items])))

    async def _each(self, call: Call) -> list[Any]:
        return [await call(driver, page, side) for side, (driver, page) in enumerate(zip(self.drivers, self.pages))]

    async def both(self, call: Call) -> list[Any]:
        """The call on each side (side 0, then 1); the results must be equal. Both are returned, for
        later calls that need their own side's (a card's address has its sandbox's port)."""
        results = await self._each(call)
        assert portless(results[0]) == portless(results[1])
        return results

    async def both_in_one_promotion(self, call: Call) -> list[Any]:
        """Prices change when the promotions do: a pair of calls that straddles a change is made again."""
        while True:
            period = time.time() // PROMO_INTERVAL_S
            results = await self._each(call)
            if time.time() // PROMO_INTERVAL_S == period:
                assert portless(results[0]) == portless(results[1])
                return results


async def with_pages(count: int, work: Callable[[list[Page]], Awaitable[None]]) -> None:
    """``count`` pages, each in a browser context of its own (a puppet's own cookies)."""
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium_path(), args=list(CHROMIUM_ARGS))
        try:
            await work([await (await browser.new_context(locale="zh-CN")).new_page() for _ in range(count)])
        finally:
            await browser.close()


def declarative(served: ServedSandbox, tmp_path: Path, **options: Any) -> DeclarativeDriver:
    return DeclarativeDriver.from_file(SANDBOX_YAML, served.url, options, tmp_path / "evidence")


@pytest.mark.e2e
def test_both_drivers_see_the_same_pages(serve_sandbox: Callable[..., ServedSandbox], tmp_path: Path) -> None:
    python_side = serve_sandbox(*FROZEN, name="sandbox-python")
    yaml_side = serve_sandbox(*FROZEN, name="sandbox-yaml")
    drivers: list[Driver] = [SandboxDriver(python_side.url, {}, tmp_path / "evidence"),
                             declarative(yaml_side, tmp_path)]

    async def work(pages: list[Page]) -> None:
        twins = Twins(drivers, pages)
        assert await twins.both(lambda d, p, _: d.sign_up_or_log_in(p, ACCOUNT)) == ["signed_up", "signed_up"]
        assert (await twins.both(lambda d, p, _: d.whoami(p)))[0] == ACCOUNT.username
        onboarded = (await twins.both(lambda d, p, _: d.onboarding(p, ["体育", "科技"])))[0]
        assert onboarded.shown and set(onboarded.chosen) == {"体育", "科技"} and not onboarded.skipped

        feeds = await twins.both(lambda d, p, _: d.read_feed(p, 2))
        assert len(feeds[0]) >= 20 and [c.position for c in feeds[0]] == list(range(len(feeds[0])))
        await twins.both(lambda d, p, side: d.open_item(p, feeds[side][0]))
        assert await twins.both(lambda d, p, _: d.like(p)) == [True, True]

        feeds = await twins.both(lambda d, p, _: d.read_feed(p, 1))
        outcome = (await twins.both(lambda d, p, side: d.not_interested(p, feeds[side][1], "item")))[0]
        assert outcome == NotInterestedOutcome("将减少此类内容推荐", "item")
        # A card menu without the reason asked for (as on a platform that has none): "this item", said so.
        await twins.both(lambda d, p, _: p.evaluate(
            "document.querySelectorAll('.card-menu [data-reason=author]').forEach(e => e.remove())"))
        outcome = (await twins.both(lambda d, p, side: d.not_interested(p, feeds[side][2], "author")))[0]
        assert outcome == NotInterestedOutcome("将减少此类内容推荐", "item")

        tags = (await twins.both(lambda d, p, _: d.list_tags(p)))[0]
        assert sorted(tags) == ["体育", "科技"]
        assert (await twins.both(lambda d, p, _: d.delete_tag(p, tags[0])))[0] == tags[1:]

        assert (await twins.both(lambda d, p, _: d.personalization(p, False)))[0] == SwitchState(False, 3)
        assert (await twins.both(lambda d, p, _: d.personalization(p, None)))[0] == SwitchState(False, 2)
        assert (await twins.both(lambda d, p, _: d.minors_mode(p, True, "2468")))[0] == SwitchState(True, 3)
        assert (await twins.both(lambda d, p, _: d.elderly_mode(p, None)))[0] == SwitchState(False, 1)
        assert (await twins.both(lambda d, p, _: d.elderly_mode(p, True)))[0] == SwitchState(True, 2)

        hot = (await twins.both(lambda d, p, _: d.hot_list(p)))[0]
        assert len(hot) >= 10 and all(entry.heat_text for entry in hot)

        prices = (await twins.both_in_one_promotion(lambda d, p, _: d.product_prices(p, 10)))[0]
        assert len(prices) == 10 and [p.position for p in prices] == list(range(10))
        product = prices[0].product_id
        seen = (await twins.both_in_one_promotion(lambda d, p, _: d.product_price(p, product)))[0]
        assert seen.product_id == product and seen.price > 0
        paid = (await twins.both_in_one_promotion(lambda d, p, _: d.buy(p, product)))[0]
        assert paid > 0

        coupon = (await twins.both(lambda d, p, _: d.claim_coupon(p, "all30")))[0]
        assert coupon.claimed and coupon.stock_before != coupon.stock_after
        again = (await twins.both(lambda d, p, _: d.claim_coupon(p, "all30")))[0]
        assert again.claimed and again.stock_before == again.stock_after

        found = (await twins.both(lambda d, p, _: d.disclosures(p)))[0]
        assert [(d.name, d.found, d.clicks) for d in found] == [("algorithm", True, 2), ("hot_list_rules", True, 2)]

        # Logged out, the browser logs in again (a returning user); a second log-out finds nothing to do.
        assert await twins.both(lambda d, p, _: d.log_out(p)) == [True, True]
        assert await twins.both(lambda d, p, _: d.log_out(p)) == [False, False]
        assert await twins.both(lambda d, p, _: d.sign_up_or_log_in(p, ACCOUNT)) == ["logged_in", "logged_in"]
        assert await twins.both(lambda d, p, _: d.sign_up_or_log_in(p, ACCOUNT)) == ["already_logged_in"] * 2

        # Every page load was counted and every list it showed reported at the same points.
        assert twins.shown[0] == twins.shown[1]
        assert {surface for surface, _, _ in twins.shown[0]} == {"feed", "hot"}

    asyncio.run(with_pages(2, work))


@pytest.mark.e2e
def test_a_redesigned_platform_is_drift_not_a_crash(serve_sandbox: Callable[..., ServedSandbox],
                                                    tmp_path: Path) -> None:
    served = serve_sandbox("--fault", "chaos.redesign=true")
    driver = declarative(served, tmp_path, timeout_ms=2000)

    async def work(pages: list[Page]) -> None:
        page = pages[0]
        # Forms and buttons are found by name and action, which the redesign keeps: these still work.
        assert await driver.sign_up_or_log_in(page, ACCOUNT)
        assert (await driver.onboarding(page, [])).skipped
        # The feed's classes are gone, anchors too: the page is not the one the driver knows.
        with pytest.raises(DriverDrift) as caught:
            await driver.read_feed(page, 1)
        assert caught.value.screenshot is not None and caught.value.screenshot.exists()
        card = FeedCard("i1", "a title", "an author", "a channel", f"{served.url}/item/i1", 0)
        with pytest.raises(DriverDrift):
            await driver.not_interested(page, card, "item")

    asyncio.run(with_pages(1, work))


@pytest.mark.e2e
def test_missing_disclosures_are_reported_as_missing(serve_sandbox: Callable[..., ServedSandbox],
                                                     tmp_path: Path) -> None:
    served = serve_sandbox("--fault", "disclosure_missing=true")
    drivers: list[Driver] = [SandboxDriver(served.url), declarative(served, tmp_path)]

    async def work(pages: list[Page]) -> None:
        seen = []
        for k, (driver, page) in enumerate(zip(drivers, pages, strict=True)):
            await driver.sign_up_or_log_in(page, dataclasses.replace(ACCOUNT, username=f"discloser_{k}"))
            await driver.onboarding(page, [])
            seen.append(await driver.disclosures(page))
        assert seen[0] == seen[1]
        assert [(d.name, d.found, d.clicks, d.url) for d in seen[1]] == [
            ("algorithm", False, 1, ""), ("hot_list_rules", False, 1, "")]

    asyncio.run(with_pages(2, work))


@pytest.mark.e2e
def test_a_missing_elderly_mode_is_a_missing_control(serve_sandbox: Callable[..., ServedSandbox],
                                                     tmp_path: Path) -> None:
    served = serve_sandbox("--variant", "no_elderly_mode=true")
    drivers: list[Driver] = [SandboxDriver(served.url), declarative(served, tmp_path, timeout_ms=2000)]

    async def work(pages: list[Page]) -> None:
        for k, (driver, page) in enumerate(zip(drivers, pages, strict=True)):
            await driver.sign_up_or_log_in(page, dataclasses.replace(ACCOUNT, username=f"senior_{k}"))
            await driver.onboarding(page, [])
            with pytest.raises(ControlMissing, match="senior mode switch"):
                await driver.elderly_mode(page, True)

    asyncio.run(with_pages(2, work))


@pytest.mark.e2e
def test_a_captcha_wall_blocks(serve_sandbox: Callable[..., ServedSandbox], tmp_path: Path) -> None:
    served = serve_sandbox("--fault", "chaos.captcha_after=6")
    driver = declarative(served, tmp_path)

    async def work(pages: list[Page]) -> None:
        page = pages[0]
        await driver.sign_up_or_log_in(page, ACCOUNT)
        await driver.onboarding(page, [])
        with pytest.raises(Blocked):
            for _ in range(10):
                await driver.hot_list(page)

    asyncio.run(with_pages(1, work))
