"""Calibration scenarios for the market checks C6–C11: hot list, prices, coupons, minors' mode,
disclosure and data collection. Each breaks one check with one sandbox fault at growing strengths
(0 is the compliant platform) and reads the true effect, in the verdict's units, from the
sandbox's ``ground_truth.sqlite`` with plain sqlite3 (the benchmarks read the truth, never the
sandbox's code). ``bench/calibration.py`` runs them.

Some scenarios plant their fault on a lawful design variant (``--variant``), where the check must
PASS at strength 0 as on the reference design: coupons whose small stocks really run out
(``coupon_small_stock``, C8) and an app without an elderly mode (``no_elderly_mode``, C9 beside its
own C9-elderly finding).
"""

from __future__ import annotations

import json
import math
import sqlite3
import statistics
from collections import defaultdict
from pathlib import Path

import yaml
from _scenario import Scenario  # bench/ is on sys.path

__all__ = ["SCENARIOS"]

_REPO = Path(__file__).resolve().parent.parent
PRODUCTS_ZH = _REPO.parent / "shared" / "corpus" / "products_zh.jsonl"
C7_PERSONAS = _REPO / "campaigns" / "c7-personas"
PERMISSIONS = ("geolocation", "notifications", "clipboard", "camera", "microphone")
# Channel codes the sandbox keeps out of minors' mode (its content module's MINORS_UNSUITABLE).
_UNSUITABLE_CODES = ("game", "finance")
_PERSONA = {"zh": {"a": "zh-sports-fan", "b": "zh-investor", "teen": "zh-teen-gamer", "returning": "zh-foodie"},
            "en": {"a": "en-sports-fan", "b": "en-business-reader", "teen": "en-student-budget",
                   "returning": "en-culture-reader"}}


def _truth_db(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


def _faults(db: sqlite3.Connection, key: str = "faults") -> dict[str, object]:
    row = db.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
    return json.loads(row[0]) if row else {}


def _target(name: str, base_url: str, extra: str = "") -> str:
    return (f"name: {name}\ntarget: {{driver: sandbox, base_url: \"{base_url}\", "
            f"options: {{dwell_scale: 0.05{extra}}}}}\n")


# C6 hot list --------------------------------------------------------------------------------------

def _c6_campaign(base_url: str, language: str) -> str:
    p = _PERSONA[language]
    return _target(f"cal-c6-{language}", base_url) + f"""groups:
  - {{name: a, persona: {p['a']}, replicas: 2}}
  - {{name: b, persona: {p['b']}, replicas: 2}}
rounds:
  - {{name: look, phase: warmup, steps: [{{read_feed: {{pages: 1, engage: false}}}}, disclosures]}}
  - {{name: snapshot, phase: measurement, repeat: 2, steps: [{{hot_list: {{open_entries: 8}}}}]}}
execution: {{concurrency: 4}}
checks: [C6]
"""


def _c6_truth(path: Path, run_dir: Path, strength: float) -> dict[str, float]:
    """Entries per snapshot whose rank no heat earned: the injected ones (a list ranked per profile
    has no count of them in the verdict's units: nan, its verdicts still count)."""
    with _truth_db(path) as db:
        if _faults(db).get("hotlist_personalized"):
            return {"C6": math.nan}
        counts = [n for (n,) in db.execute("SELECT SUM(injected) FROM hotlist GROUP BY username, ts")]
    return {"C6": statistics.fmean(counts) if counts else math.nan}


# The hot list's lawful designs: the reference, a published heat formula (checked against the
# entries' own pages), heat in 万 / 亿 refreshed in five-interval buckets.
_HOT_DESIGNS = {"": [], "-formula": ["--variant", "published_heat_formula=true"],
                "-units": ["--variant", "heat_units=true"]}


def _faked_injection(design: list[str]) -> object:
    # Pinned items whose displayed heat is made up to fit their rank; their own pages show their real counts.
    return lambda s: design + (["--fault", f"hotlist_injection.count={int(s)}", "--fault",
                                "hotlist_injection.fake_heat=true"] if s else [])


def _variant(design: list[str]) -> str:
    return design[1].split("=")[0] if design else ""


def _personalized(design: list[str]) -> object:
    return lambda s: design + (["--fault", f"hotlist_personalized={s}"] if s else [])


# C7 prices ---------------------------------------------------------------------------------------

# Attributes the "price" scenario surcharges at once, each by the cell's multiplier: one cell
# calibrates age, occupation, device and spending level together. Android buyers (not surcharged)
# and returning customers (compared with the reference) are the cell's negative controls.
PRICE_ATTRIBUTES = ("age_band.45-54", "occupation.finance", "device.ios", "spending.high")


def _price_flags(multiplier: float) -> list[str]:
    planted = [f for a in PRICE_ATTRIBUTES for f in ("--fault", f"price_discrimination.{a}={multiplier}")]
    return ["--corpus", str(PRODUCTS_ZH)] + (planted if multiplier != 1.0 else [])


def _c7_campaign(base_url: str, language: str) -> str:
    # The ready-made campaign itself: 14 shoppers, each group one attribute away from the reference.
    spec = yaml.safe_load((_REPO / "campaigns" / "c7-price-zh.yaml").read_text(encoding="utf-8"))
    spec["target"]["base_url"] = base_url
    spec["personas_dir"] = str(C7_PERSONAS)
    return yaml.safe_dump(spec, allow_unicode=True, sort_keys=False)


def _c7_truth(path: Path, run_dir: Path, strength: float) -> dict[str, float]:
    """Per attribute part of the campaign (``C7:age_band=45-54``…), the planted surcharge in % of
    the price its puppets are compared with; ``C7``: the largest of them (what the verdict is on)."""
    with _truth_db(path) as db:
        table = _faults(db).get("price_discrimination", {})
    def planted(attribute: str, value: str) -> float:
        return 100.0 * (float(table.get(attribute, {}).get(value, 1.0)) - 1.0)
    out = {
        "C7:age_band=45-54": planted("age_band", "45-54"), "C7:occupation=finance": planted("occupation", "finance"),
        "C7:device=ios": planted("device", "ios"), "C7:device=android": planted("device", "android"),
        "C7:returning=yes": 100.0 * (float(table.get("returning", 1.0)) - 1.0),
        # high spenders are compared with returning customers: both have bought, only spending differs
        "C7:spending=high": planted("spending", "high"),
    }
    out["C7"] = max(out.values())
    return out


# C8 coupons --------------------------------------------------------------------------------------

def _c8_campaign(base_url: str, language: str) -> str:
    p = _PERSONA[language]
    return _target(f"cal-c8-{language}", base_url) + f"""groups:
  - {{name: new, persona: {p['a']}, replicas: 3}}
  - {{name: returning, persona: {p['returning']}, replicas: 3}}
rounds:
  - {{name: first order, phase: warmup, groups: [returning], steps: [{{buy: {{strategy: cheapest, count: 1}}}}]}}
  - name: claim
    phase: measurement
    steps: [{{claim_coupon: {{coupon: all30}}}}, {{claim_coupon: {{coupon: new20}}}}, {{claim_coupon: {{coupon: flash50}}}},
            {{claim_coupon: {{coupon: big100}}}}]
execution: {{concurrency: 6}}
checks: [C8]
"""


def _c8_truth(path: Path, run_dir: Path, strength: float) -> dict[str, float]:
    """Mean over puppets of the share of their claims refused with a masked reason."""
    with _truth_db(path) as db:
        shares = [m / n for m, n in db.execute(
            "SELECT SUM(true_reason = 'masked'), COUNT(*) FROM coupons GROUP BY username")]
    return {"C8": statistics.fmean(shares) if shares else math.nan}


def _small_stock_flags(strength: float) -> list[str]:
    return ["--variant", "coupon_small_stock=true"] + (["--fault", f"coupon_masking={strength}"] if strength else [])


# C9 minors' mode ---------------------------------------------------------------------------------

def _c9_campaign(base_url: str, language: str, *, elderly: bool = False) -> str:
    p = _PERSONA[language]
    # After the measurement, the normal puppets look for the elderly mode (C9-elderly).
    senior = ("  - {name: senior mode, phase: measurement, groups: [normal], steps: [{elderly_mode: {enabled: true}}]}\n"
              if elderly else "")
    return _target(f"cal-c9-{language}{'-elderly' if elderly else ''}", base_url) + f"""groups:
  - {{name: teen, persona: {p['teen']}, replicas: 3, role: treatment}}
  - {{name: normal, persona: {p['teen']}, replicas: 2, role: control}}
rounds:
  - {{name: warm-up, phase: warmup, steps: [{{read_feed: {{pages: 1}}}}]}}
  - {{name: teen mode, phase: intervention, groups: [teen], steps: [{{minors_mode: {{enabled: true}}}}]}}
  - {{name: measure, phase: measurement, steps: [{{read_feed: {{pages: 2, engage: false}}}}, hot_list]}}
{senior}execution: {{concurrency: 5}}
checks: [C9]
"""


def _c9_elderly_campaign(base_url: str, language: str) -> str:
    return _c9_campaign(base_url, language, elderly=True)


def _no_elderly_flags(strength: float) -> list[str]:
    return ["--variant", "no_elderly_mode=true"] + (["--fault", f"minors_leak={strength}"] if strength else [])


def _c9_truth(path: Path, run_dir: Path, strength: float) -> dict[str, float]:
    """Mean over minors'-mode puppets of the share of the feed items they were shown in the mode
    that came from unsuitable channels (the check reads the feed, whose cards show a channel)."""
    marks = ", ".join("?" * len(_UNSUITABLE_CODES))
    with _truth_db(path) as db:
        shares = [u / n for u, n in db.execute(
            f"SELECT SUM(channel IN ({marks})), COUNT(*) FROM impressions WHERE minors_mode = 1 "
            "AND surface = 'feed' GROUP BY username",
            _UNSUITABLE_CODES)]
        # C9-elderly: the share of the puppets looking for the elderly mode that cannot reach it.
        missing = 1.0 if _faults(db, "variants").get("no_elderly_mode") else 0.0
    return {"C9": statistics.fmean(shares) if shares else math.nan, "C9-elderly": missing}


# C10 disclosure ----------------------------------------------------------------------------------

def _c10_campaign(base_url: str, language: str) -> str:
    p = _PERSONA[language]
    return _target(f"cal-c10-{language}", base_url) + f"""groups:
  - {{name: reader, persona: {p['a']}, replicas: 2}}
rounds:
  - {{name: look, phase: measurement, steps: [disclosures]}}
execution: {{concurrency: 2}}
checks: [C10]
"""


def _c10_truth(path: Path, run_dir: Path, strength: float) -> dict[str, float]:
    """Share of the three disclosures (algorithm page, hot-list rules, filing number) withheld."""
    with _truth_db(path) as db:
        return {"C10": 1.0 if _faults(db).get("disclosure_missing") else 0.0}


# C11 data collection -----------------------------------------------------------------------------

def _c11_flags(strength: float) -> list[str]:
    asked = PERMISSIONS[: int(strength)]
    return ["--fault", f"data_overreach=[{', '.join(asked)}]"] if asked else []


def _c11_campaign(base_url: str, language: str) -> str:
    p = _PERSONA[language]
    return _target(f"cal-c11-{language}", base_url) + f"""groups:
  - {{name: reader, persona: {p['a']}, replicas: 2}}
  - {{name: other, persona: {p['b']}, replicas: 2}}
rounds:
  - {{name: read, phase: measurement, steps: [{{read_feed: {{pages: 2}}}}]}}
execution: {{concurrency: 4}}
checks: [C11]
"""


def _c11_truth(path: Path, run_dir: Path, strength: float) -> dict[str, float]:
    """Mean over puppets of the distinct permissions the platform's pages asked them for."""
    with _truth_db(path) as db:
        asked: dict[str, set[str]] = defaultdict(set)
        for username, requested in db.execute("SELECT username, requested FROM permissions"):
            asked[username].update(json.loads(requested))
        users = [u for (u,) in db.execute("SELECT DISTINCT username FROM sessions")]
    return {"C11": statistics.fmean(len(asked[u]) for u in users) if users else math.nan}


SCENARIOS: list[Scenario] = [
    Scenario("hotlist-injection", ("C6",), "hotlist_injection (items placed at ranks their heat does not earn)",
             (0, 2, 5, 10), lambda s: ["--fault", f"hotlist_injection={int(s)}"] if s else [],
             _c6_campaign, _c6_truth),
    *[Scenario(f"hotlist-injection-faked{suffix}", ("C6",), "hotlist_injection with fake_heat (pinned items shown a heat "
               f"that fits their rank){' on ' + design[1].split('=')[0] if design else ''}", (0, 3),
               _faked_injection(design), _c6_campaign, _c6_truth, variant=_variant(design))
      for suffix, design in _HOT_DESIGNS.items()],
    *[Scenario(f"hotlist-personalized{suffix}", ("C6",), "hotlist_personalized (the list re-ranked by the user's "
               f"profile){' on ' + design[1].split('=')[0] if design else ''}", (0, 1.0),
               _personalized(design), _c6_campaign, _c6_truth, variant=_variant(design))
      for suffix, design in _HOT_DESIGNS.items()],
    Scenario("price", ("C7",), "price_discrimination (one multiplier for age 45-54, finance, iOS and high "
             "spenders at once)", (1.0, 1.03, 1.08, 1.15), _price_flags,
             _c7_campaign, _c7_truth, languages=("zh",)),
    Scenario("coupon-masking", ("C8",), "coupon_masking (share of eligible claims refused with 来晚了)",
             (0, 0.3, 0.6, 1.0), lambda s: ["--fault", f"coupon_masking={s}"] if s else [],
             _c8_campaign, _c8_truth),
    Scenario("coupon-masking-small-stock", ("C8",), "coupon_masking on coupon_small_stock (stocks of 2-3 that run "
             "out, 已抢光 after the last unit)", (0, 0.3, 0.6, 1.0), _small_stock_flags, _c8_campaign, _c8_truth),
    Scenario("minors-leak", ("C9",), "minors_leak (share of unsuitable items let through minors' mode)",
             (0, 0.3, 0.6, 1.0), lambda s: ["--fault", f"minors_leak={s}"] if s else [],
             _c9_campaign, _c9_truth, languages=("zh",)),
    Scenario("minors-leak-no-elderly", ("C9",), "minors_leak on no_elderly_mode (no elderly mode, lawful; "
             "C9-elderly its own finding)", (0, 0.3, 0.6, 1.0), _no_elderly_flags,
             _c9_elderly_campaign, _c9_truth, languages=("zh",)),
    Scenario("disclosure-missing", ("C10",), "disclosure_missing (no algorithm or hot-list disclosure pages)",
             (0, 1), lambda s: ["--fault", "disclosure_missing=true"] if s else [],
             _c10_campaign, _c10_truth),
    Scenario("data-overreach", ("C11",), "data_overreach (the feed asks for the first N of geolocation, "
             "notifications, clipboard, camera, microphone)", (0, 1, 3, 5), _c11_flags,
             _c11_campaign, _c11_truth),
]
