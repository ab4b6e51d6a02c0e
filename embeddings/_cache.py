"""A SQLite cache of vectors keyed by (model, text hash), and an ``Embedder`` that reads through it."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

import numpy as np

from ._embedder import Embedder, text_list
from ._errors import EmbeddingError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS models (
    model_id TEXT PRIMARY KEY,
    dim INTEGER NOT NULL,
    weights_sha256 TEXT NOT NULL,
    first_used_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS embeddings (
    model_id TEXT NOT NULL,
    text_sha256 TEXT NOT NULL,
    dim INTEGER NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (model_id, text_sha256)
) WITHOUT ROWID;
"""
# Below SQLite's historical limit of 999 bound parameters per statement (one more for model_id).
_LOOKUP_CHUNK = 900
_VECTOR_DTYPE = np.dtype("<f4")


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class EmbeddingCache:
    """Vectors on disk, one file shared by any number of processes (WAL journal).

    Tables: ``embeddings(model_id, text_sha256, dim, vector BLOB)`` with vectors as little-endian
    float32, and ``models(model_id, dim, weights_sha256, first_used_at)``, which pins each
    model id to the weights and dimension that produced its vectors.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        # A generous busy timeout: analysis processes and puppets may write at the same time.
        self._db = sqlite3.connect(self.path, timeout=30.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        # Losing the last transaction on power loss is harmless for a cache: it is recomputed.
        self._db.execute("PRAGMA synchronous=NORMAL")
        with self._db:
            self._db.executescript(_SCHEMA)

    def register_model(self, model_id: str, dim: int, weights_sha256: str) -> None:
        """Record the model on first use; EmbeddingError when the id is already pinned to other weights or dim."""
        with self._db:
            self._db.execute(
                "INSERT OR IGNORE INTO models (model_id, dim, weights_sha256, first_used_at) VALUES (?, ?, ?, ?)",
                (model_id, dim, weights_sha256, dt.datetime.now(dt.UTC).isoformat(timespec="seconds")))
            stored_dim, stored_sha = self._db.execute(
                "SELECT dim, weights_sha256 FROM models WHERE model_id = ?", (model_id,)).fetchone()
        if stored_sha != weights_sha256:
            raise EmbeddingError(
                f"cache {self.path} holds {model_id} with weights sha256 {stored_sha}, but the model loaded now has "
                f"{weights_sha256}: its vectors would mix two models; use another cache file or a distinct model id")
        if stored_dim != dim:
            raise EmbeddingError(f"cache {self.path} holds {model_id} with dim {stored_dim}, but the model gives {dim}")

    def lookup(self, model_id: str, hashes: Sequence[str], dim: int) -> dict[str, np.ndarray]:
        """The cached vectors among ``hashes``, by text hash; absent ones are simply missing from the dict."""
        found: dict[str, np.ndarray] = {}
        for start in range(0, len(hashes), _LOOKUP_CHUNK):
            chunk = hashes[start:start + _LOOKUP_CHUNK]
            rows = self._db.execute(
                f"SELECT text_sha256, dim, vector FROM embeddings WHERE model_id = ? "
                f"AND text_sha256 IN ({','.join('?' * len(chunk))})", (model_id, *chunk))
            for sha, row_dim, blob in rows:
                if row_dim != dim or len(blob) != dim * _VECTOR_DTYPE.itemsize:
                    raise EmbeddingError(f"cache {self.path}: corrupt row for {model_id} text {sha} (dim {row_dim})")
                found[sha] = np.frombuffer(blob, dtype=_VECTOR_DTYPE)
        return found

    def store(self, model_id: str, items: Iterable[tuple[str, np.ndarray]]) -> None:
        """Write (text hash, vector) pairs in one transaction; a row already there is kept (same text, same model)."""
        rows = [(model_id, sha, int(vector.shape[0]), vector.astype(_VECTOR_DTYPE).tobytes()) for sha, vector in items]
        with self._db:
            self._db.executemany(
                "INSERT OR IGNORE INTO embeddings (model_id, text_sha256, dim, vector) VALUES (?, ?, ?, ?)", rows)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()


@dataclasses.dataclass(frozen=True)
class CacheStats:
    """Counts since the ``CachedEmbedder`` was made: distinct texts found (hits) and embedded (misses), model calls."""

    hits: int = 0
    misses: int = 0
    model_calls: int = 0


class CachedEmbedder:
    """An ``Embedder`` that serves known texts from an ``EmbeddingCache`` and embeds only the rest.

    Per ``embed`` call: one chunked lookup of the distinct texts, at most one batched call to the
    wrapped model for the missing ones, one transaction to store them; vectors come back in input
    order, duplicates included.
    """

    def __init__(self, embedder: Embedder, cache: EmbeddingCache) -> None:
        self._embedder = embedder
        self._cache = cache
        self._stats = CacheStats()
        cache.register_model(embedder.model_id, embedder.dim, embedder.weights_sha256)

    @property
    def model_id(self) -> str:
        return self._embedder.model_id

    @property
    def dim(self) -> int:
        return self._embedder.dim

    @property
    def weights_sha256(self) -> str:
        return self._embedder.weights_sha256

    @property
    def stats(self) -> CacheStats:
        return self._stats

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        items = text_list(texts)
        hashes = [text_sha256(text) for text in items]
        text_of = dict(zip(hashes, items))
        vectors = self._cache.lookup(self.model_id, list(text_of), self.dim)
        missing = [sha for sha in text_of if sha not in vectors]
        if missing:
            fresh = self._embedder.embed([text_of[sha] for sha in missing])
            new = dict(zip(missing, fresh))
            self._cache.store(self.model_id, new.items())
            vectors.update(new)
        self._stats = CacheStats(hits=self._stats.hits + len(text_of) - len(missing),
                                 misses=self._stats.misses + len(missing),
                                 model_calls=self._stats.model_calls + bool(missing))
        out = np.empty((len(items), self.dim), dtype=np.float32)
        for row, sha in enumerate(hashes):
            out[row] = vectors[sha]
        return out
