"""Every surface of the sandbox in a real browser, in Chinese and English, against uvicorn in its own process."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import REPO, ServedSandbox

from sandbox import GroundTruth

pytestmark = pytest.mark.e2e

WORDS = {
    "zh": {"signup": "还没有账号？注册", "start": "开始阅读", "liked": "已赞", "claimed": "领取成功",
           "off": "已关闭", "on": "已开启", "algo": "算法推荐服务公示", "rules": "热榜算法原理公示",
           "ni_done": "将减少此类内容推荐", "order": "下单成功", "login": "登录"},
    "en": {"signup": "No account? Sign up", "start": "Start reading", "liked": "Liked", "claimed": "Coupon claimed",
           "off": "Off", "on": "On", "algo": "Our recommendation algorithm", "rules": "How the trending list is ranked",
           "ni_done": "You'll see less like this", "order": "Order placed", "login": "Log in"},
}


def wait_for_rows(truth_path: Path, table: str, timeout_s: float = 10.0, **where: object) -> list[dict]:
    """Poll the ground truth until a row arrives (the browser reports some events asynchronously)."""
    deadline = time.monotonic() + timeout_s
    while True:
        with GroundTruth(truth_path) as truth:
            rows = truth.rows(table, **where)
        if rows or time.monotonic() > deadline:
            return rows
        time.sleep(0.1)


def signup(page, url: str, lang: str, username: str) -> None:
    page.goto(f"{url}/login?lang={lang}")
    page.get_by_text(WORDS[lang]["signup"]).click()
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "correct horse")
    page.fill("input[name=birth_year]", "1990")
    page.select_option("select[name=occupation]", "teacher")
    page.select_option("select[name=region]", "sichuan")
    page.click("form button[type=submit]")
    page.wait_for_url("**/onboarding")


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_surface_in_a_browser(serve_sandbox: Callable[..., ServedSandbox], new_context, lang: str) -> None:
    served = serve_sandbox()
    page = new_context(locale="zh-CN" if lang == "zh" else "en-US").new_page()
    url = served.url
    username = f"e2e_{lang}"

    # onboarding, feed, infinite scroll
    signup(page, url, lang, username)
    page.locator(".chip").nth(0).click()
    page.locator(".chip").nth(3).click()
    page.get_by_text(WORDS[lang]["start"]).click()
    page.wait_for_url(f"{url}/")
    cards = page.locator(".card")
    page.wait_for_load_state("networkidle")
    loaded = cards.count()
    assert loaded >= 10
    page.locator(".feed-sentinel").scroll_into_view_if_needed()
    page.wait_for_function(f"document.querySelectorAll('.card').length >= {loaded + 10}")
    page.wait_for_load_state("networkidle")
    shown = page.eval_on_selector_all(".card", "els => els.map(e => e.dataset.id)")
    logged = [r["item_id"] for r in GroundTruth(served.truth_path).rows("impressions", username=username, surface="feed")]
    assert logged == shown

    # not interested: the card goes, a toast says so, the ground truth has it
    first = cards.nth(0)
    rejected = first.get_attribute("data-id")
    first.locator(".card-more").click()
    first.locator("[data-reason=item]").click()
    page.wait_for_selector(".toast:not([hidden])")
    assert page.locator(".toast").inner_text() == WORDS[lang]["ni_done"]
    assert page.locator(f".card[data-id='{rejected}']").count() == 0
    assert wait_for_rows(served.truth_path, "feedback", username=username)[0]["item_id"] == rejected

    # item page: like, dwell reported on leaving
    target = cards.nth(0).get_attribute("data-id")
    cards.nth(0).locator(".card-link").click()
    page.wait_for_url(f"**/item/{target}")
    page.click(".like-btn")
    page.wait_for_function(f"document.querySelector('.like-label').textContent === {WORDS[lang]['liked']!r}")
    page.wait_for_timeout(300)  # the reader's dwell: behaviour under test, not a wait for a result
    page.go_back()
    dwell = wait_for_rows(served.truth_path, "engagements", username=username, kind="dwell", item_id=target)
    assert dwell and dwell[0]["value"] >= 300

    # hot list and its rules
    page.click(".tabbar a[href='/hot']")
    assert page.locator(".hot-row").count() == 50
    page.click(".hot-rules-link")
    assert page.locator("h1").inner_text() == WORDS[lang]["rules"]

    # shop: list price = product page price = paid price
    page.goto(f"{url}/shop")
    product = page.locator(".product").nth(0)
    listed = product.locator(".product-price").inner_text()
    product.locator(".product-link").click()
    assert page.locator(".product-page .product-price").inner_text() == listed
    page.click("form button[type=submit]")
    assert page.locator("h1").inner_text() == WORDS[lang]["order"]
    assert listed.lstrip("¥") in page.locator(".order-paid").inner_text()

    # coupons: claimed by script, toast and stock update
    page.goto(f"{url}/shop/coupons")
    coupon = page.locator(".coupon[data-id=all30]")
    stock_before = coupon.locator(".coupon-stock").inner_text()
    coupon.locator(".claim-btn").click()
    page.wait_for_selector(".toast:not([hidden])")
    assert page.locator(".toast").inner_text() == WORDS[lang]["claimed"]
    assert coupon.locator(".claim-btn").is_disabled()
    assert coupon.locator(".coupon-stock").inner_text() != stock_before

    # settings: tags, personalisation switch, minors mode, elderly mode, disclosure
    page.click(".tabbar a[href='/me']")
    page.click("a[href='/me/tags']")
    tags_before = page.locator(".tag-name").all_inner_texts()
    assert len(tags_before) >= 2
    page.locator(".tag-delete").nth(0).click()
    assert page.locator(".tag-name").all_inner_texts() == tags_before[1:]
    page.goto(f"{url}/me/privacy")
    page.click(".switch")
    assert page.locator(".setting-state").inner_text() == WORDS[lang]["off"]
    page.goto(f"{url}/me/minors")
    page.fill("input[name=pin]", "2580")
    page.click("form button[type=submit]")
    assert page.locator(".setting-state").inner_text() == WORDS[lang]["on"]
    page.goto(f"{url}/me")
    page.locator("form[action='/me/elderly'] .switch").click()
    assert "elderly" in page.locator("body").get_attribute("class")
    page.click("a[href='/about/algorithm']")
    assert page.locator("h1").inner_text() == WORDS[lang]["algo"]
    assert re.search(r"网信算备\d+号", page.locator(".filing-number").inner_text())
    switches = {(r["setting"], r["value"]) for r in GroundTruth(served.truth_path).rows("switches", username=username)}
    assert switches == {("personalized", 0), ("minors_mode", 1), ("elderly_mode", 1)}

    # language switch, log out, log back in
    other = "en" if lang == "zh" else "zh"
    page.goto(f"{url}/me")
    page.select_option("select[name=lang]", other)
    page.wait_for_function(f"document.documentElement.lang === {('zh-CN' if other == 'zh' else 'en')!r}")
    page.locator("form[action='/logout'] button").click()
    page.wait_for_url("**/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "correct horse")
    page.click("form button[type=submit]")
    page.wait_for_url(f"{url}/")
    assert page.locator(".card").count() >= 10


def test_forced_tags_in_a_browser(serve_sandbox: Callable[..., ServedSandbox], new_context) -> None:
    served = serve_sandbox("--fault", "forced_tags=2")
    page = new_context().new_page()
    signup(page, served.url, "zh", "forced")
    assert page.locator("button[value=skip]").count() == 0
    page.goto(f"{served.url}/")
    assert page.url.endswith("/onboarding")
    page.locator(".chip").nth(0).click()
    page.get_by_text(WORDS["zh"]["start"]).click()
    assert page.locator(".form-error").inner_text() == "请至少选择 2 个兴趣标签"


def test_permission_requests_are_made_by_the_page(serve_sandbox: Callable[..., ServedSandbox], new_context) -> None:
    served = serve_sandbox("--fault", "data_overreach=[geolocation, notifications]")
    context = new_context()
    # Record what the page asks for, as a user's browser would prompt for it.
    context.add_init_script("""
        window.__asked = [];
        const geo = navigator.geolocation.getCurrentPosition.bind(navigator.geolocation);
        navigator.geolocation.getCurrentPosition = (...a) => { window.__asked.push('geolocation'); return geo(...a); };
        const ask = Notification.requestPermission.bind(Notification);
        Notification.requestPermission = (...a) => { window.__asked.push('notifications'); return ask(...a); };
    """)
    page = context.new_page()
    signup(page, served.url, "zh", "watched")
    page.locator("button[value=skip]").click()
    page.wait_for_url(f"{served.url}/")
    assert sorted(page.evaluate("window.__asked")) == ["geolocation", "notifications"]


def test_redesign_works_in_a_browser(serve_sandbox: Callable[..., ServedSandbox], new_context) -> None:
    served = serve_sandbox("--fault", "chaos.redesign=true")
    page = new_context().new_page()
    signup(page, served.url, "en", "redesigned")
    page.locator("button[type=submit][value=skip]").click()
    page.wait_for_url(f"{served.url}/")
    assert page.locator(".card").count() == 0
    page.wait_for_load_state("networkidle")
    before = page.locator("[data-id]").count()
    card = page.locator("[data-id]").first
    card.locator("button[aria-label=More]").click()
    card.get_by_text("Show less like this").click()
    page.wait_for_function(f"document.querySelectorAll('[data-id]').length === {before - 1}")
    # The hashed stylesheet still styles the page: the tab bar sits at the top in the redesign.
    nav_top = page.locator("nav").bounding_box()["y"]
    assert nav_top < 100


def test_serve_rejects_a_bad_fault_before_binding(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "harness.cli", "sandbox", "serve", "--fault", "cocoon=3", "--data-dir", str(tmp_path)],
        capture_output=True, text=True, cwd=REPO, timeout=60,
    )
    assert result.returncode == 2
    assert "field 'cocoon'" in result.stderr
