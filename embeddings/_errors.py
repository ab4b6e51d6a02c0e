"""The package's exceptions.

    EmbeddingError          a model cannot load, or a cache refuses a model
    └── CalibrationError    labelled data cannot reach the requested precision
"""

from __future__ import annotations


class EmbeddingError(Exception):
    """A model cannot load, produced unusable vectors, or does not match what a cache holds."""


class CalibrationError(EmbeddingError):
    """No cosine threshold reaches the requested precision on the given labelled vectors."""
