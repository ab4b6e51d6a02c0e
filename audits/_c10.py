"""C10, disclosure: are the algorithm's principles, the hot list's ranking rules and the filing
number published where a user can find them?

以适当方式公示算法推荐服务的基本原理… (2024 notice); 算法备案 (2022 campaign). Puppets look for the
disclosure pages from the home page as a user would (step ``disclosures``); every page found is
archived (a full-page screenshot and the HTML, hashed into ``artifacts``).

Required, per puppet: each page in :data:`REQUIRED_PAGES` found within ``thresholds: {C10.max_clicks:
…}`` clicks (default 3), and a filing number (a 备案 / filing label with a long number) on one of
them. A puppet's value is the share of the required elements it could not find; the effect is the
mean over puppets (``lower_is_better``; default threshold 0: anything missing is a violation,
campaign ``thresholds: {C10: …}``).

Parts (``check_groups: {C10: {...}}``): ``visitors`` (default: every puppet).
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from ._checks import CheckResult, Context
from ._market import loads, rows, twin_spread
from ._stats import estimate
from ._verdict import decide

__all__ = ["DEFAULT_MAX_CLICKS", "DEFAULT_THRESHOLD", "REQUIRED_PAGES", "check_c10", "has_filing_number"]

DEFAULT_THRESHOLD = 0.0
DEFAULT_MAX_CLICKS = 3
REQUIRED_PAGES = ("algorithm", "hot_list_rules")
_FILING_LABEL = re.compile(r"备案|filing", re.IGNORECASE)
_FILING_NUMBER = re.compile(r"\d{8,}")


def has_filing_number(text: str) -> bool:
    return bool(_FILING_LABEL.search(text or "")) and bool(_FILING_NUMBER.search(text or ""))


def check_c10(context: Context) -> CheckResult:
    run = context.run
    visitors = {p.puppet_id for p in (context.puppets("C10", "visitors") or list(run.puppets.values()))}
    found: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for r in rows(run, "SELECT puppet_id, value, at FROM observations WHERE kind = 'disclosure' ORDER BY id"):
        page = loads(r["value"])
        if r["puppet_id"] in visitors and isinstance(page, dict):
            found[r["puppet_id"]][str(page.get("name"))] = {**page, "at": r["at"]}
    if not found:
        return CheckResult(None, [], "no puppet looked for the disclosure pages (step disclosures)")
    max_clicks = int(run.threshold("C10.max_clicks", DEFAULT_MAX_CLICKS))
    value: dict[str, float] = {}
    pages: dict[str, dict[str, Any]] = {}
    evidence: list[str] = []
    for pid, by_name in found.items():
        missing = 0
        for name in REQUIRED_PAGES:
            page = by_name.get(name)
            ok = bool(page and page.get("found") and int(page.get("clicks") or 0) <= max_clicks)
            missing += not ok
            summary = pages.setdefault(name, {"found": 0, "looked": 0, "clicks": None, "url": "", "title": ""})
            summary["looked"] += 1
            if ok and page is not None:
                summary["found"] += 1
                summary.update(clicks=page.get("clicks"), url=page.get("url"), title=page.get("title"))
                for a in page.get("archive") or []:
                    evidence.append(f"{name} {page.get('url')} {a['kind']} {a['path']} sha256:{a['sha256']} at {page['at']}")
        filing = any(has_filing_number(p.get("text", "")) for p in by_name.values() if p.get("found"))
        missing += not filing
        pages.setdefault("filing_number", {"found": 0, "looked": 0})
        pages["filing_number"]["looked"] += 1
        pages["filing_number"]["found"] += int(filing)
        value[pid] = missing / (len(REQUIRED_PAGES) + 1)
    comparison = estimate(list(value.values()))
    noise, mde = twin_spread([p for p in run.puppets.values() if p.puppet_id in value], value, len(value), len(value))
    verdict = decide(
        "C10", "share of the disclosures (algorithm principles, hot-list rules, filing number) a user cannot find",
        comparison, threshold=run.threshold("C10", DEFAULT_THRESHOLD), noise_sd=noise, mde=mde,
        direction="lower_is_better", evidence=tuple(evidence[:20]) + tuple(run.evidence_for("disclosures")[:10]),
        details={"pages": pages, "max_clicks": max_clicks, "puppets": len(value)},
    )
    return CheckResult(verdict, [{"check": "C10", "puppet_id": pid, "round": None, "metric": "disclosures_missing_share", "value": v}
                                 for pid, v in value.items()])
