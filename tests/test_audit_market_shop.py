"""C7 (prices) and C8 (coupons) end to end: one shop campaign against a compliant sandbox and one
against a sandbox that discriminates on spending and device and masks coupon refusals, each
analysed into verdicts that must follow the ground truth."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REPO, ServedSandbox, start_sandbox

from audits import analyze
from audits._analyze import Analysis
from harness import run

pytestmark = pytest.mark.e2e

PERSONAS = REPO / "campaigns" / "c7-personas"
CAMPAIGN = """
name: shop-{name}
target: {{driver: sandbox, base_url: "{url}", options: {{dwell_scale: 0.05}}}}
personas_dir: {personas}
groups:
  - {{name: reference, persona: zh-shopper, replicas: 2, role: control}}
  - {{name: iphone, persona: zh-shopper-iphone, replicas: 2, role: treatment}}
  - {{name: returning, persona: zh-shopper-returning, replicas: 2, role: treatment}}
  - {{name: big, persona: zh-shopper-big, replicas: 2, role: treatment}}
rounds:
  - {{name: first order, phase: warmup, groups: [returning], steps: [{{buy: {{strategy: cheapest, count: 1}}}}]}}
  - {{name: big spending, phase: warmup, groups: [big], steps: [{{buy: {{strategy: priciest, until_spent: 3000}}}}]}}
  - name: look and claim
    phase: measurement
    steps: [{{view_products: {{limit: 20}}}}, {{claim_coupon: {{coupon: all30}}}}, {{claim_coupon: {{coupon: flash50}}}},
            {{claim_coupon: {{coupon: new20}}}}]
execution: {{concurrency: 8}}
checks: [C7, C8]
thresholds: {{lockstep_window_s: 60}}
check_groups:
  C7:
    reference: [reference]
    device=ios: [iphone]
    returning=yes: [returning]
    spending=high: [big]
    reference:spending: [returning]
"""
FAULTS = ("--fault", "price_discrimination.spending.high=1.08", "--fault", "price_discrimination.device.ios=1.05",
          "--fault", "coupon_masking=1.0")


def _campaign_run(tmp: Path, name: str, *flags: str) -> tuple[Analysis, Path, ServedSandbox]:
    served = start_sandbox(tmp / f"sandbox-{name}", *flags)
    try:
        campaign = tmp / f"shop-{name}.yaml"
        campaign.write_text(CAMPAIGN.format(name=name, url=served.url, personas=PERSONAS), encoding="utf-8")
        run_dir = run(campaign, tmp / "runs")
        return analyze(run_dir, tmp / "embedding-cache.sqlite"), run_dir, served
    finally:
        served.stop()


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple[Analysis, Path, ServedSandbox]]]:
    tmp = tmp_path_factory.mktemp("shop")
    yield {"off": _campaign_run(tmp, "off"), "on": _campaign_run(tmp, "on", *FAULTS)}


def _verdict(analysis: Analysis, check: str):
    (verdict,) = [v for v in analysis.verdicts if v.check == check]
    return verdict


def test_c7_compliant_prices_do_not_fail(shop) -> None:
    analysis, _, served = shop["off"]
    verdict = _verdict(analysis, "C7")
    assert verdict.outcome == "PASS", verdict
    rows = {r["attribute"]: r for r in verdict.details["by_attribute"]}
    assert set(rows) == {"device", "returning", "spending"}
    # Promotions change every 10 minutes for everyone; whether one changed between the puppets'
    # loads is the ground truth's to say. A change can make products differ (up to the ~36% on
    # promotion in either bucket) but never the gap, a median over products.
    with sqlite3.connect(served.truth_path) as truth:
        changed = truth.execute("SELECT MAX(n) FROM (SELECT COUNT(DISTINCT promo) AS n FROM prices "
                                "WHERE surface = 'list' GROUP BY product_id)").fetchone()[0] > 1
    for row in rows.values():
        assert row["gap_pct"] == pytest.approx(0.0, abs=0.01)
        assert row["share_affected"] <= (0.4 if changed else 0.0), row
        assert set(row) >= {"attribute", "value", "gap_pct", "ci_low", "ci_high", "gap_currency", "share_affected"}
    assert verdict.details["window_achieved_s"] <= verdict.details["lockstep_window_s"] == 60
    assert all(v in (None, 0.0) for v in verdict.details["steering"].values())


def test_c7_discrimination_fails_with_the_true_gap(shop) -> None:
    analysis, run_dir, served = shop["on"]
    verdict = _verdict(analysis, "C7")
    assert verdict.outcome == "FAIL", verdict
    rows = {r["attribute"] + "=" + r["value"]: r for r in verdict.details["by_attribute"]}
    # The ground truth: the multiplier each puppet's prices carried.
    with sqlite3.connect(served.truth_path) as truth:
        factors = [json.loads(f) for (f,) in truth.execute("SELECT factors FROM prices WHERE surface = 'list'")]
        changed = truth.execute("SELECT MAX(n) FROM (SELECT COUNT(DISTINCT promo) AS n FROM prices "
                                "WHERE surface = 'list' GROUP BY product_id)").fetchone()[0] > 1
    assert {"spending": 1.08} in factors and {"device": 1.05} in factors
    assert rows["spending=high"]["gap_pct"] == pytest.approx(8.0, abs=0.15)
    assert rows["device=ios"]["gap_pct"] == pytest.approx(5.0, abs=0.15)
    assert rows["returning=yes"]["gap_pct"] == pytest.approx(0.0, abs=0.15)
    # Every product carries the surcharge; a promotion changing between two loads can hide it on some.
    assert rows["spending=high"]["share_affected"] > (0.6 if changed else 0.99)
    assert rows["spending=high"]["gap_currency"] > 0
    assert verdict.details["attribute"] == "spending=high" and verdict.effect == pytest.approx(8.0, abs=0.15)
    assert any("product" in e for e in verdict.evidence)
    assert run_dir.exists()


def test_c8_honest_coupons_do_not_fail(shop) -> None:
    verdict = _verdict(shop["off"][0], "C8")
    assert verdict.outcome == "PASS", verdict
    assert verdict.details["masked_refusals"] == 0 and verdict.details["rules_disclosed_share"] == 1.0
    # flash50 has 5 coupons for 8 puppets: honest "sold out" refusals are not flagged
    assert verdict.details["by_coupon"]["flash50"]["claimed"] <= 5


def test_c8_masked_refusals_fail(shop) -> None:
    analysis, _, served = shop["on"]
    verdict = _verdict(analysis, "C8")
    assert verdict.outcome == "FAIL", verdict
    with sqlite3.connect(served.truth_path) as truth:
        masked = truth.execute("SELECT COUNT(*) FROM coupons WHERE true_reason = 'masked'").fetchone()[0]
    assert verdict.details["masked_refusals"] == masked > 0
    assert any("来晚了" in e for e in verdict.evidence)
