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
    ``pairs``: pairs used; ``target_precision``: what was asked for (None: the threshold was chosen
    for detectability, see :func:`calibrate_centroid_threshold`).
    """

    threshold: float
    precision: float
    recall: float
    pairs: int
    target_precision: float | None


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
                        max_pairs: int = 200_000, seed: int = 0, prior: float | None = None,
                        floor: float | None = None) -> Calibration:
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

    ``floor``: where labels overlap too much for ``precision`` (Toutiao's 民生 and 三农, AG News'
    Business and Sci/Tech), take the highest of ``precision`` − 0.05, − 0.10, … down to ``floor``
    that some t reaches, read off the same pairs; ``target_precision`` says which it was.
    """
    if not 0.0 < precision <= 1.0:
        raise ValueError(f"precision must be in (0, 1], got {precision}")
    if floor is not None and not 0.0 < floor <= precision:
        raise ValueError(f"floor must be in (0, precision], got {floor}")
    if prior is not None and not 0.0 < prior < 1.0:
        raise ValueError(f"prior must be in (0, 1), got {prior}")
    units, codes = _labelled(vectors, labels)
    if len(units) < 2:
        raise ValueError(f"calibration needs at least two vectors, got {len(units)}")
    first, second = _pairs(len(units), max_pairs, seed)
    cosines = _pair_cosines(units, first, second)
    targets = [precision]
    while floor is not None and round(targets[-1] - 0.05, 2) >= floor:
        targets.append(round(targets[-1] - 0.05, 2))
    return _threshold(cosines, codes[first] == codes[second], targets, prior)


def calibrate_centroid_threshold(vectors: ArrayLike, labels: ArrayLike, size: int, prior: float = 0.05,
                                 draws: int = 8, seed: int = 0) -> Calibration:
    """The cosine t to the centroid of ``size`` items of a label at which a change in that label's
    share of a set of items is most detectable through "cos(item, centroid) ≥ t".

    For a topic known from a handful of its items (the items a puppet rejected), the centroid of
    those items stands for the topic far better than any one of them. A set whose share x is of
    the topic measures ``m = f + (s − f)·x`` inside the neighbourhood, s and f the shares of the
    topic's and the other items it admits (TPR, FPR): a change of x moves m by (s − f), against a
    binomial noise of m that grows as √m. So t maximises ``(s − f) / √(π·s + (1 − π)·f)``, m at
    x = ``prior`` (π). A radius chosen for precision instead is needlessly narrow where a
    platform's labels are broad: on AG News' four channels, 80% precision at π = 1/20 admitted
    3–16% of a topic's cards, and three puppets a side could not tell a working "not interested"
    button from an ignored one ([−6.4, 1.7] where the truth was 0.75; [0.55, 0.94] at the most
    detectable radius, which admitted 40–77% of it and 1–7% of the rest).

    Centroids are made as they will be used: for each label with more than ``size`` items,
    ``draws`` random sets of ``size`` of its items; every other vector is scored against each.
    ``pairs`` counts (vector, centroid) scores, ``precision`` is judged at ``prior``. Raises
    CalibrationError when no label has enough items or no t separates the labels at all.
    """
    if size < 1:
        raise ValueError(f"a centroid needs at least one item, got size={size}")
    if not 0.0 < prior < 1.0:
        raise ValueError(f"prior must be in (0, 1), got {prior}")
    units, codes = _labelled(vectors, labels)
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
    ranked, hits, cut_offs = _ranked(np.concatenate(scores).astype(np.float32), np.concatenate(same))
    tpr, fpr = _rates(hits)
    detectability = np.where(cut_offs, (tpr - fpr) / np.sqrt(prior * tpr + (1.0 - prior) * fpr + 1e-300), -np.inf)
    cut = int(np.argmax(detectability))
    if not tpr[cut] > fpr[cut]:
        raise CalibrationError("no centroid threshold admits more of its topic than of the others")
    return Calibration(threshold=float(ranked[cut]), precision=float(_precision(tpr[cut], fpr[cut], prior)),
                       recall=float(tpr[cut]), pairs=len(ranked), target_precision=None)


def _labelled(vectors: ArrayLike, labels: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Unit rows and their labels, checked: one label per vector."""
    units = unit_rows(vectors)
    codes = np.asarray(labels)
    if codes.shape != (len(units),):
        raise ValueError(f"need one label per vector: {codes.shape} labels for {len(units)} vectors")
    return units, codes


def _ranked(cosines: np.ndarray, same: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The scores from the highest, how many ``same`` ones each admits as a cut-off (cos ≥ it), and
    whether it can be one: a threshold admits every score tied with it, so only the last of a run
    of ties is a cut-off."""
    if not same.any():
        raise CalibrationError("no pair of vectors shares a label: nothing to calibrate on")
    order = np.argsort(-cosines, kind="stable")
    ranked = cosines[order]
    return ranked, np.cumsum(same[order]), np.append(ranked[:-1] > ranked[1:], True)


def _rates(hits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each cut-off, the shares of the same-label and of the other scores it admits (TPR, FPR)."""
    misses = np.arange(1, len(hits) + 1) - hits
    if misses[-1] == 0:
        raise CalibrationError("every pair shares a label: nothing to tell apart")
    return hits / hits[-1], misses / misses[-1]


def _precision(tpr: np.ndarray, fpr: np.ndarray, prior: float) -> np.ndarray:
    """The share of same-label pairs among those admitted, were ``prior`` of all pairs same-label."""
    return prior * tpr / (prior * tpr + (1.0 - prior) * fpr + 1e-300)


def _threshold(cosines: np.ndarray, same: np.ndarray, targets: list[float], prior: float | None) -> Calibration:
    """The lowest cut-off on ``cosines`` at which the scores above it are ``same`` with the first of
    ``targets`` (precisions, highest first) that any cut-off reaches."""
    ranked, hits, cut_offs = _ranked(cosines, same)
    if prior is None:
        precisions = hits / np.arange(1, len(ranked) + 1)
    else:
        precisions = _precision(*_rates(hits), prior)
    best = float(precisions[cut_offs].max())
    reachable = [t for t in targets if t <= best]
    if not reachable:
        raise CalibrationError(f"no cosine threshold reaches precision {targets[-1]}; the best is {best:.3f}")
    cut = np.flatnonzero(cut_offs & (precisions >= reachable[0]))[-1]
    return Calibration(threshold=float(ranked[cut]), precision=float(precisions[cut]),
                       recall=float(hits[cut] / hits[-1]), pairs=len(cosines), target_precision=reachable[0])
