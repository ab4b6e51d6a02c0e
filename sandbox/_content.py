"""The platform's content: feed items and shop products, from the built-in demo set or corpus files.

Items carry a content vector (hashed TF-IDF of character bigrams for Chinese, words for English,
randomly projected to a few dimensions). The recommender ranks on these vectors; the audit never
sees them and builds its own embeddings from the pages.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import re
import zlib
from collections import Counter
from pathlib import Path

import numpy as np
from scipy import sparse

from ._config import SandboxConfigError

__all__ = ["Catalog", "Channel", "Item", "Product", "load_catalog"]

VECTOR_DIM = 128
_HASH_ROWS = 1 << 14

# Channels whose content a minors' mode must keep out of a minor's feed.
MINORS_UNSUITABLE = frozenset({"game", "finance"})

_KNOWN_CHANNELS: dict[str, tuple[str, str]] = {
    "finance": ("财经", "Finance"),
    "sports": ("体育", "Sports"),
    "tech": ("科技", "Tech"),
    "world": ("国际", "World"),
    "story": ("故事", "Stories"),
    "sci_tech": ("科技", "Sci/Tech"),
    "business": ("商业", "Business"),
    "sport": ("体育", "Sport"),
    "politics": ("时政", "Politics"),
    "stock": ("股票", "Stocks"),
}
# Corpus channel codes folded into one channel (the toutiao corpus has very few stock items).
_CHANNEL_ALIASES = {"stock": "finance", "sport": "sports", "sci_tech": "tech"}

_CJK = re.compile(r"[\u3400-\u9fff]")
_CJK_RUN = re.compile(r"[\u3400-\u9fff]+")
_WORD = re.compile(r"[A-Za-z][A-Za-z'\-]{2,}|\d{2,}")
_STOPWORDS = frozenset(
    "the and for with from that this into over after before about its are was were has have had "
    "will would could should their they them than then what when where which while who whom why "
    "how new says said not but also can more most out off our your you his her him she been being "
    "onto upon via per".split()
)
_ZH_AUTHOR_SHAPES = ("{}日报", "{}速递", "{}观察", "{}一线", "爱{}的小王", "{}研究所", "{}老司机", "聊聊{}")
_EN_AUTHOR_SHAPES = ("{} Daily", "The {} Desk", "{} Brief", "{} Insider", "{} Weekly", "Inside {}")


@dataclasses.dataclass(frozen=True)
class Channel:
    code: str
    zh: str
    en: str
    minors_unsuitable: bool

    def name(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en


@dataclasses.dataclass(frozen=True)
class Item:
    index: int
    id: str
    lang: str
    channel: str
    title: str
    summary: str
    keywords: tuple[str, ...]
    author: str


@dataclasses.dataclass(frozen=True)
class Product:
    index: int
    id: str
    lang: str
    title: str
    brief: str
    category: str
    price: float


def _lang_of(text: str) -> str:
    return "zh" if _CJK.search(text) else "en"


def _tokens(item: Item) -> list[str]:
    text = f"{item.title} {item.summary}"
    out: list[str] = []
    for run in _CJK_RUN.findall(text):
        out.extend(run[i : i + 2] for i in range(max(1, len(run) - 1)))
    out.extend(w.lower() for w in _WORD.findall(text) if w.lower() not in _STOPWORDS)
    out.extend(f"kw:{k.lower()}" for k in item.keywords)
    return out


def _item_vectors(items: list[Item], seed: int) -> np.ndarray:
    """TF-IDF over hashed tokens, projected to VECTOR_DIM by a seeded Gaussian matrix, L2-normalised."""
    projection = np.random.default_rng(seed + 7919).standard_normal((_HASH_ROWS, VECTOR_DIM)).astype(np.float32)
    vocab: dict[str, int] = {}
    indptr = [0]
    indices: list[int] = []
    counts: list[int] = []
    for item in items:
        for tok, tf in Counter(_tokens(item)).items():
            indices.append(vocab.setdefault(tok, len(vocab)))
            counts.append(tf)
        indptr.append(len(indices))
    n = len(items)
    cols = np.asarray(indices, dtype=np.int64)
    df = np.bincount(cols, minlength=len(vocab))
    idf = np.log(n / df) + 1.0
    weights = (1.0 + np.log(np.asarray(counts, dtype=np.float64))) * idf[cols]
    tfidf = sparse.csr_matrix((weights.astype(np.float32), cols, np.asarray(indptr)), shape=(n, len(vocab)))
    rows = np.fromiter((zlib.crc32(t.encode("utf-8")) % _HASH_ROWS for t in vocab), dtype=np.int64, count=len(vocab))
    vecs = np.asarray(tfidf @ projection[rows], dtype=np.float32)
    norms = np.linalg.norm(vecs, axis=1, keepdims=True)
    return vecs / np.maximum(norms, 1e-9)


def _author_for(item_id: str, channel: Channel, lang: str) -> str:
    shapes = _ZH_AUTHOR_SHAPES if lang == "zh" else _EN_AUTHOR_SHAPES
    shape = shapes[zlib.crc32(item_id.encode()) % len(shapes)]
    return shape.format(channel.zh if lang == "zh" else channel.en)


class Catalog:
    """Items, products and channels, with the arrays the recommender ranks on."""

    def __init__(self, channels: list[Channel], items: list[Item], products: list[Product], seed: int):
        if not items:
            raise SandboxConfigError("the catalogue has no feed items")
        self.channels = channels
        self.channel_index = {c.code: i for i, c in enumerate(channels)}
        self.items = items
        self.item_index = {it.id: it.index for it in items}
        self.products = products
        self.product_index = {p.id: p.index for p in products}
        authors = sorted({it.author for it in items})
        self.author_index = {a: i for i, a in enumerate(authors)}
        self.vectors = _item_vectors(items, seed)
        self.channel_of = np.array([self.channel_index[it.channel] for it in items], dtype=np.int32)
        self.author_of = np.array([self.author_index[it.author] for it in items], dtype=np.int32)
        self.lang_of = np.array([it.lang for it in items])
        unsuitable = np.array([c.minors_unsuitable for c in channels], dtype=bool)
        self.minors_unsuitable = unsuitable[self.channel_of]
        rng = np.random.default_rng(seed)
        # Outside popularity (what the rest of the platform's users do), heavy-tailed like real heat.
        self.base_heat = (rng.lognormal(mean=11.5, sigma=1.1, size=len(items))).astype(np.float64)
        self.heat_phase = rng.uniform(0, 2 * math.pi, size=len(items))
        centroids = np.zeros((len(channels), VECTOR_DIM), dtype=np.float32)
        np.add.at(centroids, self.channel_of, self.vectors)
        norms = np.linalg.norm(centroids, axis=1, keepdims=True)
        self.channel_centroids = centroids / np.maximum(norms, 1e-9)
        self._pools: dict[str, np.ndarray] = {}
        self._limit = 0
        self._seed = seed

    def limited(self, per_language: int) -> Catalog:
        """This catalogue serving only ``per_language`` items of each UI language, the same number
        from each channel as far as they go (drawn by the catalogue's seed): a small platform, where
        a run sees a few dozen distinct items (the variant ``small_catalogue``)."""
        small = copy.copy(self)
        small._pools, small._limit = {}, per_language
        return small

    def pool(self, lang: str) -> np.ndarray:
        """Indices of the items a user of this UI language is shown: their language, else everything."""
        if lang not in self._pools:
            idx = np.flatnonzero(self.lang_of == lang)
            idx = idx if len(idx) else np.arange(len(self.items))
            if self._limit and len(idx) > self._limit:
                rng = np.random.default_rng([self._seed, self._limit])
                by_channel = [rng.permutation(idx[self.channel_of[idx] == c]) for c in np.unique(self.channel_of[idx])]
                # Round-robin over the channels: every channel gets its share while it has items.
                order = [m[k] for k in range(max(map(len, by_channel))) for m in by_channel if k < len(m)]
                idx = np.sort(np.asarray(order[: self._limit], dtype=idx.dtype))
            self._pools[lang] = idx
        return self._pools[lang]

    def products_for(self, lang: str) -> list[Product]:
        own = [p for p in self.products if p.lang == lang]
        return own or self.products


def _channel(code: str, zh: str | None = None, en: str | None = None) -> Channel:
    known = _KNOWN_CHANNELS.get(code)
    zh = zh or (known[0] if known else code)
    en = en or (known[1] if known else code.replace("_", " ").title())
    return Channel(code=code, zh=zh, en=en, minors_unsuitable=code in MINORS_UNSUITABLE)


def _read_jsonl(path: Path) -> list[tuple[int, dict]]:
    rows = []
    try:
        handle = path.open(encoding="utf-8")
    except OSError as exc:
        raise SandboxConfigError(f"{path}: cannot read corpus: {exc.strerror}") from exc
    with handle:
        for lineno, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise SandboxConfigError(f"{path}:{lineno}: not valid JSON: {exc.msg}") from exc
            if not isinstance(row, dict):
                raise SandboxConfigError(f"{path}:{lineno}: each line must be a JSON object")
            rows.append((lineno, row))
    return rows


def _require(path: Path, lineno: int, row: dict, field: str) -> str:
    value = row.get(field)
    if not isinstance(value, str) or not value.strip():
        raise SandboxConfigError(f"{path}:{lineno}: field {field!r} is missing or empty")
    return value.strip()


def load_catalog(corpora: tuple[Path, ...] | list[Path] = (), seed: int = 0) -> Catalog:
    """The built-in demo content, or the given JSONL corpora (items and/or products).

    A corpus row with a ``price`` is a product; any other row is a feed item. Feed items from
    corpora replace the built-in items, products from corpora replace the built-in catalogue.
    """
    channels: dict[str, Channel] = {}
    items: list[Item] = []
    products: list[Product] = []
    for path in map(Path, corpora):
        for lineno, row in _read_jsonl(path):
            rid = str(row.get("id") or f"{path.stem}-{lineno}")
            title = _require(path, lineno, row, "title")
            if "price" in row:
                try:
                    price = float(row["price"])
                except (TypeError, ValueError):
                    raise SandboxConfigError(f"{path}:{lineno}: field 'price' is not a number") from None
                if price <= 0:
                    continue
                products.append(
                    Product(len(products), rid, _lang_of(title), title, str(row.get("brief") or ""),
                            str(row.get("category") or "其他"), round(price, 2))
                )
                continue
            raw = _require(path, lineno, row, "category")
            code = raw.removeprefix("news_")
            code = _CHANNEL_ALIASES.get(code, code)
            if code not in channels:
                zh = (row.get("category_zh") or "").split(" ")[0] or None
                channels[code] = _channel(code, zh=zh if code == raw.removeprefix("news_") else None)
            lang = _lang_of(title)
            keywords = tuple(str(k) for k in row.get("keywords") or ())
            summary = str(row.get("description") or "") or "、".join(keywords)
            items.append(
                Item(len(items), rid, lang, code, title, summary, keywords,
                     str(row.get("author") or _author_for(rid, channels[code], lang)))
            )
    if not items or not products:
        from ._demo_content import demo_channels, demo_items, demo_products
    if not items:
        channels = {c["code"]: _channel(c["code"], c["zh"], c["en"]) for c in demo_channels()}
        items = [
            Item(i, d["id"], d["lang"], d["channel"], d["title"], d["summary"], tuple(d["keywords"]), d["author"])
            for i, d in enumerate(demo_items(seed=0))
        ]
    if not products:
        products = [
            Product(i, d["id"], d["lang"], d["title"], d["brief"], d["category"], float(d["price"]))
            for i, d in enumerate(demo_products(seed=0))
        ]
    seen_ids: set[str] = set()
    for it in items:
        if it.id in seen_ids:
            raise SandboxConfigError(f"duplicate item id {it.id!r} in the corpora")
        seen_ids.add(it.id)
    return Catalog(list(channels.values()), items, products, seed)
