"""Fixtures, from expensive to cheap: a sandbox served by uvicorn in its own process, a session-wide
Chromium, and an in-process sandbox for the platform's logic."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness._browser import CHROMIUM_ARGS, chromium_path
from harness._served import SandboxServer, start_sandbox_server

REPO = Path(__file__).resolve().parent.parent
CORPUS_DIR = REPO.parent / "shared" / "corpus"
CHROMIUM = chromium_path()


@pytest.fixture(autouse=True)
def _hermetic(monkeypatch: pytest.MonkeyPatch) -> None:
    # Proxies in the environment would send loopback traffic elsewhere.
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)


def corpus(name: str) -> Path:
    """A shared corpus file, or a skip that says why."""
    path = CORPUS_DIR / name
    if not path.exists():
        pytest.skip(f"shared corpus {path} is absent (CI has it beside the repo as ../shared/corpus)")
    return path


# One way to serve the sandbox in its own process, shared with the pytest plugin and the demo.
ServedSandbox = SandboxServer


def start_sandbox(data_dir: Path, *args: str, timeout_s: float = 120.0) -> ServedSandbox:
    """``algoaudit sandbox serve`` in its own process; returns once /healthz answers."""
    return start_sandbox_server(data_dir, *args, timeout_s=timeout_s)


@pytest.fixture
def serve_sandbox(tmp_path: Path) -> Iterator[Callable[..., ServedSandbox]]:
    """Factory: start a sandbox with the given CLI flags; every one started is stopped afterwards."""
    started: list[ServedSandbox] = []

    def factory(*args: str, name: str = "sandbox") -> ServedSandbox:
        served = start_sandbox(tmp_path / name, *args)
        started.append(served)
        return served

    yield factory
    for served in started:
        served.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if CHROMIUM is None:
        pytest.skip("Chromium not found: apt-get install chromium (scripts/setup.sh does), or set ALGOAUDIT_CHROMIUM")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=list(CHROMIUM_ARGS), headless=True)
        yield browser
        browser.close()


@pytest.fixture
def new_context(browser: object) -> Iterator[Callable[..., object]]:
    """Factory for isolated browser contexts, all closed after the test."""
    contexts: list[object] = []

    def factory(**kwargs: object) -> object:
        ctx = browser.new_context(**kwargs)  # type: ignore[attr-defined]
        contexts.append(ctx)
        return ctx

    yield factory
    for ctx in contexts:
        ctx.close()  # type: ignore[attr-defined]
