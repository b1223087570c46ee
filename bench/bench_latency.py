"""Single-query latency and batch throughput of the Ranker against the cached 13,896 ESCO skills, on ONE CPU thread.

    python bench/bench_latency.py [--model minilm] [--heads cosine soft_li] [--queries 50] [--batches 3]

For each head: the ``esco_skills`` space is loaded (encoded first if it is not cached yet, with the default
threads; then read back from the cache by a fresh ranker, timed), then with ``torch.set_num_threads(1)``
each of ``--queries`` job titles (from the jobnorm test split) is ranked alone, k=10, timed in two parts:
encode (one encoder pass) and score (the head's chunked scores against every target + top-k). Throughput:
``--batches`` batches of 64 titles through ``Ranker.rank``. Prints a table and the soft_li/cosine ratios
measured in this run. The paper reports 15.9 ms per query for UWE on an A100.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

import torch

from uwe.data.catalog import Catalog
from uwe.ranker import Ranker, top_k

SPACE, K, BATCH = "esco_skills", 10, 64


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation between closest ranks."""
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] if len(values) > 1 else values[0]


def measure(ranker: Ranker, queries: list[str], batches: list[list[str]]) -> dict:
    """Per-query encode/score times (ms) and batch throughput (texts/s) of one ranker on one thread."""
    target = ranker.space(SPACE).embeddings
    for text in queries[:3]:  # warm-up: first calls allocate
        ranker.rank(text, SPACE, K)
    encode_ms, score_ms = [], []
    for text in queries:
        start = time.perf_counter()
        q = ranker.encoder.encode([text], show_progress=False)
        middle = time.perf_counter()
        top_k(ranker.head.score_chunked(q, target), K)
        end = time.perf_counter()
        encode_ms.append(1000 * (middle - start))
        score_ms.append(1000 * (end - middle))
    start = time.perf_counter()
    for batch in batches:
        ranker.rank(batch, SPACE, K)
    throughput = sum(map(len, batches)) / (time.perf_counter() - start)
    total_ms = [e + s for e, s in zip(encode_ms, score_ms)]
    return {"encode": encode_ms, "score": score_ms, "total": total_ms, "throughput": throughput}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="minilm")
    p.add_argument("--heads", nargs="+", default=["cosine", "soft_li"])
    p.add_argument("--queries", type=int, default=50)
    p.add_argument("--batches", type=int, default=3)
    p.add_argument("--cache-dir", default=None, help="space cache (default $UWE_CACHE_DIR or ~/.cache/uwe)")
    p.add_argument("--refresh", action="store_true", help="re-encode the space even when a cache file exists")
    args = p.parse_args()

    titles = random.Random(0).sample(Catalog().task("jobnorm").queries, args.queries + args.batches * BATCH)
    queries, rest = titles[:args.queries], titles[args.queries:]
    batches = [rest[i * BATCH:(i + 1) * BATCH] for i in range(args.batches)]
    default_threads = torch.get_num_threads()
    results, loads = {}, {}
    for head in args.heads:
        torch.set_num_threads(default_threads)
        ranker = Ranker.from_pretrained(args.model, head=head, cache_dir=args.cache_dir, refresh=args.refresh,
                                        refresh_hint="pass --refresh")
        ranker.space(SPACE)  # encodes and caches on the first run ever
        fresh = Ranker(ranker.encoder, ranker.head, cache_dir=ranker.cache_dir, show_progress=False)
        start = time.perf_counter()
        space = fresh.space(SPACE)
        loads[head] = (time.perf_counter() - start, tuple(space.embeddings.tokens.shape[1:2])
                       if space.embeddings.tokens is not None else ())
        torch.set_num_threads(1)
        results[head] = measure(fresh, queries, batches)
        del ranker, fresh, space

    n = len(Catalog().task("job2skill").targets)
    print(f"\n{args.model}, {n:,} ESCO skills, k={K}, 1 thread, {args.queries} single queries, "
          f"{args.batches} batches of {BATCH}")
    print(f"{'head':<10} {'cache load s':>12} {'encode p50':>11} {'p95':>7} {'score p50':>10} {'p95':>7} "
          f"{'total p50':>10} {'p95':>7} {'batch texts/s':>14}")
    for head, r in results.items():
        row = [percentile(r[part], q) for part in ("encode", "score", "total") for q in (50, 95)]
        cells = " ".join(f"{v:>{w}.1f}" for v, w in zip(row, (11, 7, 10, 7, 10, 7)))
        print(f"{head:<10} {loads[head][0]:>12.2f} {cells} {r['throughput']:>14.1f}")
    for head, (_, tokens) in loads.items():
        if tokens:
            print(f"{head}: target tokens padded to L={tokens[0]} per label")
    if {"cosine", "soft_li"} <= results.keys():
        ratio = {part: percentile(results["soft_li"][part], 50) / percentile(results["cosine"][part], 50)
                 for part in ("score", "total")}
        print(f"soft_li / cosine (p50): score {ratio['score']:.1f}x, total {ratio['total']:.1f}x; batch throughput "
              f"{results['cosine']['throughput'] / results['soft_li']['throughput']:.1f}x lower")
    print("times in ms; paper: 15.9 ms per query for UWE on an A100")


if __name__ == "__main__":
    main()
