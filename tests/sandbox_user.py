"""A scripted sandbox user over HTTP, for the sandbox's own tests of its faults and ground truth.

It knows the sandbox's markup (these are the platform's own tests); the harness never does this.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import httpx
from starlette.testclient import TestClient

from sandbox import SandboxConfig, create_app, load_faults

_CARD = re.compile(r'<(?:article|div) class="[^"]*" data-id="([^"]+)">')
_HOT_ROW = re.compile(r'href="/item/([^"]+)">[^<]*</a>\s*<span class="[^"]*" title="[^"]*">([^<]+)</span>')
_PRICE = re.compile(r'href="/shop/p/([^"]+)">.*?¥([0-9.]+)</span>', re.S)
_TAG = re.compile(r'action="/me/tags/([^/]+)/delete"')

IPHONE_UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"
DESKTOP_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120 Safari/537.36"


def in_process(data_dir: Path, *fault_flags: str, seed: int = 0, corpora: tuple[Path, ...] = (), **config: object):
    """A sandbox app in this process (real SQLite, real routes), for logic tests."""
    faults = load_faults(None, list(fault_flags))
    # Heat and promotions change with the clock; frozen unless a test sets them, so results don't
    # depend on when the test runs.
    config.setdefault("hot_interval_s", 1e12)
    config.setdefault("promo_interval_s", 1e12)
    return create_app(SandboxConfig(data_dir=data_dir, faults=faults, seed=seed, corpora=corpora, **config))


class SandboxUser:
    def __init__(self, client: httpx.Client):
        self.client = client

    @classmethod
    def on(cls, app_or_url: object, user_agent: str = DESKTOP_UA) -> SandboxUser:
        headers = {"User-Agent": user_agent}
        if isinstance(app_or_url, str):
            return cls(httpx.Client(base_url=app_or_url, headers=headers, follow_redirects=True, timeout=30))
        return cls(TestClient(app_or_url, headers=headers, follow_redirects=True))  # type: ignore[arg-type]

    def signup(self, username: str, *, birth_year: int = 1995, occupation: str = "", region: str = "beijing",
               lang: str = "zh", skip_onboarding: bool = True, tags: tuple[str, ...] = ()) -> httpx.Response:
        self.client.get(f"/signup?lang={lang}")
        r = self.client.post("/signup", data={
            "username": username, "password": "secret-pw", "birth_year": str(birth_year),
            "occupation": occupation, "region": region,
        })
        assert r.status_code == 200, r.text[:500]
        if tags:
            return self.onboard(list(tags))
        if skip_onboarding:
            return self.client.post("/onboarding", data={"action": "skip"})
        return r

    def onboard(self, tags: list[str], action: str = "choose") -> httpx.Response:
        return self.client.post("/onboarding", data={"tags": tags, "action": action})

    def new_session(self) -> None:
        """End the browser session: the visit cookie goes, as when a browser is closed."""
        self.client.cookies.delete("gl_visit")

    @staticmethod
    def cards(page_html: str) -> list[str]:
        return _CARD.findall(page_html)

    def feed(self, pages: int = 1) -> list[str]:
        r = self.client.get("/")
        assert r.status_code == 200, r.status_code
        ids = _CARD.findall(r.text)
        for page in range(2, pages + 1):
            more = self.client.get(f"/feed/more?page={page}")
            assert more.status_code == 200
            ids += _CARD.findall(more.text)
        return ids

    def read(self, item_id: str, dwell_ms: float = 20_000, like: bool = False) -> None:
        assert self.client.get(f"/item/{item_id}").status_code == 200
        if like:
            assert self.client.post("/api/like", json={"item": item_id}).status_code == 200
        assert self.client.post("/api/dwell", json={"item": item_id, "ms": dwell_ms}).status_code == 200

    def not_interested(self, item_id: str, reason: str = "item") -> dict:
        r = self.client.post("/api/feedback", json={"item": item_id, "reason": reason})
        assert r.status_code == 200, r.text
        return r.json()

    def tags(self) -> list[str]:
        return _TAG.findall(self.client.get("/me/tags").text)

    def delete_tag(self, code: str) -> None:
        assert self.client.post(f"/me/tags/{code}/delete").status_code == 200

    def set_personalized(self, on: bool) -> str:
        return self.client.post("/me/privacy", data={"personalized": "on" if on else "off"}).text

    def personalized_shown_on(self) -> bool:
        return 'aria-checked="true"' in self.client.get("/me/privacy").text

    def set_minors(self, on: bool, pin: str = "1234") -> httpx.Response:
        return self.client.post("/me/minors", data={"enabled": "on" if on else "off", "pin": pin})

    def hot(self) -> list[tuple[str, str]]:
        return [(i, html.unescape(h)) for i, h in _HOT_ROW.findall(self.client.get("/hot").text)]

    def prices(self, path: str = "/shop") -> dict[str, float]:
        return {pid: float(p) for pid, p in _PRICE.findall(self.client.get(path).text)}

    def buy(self, product_id: str) -> httpx.Response:
        return self.client.post(f"/shop/p/{product_id}/buy")

    def claim(self, coupon_id: str) -> dict:
        r = self.client.post(f"/shop/coupons/{coupon_id}/claim", headers={"Accept": "application/json"})
        assert r.status_code == 200, r.text
        return r.json()
