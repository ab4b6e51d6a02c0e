"""The sandbox's web front end: server-rendered, mobile-first pages over :class:`Platform`."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import functools
import hashlib
import random
import re
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import jinja2
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from ._config import OCCUPATIONS, SandboxConfig
from ._i18n import LANGS, REGIONS, class_name, text
from ._hotlist import HEAT_FORMULA, heat_text
from ._platform import FEEDBACK_REASONS, Platform
from ._store import UserState
from ._shop import device_of

__all__ = ["create_app"]

TOKEN_COOKIE = "gl_session"
VISIT_COOKIE = "gl_visit"
LANG_COOKIE = "gl_lang"
SHOP_PAGE_SIZE = 20
FILING_NUMBER = "网信算备110108000000001230045号"
_USERNAME = re.compile(r"^[A-Za-z0-9_\u4e00-\u9fff]{3,32}$")
_PIN = re.compile(r"^\d{4}$")
_HERE = Path(__file__).parent
_OCCUPATION_NAMES = {
    "student": ("学生", "Student"), "engineer": ("工程师", "Engineer"), "teacher": ("教师", "Teacher"),
    "doctor": ("医生", "Doctor"), "civil_servant": ("公务员", "Civil servant"), "finance": ("金融从业者", "Finance"),
    "self_employed": ("个体经营", "Self-employed"), "worker": ("工人", "Worker"), "retired": ("退休", "Retired"),
    "other": ("其他", "Other"),
}


@dataclasses.dataclass
class Ctx:
    """What a handler knows about the request: the user, the UI language, cookies to set."""

    request: Request
    user: UserState | None
    lang: str
    now: float
    cookies: list[tuple[str, str, int | None]] = dataclasses.field(default_factory=list)

    @property
    def device(self) -> str:
        return device_of(self.request.headers.get("user-agent", ""))


def _count(n: float, lang: str) -> str:
    if lang == "zh":
        return f"{n / 10000:.1f}万" if n >= 10000 else str(int(n))
    if n >= 1_000_000:
        return f"{n / 1_000_000:.2f}M"
    return f"{n / 1000:.1f}k" if n >= 1000 else str(int(n))


def _disclosure_sections(lang: str) -> list[tuple[str, list[str]]]:
    if lang == "zh":
        return [
            ("基本原理", ["本平台根据你的阅读、停留、点赞和负反馈等行为，结合内容的主题与热度，为你推荐资讯。"]),
            ("目的意图", ["帮助你发现感兴趣的优质内容，同时保证推荐内容的多样性，防止信息茧房。"]),
            ("主要运行机制", [
                "推荐内容由三部分组成：根据兴趣的个性化推荐、全站热门内容、以及你较少接触领域的探索内容；同一频道在每屏中的占比设有上限。",
                "点击“不感兴趣”后，相似内容将被减少推荐；你可在“我的兴趣标签”中查看和删除标签。",
                "你可以在“我的-隐私设置”中关闭个性化推荐，关闭后将展示所在地区的热门内容。",
            ]),
        ]
    return [
        ("Basic principle", ["We recommend articles from your reading, dwell time, likes and negative feedback, together with each article's topic and popularity."]),
        ("Purpose", ["To help you find content you care about while keeping the feed diverse, so that it does not close into a bubble."]),
        ("How it works", [
            "Your feed mixes personalised picks, what is popular across the site, and exploration of topics you rarely read; no channel may fill more than a set share of a screen.",
            "After \"Not interested\", similar content is shown less; see and delete your tags under My interest tags.",
            "Turn personalisation off under Me > Privacy settings to see what is popular in your region instead.",
        ]),
    ]


def _every(minutes: float, lang: str) -> str:
    if lang == "zh":
        return "每分钟" if minutes == 1 else f"每{minutes:g}分钟"
    return "every minute" if minutes == 1 else f"every {minutes:g} minutes"


def _hot_rules_sections(lang: str, formula: bool, refresh_s: float) -> list[tuple[str, list[str]]]:
    every = _every(refresh_s / 60, lang)
    f = HEAT_FORMULA
    if lang == "zh":
        rule = (f"热度 = (阅读数 + {f['likes']:g} × 点赞数 + {f['comments']:g} × 评论数) ÷ (发布小时数 + {f['offset_h']:g})^{f['power']:g}，"
                f"按{every}更新时的数据计算；阅读、点赞、评论数与发布时间见各条内容页。" if formula
                else "热度 = 全网关注度 + 站内阅读、点赞与停留时长的加权和。")
        return [
            ("榜单算法原理", [f"{rule}榜单按热度从高到低排列前50条，{every}更新一次。"]),
            ("日志留存", ["榜单每次更新的快照均留存备查。"]),
            ("人工干预", ["除依法依规处置违法和不良信息外，本平台不对榜单进行人工置顶或排序干预。"]),
        ]
    return [
        ("How the list is ranked", [(
            f"Heat = (views + {f['likes']:g} × likes + {f['comments']:g} × comments) / (hours since publication + {f['offset_h']:g})^{f['power']:g}, "
            "from the counts at each update; every item's page shows its views, likes, comments and publish time. " if formula
            else "Heat = attention across the web + a weighted sum of reads, likes and reading time here. ")
            + f"The list shows the top 50 by heat and updates {every}."]),
        ("Logs", ["A snapshot of every update is kept."]),
        ("Manual intervention", ["Apart from removing illegal content, we never pin or re-order items by hand."]),
    ]


class SandboxApp:
    def __init__(self, config: SandboxConfig):
        self.config = config
        self.platform = Platform(config)
        self.chaos = config.faults.chaos
        self.redesign = self.chaos.redesign
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(_HERE / "templates"),
            autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
            undefined=jinja2.StrictUndefined,
        )
        self.env.globals["c"] = functools.partial(class_name, redesign=self.redesign)
        self.css, self.js = self._assets()
        self.asset_version = hashlib.sha256((self.css + self.js).encode()).hexdigest()[:10]
        self._error_rng = random.Random(config.seed)
        self._actions: dict[str, collections.deque[float]] = collections.defaultdict(collections.deque)
        self._blocked_until: dict[str, float] = {}

    def _assets(self) -> tuple[str, str]:
        css = (_HERE / "static" / "app.css").read_text(encoding="utf-8")
        js = (_HERE / "static" / "app.js").read_text(encoding="utf-8")
        names = set(re.findall(r"\.([a-z][a-z0-9-]*)", css))
        for template in (_HERE / "templates").glob("*.html"):
            names.update(re.findall(r"c\('([a-z][a-z0-9-]*)'\)", template.read_text(encoding="utf-8")))
        mapping = {n: class_name(n, self.redesign) for n in names}
        if self.redesign:
            css = re.sub(r"\.([a-z][a-z0-9-]*)", lambda m: "." + mapping.get(m.group(1), m.group(1)), css)
        js_map = "{" + ",".join(f'"{k}":"{v}"' for k, v in sorted(mapping.items())) + "}"
        return css, f"var CLS = {js_map};\n{js}"

    # plumbing -----------------------------------------------------------------------------------

    def _key(self, request: Request) -> str:
        return request.cookies.get(TOKEN_COOKIE) or (request.client.host if request.client else "-")

    def _captcha_blocked(self, request: Request, now: float) -> bool:
        chaos = self.chaos
        if not chaos.captcha_after:
            return False
        key = self._key(request)
        if self._blocked_until.get(key, 0.0) > now:
            return True
        window = self._actions[key]
        window.append(now)
        while window and window[0] < now - chaos.captcha_window_s:
            window.popleft()
        if len(window) > chaos.captcha_after:
            self._blocked_until[key] = now + chaos.captcha_cooldown_s
            window.clear()
            return True
        return False

    def _context(self, request: Request) -> Ctx:
        now = time.time()
        token = request.cookies.get(TOKEN_COOKIE)
        user = self.platform.store.user_for_token(token) if token else None
        ctx = Ctx(request, user, "zh", now)
        asked = request.query_params.get("lang")
        if asked in LANGS:
            ctx.lang = asked
            ctx.cookies.append((LANG_COOKIE, asked, 365 * 86400))
            if user and user.lang != asked:
                self.platform.store.save_settings(user, lang=asked)
        elif user:
            ctx.lang = user.lang
        elif request.cookies.get(LANG_COOKIE) in LANGS:
            ctx.lang = request.cookies[LANG_COOKIE]
        if user:
            has_visit = VISIT_COOKIE in request.cookies
            self.platform.begin_request(user, now, has_visit_cookie=has_visit)
            if not has_visit:
                ctx.cookies.append((VISIT_COOKIE, secrets.token_urlsafe(8), None))
        return ctx

    def _finish(self, ctx: Ctx, response: Response) -> Response:
        for name, value, max_age in ctx.cookies:
            response.set_cookie(name, value, max_age=max_age, httponly=True, samesite="lax")
        return response

    def t(self, ctx: Ctx, key: str, **fmt: object) -> str:
        return text(key, ctx.lang, self.redesign, **fmt)

    def render(self, ctx: Ctx, name: str, status: int = 200, **values: Any) -> Response:
        values.setdefault("user", ctx.user)
        values.setdefault("hide_nav", False)
        values.setdefault("active", None)
        html = self.env.get_template(name).render(
            t=functools.partial(text, lang=ctx.lang, redesign=self.redesign),
            lang=ctx.lang,
            redesign=self.redesign,
            asset_version=self.asset_version,
            **values,
        )
        return self._finish(ctx, HTMLResponse(html, status_code=status))

    def redirect(self, ctx: Ctx, url: str) -> Response:
        return self._finish(ctx, RedirectResponse(url, status_code=303))

    def _wants_json(self, request: Request) -> bool:
        return "application/json" in request.headers.get("accept", "") or request.url.path.startswith("/api/")

    def endpoint(
        self, handler: Callable[[Ctx], Awaitable[Response]], *, login: bool = True
    ) -> Callable[[Request], Awaitable[Response]]:
        """Wrap a handler with chaos (latency, errors, CAPTCHA), the request context and the login check."""

        async def wrapped(request: Request) -> Response:
            chaos = self.chaos
            if chaos.latency_ms:
                await asyncio.sleep(chaos.latency_ms / 1000)
            now = time.time()
            if chaos.error_rate and self._error_rng.random() < chaos.error_rate:
                self.platform.log_chaos(None, request.url.path, "error")
                return self._error_page(request, 503)
            if self._captcha_blocked(request, now):
                self.platform.log_chaos(None, request.url.path, "captcha")
                if self._wants_json(request):
                    return JSONResponse({"captcha": True, "message": text("captcha_hint", "zh")}, status_code=429)
                return self.render(Ctx(request, None, "zh", now), "captcha.html", status=200, hide_nav=True)
            ctx = self._context(request)
            if login and ctx.user is None:
                if self._wants_json(request) or request.url.path.startswith("/feed/"):
                    return JSONResponse({"message": "login required"}, status_code=401)
                return self.redirect(ctx, "/login")
            return await handler(ctx)

        return wrapped

    def _error_page(self, request: Request, status: int) -> Response:
        ctx = Ctx(request, None, request.cookies.get(LANG_COOKIE, "zh") if request.cookies.get(LANG_COOKIE) in LANGS else "zh", time.time())
        if status == 404:
            title, hint = self.t(ctx, "not_found"), ""
        else:
            title, hint = self.t(ctx, "error_title"), self.t(ctx, "error_hint")
        if self._wants_json(request):
            return JSONResponse({"message": title}, status_code=status)
        return self.render(ctx, "error.html", status=status, title=title, hint=hint, user=None)

    def _item(self, item_id: str) -> int:
        index = self.platform.catalog.item_index.get(item_id)
        if index is None:
            raise HTTPException(404)
        return index

    async def _json(self, ctx: Ctx) -> dict[str, Any]:
        try:
            data = await ctx.request.json()
        except ValueError:
            raise HTTPException(400, "body must be JSON") from None
        if not isinstance(data, dict):
            raise HTTPException(400, "body must be a JSON object")
        return data

    def _cards(self, ctx: Ctx, picks: list) -> list[dict[str, Any]]:
        cat = self.platform.catalog
        heat = self.platform.heat.heat(self.platform.heat.bucket(ctx.now))
        return [
            {
                "item": cat.items[p.item],
                "channel": cat.channels[cat.channel_of[p.item]].name(ctx.lang),
                "reads": _count(heat[p.item] / 37.0, ctx.lang),
            }
            for p in picks
        ]

    # accounts -----------------------------------------------------------------------------------

    async def login_page(self, ctx: Ctx) -> Response:
        if ctx.user:
            return self.redirect(ctx, "/")
        return self.render(ctx, "login.html", error=None, username=None, hide_nav=True)

    async def login(self, ctx: Ctx) -> Response:
        form = await ctx.request.form()
        username = str(form.get("username", "")).strip()
        user_id = self.platform.store.check_password(username, str(form.get("password", "")))
        if user_id is None:
            return self.render(ctx, "login.html", status=401, error=self.t(ctx, "err_login"), username=username)
        return self._start_session(ctx, user_id)

    def _start_session(self, ctx: Ctx, user_id: int) -> Response:
        store = self.platform.store
        user = store.user(user_id)
        assert user is not None
        self.platform.begin_request(user, ctx.now, has_visit_cookie=True, login=True)
        ctx.cookies.append((TOKEN_COOKIE, store.issue_token(user_id), 30 * 86400))
        ctx.cookies.append((VISIT_COOKIE, secrets.token_urlsafe(8), None))
        return self.redirect(ctx, "/" if user.onboarded else "/onboarding")

    def _signup_form(self, ctx: Ctx, form: dict[str, str], error: str | None, status: int = 200) -> Response:
        return self.render(
            ctx, "signup.html", status=status, error=error, form=form, hide_nav=True,
            this_year=time.gmtime(ctx.now).tm_year,
            occupations=[(c, _OCCUPATION_NAMES[c][0 if ctx.lang == "zh" else 1]) for c in OCCUPATIONS],
            regions=[(c, n[0 if ctx.lang == "zh" else 1]) for c, n in REGIONS.items()],
        )

    async def signup_page(self, ctx: Ctx) -> Response:
        return self._signup_form(ctx, dict.fromkeys(("username", "birth_year", "occupation", "region"), ""), None)

    async def signup(self, ctx: Ctx) -> Response:
        raw = await ctx.request.form()
        form = {k: str(raw.get(k, "")).strip() for k in ("username", "birth_year", "occupation", "region")}
        password = str(raw.get("password", ""))
        year = time.gmtime(ctx.now).tm_year
        error = None
        if not _USERNAME.match(form["username"]):
            error = "err_username"
        elif len(password) < 6:
            error = "err_password"
        elif not form["birth_year"].isdigit() or not 1920 <= int(form["birth_year"]) <= year:
            error = "err_birth_year"
        elif (form["occupation"] and form["occupation"] not in OCCUPATIONS) or form["region"] not in REGIONS:
            error = "err_choice"
        if error:
            return self._signup_form(ctx, form, self.t(ctx, error), status=400)
        user_id = self.platform.store.create_user(
            form["username"], password, int(form["birth_year"]), form["occupation"] or "other", form["region"], ctx.lang
        )
        if user_id is None:
            return self._signup_form(ctx, form, self.t(ctx, "err_taken"), status=409)
        return self._start_session(ctx, user_id)

    async def logout(self, ctx: Ctx) -> Response:
        token = ctx.request.cookies.get(TOKEN_COOKIE)
        if token:
            self.platform.store.revoke_token(token)
        response = self.redirect(ctx, "/login")
        response.delete_cookie(TOKEN_COOKIE)
        response.delete_cookie(VISIT_COOKIE)
        return response

    async def onboarding_page(self, ctx: Ctx, error: str | None = None, status: int = 200) -> Response:
        assert ctx.user
        if ctx.user.onboarded:
            return self.redirect(ctx, "/")
        return self.render(
            ctx, "onboarding.html", status=status, channels=self.platform.catalog.channels,
            min_tags=self.platform.faults.forced_tags, error=error, hide_nav=True,
        )

    async def onboarding(self, ctx: Ctx) -> Response:
        assert ctx.user
        form = await ctx.request.form()
        known = self.platform.catalog.channel_index
        chosen = [c for c in dict.fromkeys(str(v) for v in form.getlist("tags")) if c in known]
        k = self.platform.faults.forced_tags
        if k and len(chosen) < k:
            return await self.onboarding_page(ctx, self.t(ctx, "err_min_tags", k=k), status=400)
        if form.get("action") == "skip":
            chosen = []
        self.platform.choose_tags(ctx.user, chosen, ctx.now)
        return self.redirect(ctx, "/")

    # feed ---------------------------------------------------------------------------------------

    async def feed(self, ctx: Ctx) -> Response:
        assert ctx.user
        if not ctx.user.onboarded:
            return self.redirect(ctx, "/onboarding")
        picks = self.platform.feed_page(ctx.user, 1, ctx.now)
        return self.render(
            ctx, "feed.html", cards=self._cards(ctx, picks), active="home",
            permissions=self.platform.permissions_for_page(ctx.user, "feed"),
        )

    async def feed_more(self, ctx: Ctx) -> Response:
        assert ctx.user
        if not ctx.user.onboarded:
            return JSONResponse({"message": "onboarding required"}, status_code=409)
        try:
            page = max(2, int(ctx.request.query_params.get("page", "2")))
        except ValueError:
            page = 2
        picks = self.platform.feed_page(ctx.user, page, ctx.now)
        return self.render(ctx, "_cards.html", cards=self._cards(ctx, picks))

    async def item(self, ctx: Ctx) -> Response:
        assert ctx.user
        index = self._item(ctx.request.path_params["item_id"])
        self.platform.click(ctx.user, index)
        cat = self.platform.catalog
        model = self.platform.heat
        counts = model.item_counts(index, model.bucket(ctx.now))
        published = time.gmtime(counts.published_at)
        return self.render(
            ctx, "item.html", item=cat.items[index], channel=cat.channels[cat.channel_of[index]].name(ctx.lang),
            liked=index in ctx.user.likes, likes=_count(counts.likes, ctx.lang),
            views=_count(counts.views, ctx.lang), comments=_count(counts.comments, ctx.lang),
            published_iso=time.strftime("%Y-%m-%dT%H:%M:%SZ", published),
            published=time.strftime("%m月%d日 %H:%M" if ctx.lang == "zh" else "%d %b %H:%M UTC", published),
        )

    async def api_dwell(self, ctx: Ctx) -> Response:
        assert ctx.user
        data = await self._json(ctx)
        try:
            ms = float(data.get("ms", 0))
        except (TypeError, ValueError):
            raise HTTPException(400, "ms must be a number") from None
        self.platform.dwell(ctx.user, self._item(str(data.get("item"))), ms)
        return self._finish(ctx, JSONResponse({"ok": True}))

    async def api_like(self, ctx: Ctx) -> Response:
        assert ctx.user
        data = await self._json(ctx)
        index = self._item(str(data.get("item")))
        liked = self.platform.toggle_like(ctx.user, index)
        model = self.platform.heat
        return self._finish(ctx, JSONResponse({
            "liked": liked, "label": self.t(ctx, "liked" if liked else "like"),
            "likes": _count(model.item_counts(index, model.bucket(ctx.now)).likes, ctx.lang),
        }))

    async def api_feedback(self, ctx: Ctx) -> Response:
        assert ctx.user
        data = await self._json(ctx)
        reason = data.get("reason")
        if reason not in FEEDBACK_REASONS:
            raise HTTPException(400, f"reason must be one of {', '.join(FEEDBACK_REASONS)}")
        self.platform.not_interested(ctx.user, self._item(str(data.get("item"))), str(reason), ctx.now)
        return self._finish(ctx, JSONResponse({"ok": True, "message": self.t(ctx, "ni_done")}))

    # hot list and disclosures -------------------------------------------------------------------

    async def hot(self, ctx: Ctx) -> Response:
        assert ctx.user
        entries = self.platform.hot_list(ctx.user, ctx.now)
        items = self.platform.catalog.items
        model = self.platform.heat
        bucket_start = model.bucket(ctx.now) * model.refresh_s
        return self.render(
            ctx, "hot.html", active="hot", updated=time.strftime("%H:%M", time.localtime(bucket_start)),
            every=_every(model.refresh_s / 60, ctx.lang), show_rules=not self.platform.faults.disclosure_missing,
            rows=[{"rank": e.rank, "item": items[e.item], "heat": heat_text(e.heat_shown, ctx.lang, model.units)}
                  for e in entries],
        )

    async def hot_rules(self, ctx: Ctx) -> Response:
        if self.platform.faults.disclosure_missing:
            raise HTTPException(404)
        return self.render(ctx, "disclosure.html", title=self.t(ctx, "hot_rules_title"),
                           sections=_hot_rules_sections(ctx.lang, self.platform.heat.formula,
                                                        self.platform.heat.refresh_s), filing=None)

    async def about_algorithm(self, ctx: Ctx) -> Response:
        if self.platform.faults.disclosure_missing:
            raise HTTPException(404)
        return self.render(ctx, "disclosure.html", title=self.t(ctx, "algo_title"),
                           sections=_disclosure_sections(ctx.lang), filing=FILING_NUMBER)

    # shop ---------------------------------------------------------------------------------------

    async def shop(self, ctx: Ctx) -> Response:
        assert ctx.user
        products = self.platform.catalog.products_for(ctx.lang)
        categories = list(dict.fromkeys(p.category for p in products))
        category = ctx.request.query_params.get("cat") or None
        chosen = [p for p in products if category is None or p.category == category]
        try:
            page = max(1, int(ctx.request.query_params.get("page", "1")))
        except ValueError:
            page = 1
        start = (page - 1) * SHOP_PAGE_SIZE
        shown = chosen[start : start + SHOP_PAGE_SIZE]
        quotes = self.platform.quotes(ctx.user, [p.index for p in shown], ctx.device, "list", ctx.now)
        return self.render(
            ctx, "shop.html", active="shop", categories=categories, category=category, quotes=quotes,
            next_page=page + 1 if start + SHOP_PAGE_SIZE < len(chosen) else None,
        )

    def _product(self, ctx: Ctx) -> int:
        index = self.platform.catalog.product_index.get(ctx.request.path_params["product_id"])
        if index is None:
            raise HTTPException(404)
        return index

    async def product(self, ctx: Ctx) -> Response:
        assert ctx.user
        quote = self.platform.quotes(ctx.user, [self._product(ctx)], ctx.device, "product", ctx.now)[0]
        return self.render(ctx, "product.html", active="shop", q=quote)

    async def buy(self, ctx: Ctx) -> Response:
        assert ctx.user
        order_id, quote = self.platform.buy(ctx.user, self._product(ctx), ctx.device, ctx.now)
        return self.render(ctx, "order.html", active="shop", q=quote, order_id=order_id)

    def _coupon_rows(self, ctx: Ctx) -> list[dict[str, Any]]:
        assert ctx.user
        return [
            {"coupon": c, "remaining": self.platform.coupon_remaining(c), "claimed": c.id in ctx.user.coupons}
            for c in self.platform.coupons.values()
        ]

    async def coupons(self, ctx: Ctx) -> Response:
        return self.render(ctx, "coupons.html", active="shop", rows=self._coupon_rows(ctx), message=None)

    async def claim(self, ctx: Ctx) -> Response:
        assert ctx.user
        coupon = self.platform.coupons.get(ctx.request.path_params["coupon_id"])
        if coupon is None:
            raise HTTPException(404)
        messages = {k: self.t(ctx, f"claim_{k}") for k in ("success", "already", "ineligible", "sold_out", "refused")}
        if self.platform.variants.coupon_small_stock:
            messages["sold_out"] = self.t(ctx, "claim_sold_out_short")  # honest, in few words
        result, message = self.platform.claim(ctx.user, coupon, messages, ctx.now)
        if self._wants_json(ctx.request):
            return self._finish(ctx, JSONResponse({
                "outcome": result.outcome, "message": message, "claimed": coupon.id in ctx.user.coupons,
                "stock_label": self.t(ctx, "coupon_left", n=self.platform.coupon_remaining(coupon)),
                "button_label": self.t(ctx, "coupon_claimed"),
            }))
        return self.render(ctx, "coupons.html", active="shop", rows=self._coupon_rows(ctx), message=message)

    # settings -----------------------------------------------------------------------------------

    async def me(self, ctx: Ctx) -> Response:
        assert ctx.user
        region = REGIONS.get(ctx.user.region, (ctx.user.region, ctx.user.region))
        return self.render(ctx, "me.html", active="me", region=region[0 if ctx.lang == "zh" else 1],
                           show_disclosure=not self.platform.faults.disclosure_missing,
                           show_elderly=not self.platform.variants.no_elderly_mode)

    async def tags(self, ctx: Ctx) -> Response:
        assert ctx.user
        cat = self.platform.catalog
        codes = self.platform.recommender.tags(ctx.user)
        return self.render(ctx, "tags.html", active="me",
                           tags=[(c, cat.channels[cat.channel_index[c]].name(ctx.lang)) for c in codes])

    async def delete_tag(self, ctx: Ctx) -> Response:
        assert ctx.user
        code = ctx.request.path_params["channel"]
        if code not in self.platform.catalog.channel_index:
            raise HTTPException(404)
        self.platform.delete_tag(ctx.user, code, ctx.now)
        return self.redirect(ctx, "/me/tags")

    async def privacy(self, ctx: Ctx) -> Response:
        return self.render(ctx, "privacy.html", active="me")

    async def set_privacy(self, ctx: Ctx) -> Response:
        assert ctx.user
        form = await ctx.request.form()
        self.platform.set_personalized(ctx.user, form.get("personalized") == "on")
        return self.redirect(ctx, "/me/privacy")

    async def minors(self, ctx: Ctx, error: str | None = None, status: int = 200) -> Response:
        return self.render(ctx, "minors.html", status=status, active="me", error=error)

    async def set_minors(self, ctx: Ctx) -> Response:
        assert ctx.user
        form = await ctx.request.form()
        pin = str(form.get("pin", ""))
        if not _PIN.match(pin):
            return await self.minors(ctx, self.t(ctx, "err_pin_format"), status=400)
        if not self.platform.set_minors_mode(ctx.user, form.get("enabled") == "on", pin):
            return await self.minors(ctx, self.t(ctx, "err_pin"), status=403)
        return self.redirect(ctx, "/me/minors")

    async def set_elderly(self, ctx: Ctx) -> Response:
        assert ctx.user
        if self.platform.variants.no_elderly_mode:
            raise HTTPException(404)
        form = await ctx.request.form()
        self.platform.set_elderly_mode(ctx.user, form.get("enabled") == "on")
        return self.redirect(ctx, "/me")

    async def set_lang(self, ctx: Ctx) -> Response:
        assert ctx.user
        form = await ctx.request.form()
        lang = str(form.get("lang", ""))
        if lang in LANGS:
            self.platform.store.save_settings(ctx.user, lang=lang)
            ctx.cookies.append((LANG_COOKIE, lang, 365 * 86400))
        return self.redirect(ctx, "/me")

    # assets -------------------------------------------------------------------------------------

    async def css_asset(self, request: Request) -> Response:
        return Response(self.css, media_type="text/css", headers={"Cache-Control": "max-age=86400"})

    async def js_asset(self, request: Request) -> Response:
        return Response(self.js, media_type="text/javascript", headers={"Cache-Control": "max-age=86400"})

    async def healthz(self, request: Request) -> Response:
        return PlainTextResponse("ok")

    def routes(self) -> list[Route]:
        e = self.endpoint
        return [
            Route("/healthz", self.healthz),
            Route("/static/app.css", self.css_asset),
            Route("/static/app.js", self.js_asset),
            Route("/login", e(self.login_page, login=False), methods=["GET"]),
            Route("/login", e(self.login, login=False), methods=["POST"]),
            Route("/signup", e(self.signup_page, login=False), methods=["GET"]),
            Route("/signup", e(self.signup, login=False), methods=["POST"]),
            Route("/logout", e(self.logout), methods=["POST"]),
            Route("/onboarding", e(self.onboarding_page), methods=["GET"]),
            Route("/onboarding", e(self.onboarding), methods=["POST"]),
            Route("/", e(self.feed)),
            Route("/feed/more", e(self.feed_more)),
            Route("/item/{item_id}", e(self.item)),
            Route("/api/dwell", e(self.api_dwell), methods=["POST"]),
            Route("/api/like", e(self.api_like), methods=["POST"]),
            Route("/api/feedback", e(self.api_feedback), methods=["POST"]),
            Route("/hot", e(self.hot)),
            Route("/hot/rules", e(self.hot_rules, login=False)),
            Route("/about/algorithm", e(self.about_algorithm, login=False)),
            Route("/shop", e(self.shop)),
            Route("/shop/p/{product_id}", e(self.product)),
            Route("/shop/p/{product_id}/buy", e(self.buy), methods=["POST"]),
            Route("/shop/coupons", e(self.coupons)),
            Route("/shop/coupons/{coupon_id}/claim", e(self.claim), methods=["POST"]),
            Route("/me", e(self.me)),
            Route("/me/tags", e(self.tags)),
            Route("/me/tags/{channel}/delete", e(self.delete_tag), methods=["POST"]),
            Route("/me/privacy", e(self.privacy), methods=["GET"]),
            Route("/me/privacy", e(self.set_privacy), methods=["POST"]),
            Route("/me/minors", e(self.minors), methods=["GET"]),
            Route("/me/minors", e(self.set_minors), methods=["POST"]),
            Route("/me/elderly", e(self.set_elderly), methods=["POST"]),
            Route("/me/lang", e(self.set_lang), methods=["POST"]),
        ]


def create_app(config: SandboxConfig) -> Starlette:
    """The sandbox as an ASGI app. ``app.state.platform`` holds the state, for in-process tests."""
    sandbox = SandboxApp(config)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 400 and exc.detail:
            return JSONResponse({"message": exc.detail}, status_code=400)
        return sandbox._error_page(request, exc.status_code)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        sandbox.platform.close()

    app = Starlette(routes=sandbox.routes(), exception_handlers={HTTPException: http_error}, lifespan=lifespan)
    app.state.platform = sandbox.platform
    return app
