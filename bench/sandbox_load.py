"""Feed throughput and latency of the sandbox served by uvicorn, measured from a second process.

    .venv/bin/python bench/sandbox_load.py [--seconds 10] [--users 20] [--concurrency 16] [--corpus FILE]

Prints feed pages/s, p50/p95/p99 latency, and the server's own CPU time, so that pages per
server CPU-second (one uvicorn worker = one core) can be compared with the aim of 200.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from _served import cpu_seconds, start_sandbox, stop_sandbox  # bench/ is on sys.path

REPO = Path(__file__).resolve().parent.parent


async def make_user(base: str, n: int) -> httpx.AsyncClient:
    client = httpx.AsyncClient(base_url=base, follow_redirects=True, timeout=30)
    await client.post("/signup", data={"username": f"load{n:04d}", "password": "benchmark", "birth_year": "1990",
                                      "occupation": "", "region": "beijing"})
    await client.post("/onboarding", data={"action": "skip"})
    return client


async def run(base: str, users: int, concurrency: int, seconds: float) -> tuple[list[float], float]:
    clients = [await make_user(base, n) for n in range(users)]
    latencies: list[float] = []
    stop_at = time.perf_counter() + seconds

    async def worker(k: int) -> None:
        page = 2
        client = clients[k % len(clients)]
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            r = await client.get(f"/feed/more?page={page}")
            latencies.append(time.perf_counter() - started)
            assert r.status_code == 200, r.status_code
            page += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker(k) for k in range(concurrency)))
    elapsed = time.perf_counter() - started
    for client in clients:
        await client.aclose()
    return latencies, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--corpus", action="append", default=[])
    parser.add_argument("--port", type=int, default=8799)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        launched = time.perf_counter()
        proc = start_sandbox(Path(tmp) / "sandbox", args.port, *(f for c in args.corpus for f in ("--corpus", c)))
        startup = time.perf_counter() - launched
        try:
            cpu_before = cpu_seconds(proc.pid)
            latencies, elapsed = asyncio.run(run(f"http://127.0.0.1:{args.port}", args.users, args.concurrency, args.seconds))
            server_cpu = cpu_seconds(proc.pid) - cpu_before
        finally:
            stop_sandbox(proc)
    latencies.sort()
    n = len(latencies)
    pct = lambda q: latencies[min(n - 1, int(q * n))] * 1000  # noqa: E731
    content = ", ".join(Path(c).name for c in args.corpus) or "built-in content"
    print(f"sandbox feed load: {content}; {args.users} users, {args.concurrency} concurrent requests, {elapsed:.1f} s")
    print(f"  start-up to /healthz     {startup:.1f} s (aim: < 5 s with the built-in content)")
    print(f"  feed pages served        {n}")
    print(f"  feed pages/s (wall)      {n / elapsed:.0f}")
    print(f"  latency p50 / p95 / p99  {pct(0.50):.1f} / {pct(0.95):.1f} / {pct(0.99):.1f} ms (mean {statistics.mean(latencies) * 1000:.1f})")
    print(f"  server CPU               {server_cpu:.2f} s ({server_cpu / elapsed:.0%} of one core)")
    print(f"  feed pages per server CPU-second  {n / server_cpu:.0f}  (aim: >= 200)")


if __name__ == "__main__":
    main()
