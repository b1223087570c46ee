"""What a smaller view of a model saves: single-query latency and target-space memory at a few (layers, dim),
against the full model in the same run (2D Matryoshka inference, ``Ranker.from_pretrained(..., layers=, dim=)``).

    python bench/bench_depth_width.py [--model minilm] [--views 6:384 6:256 6:128 4:384 4:256 3:128 2:64] [--queries 100]
    python bench/bench_depth_width.py --model tiny --views 2:32 1:16 --queries 5 --max-labels 300   # a smoke run

Each view is a ``Ranker`` with every default (cosine for a zero-shot encoder; ``backend="auto"``: ONNX Runtime
fp32 queries, a cut depth exported once into the cache as its own file) over the ESCO skill space, encoded and
cached once per view (the first run encodes the space once per view: minutes for MiniLM). Timed on ONE CPU thread
as the whole ``rank(title, space, k=10)`` call, the views interleaved query by query so that a busy machine slows
them alike; the first three queries warm up. Printed per view: p50 and p95, p50 against the full model's, the
space's bytes in memory (pooled and, for a token head, token vectors) against the full model's, and the share of
the full model's top 10 that the view keeps (a zero-shot model is not trained for truncation: quality at each view
is the study's to measure, on WorkBench).
"""

from __future__ import annotations

import argparse
import os
import json
import random
import statistics
import sys
import time
from pathlib import Path

import torch

from uwe.data.catalog import Catalog
from uwe.eval.report import code_version, library_versions
from uwe.ranker import BUILTIN_SPACES, Ranker

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_latency import percentile  # noqa: E402

SPACE, K = "esco_skills", 10


def view_arg(value: str) -> tuple[int, int]:
    layers, sep, dim = value.partition(":")
    if not sep or not layers.isdigit() or not dim.isdigit():
        raise argparse.ArgumentTypeError(f"expected LAYERS:DIM, e.g. 4:256, got {value!r}")
    return int(layers), int(dim)


def space_bytes(ranker: Ranker, space: str) -> int:
    """Bytes of ``space``'s vectors in memory: pooled, and tokens with their mask when the head keeps them."""
    emb = ranker.space(space).embeddings
    return sum(t.numel() * t.element_size() for t in (emb.pooled, emb.tokens, emb.mask) if t is not None)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="minilm")
    p.add_argument("--head", default=None, help="head of a zero-shot encoder (default cosine)")
    p.add_argument("--views", type=view_arg, nargs="+",
                   default=[(6, 384), (6, 256), (6, 128), (4, 384), (4, 256), (3, 128), (2, 64)],
                   help="LAYERS:DIM views to time against the full model (default: MiniLM's)")
    p.add_argument("--queries", type=int, default=100, help="single job titles timed per view")
    p.add_argument("--max-labels", type=int, default=None, help="the first N skills only (a smoke run)")
    p.add_argument("--cache-dir", default=None, help="default $UWE_CACHE_DIR or ~/.cache/uwe")
    p.add_argument("--out", type=Path,
                   help="also write the figures to this JSON file (experiments/matryoshka reads it)")
    args = p.parse_args()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # before any ranker: an ONNX Runtime session takes its thread count from torch's

    catalog = Catalog()
    titles = random.Random(0).sample(catalog.task("jobnorm").queries, args.queries + 3)
    labels = catalog.task(*BUILTIN_SPACES[SPACE]).targets
    space = SPACE if args.max_labels is None else f"{SPACE}_first{args.max_labels}"

    rankers: dict[str, Ranker] = {}
    for layers, dim in [(None, None), *args.views]:
        ranker = Ranker.from_pretrained(args.model, head=args.head, cache_dir=args.cache_dir, layers=layers, dim=dim)
        name = "full" if layers is None else f"layers={layers} dim={dim}"
        if args.max_labels is None:
            ranker.space(SPACE)  # encoded and cached on the first run of each view, read from the cache after
        else:
            ranker.add_space(space, labels[:args.max_labels])
        rankers[name] = ranker

    times: dict[str, list[float]] = {name: [] for name in rankers}
    tops: dict[str, list[list[str]]] = {name: [] for name in rankers}
    for i, text in enumerate(titles):
        for name, ranker in rankers.items():
            start = time.perf_counter()
            (row,) = ranker.rank(text, space, K)
            if i >= 3:  # the first three calls warm up
                times[name].append(1000 * (time.perf_counter() - start))
                tops[name].append([label for label, _ in row])
    torch.set_num_threads(threads)

    full = rankers["full"].describe()
    print(f"\n{args.model} ({full['layers']} layers, {full['dim']} dims, head {full['head']}, queries by "
          f"{full['backend']}), {len(rankers['full'].space(space).labels):,} ESCO skills, k={K}, 1 thread, "
          f"{len(titles) - 3} single job titles")
    reference, memory = statistics.median(times["full"]), space_bytes(rankers["full"], space)
    print(f"{'view':<20} {'p50 (ms)':>9} {'p95 (ms)':>9} {'p50 / full':>11} {'space (MB)':>11} {'/ full':>7} "
          f"{'top-10 kept':>12}")
    rows = {}
    for name, values in times.items():
        kept = statistics.mean(len(set(a) & set(b)) / K for a, b in zip(tops[name], tops["full"]))
        size = space_bytes(rankers[name], space)
        view = rankers[name].describe()
        rows[name] = {"layers": view["layers"], "dim": view["dim"], "p50_ms": statistics.median(values),
                      "p95_ms": percentile(values, 95), "space_bytes": size, "top10_kept": kept}
        print(f"{name:<20} {statistics.median(values):>9.2f} {percentile(values, 95):>9.2f} "
              f"{statistics.median(values) / reference:>10.2f}x {size / 2**20:>11.1f} {size / memory:>6.2f}x "
              f"{100 * kept:>11.1f}%")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"model": args.model, "backend": full["backend"], "queries": len(titles) - 3,
                                        "threads": 1, "k": K, "labels": len(rankers["full"].space(space).labels),
                                        "code": code_version(), "libraries": library_versions(), "views": rows},
                                       indent=1))
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
