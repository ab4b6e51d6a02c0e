"""Shape checks and row normalisation shared by the index, the metrics and the calibration."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def as_matrix(vectors: ArrayLike, dim: int | None = None) -> np.ndarray:
    """A C-contiguous float32 (n, d) copy-or-view of ``vectors``; ValueError on a wrong shape."""
    matrix = np.ascontiguousarray(vectors, dtype=np.float32)
    if matrix.ndim != 2:
        raise ValueError(f"expected a 2-D array of vectors, got shape {matrix.shape}")
    if dim is not None and matrix.shape[1] != dim:
        raise ValueError(f"expected vectors of dimension {dim}, got {matrix.shape[1]}")
    return matrix


def unit_rows(vectors: ArrayLike) -> np.ndarray:
    """Rows scaled to unit L2 norm; all-zero rows stay zero (their cosine with anything is 0)."""
    matrix = as_matrix(vectors)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0)


def unit_centroid(units: np.ndarray) -> np.ndarray | None:
    """The mean of unit rows, scaled to unit norm; None when they cancel out."""
    centroid = units.mean(axis=0)
    norm = float(np.linalg.norm(centroid))
    return centroid / norm if norm > 0 else None
