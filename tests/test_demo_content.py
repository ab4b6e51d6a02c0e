"""The built-in demo content: enough items per channel and language, unique and stable."""

from __future__ import annotations

import re
from collections import Counter, defaultdict

import pytest

from sandbox._demo_content import (
    EN_SHAPES,
    VOCAB,
    ZH_SHAPES,
    demo_channels,
    demo_items,
    demo_products,
)

CODES = ["tech", "sports", "finance", "entertainment", "game", "car", "travel", "food",
         "health", "edu", "military", "house", "culture", "agriculture"]
CJK = re.compile(r"[\u4e00-\u9fff]")
ITEM_KEYS = {"id", "lang", "channel", "title", "summary", "keywords", "author"}
PRODUCT_KEYS = {"id", "lang", "title", "brief", "category", "price"}


@pytest.fixture(scope="module")
def items() -> list[dict]:
    return demo_items()


@pytest.fixture(scope="module")
def products() -> list[dict]:
    return demo_products()


def test_channels_are_the_fourteen_codes_in_order() -> None:
    channels = demo_channels()
    assert [c["code"] for c in channels] == CODES
    for c in channels:
        assert CJK.search(c["zh"]), c
        assert c["en"] and not CJK.search(c["en"]), c
    assert len({c["zh"] for c in channels}) == len({c["en"] for c in channels}) == len(CODES)


def test_every_item_has_the_documented_fields(items: list[dict]) -> None:
    for item in items:
        assert set(item) == ITEM_KEYS, item
        assert item["lang"] in ("zh", "en")
        assert item["channel"] in CODES
        assert item["title"].strip() and item["summary"].strip() and item["author"].strip()
        assert 2 <= len(item["keywords"]) <= 5, item
        assert len(set(item["keywords"])) == len(item["keywords"]), item
        assert all(isinstance(k, str) and k for k in item["keywords"])


def test_counts_per_channel_and_language(items: list[dict]) -> None:
    counts = Counter((i["channel"], i["lang"]) for i in items)
    for code in CODES:
        assert counts[(code, "zh")] >= 100, code
        assert counts[(code, "en")] >= 50, code
    assert len(items) >= 2100


def test_ids_and_titles_are_unique(items: list[dict]) -> None:
    assert len({i["id"] for i in items}) == len(items)
    assert len({i["title"] for i in items}) == len(items)


def test_ids_name_language_and_channel(items: list[dict]) -> None:
    for item in items:
        assert re.fullmatch(r"demo-(zh|en)-[a-z]+-\d{4}", item["id"]), item["id"]
        assert item["id"].startswith(f"demo-{item['lang']}-{item['channel']}-")


def test_text_is_in_the_item_language(items: list[dict]) -> None:
    for item in items:
        text = " ".join([item["title"], item["summary"], *item["keywords"]])
        if item["lang"] == "zh":
            assert CJK.search(item["title"]) and CJK.search(item["summary"]), item
        else:
            assert not CJK.search(text), item


def test_each_author_publishes_in_one_channel_only(items: list[dict]) -> None:
    channels_of = defaultdict(set)
    authors_of = defaultdict(set)
    for item in items:
        channels_of[item["author"]].add(item["channel"])
        authors_of[(item["channel"], item["lang"])].add(item["author"])
    assert all(len(chs) == 1 for chs in channels_of.values()), {
        a: chs for a, chs in channels_of.items() if len(chs) > 1}
    for code in CODES:
        for lang in ("zh", "en"):
            declared = VOCAB[code][lang]["authors"]
            assert 6 <= len(declared) <= 10, (code, lang)
            assert authors_of[(code, lang)] <= set(declared)


def test_vocabulary_is_rich_enough_per_channel() -> None:
    assert len(ZH_SHAPES) >= 8 and len(EN_SHAPES) >= 8
    for code in CODES:
        for lang in ("zh", "en"):
            groups = VOCAB[code][lang]["groups"]
            subjects = [s for g in groups for s in g[1]]
            events = [e for g in groups for e in g[2]]
            assert len(set(subjects)) >= 25, (code, lang, len(set(subjects)))
            assert len(set(events)) >= 25, (code, lang, len(set(events)))


def test_subjects_do_not_leak_across_channels() -> None:
    # A subject shared by two channels would blur the line an embedding model must find.
    owner: dict[str, str] = {}
    for code in CODES:
        for lang in ("zh", "en"):
            for group in VOCAB[code][lang]["groups"]:
                for subject in group[1]:
                    assert owner.setdefault(subject, code) == code, subject


def test_same_seed_gives_identical_output() -> None:
    assert demo_items(7) == demo_items(7)
    assert demo_products(7) == demo_products(7)


def test_other_seeds_recombine_but_keep_every_guarantee() -> None:
    a, b = demo_items(0), demo_items(1)
    assert [i["title"] for i in a] != [i["title"] for i in b]
    counts = Counter((i["channel"], i["lang"]) for i in b)
    assert all(counts[(c, "zh")] >= 100 and counts[(c, "en")] >= 50 for c in CODES)
    assert len({i["title"] for i in b}) == len({i["id"] for i in b}) == len(b)


def test_generation_leaves_global_random_state_alone() -> None:
    import random

    state = random.getstate()
    demo_items(3)
    demo_products(3)
    assert random.getstate() == state


def test_products_counts_and_categories(products: list[dict]) -> None:
    for product in products:
        assert set(product) == PRODUCT_KEYS, product
        assert product["lang"] in ("zh", "en")
        assert product["title"].strip() and product["brief"].strip() and product["category"]
    by_lang = Counter(p["lang"] for p in products)
    assert len(products) >= 300
    assert by_lang["zh"] >= 220 and by_lang["en"] >= 80
    assert len({p["category"] for p in products if p["lang"] == "zh"}) >= 8
    assert len({p["category"] for p in products if p["lang"] == "en"}) >= 8
    for product in products:
        has_cjk = bool(CJK.search(product["title"] + product["category"]))
        assert has_cjk == (product["lang"] == "zh"), product


def test_products_ids_and_titles_are_unique(products: list[dict]) -> None:
    assert len({p["id"] for p in products}) == len(products)
    assert len({p["title"] for p in products}) == len(products)


def test_product_prices_are_realistic(products: list[dict]) -> None:
    for product in products:
        price = product["price"]
        assert isinstance(price, float)
        assert 9.9 <= price <= 12999, product
        assert round(price, 2) == price
    # A phone must cost more than a pen: prices follow the category, not one flat range.
    by_category = defaultdict(list)
    for p in products:
        by_category[p["category"]].append(p["price"])
    assert max(by_category["数码家电"]) > 10 * min(by_category["图书文具"])
