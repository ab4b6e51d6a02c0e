"""A sandbox served by uvicorn in its own process, for the benchmarks (load from another process)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Loading a corpus of 50,000 headlines took over a minute on a machine running three calibration
# cells and a test suite at once.
START_TIMEOUT_S = 300


def start_sandbox(data_dir: Path, port: int, *flags: str, fresh: bool = True) -> subprocess.Popen[bytes]:
    """``algoaudit sandbox serve`` with these flags (``fresh``: on an emptied data folder); returns
    once /healthz answers. Raises RuntimeError (not SystemExit: a bench that runs many cells must be
    able to report one that failed and go on) when it does not answer in time or exits."""
    args = [sys.executable, "-m", "harness.cli", "sandbox", "serve", "--port", str(port), "--data-dir", str(data_dir),
            *(["--fresh"] if fresh else []), *flags]
    proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.1)
    code = proc.poll()
    proc.kill()
    proc.wait()
    why = f"exited with code {code}" if code is not None else f"did not answer within {START_TIMEOUT_S} s"
    raise RuntimeError(f"the sandbox on port {port} ({data_dir}) {why}")


def stop_sandbox(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def cpu_seconds(pid: int) -> float:
    """User + system CPU of one process so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
