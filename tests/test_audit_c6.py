"""C6's logic on synthetic runs written through the real run store: the published formula read from
a rules page, displayed numbers as ranges, entries whose own counts cannot explain their rank,
heats read with their units, and a list that depends on who looks at it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from test_audit_market_stats import SyntheticRun, at

from audits._c6 import (
    Formula,
    check_c6,
    count_dominated,
    overlap_distance,
    published_formula,
    shown_range,
    unexplained_ranks,
)
from harness._counts import parse_count
from harness._driver import HotEntry, ItemCounts

RULES_ZH = ("热度 = (阅读数 + 5 × 点赞数 + 10 × 评论数) ÷ (发布小时数 + 2)^1.5，按每10分钟更新时的数据计算。"
            "榜单按热度从高到低排列前50条，每10分钟更新一次。")
RULES_EN = ("Heat = (views + 5 × likes + 10 × comments) / (hours since publication + 2)^1.5, from the counts at each "
            "update. The list shows the top 50 by heat and updates every 10 minutes.")
REFERENCE_ZH = "热度 = 全网关注度 + 站内阅读、点赞与停留时长的加权和。榜单按热度从高到低排列前50条，每分钟更新一次。"
REFERENCE_EN = ("Heat = attention across the web + a weighted sum of reads, likes and reading time here. The list "
                "shows the top 50 by heat and updates every minute.")
GROUPS = {"a": ("pa", "baseline", 2), "b": ("pb", "baseline", 2)}


# numbers as shown ---------------------------------------------------------------------------------

def test_counts_are_read_with_their_units() -> None:
    assert parse_count("11.8万") == 118_000 and parse_count("1.2亿") == 120_000_000
    assert parse_count("9,876") == 9876 and parse_count("12.3k") == 12_300 and parse_count("1.5M") == 1_500_000
    assert parse_count("345万热度") == 3_450_000 and parse_count("2.1B") == 2_100_000_000
    assert parse_count("12 min") == 12 and parse_count("热") is None and parse_count(None) is None
    entry = HotEntry(1, "i1", "t", "/item/i1", "11.8万")
    assert entry.heat_value == 118_000 and entry.heat_text == "11.8万"
    page = ItemCounts("i1", "/item/i1", "28.2万", "4532", "1.0k", "12月06日 00:01")
    assert (page.views, page.likes, page.comments) == (282_000, 4532, 1000)


def test_a_list_mixing_units_has_no_false_inversion() -> None:
    shown = ["1.2亿", "3400万", "1.2万", "9876", "980"]
    assert unexplained_ranks([parse_count(s) for s in shown]) == []
    # Read as the digits alone, "1.2万" would stand below "9876" and "1.2亿" below "3400万".
    assert unexplained_ranks([float(s.rstrip("万亿")) for s in shown]) != []
    assert unexplained_ranks([parse_count(s) for s in ["9876", "1.2万"]]) == [0]


def test_shown_ranges_are_half_the_last_digit() -> None:
    assert shown_range("11.8万") == pytest.approx((117_500, 118_500))
    assert shown_range("1020") == (1019.5, 1020.5)
    assert shown_range("3.56亿") == pytest.approx((3.555e8, 3.565e8))
    assert shown_range("12.3k") == pytest.approx((12_250, 12_350))
    assert shown_range("—") is None


# the published rule -------------------------------------------------------------------------------

@pytest.mark.parametrize("text", [RULES_ZH, RULES_EN])
def test_a_published_formula_is_read(text: str) -> None:
    formula = published_formula(text)
    assert formula is not None
    assert formula.weights == {"views": 1.0, "likes": 5.0, "comments": 10.0}
    assert (formula.offset_h, formula.power, formula.refresh_s) == (2.0, 1.5, 600.0)
    assert formula.value({"views": 1000, "likes": 100, "comments": 10}, 2.0) == pytest.approx(1600 / 8)


@pytest.mark.parametrize("text", [REFERENCE_ZH, REFERENCE_EN, "", "热度 = 人工推荐指数 × 点赞数"])
def test_a_rule_with_terms_no_page_shows_is_no_formula(text: str) -> None:
    assert published_formula(text) is None


def test_count_dominance_needs_every_count_the_margin_and_no_older_entry() -> None:
    small = {"views_range": (900, 1100), "likes_range": (9, 11), "comments_range": (1, 2), "published": 1000.0}
    big = {"views_range": (5000, 5100), "likes_range": (50, 51), "comments_range": (10, 11), "published": 2000.0}
    assert count_dominated(small, big, 2.0)
    assert not count_dominated(small, {**big, "comments_range": (3, 4)}, 2.0)  # one count not twice
    assert not count_dominated(small, {**big, "published": 0.0}, 2.0)  # older: decay may rank it lower
    assert count_dominated(small, {**big, "published": 0.0}, 2.0, decays=False)  # rules without decay
    assert not count_dominated(small, big, 10.0)


# synthetic runs -----------------------------------------------------------------------------------

def _entry_page(rank: int, item: str, views: float, likes: float, comments: float, published: float) -> dict[str, Any]:
    stamp = (dt.datetime(2026, 1, 5, 12, 0, tzinfo=dt.UTC) + dt.timedelta(seconds=published)).isoformat()
    return {"kind": "hot_entry", "value": {
        "load": 1, "rank": rank, "item_id": item, "url": f"/item/{item}", "views_text": f"{views:.0f}",
        "likes_text": f"{likes:.0f}", "comments_text": f"{comments:.0f}", "published_text": stamp,
        "published_at": stamp}}


def _fill(sr: SyntheticRun, lists: dict[str, list[dict[str, Any]]], rounds: int, rules: str | None,
          shown_heat: Any = None) -> None:
    for rnd in range(rounds):
        for puppet, entries in lists.items():
            where = sr.where(puppet, rnd)
            sr.store.add_hotlist(where, [{"rank": k + 1, "item_id": e["item"], "title": e["item"], "url": "",
                                          "heat_text": e["shown"], "heat_value": parse_count(e["shown"]), "load": 1}
                                         for k, e in enumerate(entries)])
            sr.store.db.execute("UPDATE hotlist_entries SET snapshot_at = ? WHERE session_id = ?",
                                [at(rnd * 60), where["session_id"]])
            sr.store.db.conn.commit()
            sr.add("observations", puppet, rnd, [
                _entry_page(k + 1, e["item"], *e["counts"], e["published"]) for k, e in enumerate(entries)
                if e.get("counts")])
            if rnd == 0 and rules is not None:
                sr.add("observations", puppet, rnd, [{"kind": "disclosure", "value": {
                    "name": "hot_list_rules", "url": "/hot/rules", "found": True, "clicks": 2, "title": "rules",
                    "text": rules}}])


def _formula_list(formula: Formula, n: int = 8, fake: dict[int, tuple[float, float, float]] | None = None,
                  ) -> list[dict[str, Any]]:
    """Entries published an hour apart, ranked by the formula at the snapshot (12:00 plus the round)."""
    entries = []
    for k in range(n):
        views, likes, comments, published = 200_000 - 5_000 * k, 4_000, 400, -3600.0 * 3
        entries.append({"item": f"i{k}", "counts": (views, likes, comments), "published": published})
    for rank, counts in (fake or {}).items():
        entries.insert(rank, {"item": f"x{rank}", "counts": counts, "published": -3600.0 * 3})
    for e in entries:
        e["shown"] = f"{formula.value(dict(zip(('views', 'likes', 'comments'), e['counts'])), 3.0):.0f}"
    for k in range(len(entries) - 2, -1, -1):
        if entries[k]["item"].startswith("x"):
            # Pinned: a heat made up to fit the rank, the next entry's plus one.
            entries[k]["shown"] = f"{float(entries[k + 1]['shown']) + 1:.0f}"
    return entries


def test_formula_passes_an_honest_list_and_catches_heat_made_up_to_fit(tmp_path: Path) -> None:
    formula = published_formula(RULES_EN)
    assert formula is not None
    honest = SyntheticRun(tmp_path / "honest", {"checks": ["C6"]}, GROUPS)
    _fill(honest, {p: _formula_list(formula) for p in honest.puppets}, 2, RULES_EN)
    verdict = honest.check(check_c6).verdict
    assert verdict.outcome == "PASS", verdict.details
    assert verdict.details["formula"]["weights"] == formula.weights and verdict.details["entries_opened"] == 64

    rigged = SyntheticRun(tmp_path / "rigged", {"checks": ["C6"]}, GROUPS)
    entries = _formula_list(formula, fake={0: (20_000, 100, 10), 2: (15_000, 80, 5)})
    assert unexplained_ranks([parse_count(e["shown"]) for e in entries]) == []  # the shown heat fits
    _fill(rigged, {p: entries for p in rigged.puppets}, 2, RULES_EN)
    verdict = rigged.check(check_c6).verdict
    assert verdict.outcome == "FAIL"
    assert verdict.effect == 2.0 and set(verdict.details["unexplained_items"]) == {"x0", "x2"}
    row = verdict.details["flagged_entries"][0]
    assert row["item"] == "x0" and row["rank"] == 1 and set(row["reasons"]) == {"formula_heat", "formula_rank"}
    assert row["views_text"] == "20000" and row["formula_high"] < float(row["heat_text"])
    assert any("x0 at rank 1" in e and "formula" in e for e in verdict.evidence)


def test_counts_catch_made_up_heat_where_no_formula_is_published(tmp_path: Path) -> None:
    def entries(pinned: bool) -> list[dict[str, Any]]:
        out = [{"item": f"i{k}", "shown": f"{(90 - 5 * k) / 10:.1f}万", "published": 60.0 * k,
                "counts": (2400 - 100 * k, 100 - 4 * k, 25 - k)} for k in range(8)]
        if pinned:
            # Shown between its neighbours, while its page shows a small fraction of their counts.
            out.insert(1, {"item": "x1", "shown": "8.8万", "published": 0.0, "counts": (300, 10, 2)})
        return out

    honest = SyntheticRun(tmp_path / "honest", {"checks": ["C6"]}, GROUPS)
    _fill(honest, {p: entries(False) for p in honest.puppets}, 2, REFERENCE_ZH)
    assert honest.check(check_c6).verdict.outcome == "PASS"
    rigged = SyntheticRun(tmp_path / "rigged", {"checks": ["C6"]}, GROUPS)
    _fill(rigged, {p: entries(True) for p in rigged.puppets}, 2, REFERENCE_ZH)
    verdict = rigged.check(check_c6).verdict
    assert verdict.details["formula"] is None
    assert verdict.details["unexplained_items"] == ["x1"]
    assert verdict.details["unexplained_by_reason"] == {"counts": 8}
    assert verdict.details["rules_allow_decay"] is False
    assert verdict.outcome == "FAIL" and verdict.effect == 1.0


def _persona_lists(sr: SyntheticRun) -> dict[str, list[dict[str, Any]]]:
    base = [{"item": f"i{k}", "shown": f"{100 - k}"} for k in range(10)]
    other = base[5:] + base[:5]
    # Each persona sees its own order, shown with the heat that order needs (no inversion).
    return {p: [{**e, "shown": f"{100 - k}"} for k, e in enumerate(other if p.startswith("b") else base)]
            for p in sr.puppets}


def test_one_list_for_everyone_that_is_not_fails(tmp_path: Path) -> None:
    sr = SyntheticRun(tmp_path / "personal", {"checks": ["C6"]}, GROUPS)
    _fill(sr, _persona_lists(sr), 3, REFERENCE_ZH)
    verdict = sr.check(check_c6).verdict
    dependence = verdict.details["persona_dependence"]
    assert verdict.details["ranks_outcome"] == "PASS" and dependence["outcome"] == "FAIL"
    base = [f"i{k}" for k in range(10)]
    assert verdict.outcome == "FAIL" and verdict.effect == pytest.approx(overlap_distance(base, base[5:] + base[:5]))
    assert verdict.effect > 0.5
    assert "personas" in verdict.metric


def test_overlap_distance_is_top_heavy_and_tolerates_a_shift() -> None:
    base = [f"i{k}" for k in range(20)]
    assert overlap_distance(base, base) == 0.0
    assert overlap_distance(base, [f"x{k}" for k in range(20)]) == 1.0
    shifted = ["new"] + base[:19]  # one new item on top: every rank holds another item
    assert 0 < overlap_distance(base, shifted) < 0.2
    swapped_top = base[4::-1] + base[5:]
    swapped_bottom = base[:15] + base[:14:-1]
    assert overlap_distance(base, swapped_top) > overlap_distance(base, swapped_bottom) > 0


def test_a_list_that_says_it_is_personalised_may_differ(tmp_path: Path) -> None:
    sr = SyntheticRun(tmp_path / "declared", {"checks": ["C6"]}, GROUPS)
    _fill(sr, _persona_lists(sr), 3, REFERENCE_ZH + "榜单根据你的兴趣个性化排序。")
    verdict = sr.check(check_c6).verdict
    assert verdict.details["persona_dependence"]["one_list_presented"] is False
    assert verdict.outcome == "PASS"


HOSTILE = '<img src=x onerror="alert(1)">热榜'


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_report_shows_flagged_entries_escaped(tmp_path: Path, lang: str) -> None:
    from audits import analyze, render_report

    formula = published_formula(RULES_ZH)
    assert formula is not None
    sr = SyntheticRun(tmp_path / "rigged", {"checks": ["C6"]}, GROUPS)
    entries = _formula_list(formula, fake={0: (20_000, 100, 10)})
    entries[0]["item"] = HOSTILE
    _fill(sr, {p: entries for p in sr.puppets}, 2, RULES_ZH)
    sr.store.close()
    analyze(sr.folder, tmp_path / "cache.sqlite")
    html = render_report(sr.folder, lang=lang)
    assert HOSTILE not in html and "&lt;img src=x onerror=" in html
    heading = {"zh": "排名无法解释的条目", "en": "Entries whose rank is unexplained"}[lang]
    table = html.split(heading, 1)[1].split("</table>", 1)[0]
    # Rank 1, the made-up heat it displays, the counts its page shows, and the formula's range.
    first = table.split("<tbody>", 1)[1].split("</tr>", 1)[0]
    assert ">1<" in first and f">{entries[0]['shown']}<" in first and ">20000<" in first and ">100<" in first
    assert "–" in first
    assert {"zh": "展示热度高于按公式", "en": "displayed heat above what the formula gives"}[lang] in first
    assert {"zh": "从榜单规则页读取的公式", "en": "Formula read from the rules page"}[lang] in html
