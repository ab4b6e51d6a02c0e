"""The data-collection watcher C11 rests on, in a real Chromium: every permission-gated call a page's
script makes is reported with its page, and every request to another host than the target's."""

from __future__ import annotations

import asyncio

import pytest
from conftest import CHROMIUM

from harness._browser import CHROMIUM_ARGS, watch_data_collection

pytestmark = pytest.mark.e2e

TARGET = "https://platform.test/"
PAGE = """<!doctype html><title>feed</title><script>
navigator.geolocation.getCurrentPosition(function () {}, function () {});
Notification.requestPermission().catch(function () {});
navigator.clipboard.readText().catch(function () {});
navigator.mediaDevices.getUserMedia({video: true, audio: true}).catch(function () {});
navigator.permissions.query({name: 'geolocation'}).catch(function () {});
window.__done = true;
</script><img src="https://cdn.tracker.example/pixel.gif">"""


async def _watch() -> tuple[list[tuple[str, ...]], list[tuple[str, ...]]]:
    from playwright.async_api import Route, async_playwright

    asked: list[tuple[str, ...]] = []
    third: list[tuple[str, ...]] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=list(CHROMIUM_ARGS), headless=True)
        try:
            page = await browser.new_page()
            await watch_data_collection(page, TARGET, lambda *a: asked.append(a), lambda *a: third.append(a))

            # The network is the test's: the target's page, and an empty answer for anything else.
            async def answer(route: Route) -> None:
                if route.request.url == TARGET:
                    await route.fulfill(body=PAGE, content_type="text/html")
                else:
                    await route.fulfill(status=204, body="")

            await page.route("**/*", answer)
            await page.goto(TARGET)
            await page.wait_for_function("window.__done === true")
            # A round trip after the calls: the binding's reports, sent before it, have arrived.
            await page.evaluate("fetch('https://api.other.example/collect').then(r => r.status)")
        finally:
            await browser.close()
    return asked, third


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium not found: apt-get install chromium, or set ALGOAUDIT_CHROMIUM")
def test_permission_calls_and_third_party_hosts_are_reported() -> None:
    asked, third = asyncio.run(_watch())
    apis = sorted(api for api, _, _ in asked)
    assert apis == ["camera+microphone", "clipboard", "geolocation", "notifications", "permissions_query"]
    assert all(url == TARGET for _, _, url in asked)
    assert ("geolocation", "getCurrentPosition", TARGET) in asked
    hosts = {host for host, _, _, _ in third}
    assert hosts == {"cdn.tracker.example", "api.other.example"}
    assert {kind for _, _, kind, _ in third} == {"image", "fetch"}
