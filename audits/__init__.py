"""Audits: from what the puppets recorded to verdicts with effect sizes, intervals and power."""

from ._analyze import Analysis, analyze
from ._plan import CheckPlan, plan
from ._diff import ControlChange, MetricDelta, RunDiff, VerdictChange, diff_runs, render_diff_html
from ._report import render_report, write_report
from ._stats import (
    Comparison,
    compare,
    differences_in_differences,
    estimate,
    minimum_detectable_effect,
    proportion,
    puppets_needed,
    twin_noise,
)
from ._verdict import Verdict, decide

__all__ = [
    "Analysis",
    "CheckPlan",
    "Comparison",
    "ControlChange",
    "MetricDelta",
    "RunDiff",
    "Verdict",
    "VerdictChange",
    "analyze",
    "compare",
    "decide",
    "diff_runs",
    "differences_in_differences",
    "estimate",
    "minimum_detectable_effect",
    "plan",
    "proportion",
    "puppets_needed",
    "render_diff_html",
    "render_report",
    "twin_noise",
    "write_report",
]
