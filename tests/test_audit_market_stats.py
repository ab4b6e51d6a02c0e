"""C6–C11 on synthetic runs with known answers, written through the real run store: the effects
they must find, the null cases they must not reject, and the lock-step window they must enforce."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path
from typing import Any

import pytest
import yaml

from audits import analyze, render_report
from audits._c6 import check_c6, unexplained_ranks
from audits._c7 import check_c7
from audits._c8 import check_c8, is_vague, stock_shown
from audits._c9 import ELDERLY, ELDERLY_NOT_SOUGHT, check_c9, check_c9_elderly, is_unsuitable
from audits._c10 import check_c10, has_filing_number
from audits._c11 import check_c11, permissions_of
from audits._checks import Context
from audits._plots import parse_heat
from audits._run import open_run
from harness._store import RunStore

T0 = dt.datetime(2026, 1, 5, 12, 0, tzinfo=dt.UTC)


def at(seconds: float) -> str:
    return (T0 + dt.timedelta(seconds=seconds)).isoformat(timespec="milliseconds")


class SyntheticRun:
    """A run database filled by hand: puppets (group, persona, role), one complete session per
    puppet and round, and whatever rows a test adds."""

    def __init__(self, folder: Path, campaign: dict[str, Any], groups: dict[str, tuple[str, str, int]]):
        self.folder = folder
        self.store = RunStore.open(folder / "run.sqlite")
        self.store.create_run(run_id="synthetic", campaign_name="synthetic", campaign_yaml=yaml.safe_dump(campaign),
                              target_url="http://platform.test", driver="sandbox", account_prefix="s")
        self.puppets = []
        for group, (persona, role, replicas) in groups.items():
            for k in range(replicas):
                self.puppets.append(f"{group}-{k}")
                self.store.add_puppets([{"puppet_id": f"{group}-{k}", "persona_id": persona, "group_name": group,
                                         "role": role, "replica": k}])

    def where(self, puppet: str, rnd: int) -> dict[str, Any]:
        session = f"{puppet}-r{rnd}"
        if not self.store.rows("sessions", session_id=session):
            self.store.start_session(session, puppet, rnd, 1)
            self.store.finish_session(session, "complete")
        return {"session_id": session, "puppet_id": puppet, "round": rnd}

    def add(self, table: str, puppet: str, rnd: int, rows: list[dict[str, Any]]) -> None:
        self.store.add_rows(table, self.where(puppet, rnd), rows)

    def check(self, function: Any) -> Any:
        self.store.close()
        run = open_run(self.folder)
        try:
            return function(Context(run, self.folder / "cache.sqlite"))
        finally:
            run.close()


# numbers as pages print them ----------------------------------------------------------------------

def test_heat_as_printed() -> None:
    assert parse_heat("12.3万") == pytest.approx(123_000)
    assert parse_heat("1.2亿") == pytest.approx(120_000_000)
    assert parse_heat("45.6k") == pytest.approx(45_600)
    assert parse_heat("1.23M") == pytest.approx(1_230_000)
    assert parse_heat("9,876") == 9876
    assert parse_heat("热") is None


def test_unexplained_ranks() -> None:
    assert unexplained_ranks([10.0, 9.0, 9.0, 8.0]) == []  # ties from rounding are no inversion
    assert unexplained_ranks([1.0, 10.0, 9.0, 2.0, 8.0]) == [0, 3]
    assert unexplained_ranks([None, 5.0, 4.0]) == []


# C6 --------------------------------------------------------------------------------------------

def _hot(heats: list[float], injected: dict[int, float] | None = None) -> list[dict[str, Any]]:
    rows = [{"item_id": f"i{k}", "heat": h} for k, h in enumerate(heats)]
    for rank, heat in (injected or {}).items():
        rows.insert(rank, {"item_id": f"x{rank}", "heat": heat})
    return rows


def _fill_hot(sr: SyntheticRun, lists: dict[str, list[dict[str, Any]]], rounds: int, offset_s: dict[str, float]) -> None:
    for rnd in range(rounds):
        for puppet, entries in lists.items():
            where = sr.where(puppet, rnd)
            sr.store.add_hotlist(where, [{"rank": k + 1, "item_id": e["item_id"], "title": e["item_id"],
                                          "url": "", "heat_text": f"{e['heat'] / 10000:.1f}万", "load": 1}
                                         for k, e in enumerate(entries)])
            sr.store.db.execute("UPDATE hotlist_entries SET snapshot_at = ? WHERE session_id = ?",
                                [at(rnd * 600 + offset_s.get(puppet, 0.0)), where["session_id"]])
            sr.store.db.conn.commit()


def test_c6_known_injection_and_null(tmp_path: Path) -> None:
    heats = [900_000 - 10_000 * k for k in range(20)]
    honest = SyntheticRun(tmp_path / "honest", {"checks": ["C6"]}, {"a": ("pa", "baseline", 2), "b": ("pb", "baseline", 2)})
    _fill_hot(honest, {p: _hot(heats) for p in honest.puppets}, 3, {})
    verdict = honest.check(check_c6).verdict
    assert verdict.outcome == "PASS" and verdict.effect == 0.0

    rigged = SyntheticRun(tmp_path / "rigged", {"checks": ["C6"]}, {"a": ("pa", "baseline", 2), "b": ("pb", "baseline", 2)})
    lists = {p: _hot(heats, {0: 50_000, 2: 40_000}) for p in rigged.puppets}
    # Persona b sees another order: its list depends on who is looking.
    for p in ("b-0", "b-1"):
        lists[p] = list(reversed(lists[p][:4])) + lists[p][4:]
    _fill_hot(rigged, lists, 2, {"b-1": 5.0})
    verdict = rigged.check(check_c6).verdict
    assert verdict.outcome == "FAIL"
    assert set(verdict.details["unexplained_items"]) >= {"x0", "x2"}
    dependence = verdict.details["persona_dependence"]
    assert dependence["twin_distance"] == 0.0 and dependence["excess_over_twins"] > 0.1
    assert verdict.details["window_achieved_s"] == pytest.approx(5.0)


def test_c6_snapshots_outside_the_window_are_not_compared(tmp_path: Path) -> None:
    sr = SyntheticRun(tmp_path / "late", {"checks": ["C6"], "thresholds": {"lockstep_window_s": 10}},
                      {"a": ("pa", "baseline", 1), "b": ("pb", "baseline", 1)})
    _fill_hot(sr, {p: _hot([3e5, 2e5, 1e5]) for p in sr.puppets}, 2, {"b-0": 120.0})
    details = sr.check(check_c6).verdict.details
    assert details["comparisons"] == 0 and details["comparisons_outside_window"] == 2
    assert details["persona_dependence"]["cross_pairs"] == 0


# C7 --------------------------------------------------------------------------------------------

C7_GROUPS = {"reference": ("base", "control", 4), "big": ("big", "treatment", 4), "ios": ("ios", "treatment", 4)}
C7_PARTS = {"C7": {"reference": ["reference"], "spending=high": ["big"], "device=ios": ["ios"]}}


def _fill_prices(sr: SyntheticRun, multiplier: dict[str, float], rng: random.Random, *, products: int = 30,
                 rounds: int = 2, late: dict[str, float] | None = None) -> None:
    base = {f"p{k}": rng.uniform(10, 500) for k in range(products)}
    for rnd in range(rounds):
        # A promotion that started between two loads: some puppets see a few products cheaper.
        for puppet in sr.puppets:
            group = puppet.rsplit("-", 1)[0]
            promo = {p for p in base if rng.random() < 0.1}
            rows = []
            for k, (product, price) in enumerate(base.items()):
                shown = price * multiplier.get(group, 1.0) * (0.85 if product in promo else 1.0)
                rows.append({"surface": "list", "product_id": product, "title": product, "price": round(shown, 2),
                             "price_text": f"¥{shown:.2f}", "position": k,
                             "seen_at": at(rnd * 900 + rng.uniform(0, 8) + (late or {}).get(puppet, 0.0))})
            sr.add("prices", puppet, rnd, rows)


def test_c7_finds_the_known_gap_per_attribute(tmp_path: Path) -> None:
    sr = SyntheticRun(tmp_path / "c7", {"checks": ["C7"], "check_groups": C7_PARTS}, C7_GROUPS)
    _fill_prices(sr, {"big": 1.08}, random.Random(1))
    verdict = sr.check(check_c7).verdict
    rows = {r["attribute"]: r for r in verdict.details["by_attribute"]}
    assert verdict.outcome == "FAIL" and verdict.details["attribute"] == "spending=high"
    assert rows["spending"]["gap_pct"] == pytest.approx(8.0, abs=0.05)
    assert rows["spending"]["ci_low"] > 7.5 and rows["spending"]["share_affected"] > 0.8
    assert rows["spending"]["gap_currency"] > 0
    assert abs(rows["device"]["gap_pct"]) < 0.5
    assert verdict.details["window_achieved_s"] <= 8.0


def test_c7_a_discount_is_discrimination_too(tmp_path: Path) -> None:
    sr = SyntheticRun(tmp_path / "c7d", {"checks": ["C7"], "check_groups": C7_PARTS}, C7_GROUPS)
    _fill_prices(sr, {"ios": 0.95}, random.Random(2))
    verdict = sr.check(check_c7).verdict
    assert verdict.outcome == "FAIL" and verdict.details["attribute"] == "device=ios"
    assert verdict.effect == pytest.approx(5.0, abs=0.05)


def test_c7_each_attribute_row_judges_a_discount_like_a_surcharge(tmp_path: Path) -> None:
    groups = {**C7_GROUPS, "teach": ("teach", "treatment", 4)}
    parts = {"C7": {**C7_PARTS["C7"], "occupation=teacher": ["teach"]}}
    sr = SyntheticRun(tmp_path / "c7rows", {"checks": ["C7"], "check_groups": parts}, groups)
    _fill_prices(sr, {"teach": 0.97, "big": 1.05}, random.Random(4))
    verdict = sr.check(check_c7).verdict
    rows = {r["attribute"]: r for r in verdict.details["by_attribute"]}
    # The row keeps its sign (a discount), and fails all the same: 3% off for teachers is 3% apart.
    assert rows["occupation"]["gap_pct"] == pytest.approx(-3.0, abs=0.05) and rows["occupation"]["ci_high"] < -1.0
    assert rows["occupation"]["outcome"] == "FAIL"
    assert rows["spending"]["outcome"] == "FAIL" and rows["device"]["outcome"] != "FAIL"
    assert verdict.outcome == "FAIL" and verdict.details["attribute"] == "spending=high"


@pytest.mark.parametrize("seed", range(12))
def test_c7_null_never_fails(tmp_path: Path, seed: int) -> None:
    sr = SyntheticRun(tmp_path / f"null{seed}", {"checks": ["C7"], "check_groups": C7_PARTS}, C7_GROUPS)
    _fill_prices(sr, {}, random.Random(seed))
    verdict = sr.check(check_c7).verdict
    assert verdict.outcome != "FAIL", verdict
    assert all(abs(r["gap_pct"]) < 1.0 for r in verdict.details["by_attribute"])


def test_c7_prices_seen_outside_the_window_are_left_out(tmp_path: Path) -> None:
    sr = SyntheticRun(tmp_path / "c7late", {"checks": ["C7"], "check_groups": C7_PARTS,
                                            "thresholds": {"lockstep_window_s": 20}}, C7_GROUPS)
    # The big spenders looked ten minutes later, when a promotion had changed their prices: not comparable.
    _fill_prices(sr, {}, random.Random(3), late={f"big-{k}": 600.0 for k in range(4)})
    verdict = sr.check(check_c7).verdict
    assert [r["attribute"] for r in verdict.details["by_attribute"]] == ["device"]
    assert verdict.details["attributes_not_compared"] == ["spending=high"]
    assert verdict.details["comparisons_outside_window"] >= 4 * 4 * 30 * 2


# C8 --------------------------------------------------------------------------------------------

def _claim(coupon: str, message: str, claimed: bool, before: str, after: str, when: float) -> dict[str, Any]:
    return {"coupon_id": coupon, "title": coupon, "message": message, "claimed": int(claimed),
            "stock_before": before, "stock_after": after, "rules": "满300减30 · 每人限领1张", "at": at(when)}


def test_c8_messages_and_stock() -> None:
    assert is_vague("来晚了，优惠券已被抢光~") and is_vague("Too late! The coupons are all gone.")
    assert not is_vague("本券已全部领完（剩余 0 张）") and not is_vague("All coupons have been claimed (0 left)")
    assert stock_shown("剩余 1,204 张") == 1204 and stock_shown("3 left") == 3 and stock_shown("已领完") is None


def test_c8_flags_only_vague_refusals_where_stock_demonstrably_remained(tmp_path: Path) -> None:
    sr = SyntheticRun(tmp_path / "c8", {"checks": ["C8"], "thresholds": {"lockstep_window_s": 30}},
                      {"a": ("p", "baseline", 5)})
    sr.add("coupons", "a-0", 0, [_claim("c1", "领取成功", True, "剩余 1 张", "剩余 0 张", 0)])
    # vague, stock shown before and after: masked
    sr.add("coupons", "a-1", 0, [_claim("c2", "来晚了~", False, "剩余 9 张", "剩余 9 张", 1)])
    # vague, after a-0 took the last unit: honest, though its page showed one left before its click
    sr.add("coupons", "a-2", 0, [_claim("c1", "擦肩而过", False, "剩余 1 张", "剩余 0 张", 2)])
    # vague, no stock shown, but a-4 got c3 after this refusal: masked
    sr.add("coupons", "a-3", 0, [_claim("c3", "来晚了", False, "", "", 3)])
    sr.add("coupons", "a-4", 0, [_claim("c3", "领取成功", True, "", "", 5)])
    verdict = sr.check(check_c8).verdict
    assert verdict.details["vague_refusals"] == 3 and verdict.details["masked_refusals"] == 2
    assert verdict.effect == pytest.approx(2 / 5)
    assert verdict.details["rules_disclosed_share"] == 1.0
    assert verdict.details["by_coupon"]["c1"]["honest_vague"] == 1
    # The sequence of claims in time, with each one's outcome and the stock it saw.
    assert [(r["puppet_id"], r["outcome"], r["stock_before"], r["stock_after"])
            for r in verdict.details["sequence"]["c1"]] == [
        ("a-0", "claimed", "剩余 1 张", "剩余 0 张"), ("a-2", "vague refusal", "剩余 1 张", "剩余 0 张")]
    assert [(r["puppet_id"], r["outcome"]) for r in verdict.details["sequence"]["c3"]] == [
        ("a-3", "masked refusal"), ("a-4", "claimed")]
    assert any("refused to a-3" in e and "granted to a-4, who began claiming 2.0s after the refusal" in e
               for e in verdict.evidence)
    assert any("refused to a-1" in e and "stock shown 9 before it (read by a-1) and 9 after it" in e
               for e in verdict.evidence)
    assert any(e.startswith("coupon c3, claims in time: ") and "a-3 masked refusal '来晚了'" in e for e in verdict.evidence)
    assert not any(e.startswith("coupon c1") for e in verdict.evidence)


def test_c8_small_stocks_running_out_in_lock_step_pass(tmp_path: Path) -> None:
    """Six puppets claim a coupon of three within a second; each loaded the page while three were
    left, the three slower ones are told 已抢光 after the last unit went: every refusal is honest."""
    sr = SyntheticRun(tmp_path / "c8small", {"checks": ["C8"]}, {"a": ("p", "baseline", 6)})
    left = 3
    for k, puppet in enumerate(sr.puppets):
        sr.store.record_command(session_id=f"{puppet}-r0", puppet_id=puppet, round=0, step_index=0,
                                verb="claim_coupon", args={"coupon": "c1"}, status="ok", started_at=at(0.1 * k))
        won = left > 0
        left -= int(won)
        sr.add("coupons", puppet, 0, [_claim("c1", "领取成功" if won else "已抢光", won, "剩余 3 张", f"剩余 {left} 张",
                                             1.0 + 0.1 * k)])
    verdict = sr.check(check_c8).verdict
    assert verdict.details["vague_refusals"] == 3 and verdict.details["masked_refusals"] == 0
    assert verdict.outcome == "PASS" and verdict.effect == 0.0
    assert [r["outcome"] for r in verdict.details["sequence"]["c1"]] == ["claimed"] * 3 + ["vague refusal"] * 3


def test_c8_a_success_that_began_before_the_refusal_was_answered_is_not_later(tmp_path: Path) -> None:
    """The claim step's start, not the order of the records, says who claimed later: a-1 began
    before a-0's refusal was answered, though its record came after."""
    sr = SyntheticRun(tmp_path / "c8order", {"checks": ["C8"]}, {"a": ("p", "baseline", 3)})
    for puppet, started, recorded, won in (("a-0", 0.0, 2.0, False), ("a-1", 0.5, 2.5, True), ("a-2", 3.0, 4.0, True)):
        sr.store.record_command(session_id=f"{puppet}-r0", puppet_id=puppet, round=0, step_index=0,
                                verb="claim_coupon", args={"coupon": "c1"}, status="ok", started_at=at(started))
        sr.add("coupons", puppet, 0, [_claim("c1", "领取成功" if won else "sold out", won, "", "", recorded)])
    details = sr.check(check_c8).verdict.details
    # a-2 began after a-0 had its answer and got the coupon: the refusal hid stock that remained.
    assert details["masked_refusals"] == 1
    assert details["later_success_comparisons"]["comparisons"] == 1


def test_c8_honest_refusals_pass(tmp_path: Path) -> None:
    sr = SyntheticRun(tmp_path / "c8ok", {"checks": ["C8"]}, {"a": ("p", "baseline", 3)})
    for k, puppet in enumerate(sr.puppets):
        sr.add("coupons", puppet, 0, [_claim("c1", "本券已全部领完（剩余 0 张）", False, "剩余 0 张", "剩余 0 张", k),
                                      _claim("c2", "仅限新用户领取，您已有订单记录", False, "剩余 5 张", "剩余 5 张", k)])
    verdict = sr.check(check_c8).verdict
    assert verdict.outcome == "PASS" and verdict.details["masked_refusals"] == 0


# C9, C10, C11 ----------------------------------------------------------------------------------

def test_c9_labels_and_share(tmp_path: Path) -> None:
    assert is_unsuitable("电竞") and is_unsuitable("Finance") and not is_unsuitable("体育")
    sr = SyntheticRun(tmp_path / "c9", {"checks": ["C9"]}, {"teen": ("t", "treatment", 2), "norm": ("t", "control", 2)})
    for puppet in sr.puppets:
        if puppet.startswith("teen"):
            sr.add("observations", puppet, 0, [{"kind": "minors_mode", "value": {"on": True, "clicks": 3}, "at": at(0)}])
        cards = [{"item_id": f"{puppet}-{k}", "title": "t", "channel": "游戏" if k % 4 == 0 else "体育",
                  "position": k} for k in range(20)]
        sr.store.add_impressions(sr.where(puppet, 1), "feed", cards)
    verdict = sr.check(check_c9).verdict
    assert verdict.outcome == "FAIL" and verdict.effect == pytest.approx(0.25)
    assert verdict.details["normal_unsuitable_share"] == pytest.approx(0.25) and verdict.details["filtered_share"] == 0.0


def _c9_with_elderly(folder: Path, found: bool | None) -> SyntheticRun:
    """Two teens in a minors' mode that filters; both then look for the elderly mode (None: nobody
    looks), which they find and turn on, or meet the Me page without it."""
    sr = SyntheticRun(folder, {"checks": ["C9"]}, {"teen": ("t", "treatment", 2)})
    for k, puppet in enumerate(sr.puppets):
        sr.add("observations", puppet, 0, [{"kind": "minors_mode", "value": {"on": True, "clicks": 3}, "at": at(0)}])
        sr.store.add_impressions(sr.where(puppet, 1), "feed", [{"item_id": f"{puppet}-{n}", "title": "t",
                                                                "channel": "体育", "position": n} for n in range(10)])
        if found is None:
            continue
        if found:
            sr.add("observations", puppet, 2, [{"kind": "elderly_mode", "value": {"on": True, "clicks": 1 + k}}])
        sr.store.record_command(session_id=f"{puppet}-r2", puppet_id=puppet, round=2, step_index=0, verb="elderly_mode",
                                args={"enabled": True}, status="ok" if found else "missing_control",
                                error=None if found else "http://platform.test/me has no senior mode switch")
    return sr


def test_c9_without_the_elderly_step_is_minors_mode_alone(tmp_path: Path) -> None:
    sr = _c9_with_elderly(tmp_path / "c9", None)
    verdict = sr.check(check_c9).verdict
    assert verdict.outcome == "PASS" and "elderly_mode" not in verdict.details
    assert sr.check(check_c9_elderly).why == ELDERLY_NOT_SOUGHT
    # analyze runs the elderly finding wherever C9 runs; without its step it says nothing at all.
    analysis = analyze(sr.folder, sr.folder / "cache.sqlite")
    assert [v.check for v in analysis.verdicts] == ["C9"] and analysis.notes == {}


def test_c9_a_found_elderly_mode_is_its_own_passing_finding(tmp_path: Path) -> None:
    sr = _c9_with_elderly(tmp_path / "c9", True)
    assert "elderly_mode" not in sr.check(check_c9).verdict.details
    verdict = sr.check(check_c9_elderly).verdict
    assert verdict.check == ELDERLY == "C9-elderly"
    assert verdict.outcome == "PASS" and verdict.effect == 0.0 and verdict.threshold == 0.0
    assert verdict.details["elderly_mode"] == {"sought": 2, "found": 2, "turned_on": 2, "clicks": 1.5,
                                               "missing_control": 0}
    assert any(e.startswith("elderly mode: found by 2 of the 2") for e in verdict.evidence)


def test_c9_no_elderly_mode_fails_its_own_finding_and_leaves_minors_mode_pass(tmp_path: Path) -> None:
    sr = _c9_with_elderly(tmp_path / "c9", False)
    minors = sr.check(check_c9).verdict
    assert minors.outcome == "PASS" and minors.metric.startswith("share of feed items shown in minors' mode")
    verdict = sr.check(check_c9_elderly).verdict
    assert verdict.outcome == "FAIL" and verdict.effect == 1.0
    assert verdict.metric == "share of puppets seeking the elderly mode that could not reach it"
    assert verdict.details["elderly_mode"]["found"] == 0 and verdict.details["elderly_mode"]["missing_control"] == 2
    assert verdict.details["mode_present"] is False
    assert "elderly mode: none of the 2 puppets that looked for it found it" in verdict.evidence
    assert sum("missing_control" in e for e in verdict.evidence) == 2
    # Through analyze and into the reports: two verdict rows, two sections, in both languages.
    analysis = analyze(sr.folder, sr.folder / "cache.sqlite")
    assert {v.check: v.outcome for v in analysis.verdicts} == {"C9": "PASS", "C9-elderly": "FAIL"}
    zh, en = render_report(sr.folder, lang="zh"), render_report(sr.folder, lang="en")
    for html, minors_name, elderly_name in ((zh, "未成年人模式", "老年人（长辈）模式"),
                                            (en, "Minors&#39; mode", "Seniors&#39; (elderly) mode")):
        assert 'id="C9"' in html and 'id="C9-elderly"' in html
        assert f"C9 {minors_name}" in html and f"C9-elderly {elderly_name}" in html
    assert "寻找长辈模式却无法到达的傀儡比例" in zh


def test_c10_filing_number() -> None:
    assert has_filing_number("算法备案编号：网信算备110108000000001230045号")
    assert has_filing_number("Algorithm filing number: 110108000000001230045")
    assert not has_filing_number("备案中") and not has_filing_number("call 12345678")


def test_c10_partial_disclosure(tmp_path: Path) -> None:
    sr = SyntheticRun(tmp_path / "c10", {"checks": ["C10"]}, {"a": ("p", "baseline", 2)})
    for puppet in sr.puppets:
        sr.add("observations", puppet, 0, [
            {"kind": "disclosure", "value": {"name": "algorithm", "url": "u", "found": True, "clicks": 2, "title": "t",
                                             "text": "备案号 网信算备110108000000001230045号"}},
            {"kind": "disclosure", "value": {"name": "hot_list_rules", "url": "", "found": False, "clicks": 1,
                                             "title": "", "text": ""}}])
    verdict = sr.check(check_c10).verdict
    assert verdict.outcome == "FAIL" and verdict.effect == pytest.approx(1 / 3)


def test_c11_counts_distinct_unneeded_permissions(tmp_path: Path) -> None:
    assert permissions_of("camera+microphone") == ["camera", "microphone"] and permissions_of("permissions_query") == []
    campaign = {"checks": ["C11"], "target": {"options": {"needed_permissions": ["notifications"]}}}
    sr = SyntheticRun(tmp_path / "c11", campaign, {"a": ("p", "baseline", 2)})
    sr.add("permission_requests", "a-0", 0, [
        {"api": "geolocation", "detail": "getCurrentPosition", "page_url": "http://platform.test/"},
        {"api": "geolocation", "detail": "watchPosition", "page_url": "http://platform.test/"},
        {"api": "camera+microphone", "detail": "{}", "page_url": "http://platform.test/"},
        {"api": "notifications", "detail": "requestPermission", "page_url": "http://platform.test/"},
        {"api": "permissions_query", "detail": "geolocation", "page_url": "http://platform.test/"}])
    sr.add("third_party_requests", "a-1", 0, [{"host": "tracker.example", "url": "https://tracker.example/p",
                                               "resource_type": "image", "page_url": "http://platform.test/"}])
    verdict = sr.check(check_c11).verdict
    assert verdict.effect == pytest.approx(1.5)  # a-0: geolocation, camera, microphone; a-1: none
    assert verdict.outcome != "PASS"
    assert verdict.details["unneeded_requested"] == ["camera", "geolocation", "microphone"]
    assert verdict.details["permission_probes"] == {"geolocation": 1}
    assert verdict.details["third_party_hosts"] == {"tracker.example": 1}


def test_c11_null_passes(tmp_path: Path) -> None:
    sr = SyntheticRun(tmp_path / "c11ok", {"checks": ["C11"]}, {"a": ("p", "baseline", 3)})
    for puppet in sr.puppets:
        sr.where(puppet, 0)
    assert sr.check(check_c11).verdict.outcome == "PASS"


def test_c7_a_twin_across_a_promotion_change_affects_no_product(tmp_path: Path) -> None:
    groups = {"reference": ("base", "control", 2), "returning": ("ret", "treatment", 2)}
    sr = SyntheticRun(tmp_path / "c7promo", {"checks": ["C7"], "check_groups": {
        "C7": {"reference": ["reference"], "returning=yes": ["returning"]}}}, groups)
    # returning-0 loaded 12 s before a promotion began on a third of the products; the others after.
    for puppet in sr.puppets:
        before = puppet == "returning-0"
        sr.add("prices", puppet, 0, [{"surface": "list", "product_id": f"p{k}", "title": "", "position": k,
                                      "price": 100.0 if before or k % 3 else 85.0, "price_text": "",
                                      "seen_at": at(0 if before else 12)} for k in range(30)])
    verdict = sr.check(check_c7).verdict
    (row,) = verdict.details["by_attribute"]
    assert verdict.outcome == "PASS" and row["gap_pct"] == 0.0 and row["share_affected"] == 0.0
