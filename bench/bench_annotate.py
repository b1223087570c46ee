"""Throughput of ``uwe annotate`` against a plain loop of ``Ranker.extract``, on one machine, in one run.

    python bench/bench_annotate.py --out experiments/annotate                 # 2,000 ads, 100,000 titles
    python bench/bench_annotate.py --ads 200 --titles 2000 --out /tmp/ba      # a quick check that it works

Texts: ``--ads`` real ads (the example ad, then the WorkBench house and tech skill-extraction sentences, every
split, grouped into ads of 10-25 sentences drawn with replacement, seeded) and ``--titles`` job titles (the
JobNorm test titles drawn with replacement, seeded; a title alone is a one-line ad: its occupations and its
skills). Each is timed as:

- ``loop``: ``Ranker.extract`` on each text in turn, on one thread (torch's and ONNX Runtime's): the path of
  ``uwe extract`` (titles: the first ``--loop-titles`` only, a loop of 100,000 takes long);
- ``annotate, N worker(s)``: :func:`uwe.annotate.pipeline.annotate` over a Parquet file of the texts in row
  groups of ``--part-rows`` (one part each, so every worker has work), Ray already started on this machine
  (as a cluster would be), one thread per worker. The time is the pass's wall time: actors started and their
  model loaded, every part read, annotated and written; not the driver's one-off model load and scan.

Near-line: ``uwe annotate --watch --poll`` on an empty folder, then a file of ``--watch-ads`` ads moved in; the
seconds from its landing to its part being complete, against the target (the part's own time + the poll + 5 s).

Reported per mode: texts/s over the whole pass, the speed-up over the loop, texts/s once the workers run (their
time on parts alone: without starting the actors and loading the model), the peak resident memory of a worker
(the loop's: this process's), and the hours that 10M texts would take per core at that rate. The machine's load
average is recorded beside the figures: they mean something only on an idle machine. Writes results.json and
results.md.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import pandas as pd  # noqa: E402
import torch  # noqa: E402

from uwe.annotate import AnnotateOptions, ModelSpec  # noqa: E402
from uwe.annotate.pipeline import annotate  # noqa: E402
from uwe.data.catalog import Catalog  # noqa: E402
from uwe.eval.report import code_version, library_versions  # noqa: E402
from uwe.extract.annotations import DOMAINS, annotated_sentences  # noqa: E402

EXAMPLE_AD = Path(__file__).resolve().parents[1] / "experiments" / "extraction" / "example_ad.txt"
SEED = 0


def real_ads(catalog: Catalog, n: int, seed: int = SEED) -> list[str]:
    """The example ad, then ads of 10-25 WorkBench skill-extraction sentences (every split), one per line.

    All 920 distinct sentences are taken: the 34 that hold Windows-1252 punctuation decoded as C1 control
    characters (``you\x92ll``) are repaired by the ad checks, as any user's would be."""
    sentences = sorted({s.text for d in DOMAINS for split in ("val", "test")
                        for s in annotated_sentences(catalog.raw, d, split)})
    rng = random.Random(seed)
    ads = [EXAMPLE_AD.read_text(encoding="utf-8")]
    while len(ads) < n:
        ads.append("\n".join(rng.choice(sentences) for _ in range(rng.randint(10, 25))))
    return ads[:n]


def titles(catalog: Catalog, n: int, seed: int = SEED) -> list[str]:
    pool = catalog.task("jobnorm", "test").queries
    rng = random.Random(seed)
    return [rng.choice(pool) for _ in range(n)]


def loop(spec: ModelSpec, texts: list[str]) -> dict:
    ranker = spec.load()
    ranker.extract(texts[0])  # the calibration and spaces are loaded before the clock starts
    start = time.perf_counter()
    for text in texts:
        ranker.extract(text)
    seconds = time.perf_counter() - start
    return {"texts": len(texts), "seconds": seconds, "per_s": len(texts) / seconds,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "cores": 1}


def pipeline(spec: ModelSpec, texts: list[str], workers: int, part_rows: int, tmp: Path, name: str) -> dict:
    src, out = tmp / f"{name}-in", tmp / f"{name}-out-{workers}"
    src.mkdir(exist_ok=True)
    if not (src / "texts.parquet").exists():
        pd.DataFrame({"id": [f"{name}{i}" for i in range(len(texts))], "text": texts}).to_parquet(
            src / "texts.parquet", row_group_size=part_rows)
    status = annotate(str(src), str(out), spec, AnnotateOptions(), workers=workers, part_rows=part_rows,
                      progress=True)
    record = json.loads((out / "_manifest.json").read_text())
    stats = record["last_pass"]
    assert status == 0 and record["totals"]["rows"] == len(texts), record["totals"]
    return {"texts": len(texts), "seconds": stats["seconds"], "per_s": len(texts) / stats["seconds"],
            "busy_per_s": len(texts) / stats["busy_seconds"] * workers,
            "peak_rss_mb": stats["peak_worker_rss_mb"], "cores": workers * spec.threads,
            "annotated": record["totals"]["annotated"], "bad_rows": record["totals"]["bad_rows"]}


def watch_latency(model: str, data_root: str | None, ads: list[str], poll: float, tmp: Path) -> dict:
    """Near-line: ``uwe annotate --watch POLL`` (a subprocess with its own local Ray, one worker) waits on an
    empty folder; a file of ``ads`` lands (moved in whole); the seconds until its part is complete, against the
    target: the part's own time (its batch) + the poll interval + 5 s."""
    src, out = tmp / "watch-in", tmp / "watch-out"
    src.mkdir()
    command = [sys.executable, "-m", "uwe.cli", "annotate", str(src), "--out", str(out), "--model", model,
               "--workers", "1", "--watch", str(poll), "--part-rows", str(len(ads)), "--no-progress",
               *(["--data-root", data_root] if data_root else [])]
    with open(tmp / "watch.log", "w") as log:
        proc = subprocess.Popen(command, start_new_session=True, stdout=log, stderr=log)
        try:
            wait_for(lambda: (out / "_manifest.json").exists() or proc.poll() is not None, 600)
            assert proc.poll() is None, (tmp / "watch.log").read_text()[-2000:]
            staged = tmp / "landing.parquet"
            pd.DataFrame({"id": [f"w{i}" for i in range(len(ads))], "text": ads}).to_parquet(staged)
            landed = time.monotonic()
            os.replace(staged, src / "new.parquet")
            wait_for(lambda: (out / "new.parquet-00000.parquet").exists(), 600)
            latency = time.monotonic() - landed
            wait_for(lambda: json.loads((out / "_manifest.json").read_text())["totals"]["rows"] == len(ads), 30)
            batch = json.loads((out / "_manifest.json").read_text())["last_pass"]["busy_seconds"]
            proc.send_signal(signal.SIGTERM)
            status = proc.wait(timeout=120)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
    return {"ads": len(ads), "poll_s": poll, "latency_s": latency, "batch_s": batch, "target_s": batch + poll + 5,
            "met": latency <= batch + poll + 5, "exit_status_after_sigterm": status}


def wait_for(condition, limit: float) -> None:
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > limit:
            raise TimeoutError(f"not within {limit} s")
        time.sleep(0.05)


def table(results: dict) -> str:
    rows = ["| texts | mode | texts | seconds | texts/s | vs loop | texts/s once running | peak RSS per worker (MiB) "
            "| hours for 10M per core |", "|---|---|---|---|---|---|---|---|---|"]
    for kind, modes in results["runs"].items():
        base = modes["loop"]["per_s"]
        for mode, r in modes.items():
            per_core = r["per_s"] / r["cores"]
            running = f"{r['busy_per_s']:.1f}" if "busy_per_s" in r else "-"
            rows.append(f"| {kind} | {mode} | {r['texts']:,} | {r['seconds']:.1f} | {r['per_s']:.1f} | "
                        f"{r['per_s'] / base:.2f}x | {running} | {r['peak_rss_mb']:.0f} | "
                        f"{1e7 / per_core / 3600:,.0f} |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--data-root", help="the data root (default as uwe.data)")
    parser.add_argument("--ads", type=int, default=2000)
    parser.add_argument("--titles", type=int, default=100_000)
    parser.add_argument("--loop-titles", type=int, default=2000, help="titles timed in the plain loop")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--part-rows", type=int, default=100, help="ads per part (titles: 50x this)")
    parser.add_argument("--watch-ads", type=int, default=1000, help="ads in the file that lands under --watch")
    parser.add_argument("--poll", type=float, default=5.0, help="--watch's poll interval (seconds)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    import ray

    torch.set_num_threads(1)
    load = os.getloadavg()
    catalog = Catalog(args.data_root)
    spec = ModelSpec(args.model, data_root=args.data_root)
    texts = {"ads": real_ads(catalog, args.ads), "titles": titles(catalog, args.titles)}
    ray.init(num_cpus=max(args.workers), include_dashboard=False, log_to_driver=False)
    runs: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="bench-annotate-") as tmp:
        for kind, rows in texts.items():
            part_rows = args.part_rows * (50 if kind == "titles" else 1)
            runs[kind] = {"loop": loop(spec, rows if kind == "ads" else rows[:args.loop_titles])}
            for workers in args.workers:
                runs[kind][f"annotate, {workers} worker(s)"] = pipeline(spec, rows, workers, part_rows, Path(tmp), kind)
            print(json.dumps(runs[kind], indent=1), flush=True)
        ray.shutdown()  # the near-line run starts its own, as the command does
        near_line = watch_latency(args.model, args.data_root, texts["ads"][:args.watch_ads] if args.watch_ads <= len(
            texts["ads"]) else real_ads(catalog, args.watch_ads, SEED + 1), args.poll, Path(tmp))
    results = {"runs": runs, "near_line": near_line, "model": args.model, "seed": SEED, "cpu_count": os.cpu_count(),
               "load_average_at_start": load, "load_average_at_end": os.getloadavg(),
               "versions": library_versions(), "code": code_version(), "command": " ".join(sys.argv)}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=1))
    md = table(results)
    (args.out / "results.md").write_text(md + "\n")
    print(md)
    print(f"near-line: a {near_line['ads']:,}-ad file complete {near_line['latency_s']:.1f} s after it landed "
          f"(target {near_line['target_s']:.1f} s: its batch {near_line['batch_s']:.1f} s + poll {args.poll} s + 5 s)")
    print(f"load average {load[0]:.1f} at the start, {results['load_average_at_end'][0]:.1f} at the end "
          f"({os.cpu_count()} CPUs): figures mean something only on an idle machine")


if __name__ == "__main__":
    main()
