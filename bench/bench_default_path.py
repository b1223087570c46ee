"""What a user gets by default: ``Ranker.from_pretrained(model).rank(q, "esco_skills", k=10)`` on ONE CPU thread,
against a plain torch fp32 encode of the same query, measured in the same run.

    python bench/bench_default_path.py [--model minilm] [--queries 100] [--agree-queries 500]

Set-ups, each timed as the whole ``rank()`` call (tokenise, encode, score, top-k, labels), the set-ups interleaved
query by query so that a busy machine slows them alike:

- ``plain torch encode``: the reference of the ratios: the Hugging Face tokenizer and model in fp32 under
  ``torch.inference_mode``, mean pooling, one query; no ranking at all;
- ``cosine default`` and ``soft_li default``: ``Ranker.from_pretrained(model, head=...)`` with every default
  (``backend="auto"``: ONNX Runtime fp32 queries, the model exported once into the cache; ``rank()``'s default
  path: cosine's exact bounded two stages, soft_li's 2,048-label shortlist);
- ``cosine before`` and ``soft_li before``: the path this replaces (``backend="torch"``, ``exhaustive=True``).

Then, with the default threads and untimed: how often the default top 10 (rows, in order) equals the exhaustive
top 10 over ``--agree-queries`` seeded val queries of the tasks ranked against ESCO's skills (job2skill,
skill_extraction house and tech, skillnorm), for soft_li's default and other shortlist sizes, and for cosine.
The targets of issue #18 (p50, one thread, k=10): cosine <= 0.33x the plain encode, soft_li <= 0.65x with
the top 10 equal on >= 99%.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time

import torch
import torch.nn.functional as F

from uwe.data.catalog import Catalog
from uwe.models.heads.soft_li import DEFAULT_CANDIDATES
from uwe.ranker import Ranker

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_latency import percentile  # noqa: E402

SPACE, K = "esco_skills", 10
AGREE_TASKS = ("job2skill", "skill_extraction_house", "skill_extraction_tech", "skillnorm")


def plain_encode(ranker: Ranker):
    """A plain torch fp32 encode of one text with ``ranker``'s tokenizer and weights (a copy of the model, so
    the ranker's own backend is untouched): the reference the issue's ratios are against."""
    tokenizer, model = ranker.encoder.tokenizer, ranker.encoder.model.eval()

    def encode(text: str) -> torch.Tensor:
        with torch.inference_mode():
            batch = tokenizer([text], return_tensors="pt", truncation=True, max_length=ranker.encoder.max_length)
            states = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(states.dtype)
            return F.normalize((states * mask).sum(1) / mask.sum(1), dim=-1)

    return encode


def agreement(ranker: Ranker, texts: list[str], **options) -> float:
    """Share of ``texts`` whose top 10 (labels, in order) under ``options`` equals the exhaustive top 10."""
    exhaustive = ranker.rank(texts, SPACE, K, exhaustive=True)
    other = ranker.rank(texts, SPACE, K, **options)
    return sum([a for a, _ in x] == [b for b, _ in y] for x, y in zip(exhaustive, other)) / len(texts)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="minilm")
    p.add_argument("--queries", type=int, default=100, help="single queries timed per set-up")
    p.add_argument("--agree-queries", type=int, default=500)
    p.add_argument("--cache-dir", default=None, help="default $UWE_CACHE_DIR or ~/.cache/uwe")
    args = p.parse_args()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # before any ranker: an ONNX Runtime session takes its thread count from torch's

    catalog = Catalog()
    titles = random.Random(0).sample(catalog.task("jobnorm").queries, args.queries + 3)
    pool = sorted({q for name in AGREE_TASKS for q in catalog.task(name, "val").queries})
    agree_texts = random.Random(0).sample(pool, min(args.agree_queries, len(pool)))

    start = time.perf_counter()
    default = {head: Ranker.from_pretrained(args.model, head=head, cache_dir=args.cache_dir)
               for head in ("cosine", "soft_li")}
    ready_s = time.perf_counter() - start  # the first time ever: the ONNX export into the cache
    before = {head: Ranker.from_pretrained(args.model, head=head, cache_dir=args.cache_dir, backend="torch")
              for head in ("cosine", "soft_li")}
    for ranker in (*default.values(), *before.values()):
        ranker.space(SPACE)  # encoded and cached on the first run ever, read from the cache after
    encode = plain_encode(before["cosine"])
    setups = {
        "plain torch encode": encode,
        "cosine default": lambda q: default["cosine"].rank(q, SPACE, K),
        "soft_li default": lambda q: default["soft_li"].rank(q, SPACE, K),
        "cosine before": lambda q: before["cosine"].rank(q, SPACE, K, exhaustive=True),
        "soft_li before": lambda q: before["soft_li"].rank(q, SPACE, K, exhaustive=True),
    }

    times: dict[str, list[float]] = {name: [] for name in setups}
    for i, text in enumerate(titles):
        for name, run in setups.items():
            start = time.perf_counter()
            run(text)
            if i >= 3:  # the first three calls warm up
                times[name].append(1000 * (time.perf_counter() - start))
    torch.set_num_threads(threads)

    agree = {f"soft_li default ({DEFAULT_CANDIDATES} candidates)": agreement(default["soft_li"], agree_texts)}
    for n in (256, 512, 1024, 4096):
        agree[f"soft_li {n} candidates"] = agreement(default["soft_li"], agree_texts, candidates=n)
    agree["cosine default (bounded, exact)"] = agreement(default["cosine"], agree_texts)

    n_targets = len(default["cosine"].space(SPACE).labels)
    print(f"\n{args.model}, {n_targets:,} ESCO skills, k={K}, 1 thread, {len(titles) - 3} single job titles; "
          f"default backend: {default['cosine'].describe()['backend']} (ready in {ready_s:.1f} s)")
    reference = statistics.median(times["plain torch encode"])
    print(f"{'set-up':<20} {'p50 (ms)':>9} {'p95 (ms)':>9} {'p50 / plain torch encode':>25}")
    for name, values in times.items():
        print(f"{name:<20} {statistics.median(values):>9.2f} {percentile(values, 95):>9.2f} "
              f"{statistics.median(values) / reference:>24.2f}x")
    for name, share in agree.items():
        print(f"{name}: top-10 equal to the exhaustive one on {100 * share:.1f}% of {len(agree_texts)} val queries")
    print("targets (p50): cosine <= 0.33x, soft_li <= 0.65x the plain torch encode; soft_li top-10 equal on >= 99%")


if __name__ == "__main__":
    main()
