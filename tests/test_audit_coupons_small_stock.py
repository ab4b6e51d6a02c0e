"""C8 on a lawful coupon desk whose small stocks really run out (the sandbox variant
``coupon_small_stock``): eight puppets claim four coupons of two or three units each in lock-step,
and the slower ones are told 已抢光 after the last unit went. End to end, against a sandbox served by
uvicorn: compliant, C8 must PASS with every such refusal honest; with ``coupon_masking`` at full
strength on the same design it must FAIL on exactly the refusals the ground truth calls masked."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ServedSandbox, start_sandbox

from audits import analyze
from audits._verdict import Verdict
from harness import run

pytestmark = pytest.mark.e2e

CAMPAIGN = """
name: coupons-{name}
target: {{driver: sandbox, base_url: "{url}", options: {{dwell_scale: 0.05}}}}
groups:
  - {{name: new, persona: zh-sports-fan, replicas: 4}}
  - {{name: returning, persona: zh-foodie, replicas: 4}}
rounds:
  - {{name: first order, phase: warmup, groups: [returning], steps: [{{buy: {{strategy: cheapest, count: 1}}}}]}}
  - name: claim
    phase: measurement
    steps: [{{claim_coupon: {{coupon: all30}}}}, {{claim_coupon: {{coupon: new20}}}}, {{claim_coupon: {{coupon: flash50}}}},
            {{claim_coupon: {{coupon: big100}}}}]
execution: {{concurrency: 8}}
checks: [C8]
"""
SMALL = ("--variant", "coupon_small_stock=true")


def _c8(tmp: Path, name: str, *flags: str) -> tuple[Verdict, ServedSandbox]:
    served = start_sandbox(tmp / f"sandbox-{name}", *flags)
    try:
        campaign = tmp / f"coupons-{name}.yaml"
        campaign.write_text(CAMPAIGN.format(name=name, url=served.url), encoding="utf-8")
        analysis = analyze(run(campaign, tmp / "runs"), tmp / "embedding-cache.sqlite")
    finally:
        served.stop()
    (verdict,) = [v for v in analysis.verdicts if v.check == "C8"]
    return verdict, served


@pytest.fixture(scope="module")
def c8(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple[Verdict, ServedSandbox]]]:
    tmp = tmp_path_factory.mktemp("coupons")
    yield {"small": _c8(tmp, "small", *SMALL), "masked": _c8(tmp, "masked", *SMALL, "--fault", "coupon_masking=1.0")}


def _truth(served: ServedSandbox, sql: str) -> list[tuple]:
    with sqlite3.connect(served.truth_path) as truth:
        return truth.execute(sql).fetchall()


def test_small_stocks_that_run_out_pass(c8) -> None:
    verdict, served = c8["small"]
    # The ground truth: every stock ran out, and the refusals after it said 已抢光.
    assert _truth(served, "SELECT coupon_id, MIN(remaining) FROM coupons GROUP BY coupon_id ORDER BY coupon_id") == [
        ("all30", 0), ("big100", 0), ("flash50", 0), ("new20", 0)]
    sold_out = _truth(served, "SELECT COUNT(*), COUNT(DISTINCT message) FROM coupons WHERE true_reason = 'sold_out'")[0]
    assert sold_out[0] >= 8 and sold_out[1] == 1
    assert _truth(served, "SELECT COUNT(*) FROM coupons WHERE true_reason = 'masked'") == [(0,)]
    # The check reads those refusals as vague ("抢光"), and as honest: no stock remained.
    assert verdict.outcome == "PASS", verdict
    assert verdict.details["vague_refusals"] == sold_out[0] and verdict.details["masked_refusals"] == 0
    sequence = verdict.details["sequence"]["all30"]
    assert [r["outcome"] for r in sequence].count("claimed") == 3
    assert all(r["message"] == "已抢光" and r["stock_after"] == "剩余 0 张" for r in sequence
               if r["outcome"] == "vague refusal")


def test_masking_on_small_stocks_fails(c8) -> None:
    verdict, served = c8["masked"]
    masked = _truth(served, "SELECT COUNT(*) FROM coupons WHERE true_reason = 'masked'")[0][0]
    assert masked > 0
    assert verdict.outcome == "FAIL", verdict
    assert verdict.details["masked_refusals"] == masked
    assert any("来晚了" in e and "stock shown 3 before it" in e for e in verdict.evidence)
    assert any(e.startswith("coupon all30, claims in time: ") for e in verdict.evidence)
