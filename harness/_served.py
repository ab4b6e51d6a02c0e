"""The sandbox served by ``algoaudit sandbox serve`` in its own process, as an auditor reaches a
platform: over HTTP only. Shared by ``algoaudit demo``, the pytest plugin and the test suite;
nothing here imports ``sandbox``."""

from __future__ import annotations

import dataclasses
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import httpx

from .errors import AlgoauditError

__all__ = ["SandboxServer", "start_sandbox_server"]


@dataclasses.dataclass
class SandboxServer:
    """A sandbox served by ``algoaudit sandbox serve`` in its own process."""

    url: str
    data_dir: Path
    process: subprocess.Popen[bytes]
    log_path: Path
    _log: IO[bytes] = dataclasses.field(repr=False)

    @property
    def truth_path(self) -> Path:
        """The ground truth, for checking an audit against what the platform really did."""
        return self.data_dir / "ground_truth.sqlite"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_sandbox_server(data_dir: Path, *flags: str, timeout_s: float = 120.0,
                         port: int | None = None) -> SandboxServer:
    """Serve the sandbox with ``flags`` (as ``algoaudit sandbox serve`` takes them) on ``port`` (default:
    a free loopback port); returns once it answers /healthz."""
    data_dir = Path(data_dir)
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    port = port or _free_port()
    log_path = data_dir.parent / f"{data_dir.name}-server.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "sandbox", "serve", "--port", str(port), "--data-dir", str(data_dir),
         *flags], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    while True:
        if process.poll() is not None:
            log.close()
            raise AlgoauditError(f"the sandbox exited with {process.returncode}: {log_path.read_text()}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1.0, trust_env=False).status_code == 200:
                return SandboxServer(url, data_dir, process, log_path, log)
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            process.wait()
            log.close()
            raise AlgoauditError(f"the sandbox did not answer within {timeout_s}s: {log_path.read_text()}")
        time.sleep(0.1)  # polling for readiness, not waiting for a result
