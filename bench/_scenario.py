"""A calibration scenario: a campaign that decides some checks, the sandbox faults that break them
at a strength, and what the ground truth says the effect was. ``bench/calibration.py`` runs every
scenario with its fault off and at each strength, over seeds and corpora."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

# language -> the corpus file (under ../shared/corpus/) the sandbox serves for it
CORPORA = {"zh": "toutiao_zh.jsonl", "en": "agnews_en.jsonl"}


@dataclasses.dataclass(frozen=True)
class Scenario:
    name: str
    checks: tuple[str, ...]  # the checks its campaign decides (and the bench tabulates)
    fault: str  # the fault, in words, for the table
    levels: tuple[float, ...]  # strengths; 0 is the compliant platform
    flags: Callable[[float], list[str]]  # strength -> extra `sandbox serve` flags (--fault ..., --corpus ...)
    campaign: Callable[[str, str], str]  # (base_url, language) -> campaign YAML
    # (ground_truth.sqlite, run folder, strength) -> {check: the true effect in the verdict's units,
    # or nan}; the run folder maps puppets to accounts (puppets.username) and rounds to times.
    truth: Callable[[Path, Path, float], dict[str, float]]
    languages: tuple[str, ...] = ("zh", "en")
    variant: str = ""  # the lawful design variant the sandbox runs as ("": the reference design)
