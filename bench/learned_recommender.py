"""The variant learned_recommender's cost: ALS retrain time, and feed latency served with it on and off.

    .venv/bin/python bench/learned_recommender.py [--seconds 20] [--users 15] [--corpus FILE]

1. Retrain and fold-in time, in-process, on the catalogue: users each with 150 interactions spread
   over two channels (as a campaign's puppets), timed for 15, 60 and 240 users.
2. Feed latency under load: ``--users`` users served by uvicorn in a second process, each in a loop
   of one feed page (timed), then opening, liking and dwelling on two of its items, as puppets do;
   the same with the variant off and on (where the clicks, likes and dwell retrain the model on the
   feed requests that follow).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import tempfile
import time
import zlib
from pathlib import Path

import httpx
import numpy as np

from _served import cpu_seconds, free_port, start_sandbox, stop_sandbox  # bench/ is on sys.path

from sandbox._content import load_catalog
from sandbox._learned import LearnedModel

_CARD = re.compile(r'data-id="([^"]+)"')


def retrain_times(corpora: tuple[Path, ...], users: int, repeats: int = 5) -> tuple[float, float, int]:
    """Median retrain and fold-in-and-score (4,000 candidates) times in ms, and the model's items."""
    catalog = load_catalog(corpora, 0)
    rng = np.random.default_rng(0)
    model = LearnedModel(catalog.vectors, catalog.channel_of, seed=0)
    n_channels = len(catalog.channels)
    for u in range(users):
        channels = rng.choice(n_channels, 2, replace=False)
        items = np.flatnonzero(np.isin(catalog.channel_of, channels))
        for item in rng.choice(items, 50, replace=False):
            for weight in (1.0, 2.0, 2.0):  # click, like, 20 s of dwell
                model.record(f"user{u:04d}", int(item), weight)
    retrain, score = [], []
    pool = rng.choice(len(catalog.items), min(4000, len(catalog.items)), replace=False)
    for _ in range(repeats):
        started = time.perf_counter()
        model.retrain()
        retrain.append(time.perf_counter() - started)
        started = time.perf_counter()
        model.scores("user0000", pool)
        score.append(time.perf_counter() - started)
    return statistics.median(retrain) * 1000, statistics.median(score) * 1000, int(model.is_warm(np.arange(model.n_items)).sum())


async def load(base: str, users: int, seconds: float) -> tuple[list[float], int]:
    clients = []
    for n in range(users):
        client = httpx.AsyncClient(base_url=base, follow_redirects=True, timeout=60)
        await client.post("/signup", data={"username": f"learn{n:03d}", "password": "benchmark", "birth_year": "1990",
                                          "occupation": "", "region": "beijing"})
        await client.post("/onboarding", data={"action": "skip"})
        clients.append(client)
    latencies: list[float] = []
    engagements = 0
    stop_at = time.perf_counter() + seconds

    async def puppet(k: int) -> None:
        nonlocal engagements
        client, page = clients[k], 1
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            r = await client.get("/" if page == 1 else f"/feed/more?page={page}")
            latencies.append(time.perf_counter() - started)
            assert r.status_code == 200, r.status_code
            ids = _CARD.findall(r.text)
            # Each puppet prefers the items whose id hashes to its own residue mod 3: interests differ.
            for item in [i for i in ids if zlib.crc32(i.encode()) % 3 == k % 3][:2]:
                await client.get(f"/item/{item}")
                await client.post("/api/like", json={"item": item})
                await client.post("/api/dwell", json={"item": item, "ms": 20_000})
                engagements += 3
            page += 1

    await asyncio.gather(*(puppet(k) for k in range(users)))
    for client in clients:
        await client.aclose()
    return latencies, engagements


def served(corpus_flags: list[str], variant: str, users: int, seconds: float) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        proc = start_sandbox(Path(tmp) / "sandbox", port, *corpus_flags, *(["--variant", f"learned_recommender={variant}"] if variant else []))
        try:
            cpu_before = cpu_seconds(proc.pid)
            latencies, engagements = asyncio.run(load(f"http://127.0.0.1:{port}", users, seconds))
            server_cpu = cpu_seconds(proc.pid) - cpu_before
        finally:
            stop_sandbox(proc)
    latencies.sort()
    n = len(latencies)
    pct = lambda q: latencies[min(n - 1, int(q * n))] * 1000  # noqa: E731
    return (f"  {variant or 'off':>4}  {n:5d} pages  p50 {pct(0.5):6.1f}  p95 {pct(0.95):6.1f}  p99 {pct(0.99):6.1f}"
            f"  max {latencies[-1] * 1000:6.1f} ms   {engagements} engagements"
            f"   server CPU {server_cpu:.1f} s ({n / server_cpu:.0f} pages per CPU-second, engagements included)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--users", type=int, default=15)
    parser.add_argument("--corpus", action="append", default=[])
    args = parser.parse_args()
    corpora = tuple(Path(c) for c in args.corpus)
    content = ", ".join(p.name for p in corpora) or "built-in content"
    print(f"learned_recommender=als on {content}")
    print("retrain (ALS from scratch, seeded) and fold-in + scoring 4,000 candidates, median of 5:")
    for users in (15, 60, 240):
        retrain_ms, score_ms, warm = retrain_times(corpora, users)
        print(f"  {users:4d} users x 150 interactions ({warm} items learned)  retrain {retrain_ms:7.1f} ms"
              f"   fold-in + scores {score_ms:5.2f} ms")
    print(f"feed page latency, {args.users} concurrent puppets reading and liking, {args.seconds:.0f} s each:")
    flags = [f for c in args.corpus for f in ("--corpus", c)]
    for variant in ("", "als"):
        print(served(flags, variant, args.users, args.seconds))


if __name__ == "__main__":
    main()
