"""Token-head inference scoring on the CPU: the plain chunked loop against the length-block path, in one run.

    OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python bench/bench_soft_li.py [--head soft_li|maxsim] [--targets 13896] \
        [--dim 384] [--queries 200] [--batch 256] [--query-lengths 3 12] [--threads 1] [--bf16]

Random token states, shaped like the ESCO skill space: ``--targets`` targets with 1-16 real tokens each
(uniform), padded to 16, D = ``--dim``; queries with ``--query-lengths`` real tokens (uniform, job-title-like),
padded to 16. For each path, on ``--threads`` threads: p50 and p90 of ``--queries`` single-query calls of
``score_chunked`` (ms), and the throughput of one ``--batch``-query call (queries/s, ms per query).
"old" is the base class's loop (``ScoringHead.score_chunked``: 128 x 128 blocks of the head's plain formula,
``soft_li_scores`` or ``maxsim_scores``), "new" is the head's own ``score_chunked`` (``TokenSpaceHead``); the one-off build of the new path's token space is timed apart,
and the largest |new - old| on the batch is printed. ``--bf16`` (soft_li) adds "bf16", the opt-in
``SoftLateInteractionHead(bf16_inference=True)`` (not exact), with its largest error and top-10 overlap.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from uwe.models.embeddings import Embeddings
from uwe.models.heads import HEADS, ScoringHead, SoftLateInteractionHead

WIDTH = 16


def random_embeddings(lengths: torch.Tensor, dim: int, generator: torch.Generator) -> Embeddings:
    """Rows of ``lengths`` real tokens (a prefix) padded with zeros to ``WIDTH``: tokens [N, 16, D], mask [N, 16]."""
    mask = torch.arange(WIDTH)[None] < lengths[:, None]
    tokens = torch.randn(len(lengths), WIDTH, dim, generator=generator).masked_fill(~mask[..., None], 0.0)
    return Embeddings(tokens.sum(1) / lengths[:, None], tokens, mask)


def single_query_ms(score, queries: Embeddings) -> list[float]:
    """Milliseconds of ``score(one query)`` for each query."""
    times = []
    for i in range(len(queries)):
        q = queries[i : i + 1]
        start = time.perf_counter()
        score(q)
        times.append(1000 * (time.perf_counter() - start))
    return times


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--head", choices=("soft_li", "maxsim"), default="soft_li")
    p.add_argument("--targets", type=int, default=13_896)
    p.add_argument("--dim", type=int, default=384)
    p.add_argument("--queries", type=int, default=200, help="single-query calls timed per path")
    p.add_argument("--batch", type=int, default=256, help="queries in the throughput call")
    p.add_argument("--query-lengths", type=int, nargs=2, default=(3, 12), metavar=("MIN", "MAX"))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--bf16", action="store_true", help="also time the opt-in bf16_inference head (soft_li)")
    args = p.parse_args()
    if args.bf16 and args.head != "soft_li":
        p.error("--bf16 is an option of --head soft_li only")
    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    t = random_embeddings(torch.randint(1, WIDTH + 1, (args.targets,), generator=g), args.dim, g)
    lo, hi = args.query_lengths
    singles = random_embeddings(torch.randint(lo, hi + 1, (args.queries,), generator=g), args.dim, g)
    batch = random_embeddings(torch.randint(lo, hi + 1, (args.batch,), generator=g), args.dim, g)
    head, bf16_head = HEADS.build(args.head), SoftLateInteractionHead(bf16_inference=True)
    print(f"head {args.head}: {args.targets} targets ({int(t.mask.sum())} real tokens of {t.mask.numel()}), D={args.dim}, "
          f"queries with {lo}-{hi} real tokens, {torch.get_num_threads()} thread(s)")

    start = time.perf_counter()
    head.token_space(t)
    print(f"new: token space built in {1000 * (time.perf_counter() - start):.0f} ms (once per space)")
    paths = {"old": lambda q: ScoringHead.score_chunked(head, q, t), "new": lambda q: head.score_chunked(q, t)}
    if args.bf16:
        paths["bf16"] = lambda q: bf16_head.score_chunked(q, t)
    results, batch_scores = {}, {}
    for name, score in paths.items():
        score(singles[:1])  # warm-up
        times = single_query_ms(score, singles)
        start = time.perf_counter()
        batch_scores[name] = score(batch)
        seconds = time.perf_counter() - start
        p50, p90 = statistics.median(times), statistics.quantiles(times, n=10)[-1]
        results[name] = (p50, args.batch / seconds)
        print(f"{name}: single query p50 {p50:.1f} ms, p90 {p90:.1f} ms | batch of {args.batch}: "
              f"{args.batch / seconds:.1f} queries/s ({1000 * seconds / args.batch:.2f} ms/query)", flush=True)
    (old_p50, old_qps), (new_p50, new_qps) = results["old"], results["new"]
    diff = (batch_scores["new"] - batch_scores["old"]).abs().max().item()
    print(f"speed-up new/old: single query {old_p50 / new_p50:.1f}x, batch {new_qps / old_qps:.1f}x; "
          f"max |new - old| = {diff:.1e}")
    if args.bf16:
        (bf_p50, bf_qps), new = results["bf16"], batch_scores["new"]
        err = (batch_scores["bf16"] - new).abs().max().item()
        top = zip(new.topk(10).indices.tolist(), batch_scores["bf16"].topk(10).indices.tolist())
        overlap = sum(len(set(a) & set(b)) for a, b in top) / (10 * len(new))
        print(f"bf16/new: single query {new_p50 / bf_p50:.1f}x, batch {bf_qps / new_qps:.1f}x; "
              f"max |bf16 - new| = {err:.1e}, top-10 overlap {overlap:.3f}")


if __name__ == "__main__":
    main()
