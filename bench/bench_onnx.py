"""Query encoding on ONE CPU thread: torch fp32 vs ONNX Runtime fp32 vs ONNX Runtime int8, and what int8 costs.

    python bench/bench_onnx.py [--model minilm] [--latency-queries 200] [--overlap-queries 500] [--max-queries N]

The model's transformer is exported to ``model.onnx`` and ``model.int8.onnx`` (a temporary folder, or
``--export-dir``); three encoders of the same weights then encode queries with ``backend=torch``, ``onnx`` and
``onnx-int8`` (:mod:`uwe.models.onnx_backend`), all with ``torch.set_num_threads(1)`` and ONNX Runtime sessions
of one intra-op thread. Target spaces are encoded by torch for every backend (the shared cache), as the Ranker does.

- latency: ``--latency-queries`` jobnorm val titles (seeded), each encoded alone through ``TextEncoder.encode``
  (tokenising, transformer, pooling), the backends interleaved query by query so a busy machine hits all three
  alike; p50/p95 in ms and the ratio of each p50 to torch's in this run;
- top-10 overlap: ``--overlap-queries`` queries sampled (seeded) from the union of the WorkBench val tasks'
  queries, ranked against the 13,896 ESCO skills (``esco_skills``) with the cosine head: the mean share of
  torch's top 10 that each backend also returns, and the share of queries whose top 10 are the same list;
- MAP: ``jobnorm`` and ``skill_extraction_tech`` val, every query (``--max-queries`` subsamples, seeded), cosine
  head (:func:`uwe.eval.evaluate.evaluate_task`), in percent, and each backend's change against torch. The
  issue allows int8 a change under 0.3 MAP; the last lines say whether each backend keeps to it.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

import torch

from uwe.data.catalog import Catalog
from uwe.data.tasks.registry import TASKS
from uwe.eval.evaluate import evaluate_task
from uwe.eval.scorers import EncoderScorer
from uwe.models.encoder import TextEncoder
from uwe.models.heads import CosineHead
from uwe.models.onnx_export import export_onnx
from uwe.ranker import Ranker

BACKENDS = ("torch", "onnx", "onnx-int8")
MAP_TASKS = ("jobnorm", "skill_extraction_tech")
SPACE, K, ALLOWED_MAP_CHANGE = "esco_skills", 10, 0.3


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation between closest ranks."""
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] if len(values) > 1 else values[0]


def val_queries(catalog: Catalog, n: int, seed: int = 0) -> list[str]:
    """``n`` distinct queries drawn (seeded) from the union of every WorkBench val task's queries."""
    keys = [k for k in catalog.task_keys("val") if TASKS[k.split("/")[0]].group is not None]
    pool = sorted({q for key in keys for q in catalog.task(*key.split("/")).queries})
    return random.Random(seed).sample(pool, n)


def latency(encoders: dict[str, TextEncoder], texts: list[str]) -> dict[str, list[float]]:
    """Per-backend ms to encode each text alone, the backends interleaved text by text."""
    for encoder in encoders.values():  # warm-up: first calls allocate
        for text in texts[:5]:
            encoder.encode([text], show_progress=False)
    ms: dict[str, list[float]] = {b: [] for b in encoders}
    for text in texts:
        for backend, encoder in encoders.items():
            start = time.perf_counter()
            encoder.encode([text], show_progress=False)
            ms[backend].append(1000 * (time.perf_counter() - start))
    return ms


def top_overlap(reference: list[list[tuple[str, float]]], other: list[list[tuple[str, float]]]) -> tuple[float, float]:
    """(mean share of each reference top-k found in other's top-k, share of queries with the same ordered list)."""
    shared = [len({label for label, _ in a} & {label for label, _ in b}) / len(a) for a, b in zip(reference, other)]
    same = [[label for label, _ in a] == [label for label, _ in b] for a, b in zip(reference, other)]
    return statistics.fmean(shared), statistics.fmean(same)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="minilm", help="encoder name or model folder (default minilm)")
    p.add_argument("--latency-queries", type=int, default=200)
    p.add_argument("--overlap-queries", type=int, default=500)
    p.add_argument("--max-queries", type=int, default=None, help="subsample each MAP task (default: every query)")
    p.add_argument("--export-dir", type=Path, default=None,
                   help="where the ONNX files go (default: a temporary folder)")
    p.add_argument("--cache-dir", type=Path, default=None, help="space cache (default $UWE_CACHE_DIR or ~/.cache/uwe)")
    p.add_argument("--refresh", action="store_true", help="re-encode the spaces even when a cache file exists")
    args = p.parse_args()

    torch.set_num_threads(1)
    catalog = Catalog()
    cache_dir = args.cache_dir or catalog.cache_dir
    with tempfile.TemporaryDirectory(prefix="bench_onnx-") as tmp:
        folder = args.export_dir or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        files = export_onnx(TextEncoder.from_name(args.model), folder)
        sizes = ", ".join(f"{f.name} {f.stat().st_size / 2**20:.1f} MiB" for f in files.values())
        print(f"exported {sizes} in {time.perf_counter() - start:.1f} s")
        encoders = {}
        for backend in BACKENDS:  # same name and weights: one shared, torch-encoded space cache
            encoders[backend] = TextEncoder.from_name(args.model).eval()
            encoders[backend].set_backend(backend, folder)

        titles = random.Random(0).sample(catalog.task("jobnorm", "val").queries, args.latency_queries)
        ms = latency(encoders, titles)

        queries = val_queries(catalog, args.overlap_queries)
        rankers = {b: Ranker(e, CosineHead(), cache_dir, show_progress=False, refresh=args.refresh and b == "torch",
                             refresh_hint="pass --refresh") for b, e in encoders.items()}
        ranked = {b: ranker.rank(queries, SPACE, K) for b, ranker in rankers.items()}
        space_size = len(rankers["torch"].space(SPACE).labels)
        overlap = {b: top_overlap(ranked["torch"], ranked[b]) for b in BACKENDS}

        maps: dict[str, dict[str, float]] = {b: {} for b in BACKENDS}
        for name in MAP_TASKS:
            task = catalog.task(name, "val")
            for backend, encoder in encoders.items():
                scorer = EncoderScorer(encoder, CosineHead(), cache_dir, show_progress=False,
                                       refresh_cache=args.refresh and backend == "torch")
                result = evaluate_task(scorer, task, max_queries=args.max_queries, show_progress=False)
                maps[backend][name] = 100 * result.metrics["map"]
        evaluated = {name: min(len(catalog.task(name, "val").queries), args.max_queries or 10**9) for name in MAP_TASKS}

    torch_p50 = percentile(ms["torch"], 50)
    print(f"\n{args.model}, 1 thread: encode {args.latency_queries} jobnorm val titles one at a time; top-{K} over "
          f"{args.overlap_queries} val queries against {space_size:,}"
          f" ESCO skills; MAP (%) on val: " + ", ".join(f"{n} ({q:,} queries)" for n, q in evaluated.items()))
    print(f"{'backend':<10} {'encode p50':>10} {'p95':>6} {'vs torch':>9} {'top-10 overlap':>15} {'same top-10':>12} "
          + " ".join(f"{n + ' MAP':>{max(len(n) + 4, 10)}} {'change':>7}" for n in MAP_TASKS))
    for b in BACKENDS:
        p50 = percentile(ms[b], 50)
        cells = " ".join(f"{maps[b][n]:>{max(len(n) + 4, 10)}.2f} {maps[b][n] - maps['torch'][n]:>+7.2f}"
                         for n in MAP_TASKS)
        print(f"{b:<10} {p50:>10.2f} {percentile(ms[b], 95):>6.2f} {torch_p50 / p50:>8.2f}x {overlap[b][0]:>15.4f} "
              f"{overlap[b][1]:>12.3f} {cells}")
    for b in BACKENDS[1:]:
        worst = max(abs(maps[b][n] - maps["torch"][n]) for n in MAP_TASKS)
        verdict = "within" if worst < ALLOWED_MAP_CHANGE else "EXCEEDS"
        print(f"{b}: largest MAP change {worst:.2f} points, {verdict} the {ALLOWED_MAP_CHANGE} allowed; "
              f"{torch_p50 / percentile(ms[b], 50):.2f}x torch's p50")
    print("times in ms; vs torch = torch p50 / backend p50, measured in this run")


if __name__ == "__main__":
    main()
