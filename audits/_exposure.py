"""Semantic exposure: the share of what a puppet saw that lies in the embedding neighbourhood of
reference items (design rule 5). The neighbourhood's radius is calibrated on the run's own items:
the cosine that separates items the platform labels with the same channel from the others at a
chosen precision — never a hard-coded cosine (E5 cosines sit in a narrow band)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from embeddings import CachedEmbedder, Calibration, EmbeddingCache, calibrate_threshold, centre, default_embedder
from embeddings import neighbourhood_share as _share

from ._run import Run

__all__ = ["ExposureSpace", "embed_run"]

DEFAULT_PRECISION = 0.8


@dataclasses.dataclass
class ExposureSpace:
    """The run's items as centred unit vectors, and the calibrated neighbourhood radius."""

    keys: list[str]
    vectors: np.ndarray
    calibration: Calibration
    model_id: str
    embedded: int  # texts the model embedded now (the rest came from the cache)

    def __post_init__(self) -> None:
        self._row = {k: i for i, k in enumerate(self.keys)}

    def of(self, keys: list[str]) -> np.ndarray:
        return self.vectors[[self._row[k] for k in keys]]

    def share(self, seen: list[str], reference: list[str]) -> float:
        """Share of ``seen`` (item keys, repeats counted) within the radius of any ``reference`` item."""
        if not seen:
            return float("nan")
        return _share(self.of(seen), self.of(reference), self.calibration.threshold)


def embed_run(run: Run, cache_path: Path, precision: float = DEFAULT_PRECISION) -> ExposureSpace:
    items = run.items()
    keys = sorted(items)
    embedder = CachedEmbedder(default_embedder(), EmbeddingCache(cache_path))
    raw = embedder.embed([items[k]["title"] for k in keys])
    vectors = centre(raw)
    labels = [items[k]["channel"] or "?" for k in keys]
    calibration = calibrate_threshold(vectors, labels, precision=precision)
    return ExposureSpace(keys, vectors, calibration, embedder.model_id, embedder.stats.misses)
