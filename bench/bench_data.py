"""Time building every WorkBench-offline task split and training graph, cold and warm.

    python bench/bench_data.py [--root ../shared/data]

Cold: a fresh cache folder, every raw file read and parsed. Warm: a new process-level Catalog on the same
cache (what every later run pays). Targets on the 2-core CI machine: cold < 120 s, warm < 10 s.
"""

from __future__ import annotations

import argparse
import tempfile
import time

from uwe.data.catalog import Catalog
from uwe.data.summary import summarize
from uwe.files import _file_sha256


def timed_build(root, cache_dir) -> tuple[float, int]:
    _file_sha256.cache_clear()  # a new process would hash the files again
    start = time.perf_counter()
    sizes = summarize(Catalog(root, cache_dir=cache_dir), progress=False)
    return time.perf_counter() - start, len(sizes)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", default=None)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as cache:
        cold, n = timed_build(args.root, cache)
        warm, _ = timed_build(args.root, cache)
    print(f"items built: {n} (task splits + graphs)")
    print(f"cold cache: {cold:7.2f} s  (target < 120 s)")
    print(f"warm cache: {warm:7.2f} s  (target < 10 s)")
    print(f"warm / cold: {warm / cold:.3f}")


if __name__ == "__main__":
    main()
