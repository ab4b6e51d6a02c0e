"""Semantic exposure: the share of what a puppet saw that lies in the embedding neighbourhood of
reference items (design rule 5). The neighbourhood's radius is calibrated on the run's own items:
the cosine that separates items the platform labels with the same channel from the others at a
chosen precision — never a hard-coded cosine (E5 cosines sit in a narrow band).

Two neighbourhoods: ``share`` counts items within the radius of any one reference item (the
interest seeds of C1, which span several topics; the items of a tag in C4), ``near_topic`` items
near the centroid of the reference items (one topic known from a handful of its items, as in C3).
The item radius is calibrated for precision: a union of many items' radii admits the others'
items as fast as it grows. The centroid's radius is calibrated on centroids of as many items, at
the cosine where a change in the topic's share is most detectable (``calibrate_centroid_threshold``),
and recalls several times more of the topic than the items' radii, which is what gives a dozen
rejected items the power to measure; the checks correct for what else it admits.

Both the centring and the calibration are balanced over channels: the mean subtracted is the
mean of the channel means, the calibration sees at most ``BALANCE_CAP`` items per channel, and
its precision is judged at a fixed prior. Otherwise a feed that closed into one channel (the very
thing C1 looks for) would move the centre towards that channel and raise the base rate of
same-channel pairs, widening the neighbourhood of exactly the channel being measured."""

from __future__ import annotations

import collections
import dataclasses
import functools
from pathlib import Path

import numpy as np

from embeddings import (
    CachedEmbedder,
    Calibration,
    EmbeddingCache,
    calibrate_centroid_threshold,
    calibrate_threshold,
    centre,
    default_embedder,
    in_neighbourhood,
    near_centroid,
)

from ._run import Run

__all__ = ["ExposureSpace", "NeighbourhoodErrors", "embed_run"]

DEFAULT_PRECISION = 0.8
# Precision is judged as if one pair in twenty shared a channel, whatever the run's own mix (see
# ``calibrate_threshold``): a feed narrowed to a few channels must not widen the neighbourhood.
CALIBRATION_PRIOR = 0.05
# Items per channel in the calibration sample. On AG News' four overlapping channels the 80% radius
# is decided by the few closest pairs, so a small sample's draw decides it: over 20 calibration runs
# and three draws each, 40 items fell back below 80% in 6 of 60 and failed even 0.3 in 2, 160 fell
# back in 3 and never failed (bench/neighbourhood_calibration.py).
BALANCE_CAP = 160
MIN_CALIBRATION_ITEMS = 100  # fewer distinct items than this, and a verdict says what its neighbourhood rested on
MIN_PER_CHANNEL = 3  # channels with fewer items seen are left out of the centre and the calibration
# The least precision a neighbourhood may have (at CALIBRATION_PRIOR): 0.3 still means eight times
# the odds of a same-channel pair outside it. A platform of a few broad channels needs it (on AG
# News' four, 0.5 was out of reach in one run of three, with 0.48 the best), and its false
# positives are corrected for where the checks measure (``NeighbourhoodErrors``).
MIN_PRECISION = 0.3
MIN_SEPARATION = 0.2  # sensitivity − false-positive rate below which measures are not corrected for them
# The near-duplicate radius ("this content and its close kin", C3's item reason): the cosine that
# only one pair in this many of items the platform files under different channels reaches. A
# near-duplicate, or the same story reworded, is that close; a channel-mate mostly is not (on a
# Toutiao run, 6% of same-channel pairs were). A radius that stands for a channel instead (80%
# channel precision, or 97%) held a third of a sports fan's feed around two dozen sports items, and a
# platform that hid exactly the rejected items' kin and left sports alone read as a button that
# did nothing.
DUPLICATE_ODDS = 10_000


@dataclasses.dataclass(frozen=True)
class NeighbourhoodErrors:
    """"Inside the neighbourhood" as a test for "of the topic's channel" (the channel most reference
    items carry), counted on cards whose channel the platform shows: of the topic's cards, how many
    were inside (sensitivity); of the other cards, how many were inside all the same (false
    positives). No channel shown, nothing counted (``topic_channel`` None)."""

    topic_channel: str | None
    topic_cards: int
    topic_inside: int
    other_cards: int
    other_inside: int

    @property
    def sensitivity(self) -> float:
        return self.topic_inside / self.topic_cards if self.topic_cards else float("nan")

    @property
    def false_positive_rate(self) -> float:
        return self.other_inside / self.other_cards if self.other_cards else float("nan")

    @property
    def separates(self) -> bool:
        """Whether correcting for the errors removes more bias than the noise it adds: below
        ``MIN_SEPARATION`` between sensitivity and false-positive rate, dividing by it would not."""
        return bool(self.sensitivity - self.false_positive_rate >= MIN_SEPARATION)

    @property
    def floor(self) -> float:
        """What a puppet shown none of the topic still measures: the false-positive rate, where the
        errors are corrected for; 0 where they are not."""
        return self.false_positive_rate if self.separates else 0.0

    def details(self) -> dict[str, object]:
        def rate(value: float) -> float | None:
            return None if np.isnan(value) else value

        return {"topic_channel": self.topic_channel, "cards": self.topic_cards + self.other_cards,
                "sensitivity": rate(self.sensitivity), "false_positive_rate": rate(self.false_positive_rate),
                "corrected": self.separates}


@dataclasses.dataclass
class ExposureSpace:
    """The run's items as centred unit vectors, and the calibrated neighbourhood radius."""

    keys: list[str]
    vectors: np.ndarray
    calibration: Calibration
    model_id: str
    embedded: int  # texts the model embedded now (the rest came from the cache)
    sample: np.ndarray  # rows of the channel-balanced calibration sample
    labels: np.ndarray  # the channel of every row

    def __post_init__(self) -> None:
        self._row = {k: i for i, k in enumerate(self.keys)}
        self._centroid_calibrations: dict[int, Calibration] = {}

    def notes(self) -> list[str]:
        """What a verdict that measured through this space must say about it: a neighbourhood short
        of its target precision, and what its calibration rested on (never only a library's log)."""
        items, channels = len(self.sample), len(set(self.labels[self.sample].tolist()))
        out = []
        if self.calibration.precision < DEFAULT_PRECISION:
            out.append(f"the neighbourhood reached precision {self.calibration.precision:.2f} where "
                       f"{DEFAULT_PRECISION:.2f} was the target: calibrated on {items} distinct items in {channels} "
                       f"channels; a run that saw more of the platform (probe puppets reading more pages) calibrates "
                       f"better")
        if items < MIN_CALIBRATION_ITEMS:
            out.append(f"the neighbourhood was calibrated on only {items} distinct items in {channels} channels")
        return out

    def of(self, keys: list[str]) -> np.ndarray:
        return self.vectors[[self._row[k] for k in keys]]

    def share(self, seen: list[str], reference: list[str]) -> float:
        """Share of ``seen`` (item keys, repeats counted) within the radius of any ``reference`` item."""
        if not seen:
            return float("nan")
        return float(np.mean(self.inside(seen, reference)))

    def inside(self, keys: list[str], reference: list[str]) -> np.ndarray:
        """For each of ``keys``, whether it lies within the radius of any ``reference`` item."""
        return in_neighbourhood(self.of(keys), self.of(reference), self.calibration.threshold)

    @functools.cached_property
    def duplicate_radius(self) -> float:
        """The cosine reached by one pair in DUPLICATE_ODDS of the calibration sample's items on
        different channels (of all pairs, where the cards show no channel); with fewer pairs than
        that, the closest of them: a small catalogue gets a tighter radius, never a wider one."""
        vectors, labels = self.vectors[self.sample], self.labels[self.sample]
        upper = np.triu_indices(len(vectors), 1)
        cosines = (vectors @ vectors.T)[upper]
        different = labels[upper[0]] != labels[upper[1]]
        unrelated = cosines[different] if different.any() else cosines
        if len(unrelated) < DUPLICATE_ODDS:
            return float(unrelated.max())
        return float(np.quantile(unrelated, 1.0 - 1.0 / DUPLICATE_ODDS))

    def centroid_calibration(self, size: int) -> Calibration:
        """The radius around the centroid of ``size`` reference items at which a change in the topic's
        share is most detectable (calibrated once per size)."""
        if size not in self._centroid_calibrations:
            self._centroid_calibrations[size] = calibrate_centroid_threshold(
                self.vectors[self.sample], self.labels[self.sample], size, prior=CALIBRATION_PRIOR)
        return self._centroid_calibrations[size]

    def near_topic(self, keys: list[str], reference: list[str]) -> np.ndarray:
        """For each of ``keys``, whether it lies near the centroid of the ``reference`` items."""
        threshold = self.centroid_calibration(len(reference)).threshold
        return near_centroid(self.of(keys), self.of(reference), threshold)

    def errors(self, measured: list[str], reference: list[str], *, centroid: bool) -> NeighbourhoodErrors:
        """How the neighbourhood errs as a test for "of the reference items' main channel", on the
        very cards a measure is taken of (cards shown to a puppet are closer to what it read than
        the channel's average item, so errors measured on other items would not apply to them)."""
        labelled = [k for k in measured if self.labels[self._row[k]] != "?"]
        reference_channels = [self.labels[self._row[k]] for k in reference if self.labels[self._row[k]] != "?"]
        if not labelled or not reference_channels:
            return NeighbourhoodErrors(None, 0, 0, 0, 0)
        topic = str(collections.Counter(reference_channels).most_common(1)[0][0])
        inside = (self.near_topic if centroid else self.inside)(labelled, reference)
        of_topic = np.array([self.labels[self._row[k]] == topic for k in labelled], dtype=bool)
        return NeighbourhoodErrors(topic, int(of_topic.sum()), int(inside[of_topic].sum()),
                                   int((~of_topic).sum()), int(inside[~of_topic].sum()))


def embed_run(run: Run, cache_path: Path, precision: float = DEFAULT_PRECISION, *,
              per_channel: int = BALANCE_CAP, draw: int = 0) -> ExposureSpace:
    """The run's items embedded, centred and with their neighbourhood calibrated on at most
    ``per_channel`` items of each channel, drawn by a RNG seeded with ``draw``."""
    items = run.items()
    keys = sorted(items)
    embedder = CachedEmbedder(default_embedder(), EmbeddingCache(cache_path))
    raw = embedder.embed([items[k]["title"] for k in keys])
    labels = np.array([items[k]["channel"] or "?" for k in keys])
    rng = np.random.default_rng(draw)
    members = [np.flatnonzero(labels == label) for label in sorted(set(labels.tolist()))]
    members = [m for m in members if len(m) >= MIN_PER_CHANNEL] or [np.arange(len(keys))]
    vectors = centre(raw, np.mean([raw[m].mean(axis=0) for m in members], axis=0))
    sample = np.concatenate([rng.choice(m, size=min(len(m), per_channel), replace=False) for m in members])
    # Below the target the verdict reports the precision reached (``calibration_precision``).
    calibration = calibrate_threshold(vectors[sample], labels[sample], precision=precision, prior=CALIBRATION_PRIOR,
                                      floor=MIN_PRECISION)
    return ExposureSpace(keys, vectors, calibration, embedder.model_id, embedder.stats.misses, sample, labels)
