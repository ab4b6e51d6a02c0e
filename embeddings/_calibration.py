"""The neighbourhood threshold, calibrated on labelled vectors instead of chosen by hand."""

from __future__ import annotations

import dataclasses

import numpy as np
from numpy.typing import ArrayLike

from ._errors import CalibrationError
from ._linalg import unit_centroid, unit_rows

# Pairs whose cosines are computed at once: bounds the temporary (chunk × d floats) to a few MB.
_PAIR_CHUNK = 8192


@dataclasses.dataclass(frozen=True)
class Calibration:
    """A calibrated cosine threshold and how it performs on the pairs it was fitted on.

    ``precision``: share of same-label pairs among pairs with cosine ≥ ``threshold``;
    ``recall``: share of all same-label pairs with cosine ≥ ``threshold``;
    ``pairs``: pairs used; ``target_precision``: what was asked for.
    """

    threshold: float
    precision: float
    recall: float
    pairs: int
    target_precision: float


def _pairs(n: int, max_pairs: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """All i < j pairs, or ``max_pairs`` pairs (i ≠ j) drawn uniformly with replacement when there are more."""
    if n * (n - 1) // 2 <= max_pairs:
        return np.triu_indices(n, k=1)
    rng = np.random.default_rng(seed)
    first = rng.integers(0, n, size=max_pairs)
    second = rng.integers(0, n - 1, size=max_pairs)
    # Drawing from n − 1 values and skipping `first` gives a uniform partner different from it.
    second += second >= first
    return first, second


def _pair_cosines(units: np.ndarray, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    out = np.empty(len(first), dtype=np.float32)
    for start in range(0, len(first), _PAIR_CHUNK):
        stop = start + _PAIR_CHUNK
        out[start:stop] = np.einsum("ij,ij->i", units[first[start:stop]], units[second[start:stop]])
    return out


def calibrate_threshold(vectors: ArrayLike, labels: ArrayLike, precision: float = 0.9,
                        max_pairs: int = 200_000, seed: int = 0, prior: float | None = None) -> Calibration:
    """The smallest cosine t at which "cos ≥ t" predicts "same label" with at least ``precision``.

    For each candidate t (every distinct pair cosine), with P(t) the pairs with cosine ≥ t:
    ``precision(t) = |{(i,j) ∈ P(t) : y_i = y_j}| / |P(t)|``,
    ``recall(t) = |{(i,j) ∈ P(t) : y_i = y_j}| / |{(i,j) : y_i = y_j}|``,
    and ``t* = min {t : precision(t) ≥ precision}``: the widest neighbourhood that still keeps the
    false share at most ``1 − precision``. Labels are e.g. corpus channels.

    Every pair i < j is used when there are at most ``max_pairs``; otherwise ``max_pairs`` pairs
    are drawn uniformly with replacement by a RNG seeded with ``seed``, so the result is
    reproducible. Raises CalibrationError when no t reaches the precision (or no pair shares a label).

    ``prior``: judge precision as if a pair shared its label with this probability, instead of the
    share of same-label pairs in the sample: ``π·TPR(t) / (π·TPR(t) + (1 − π)·FPR(t))`` with TPR
    and FPR the shares of same- and different-label pairs at cosine ≥ t. The threshold then no
    longer depends on how many labels the sample holds or how unevenly (a feed narrowed to four
    channels has a base rate of ¼, a broad one of 1/14), only on how well cosines separate them.
    """
    units, codes = _labelled(vectors, labels, precision)
    if len(units) < 2:
        raise ValueError(f"calibration needs at least two vectors, got {len(units)}")
    first, second = _pairs(len(units), max_pairs, seed)
    cosines = _pair_cosines(units, first, second)
    return _threshold(cosines, codes[first] == codes[second], precision, prior)


def calibrate_centroid_threshold(vectors: ArrayLike, labels: ArrayLike, size: int, precision: float = 0.9,
                                 prior: float | None = None, draws: int = 8, seed: int = 0) -> Calibration:
    """The smallest cosine t at which "cos(item, centroid) ≥ t" predicts that the item shares the
    label of the ``size`` items the centroid was taken from, with at least ``precision``.

    For a topic known from a handful of its items (the items a puppet rejected), the centroid of
    those items stands for the topic far better than any one of them: its neighbourhood recalls
    several times more of the topic at the same precision than :func:`calibrate_threshold`'s
    item-to-item radius. Centroids are made as they will be used: for each label with more than
    ``size`` items, ``draws`` random sets of ``size`` of its items; every other vector is scored
    against each. ``prior`` as in :func:`calibrate_threshold`; ``pairs`` counts (vector, centroid)
    scores. Raises CalibrationError when no label has enough items or no t reaches the precision.
    """
    if size < 1:
        raise ValueError(f"a centroid needs at least one item, got size={size}")
    units, codes = _labelled(vectors, labels, precision)
    rng = np.random.default_rng(seed)
    scores, same = [], []
    everyone = np.arange(len(units))
    for label in sorted(set(codes.tolist())):
        members = np.flatnonzero(codes == label)
        if len(members) <= size:
            continue
        for _ in range(draws):
            chosen = rng.choice(members, size=size, replace=False)
            centroid = unit_centroid(units[chosen])
            if centroid is None:
                continue
            others = np.setdiff1d(everyone, chosen, assume_unique=True)
            scores.append(units[others] @ centroid)
            same.append(codes[others] == label)
    if not scores:
        raise CalibrationError(f"no label has more than {size} items: nothing to calibrate centroids on")
    return _threshold(np.concatenate(scores).astype(np.float32), np.concatenate(same), precision, prior)


def _labelled(vectors: ArrayLike, labels: ArrayLike, precision: float) -> tuple[np.ndarray, np.ndarray]:
    """Unit rows and their labels, checked: one label per vector, a precision in (0, 1]."""
    if not 0.0 < precision <= 1.0:
        raise ValueError(f"precision must be in (0, 1], got {precision}")
    units = unit_rows(vectors)
    codes = np.asarray(labels)
    if codes.shape != (len(units),):
        raise ValueError(f"need one label per vector: {codes.shape} labels for {len(units)} vectors")
    return units, codes


def _threshold(cosines: np.ndarray, same: np.ndarray, precision: float, prior: float | None) -> Calibration:
    """The lowest cut-off on ``cosines`` at which the scores above it are ``same`` with ``precision``."""
    if prior is not None and not 0.0 < prior < 1.0:
        raise ValueError(f"prior must be in (0, 1), got {prior}")
    if not same.any():
        raise CalibrationError("no pair of vectors shares a label: nothing to calibrate on")
    order = np.argsort(-cosines, kind="stable")
    ranked, ranked_same = cosines[order], same[order]
    hits = np.cumsum(ranked_same)
    if prior is None:
        precisions = hits / np.arange(1, len(ranked) + 1)
    else:
        if same.all():
            raise CalibrationError("every pair shares a label: nothing to tell apart")
        tpr = hits / hits[-1]
        misses = np.arange(1, len(ranked) + 1) - hits
        fpr = misses / misses[-1]
        precisions = prior * tpr / (prior * tpr + (1.0 - prior) * fpr + 1e-300)
    # A threshold admits every pair tied with it, so only the last pair of a tie run is a cut-off.
    cut_offs = np.append(ranked[:-1] > ranked[1:], True)
    good = np.flatnonzero(cut_offs & (precisions >= precision))
    if len(good) == 0:
        best = float(precisions[cut_offs].max())
        raise CalibrationError(f"no cosine threshold reaches precision {precision}; the best is {best:.3f}")
    cut = good[-1]
    return Calibration(threshold=float(ranked[cut]), precision=float(precisions[cut]),
                       recall=float(hits[cut] / hits[-1]), pairs=len(cosines), target_precision=precision)
