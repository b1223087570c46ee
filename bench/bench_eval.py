"""Time the full WorkBench-offline test evaluation of zero-shot MiniLM on this machine.

    python bench/bench_eval.py [--encoder minilm] [--tasks jobnorm skillnorm] [--backend auto|onnx|torch]

Cold: target spaces are encoded into a fresh cache folder. Prints wall time, queries per second per task,
peak RSS, and the ratio of the evaluation's wall time to its encoding floor (every query and target text
encoded once, at the throughput measured in this same run on a sample): the overhead of chunking, caching,
scoring and metrics. Target on the 2-core CI machine: under 15 minutes for everything, under 4 GB RSS.
"""

from __future__ import annotations

import argparse
import random
import resource
import tempfile
import time
from pathlib import Path

from hydra import compose, initialize_config_dir

from uwe.data.catalog import Catalog
from uwe.eval.report import format_table
from uwe.eval.run import build_scorer, default_tasks, run_eval

CONF = Path(__file__).resolve().parents[1] / "conf"


def encode_rate(scorer, texts: list[str], n: int = 4000) -> float:
    sample = random.Random(0).sample(texts, min(n, len(texts)))
    start = time.perf_counter()
    scorer.encoder.encode(sample, show_progress=False)
    return len(sample) / (time.perf_counter() - start)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--encoder", default="minilm")
    p.add_argument("--tasks", nargs="*", default=None)
    p.add_argument("--backend", default="auto", choices=["auto", "onnx", "torch"],
                   help="query encoding (eval.py's backend; the ONNX export, once per model, is not timed)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as spaces, initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        tasks = args.tasks or default_tasks("test")
        cfg = compose("eval", [f"encoder={args.encoder}", f"paths.cache_dir={spaces}", "paths.output_dir=unused",
                               f"tasks=[{','.join(tasks)}]", f"backend={args.backend}"])
        scorer = build_scorer(cfg)
        catalog = Catalog(cfg.data.root, cfg.data.cache_dir)
        texts = {t for n in tasks for task in [catalog.task(n)] for t in (*task.queries, *task.targets)}
        rate = encode_rate(scorer, sorted(texts))
        start = time.perf_counter()
        record = run_eval(cfg, scorer=scorer, show_progress=False)
        wall = time.perf_counter() - start
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(format_table(record))
    print(f"\n{'task':<30} {'queries':>8} {'seconds':>8} {'queries/s':>10}")
    for key, r in record["tasks"].items():
        print(f"{key:<30} {r['evaluated_queries']:>8} {r['seconds']:>8.1f} {r['queries_per_s']:>10.1f}")
    floor = len(texts) / rate
    print(f"\nquery backend: {record['model'].get('query_backend')}")
    print(f"wall time: {wall:.0f} s ({wall / 60:.1f} min; target < 15 min)")
    print(f"peak RSS: {peak_gb:.2f} GB (target < 4 GB)")
    print(f"encoding floor: {len(texts):,} unique texts at {rate:.0f} texts/s = {floor:.0f} s")
    print(f"wall / encoding floor: {wall / floor:.2f}")


if __name__ == "__main__":
    main()
