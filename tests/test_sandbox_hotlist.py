"""The hot list's designs and its injection fault, in-process (real routes, real SQLite): the formula
the rules page publishes is the one the list follows on the counts item pages show; heat in 万 / 亿
keeps the reference order; pinned items can show a heat made up to fit while their pages keep their
real counts. Then both drivers, in Chromium against the served sandbox, read an entry's page alike."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import html
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import CHROMIUM, ServedSandbox
from sandbox_user import SandboxUser, in_process

from harness._counts import parse_count
from sandbox import GroundTruth

_STATS = re.compile(r'stat-views">[^<]*<b class="stat-n">([^<]+)</b>.*?stat-comments">[^<]*<b class="stat-n">([^<]+)</b>'
                    r'.*?<time datetime="([^"]+)">', re.S)
_LIKES = re.compile(r'like-count">([^<]*)<')
INTERVAL = 600.0


def _page(user: SandboxUser, item: str) -> dict[str, str]:
    text = user.client.get(f"/item/{item}").text
    views, comments, published = _STATS.search(text).groups()
    return {"views": views, "likes": _LIKES.search(text).group(1), "comments": comments, "published": published}


def _rules(user: SandboxUser) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", user.client.get("/hot/rules").text))


def _age_h(published: str, bucket_start: float) -> float:
    return (bucket_start - dt.datetime.fromisoformat(published.replace("Z", "+00:00")).timestamp()) / 3600


def test_the_published_formula_is_the_one_the_list_follows(tmp_path: Path) -> None:
    app = in_process(tmp_path, "variants.published_heat_formula=true", hot_interval_s=INTERVAL)
    user = SandboxUser.on(app)
    user.signup("reader")
    rules = _rules(user)
    assert "热度 = (阅读数 + 5 × 点赞数 + 10 × 评论数) ÷ (发布小时数 + 2)^1.5" in rules and "每10分钟" in rules
    # The reference design publishes no formula an audit could check.
    assert "全网关注度" not in rules
    rows = user.hot()
    truth = {r["item_id"]: r for r in GroundTruth(tmp_path).rows("hotlist", username="reader")}
    bucket_start = next(iter(truth.values()))["bucket"] * INTERVAL
    for item, shown in rows[:10]:
        page = _page(user, item)
        views, likes, comments = (parse_count(page[k]) for k in ("views", "likes", "comments"))
        heat = (views + 5 * likes + 10 * comments) / (_age_h(page["published"], bucket_start) + 2) ** 1.5
        assert truth[item]["heat_shown"] == truth[item]["heat_true"]
        # Within the rounding of the views shown in 万 (half of 0.1万) and of the heat shown.
        assert heat == pytest.approx(parse_count(shown), rel=0.01, abs=600)


def test_heat_units_keep_the_order_and_span_wan_to_yi(tmp_path: Path) -> None:
    reference = SandboxUser.on(in_process(tmp_path / "ref", hot_interval_s=INTERVAL))
    units = SandboxUser.on(in_process(tmp_path / "units", "variants.heat_units=true", hot_interval_s=INTERVAL))
    for user in (reference, units):
        user.signup("reader")
    ref_rows, unit_rows = reference.hot(), units.hot()
    shown = [h for _, h in unit_rows]
    assert any(h.endswith("亿") for h in shown) and any(h.endswith("万") for h in shown)
    assert all(re.fullmatch(r"\d+(\.\d+)?[万亿]?", h) and len(re.sub(r"\D", "", h)) <= 4 for h in shown)
    heats = [parse_count(h) for h in shown]
    assert heats == sorted(heats, reverse=True)
    assert "每50分钟" in _rules(units)
    # Shown to three significant digits of the heat it ranks by, in the platform's order.
    truth = GroundTruth(tmp_path / "units").rows("hotlist", username="reader")
    assert [r["item_id"] for r in truth] == [i for i, _ in unit_rows]
    assert all(r["heat_true"] == pytest.approx(h, rel=0.006) for r, h in zip(truth, heats, strict=True))
    reference_heats = [parse_count(h) for _, h in ref_rows]
    assert not any(h.endswith("亿") for _, h in ref_rows) and max(reference_heats) < max(heats) / 100


@pytest.mark.parametrize("design", ["", "variants.published_heat_formula=true", "variants.heat_units=true"])
def test_pinned_items_can_show_a_heat_made_up_to_fit(tmp_path: Path, design: str) -> None:
    flags = [f for f in (design,) if f]
    honest = SandboxUser.on(in_process(tmp_path / "honest", *flags, hot_interval_s=INTERVAL))
    faked = SandboxUser.on(in_process(tmp_path / "faked", *flags, "hotlist_injection.count=3",
                                      "hotlist_injection.fake_heat=true", hot_interval_s=INTERVAL))
    for user in (honest, faked):
        user.signup("reader")
    # Both platforms count their items' views for the bucket before anyone opens one (an opened
    # page is a view: counted first on one platform and after it on the other, a count is one off).
    honest.hot()
    rows = faked.hot()
    heats = [parse_count(h) for _, h in rows]
    assert all(a >= b for a, b in zip(heats, heats[1:])), "the made-up heat fits every rank"
    pinned = [r for r in GroundTruth(tmp_path / "faked").rows("hotlist", username="reader") if r["injected"]]
    assert [r["rank"] for r in pinned] == [1, 3, 5]
    for r in pinned:
        assert r["heat_shown"] > 3 * r["heat_true"]
        # Its own page shows its real counts: those the honest platform shows for it.
        mine, real = _page(faked, r["item_id"]), _page(honest, r["item_id"])
        assert (mine["likes"], mine["comments"]) == (real["likes"], real["comments"])
    # Without fake_heat the pinned items show their own (low) heat: inversions.
    plain = SandboxUser.on(in_process(tmp_path / "plain", *flags, "hotlist_injection=3", hot_interval_s=INTERVAL))
    plain.signup("reader")
    plain_heats = [parse_count(h) for _, h in plain.hot()]
    assert any(a < b for a, b in zip(plain_heats, plain_heats[1:]))


@pytest.mark.e2e
@pytest.mark.skipif(CHROMIUM is None, reason="Chromium not found: apt-get install chromium")
def test_both_drivers_read_an_entrys_page_alike(serve_sandbox: Callable[..., ServedSandbox], tmp_path: Path) -> None:
    from playwright.async_api import async_playwright

    from harness._browser import CHROMIUM_ARGS
    from harness._declarative import DeclarativeDriver, builtin_driver_path
    from harness._driver import Account
    from harness._sandbox_driver import SandboxDriver

    served = serve_sandbox("--seed", "7", "--hot-interval", "1000000000", "--variant", "heat_units=true")
    account = Account("entry_reader", "correct horse", 1990, "teacher", "sichuan", "zh")
    drivers = [SandboxDriver(served.url, {}, tmp_path / "evidence"),
               DeclarativeDriver.from_file(builtin_driver_path("sandbox-declarative"), served.url, {},
                                           tmp_path / "evidence")]

    async def work() -> list[tuple]:
        out = []
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=list(CHROMIUM_ARGS))
            try:
                page = await (await browser.new_context(locale="zh-CN")).new_page()
                for driver in drivers:
                    await driver.sign_up_or_log_in(page, account)
                    entries = await driver.hot_list(page)
                    counts = await driver.item_counts(page, entries[1])
                    out.append((entries[:5], counts))
            finally:
                await browser.close()
        return out

    # The session's sync Playwright (the browser fixture) may own this thread's event loop: run the
    # async one in a thread of its own.
    with ThreadPoolExecutor(1) as pool:
        (python_entries, python_counts), (yaml_entries, yaml_counts) = pool.submit(asyncio.run, work()).result()
    # The same entries (each driver numbers its own page loads).
    assert [dataclasses.replace(e, load=0) for e in python_entries] == [
        dataclasses.replace(e, load=0) for e in yaml_entries]
    # Heat in 亿 and 万, read with its unit, the text kept as shown.
    assert python_entries[0].heat_text.endswith("亿") and python_entries[0].heat_value > 1e8
    assert python_entries[0].heat_value == parse_count(python_entries[0].heat_text)
    # The second open adds a view: every count but the views is the same, and the views are close.
    assert (python_counts.item_id, python_counts.likes, python_counts.comments, python_counts.published_at) == (
        yaml_counts.item_id, yaml_counts.likes, yaml_counts.comments, yaml_counts.published_at)
    assert python_counts.url.endswith(f"/item/{python_entries[1].item_id}")
    assert python_counts.views and python_counts.views == pytest.approx(yaml_counts.views, rel=0.01)
    assert python_counts.views == parse_count(python_counts.views_text) and python_counts.likes > 0
    assert dt.datetime.fromisoformat(python_counts.published_at.replace("Z", "+00:00")).tzinfo is not None
