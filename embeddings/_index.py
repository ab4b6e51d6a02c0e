"""Exact inner-product search over int64-keyed vectors (FAISS flat index)."""

from __future__ import annotations

import os

import faiss
import numpy as np
from numpy.typing import ArrayLike

from ._linalg import as_matrix

_MAX_FAISS_THREADS = 2


def limit_faiss_threads() -> None:
    """Cap FAISS's OpenMP pool at two threads; the rest of the machine belongs to browsers and the model.

    OpenMP keeps this setting per calling thread, so it is applied before every FAISS call
    rather than once at import.
    """
    faiss.omp_set_num_threads(min(_MAX_FAISS_THREADS, os.cpu_count() or 1))


class VectorIndex:
    """``IndexIDMap2(IndexFlatIP(dim))``: exact search, scores are inner products (cosines for unit rows).

    Ids are the caller's int64 keys (e.g. SQLite row ids); an id may be added only once.
    """

    def __init__(self, dim: int) -> None:
        if dim < 1:
            raise ValueError(f"dim must be ≥ 1, got {dim}")
        self.dim = dim
        self._index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def add(self, ids: ArrayLike, vectors: ArrayLike) -> None:
        """Add one vector per id; ValueError for a repeated id, which would make search results ambiguous."""
        keys = np.ascontiguousarray(ids, dtype=np.int64)
        matrix = as_matrix(vectors, self.dim)
        if keys.ndim != 1 or len(keys) != len(matrix):
            raise ValueError(f"need one id per vector: {keys.shape} ids for {len(matrix)} vectors")
        if len(np.unique(keys)) != len(keys):
            raise ValueError("ids repeat within the batch")
        present = np.intersect1d(keys, faiss.vector_to_array(self._index.id_map), assume_unique=True)
        if len(present):
            raise ValueError(f"ids already in the index: {present[:5].tolist()}")
        limit_faiss_threads()
        self._index.add_with_ids(matrix, keys)

    def search(self, queries: ArrayLike, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k best (scores, ids) per query, best first, in one batched call.

        k is capped at ``len(self)``, so the result never holds padding; shapes are (n_queries, k).
        """
        if k < 1:
            raise ValueError(f"k must be ≥ 1, got {k}")
        matrix = as_matrix(queries, self.dim)
        k = min(k, len(self))
        if k == 0 or len(matrix) == 0:
            return np.empty((len(matrix), k), dtype=np.float32), np.empty((len(matrix), k), dtype=np.int64)
        limit_faiss_threads()
        scores, ids = self._index.search(matrix, k)
        return scores, ids

    def max_similarity(self, queries: ArrayLike) -> np.ndarray:
        """Best score per query, shape (n_queries,); -inf against an empty index (the max over nothing)."""
        scores, _ = self.search(queries, 1)
        if scores.shape[1] == 0:
            return np.full(len(scores), -np.inf, dtype=np.float32)
        return scores[:, 0]
