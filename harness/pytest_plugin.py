"""pytest fixtures that turn an audit into a regression test (registered as the ``algoaudit`` plugin).

Layered from expensive to cheap, each a factory that cleans up after itself::

    algoaudit_sandbox(*flags)            the sandbox platform served in its own process -> .url, .data_dir
    algoaudit_run(campaign, base_url=)   a campaign (file or YAML text) run by real puppets -> run folder
    algoaudit_verdicts(run_dir)          the run analysed -> {check: Verdict}

and the settings they share, overridable by redefining the fixture: ``algoaudit_runs_dir`` (where
runs go; default: the test's tmp_path) and ``algoaudit_embedding_cache`` (one per session, so
several tests embed each title once). See docs/pytest-plugin.md.

This module is, like ``harness.cli``, a composition root: it reaches ``audits`` (for verdicts) and
``sandbox`` (through its command line) so that tests need not.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import pytest

from ._served import SandboxServer, start_sandbox_server

__all__ = ["SandboxServer", "Verdicts", "start_sandbox_server"]


class SandboxFactory(Protocol):
    def __call__(self, *flags: str, name: str = "sandbox") -> SandboxServer: ...


class RunFactory(Protocol):
    def __call__(self, campaign: Path | str, *, base_url: str | SandboxServer | None = None,
                 runs: Path | None = None, testing: bool = False) -> Path: ...


class Verdicts(dict[str, Any]):
    """Verdicts by check; ``notes`` says why a check the campaign named has none."""

    def __init__(self, verdicts: dict[str, Any], notes: dict[str, str]):
        super().__init__(verdicts)
        self.notes = notes

    def __missing__(self, check: str) -> Any:
        raise KeyError(f"{check}: {self.notes.get(check, 'not analysed (not among the campaign checks)')}")


@pytest.fixture
def algoaudit_sandbox(tmp_path: Path) -> Iterator[SandboxFactory]:
    """Factory: ``algoaudit_sandbox("--fault", "not_interested_ignored=1.0")`` serves a fresh sandbox
    with those ``sandbox serve`` flags; every one started is stopped after the test."""
    started: list[SandboxServer] = []

    def factory(*flags: str, name: str = "sandbox") -> SandboxServer:
        server = start_sandbox_server(tmp_path / f"algoaudit-{name}", *flags)
        started.append(server)
        return server

    yield factory
    for server in started:
        server.stop()


@pytest.fixture
def algoaudit_runs_dir(tmp_path: Path) -> Path:
    """Where ``algoaudit_run`` puts run folders; redefine it to keep runs somewhere lasting."""
    return tmp_path / "algoaudit-runs"


def _campaign_text(campaign: Path | str) -> tuple[str, Path | None]:
    if isinstance(campaign, Path) or ("\n" not in campaign and campaign.endswith((".yaml", ".yml"))):
        path = Path(campaign)
        return path.read_text(encoding="utf-8"), path
    return campaign, None


def _prepared(text: str, origin: Path | None, url: str | None) -> str:
    """The campaign with its target's base_url set and its personas_dir made absolute."""
    import yaml

    from personas import SpecError

    if "{base_url}" in text:
        if url is None:
            raise SpecError("the campaign has a {base_url} placeholder: pass base_url=", path=origin)
        text = text.replace("{base_url}", url)
        url = None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return text  # load_campaign reports the error with its line
    if not isinstance(data, dict):
        return text
    changed = False
    if url is not None and isinstance(data.get("target"), dict):
        data["target"]["base_url"] = url
        changed = True
    personas_dir = data.get("personas_dir")
    if origin is not None and isinstance(personas_dir, str) and not Path(personas_dir).is_absolute():
        data["personas_dir"] = str((origin.parent / personas_dir).resolve())
        changed = True
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True) if changed else text


@pytest.fixture
def algoaudit_run(tmp_path: Path, algoaudit_runs_dir: Path) -> RunFactory:
    """Factory: run a campaign (a file, or YAML text) with real puppets; returns the run folder.

    ``base_url`` (a URL or an ``algoaudit_sandbox`` server) replaces a ``"{base_url}"`` placeholder,
    else the campaign's ``target.base_url``. The run's custody records that a test made it.
    """
    from ._api import run
    from ._custody import record_custody

    counter = itertools.count(1)

    def factory(campaign: Path | str, *, base_url: str | SandboxServer | None = None, runs: Path | None = None,
                testing: bool = False) -> Path:
        text, origin = _campaign_text(campaign)
        url = base_url.url if isinstance(base_url, SandboxServer) else base_url
        prepared = _prepared(text, origin, url)
        if origin is not None and prepared == text:
            path = origin
        else:
            stem = origin.stem if origin is not None else "campaign"
            path = tmp_path / f"{stem}-{next(counter)}.yaml"
            path.write_text(prepared, encoding="utf-8")
        return run(path, runs or algoaudit_runs_dir, testing=testing,
                   on_start=lambda folder: record_custody(folder, "run", detail={
                       "via": "pytest", "test": os.environ.get("PYTEST_CURRENT_TEST", "")}))

    return factory


@pytest.fixture(scope="session")
def algoaudit_embedding_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One embedding cache for the session: a title is embedded once, whichever test meets it first."""
    return tmp_path_factory.mktemp("algoaudit-embeddings") / "embedding-cache.sqlite"


@pytest.fixture
def algoaudit_verdicts(algoaudit_embedding_cache: Path) -> Callable[..., Verdicts]:
    """Factory: analyse a run folder (``audits.analyze``) into ``{check: Verdict}``; a check without a
    verdict raises KeyError saying why (``.notes``)."""
    from audits import analyze

    from ._custody import record_custody

    def factory(run_dir: Path, *, checks: list[str] | None = None, cache: Path | None = None) -> Verdicts:
        record_custody(run_dir, "analyze", detail={"via": "pytest", "test": os.environ.get("PYTEST_CURRENT_TEST", "")})
        result = analyze(Path(run_dir), cache or algoaudit_embedding_cache, checks)
        return Verdicts({v.check: v for v in result.verdicts}, dict(result.notes))

    return factory
