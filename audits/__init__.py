"""Audits: from what the puppets recorded to verdicts with effect sizes, intervals and power."""

from ._analyze import Analysis, analyze
from ._stats import (
    Comparison,
    compare,
    differences_in_differences,
    minimum_detectable_effect,
    puppets_needed,
    twin_noise,
)
from ._verdict import Verdict, decide

__all__ = [
    "Analysis",
    "Comparison",
    "Verdict",
    "analyze",
    "compare",
    "decide",
    "differences_in_differences",
    "minimum_detectable_effect",
    "puppets_needed",
    "twin_noise",
]
