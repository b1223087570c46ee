"""A training graph from a file at the paper's scale (3.3M pairs): cold load, warm start, peak memory, step cost.

    python bench/bench_own_graph.py [--pairs 3300000] [--small 30000] [--out FILE.json]

The big file is made from the real ``vacancy_skill`` graph (159k title-skill edges): ``--pairs`` edges are
drawn from it uniformly WITH replacement (numpy default_rng(0)), and each drawn edge is re-paired to a variant of
its title, ``"<title> (<v>)"`` with ``v`` uniform in [0, 64), so the file has real titles and skills, real
skill degrees, about 64x the distinct titles, and repeated rows to de-duplicate. The small file is the
big one's graph cut to the share of its titles that holds about ``--small`` pairs (all their skills kept), so
both have the same degrees. Both are Parquet (the CSV of the big file is timed too).

Each measurement runs in a fresh process (its peak RSS is that process's alone):
- cold: read, normalise, de-duplicate and cache the graph (empty cache), then the leakage guard against every
  evaluated test task (tasks read from the warm task cache);
- warm: the same from the cache written by the cold run (sha256 of the file, cache read, guard);
- step: one training step's sampling (128 right nodes and a neighbour each, the many-to-many positive mask) of
  the small and the big graph, in alternating rounds of 100 steps in one process (the median round); plus the
  one-time tokenisation of each graph's nodes (MiniLM's tokenizer, as a packed run does before its first step).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

VARIANTS = 64


def make_file(out: Path, n_pairs: int, seed: int = 0) -> Path:
    from uwe.data.catalog import Catalog
    from uwe.data.write_pairs import write_pairs_file

    graph = Catalog().graph("vacancy_skill")
    rng = np.random.default_rng(seed)
    drawn = graph.edges[rng.integers(0, len(graph.edges), n_pairs)]
    variant = rng.integers(0, VARIANTS, n_pairs)
    left = np.array(graph.left, dtype=object)[drawn[:, 0]]
    queries = [f"{t} ({v})" for t, v in zip(left.tolist(), variant.tolist())]
    labels = np.array(graph.right, dtype=object)[drawn[:, 1]].tolist()
    return write_pairs_file(pd.DataFrame({"query": queries, "label": labels}), out)


def make_subset(big: Path, out: Path, n_pairs: int) -> Path:
    """The big file's graph cut to the share of its titles (with all their skills) that holds about ``n_pairs``
    pairs (:func:`uwe.data.subset.subset_left`, seed 0): the same kind of graph, only smaller."""
    from uwe.data.file_graph import load_file_graph
    from uwe.data.subset import subset_left
    from uwe.data.write_pairs import write_graph

    graph = load_file_graph("big", big, None)
    return write_graph(subset_left(graph, min(1.0, n_pairs / len(graph.edges)), seed=0), out)


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux: KiB


def phase_load(path: Path, cache: Path) -> dict:
    """Load (cold or warm, as the cache holds it) and guard; what it took."""
    from uwe.data.catalog import Catalog
    from uwe.data.file_graph import load_file_graph
    from uwe.data.leakage import check_no_leakage
    from uwe.data.mix import evaluated_tasks

    catalog = Catalog()
    tasks = evaluated_tasks([])
    for t in tasks:  # the task cache is warm: reading it is not the file's cost
        catalog.task(t, "test")
    start = time.perf_counter()
    graph = load_file_graph("big", path, cache)
    loaded = time.perf_counter() - start
    check_no_leakage([graph], [catalog.task(t, "test") for t in tasks])
    total = time.perf_counter() - start
    return {"load_s": loaded, "guard_s": total - loaded, "total_s": total, "peak_rss_gib": peak_rss_gib(),
            **graph.sizes(), "dropped": graph.dropped}


def phase_step(small: Path, big: Path, rounds: int = 9, steps: int = 100, nodes: int = 128) -> dict:
    """Per-step sampling milliseconds of both graphs, measured in alternating rounds in one process (medians over
    rounds, so a busy moment of the machine hits both alike), and each graph's one-time tokenisation."""
    from uwe.data.file_graph import load_file_graph
    from uwe.models.encoder import TextEncoder
    from uwe.train.sampler import GraphSampler

    graphs = {"small": load_file_graph("small", small, None), "big": load_file_graph("big", big, None)}
    samplers = {name: GraphSampler(g, nodes) for name, g in graphs.items()}
    times: dict[str, list[float]] = {name: [] for name in graphs}
    for r in range(rounds + 1):
        for name, sampler in samplers.items():
            start = time.perf_counter()
            for step in range(steps):
                batch = sampler.sample(np.random.default_rng([r, step]))
                sampler.positives(batch.left_ids, batch.right_ids)
            if r:  # round 0 warms up
                times[name].append(1000 * (time.perf_counter() - start) / steps)
    encoder = TextEncoder.from_name("minilm")

    def token_ids(texts: list[str]) -> list[list[int]]:  # as UWEModule tokenises a packed run's graphs
        return encoder.tokenizer(texts, truncation=True, max_length=encoder.max_length, return_attention_mask=False,
                                 return_token_type_ids=False)["input_ids"]

    out = {}
    for name, graph in graphs.items():
        start = time.perf_counter()
        GraphSampler(graph, nodes, tokenize=token_ids)
        out[name] = {"sample_ms": float(np.median(times[name])), "rounds_ms": times[name],
                     "tokenize_nodes_s": time.perf_counter() - start, **graph.sizes()}
    return out


def run_phase(*args: str) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")}
    out = subprocess.run([sys.executable, __file__, "--phase", *args], capture_output=True, text=True, env=env,
                         check=False)
    if out.returncode:
        raise SystemExit(f"phase {args} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pairs", type=int, default=3_300_000)
    p.add_argument("--small", type=int, default=30_000)
    p.add_argument("--out", type=Path, help="also write the figures to this JSON file")
    p.add_argument("--phase", nargs="+", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.phase:
        kind, *rest = args.phase
        result = phase_load(Path(rest[0]), Path(rest[1])) if kind == "load" else phase_step(Path(rest[0]), Path(rest[1]))
        print(json.dumps(result))
        return
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        start = time.perf_counter()
        big = make_file(tmp / "big.parquet", args.pairs)
        small = make_subset(big, tmp / "small.parquet", args.small)
        big_csv = tmp / "big.csv"
        pd.read_parquet(big).to_csv(big_csv, index=False)
        print(f"made the files in {time.perf_counter() - start:.0f} s: {big.stat().st_size / 2**20:.0f} MiB Parquet, "
              f"{big_csv.stat().st_size / 2**20:.0f} MiB CSV", flush=True)
        figures = {
            "cold_parquet": run_phase("load", str(big), str(tmp / "cache")),
            "warm_parquet": run_phase("load", str(big), str(tmp / "cache")),
            "cold_csv": run_phase("load", str(big_csv), str(tmp / "cache_csv")),
        }
        steps = run_phase("step", str(small), str(big))
        figures.update(step_small=steps["small"], step_big=steps["big"])
    for name, f in figures.items():
        print(name, json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in f.items()}))
    cold, warm = figures["cold_parquet"], figures["warm_parquet"]
    ratio = figures["step_big"]["sample_ms"] / figures["step_small"]["sample_ms"]
    print(f"\n{args.pairs:,} pairs -> {cold['edges']:,} edges, {cold['left']:,} x {cold['right']:,} nodes")
    print(f"cold (Parquet): {cold['total_s']:.1f} s ({cold['load_s']:.1f} load + {cold['guard_s']:.1f} guard), "
          f"peak {cold['peak_rss_gib']:.2f} GiB   [target <= 60 s, <= 4 GiB]")
    print(f"cold (CSV):     {figures['cold_csv']['total_s']:.1f} s, peak {figures['cold_csv']['peak_rss_gib']:.2f} GiB")
    print(f"warm:           {warm['total_s']:.1f} s, peak {warm['peak_rss_gib']:.2f} GiB   [target <= 5 s]")
    print(f"step sampling:  {figures['step_big']['sample_ms']:.2f} ms at {args.pairs:,} pairs vs "
          f"{figures['step_small']['sample_ms']:.2f} ms at {args.small:,}: ratio {ratio:.2f}   [target <= 1.10]")
    print(f"one-time tokenisation of the nodes: {figures['step_big']['tokenize_nodes_s']:.1f} s (big), "
          f"{figures['step_small']['tokenize_nodes_s']:.1f} s (small)")
    if args.out:
        from uwe.eval.report import library_versions
        args.out.write_text(json.dumps({"figures": figures, "step_ratio": ratio, "pairs": args.pairs,
                                        "small": args.small, "libraries": library_versions()}, indent=1))


if __name__ == "__main__":
    main()
