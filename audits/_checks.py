"""What every check shares: its inputs (a run, and the run's items in embedding space on demand),
its output (a verdict or the reason there is none, and the per-puppet numbers behind it), and the
groups it compares.

A check is a function ``check(context) -> CheckResult``, registered under its id in
``audits._analyze.CHECKS``. Which groups play which part (``treated``, ``control``, ``narrow``…) is
read from the campaign's ``check_groups``, falling back to the groups' roles.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from embeddings import CalibrationError

from ._exposure import ExposureSpace, embed_run
from ._run import Puppet, Run
from ._verdict import Verdict

__all__ = ["CheckResult", "Context"]


@dataclasses.dataclass(frozen=True)
class CheckResult:
    verdict: Verdict | None
    metrics: list[dict[str, Any]]  # rows of the metrics table: check, puppet_id, round, metric, value
    why: str = ""  # why there is no verdict


class Context:
    """One analysis of one run: checks share the (lazily computed) embedding space."""

    def __init__(self, run: Run, cache_path: Path):
        self.run = run
        self.cache_path = cache_path
        self._space: ExposureSpace | None = None
        self._failure: CalibrationError | None = None

    @property
    def space(self) -> ExposureSpace:
        """Raises CalibrationError when the run's items cannot calibrate a neighbourhood, every time
        it is asked, without embedding and calibrating again."""
        if self._failure is not None:
            raise self._failure
        if self._space is None:
            try:
                self._space = embed_run(self.run, self.cache_path)
            except CalibrationError as error:
                self._failure = error
                raise
        return self._space

    @property
    def embedded(self) -> int:
        return self._space.embedded if self._space is not None else 0

    def puppets(self, check: str, part: str, role: str | None = None) -> list[Puppet]:
        """The puppets playing ``part`` in ``check``: the groups the campaign names for it, else the
        groups with ``role`` (None: no fallback)."""
        named = ((self.run.campaign.get("check_groups") or {}).get(check) or {}).get(part)
        if named is not None:
            return [p for p in self.run.puppets.values() if p.group in named]
        return [p for p in self.run.puppets.values() if role is not None and p.role == role]
