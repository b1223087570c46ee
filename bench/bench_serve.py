"""A bounded load test of ``uwe serve`` on loopback: a fixed number of requests at a fixed concurrency.

    python bench/bench_serve.py [--model tiny] [--space esco_occupations] [--requests 400] [--concurrency 8]

Starts ``uwe serve`` on 127.0.0.1 and a free port in a subprocess (the space is preloaded before it
listens), waits for ``GET /health``, sends one warm-up request, then ``--requests`` ``POST /rank`` requests
(one job title each, k=10) from ``--concurrency`` threads sharing one httpx client, all within
``--time-limit`` seconds. Prints throughput, client p50/p99 latency, the server's own p50 ``took_ms`` and the
error count (any non-200 or failed request; it must be 0), then stops the server.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path

import httpx

TITLES = ["data scientist", "registered nurse", "bakery assistant", "software engineer", "truck driver",
          "primary school teacher", "accountant", "electrician", "chef de partie", "sales manager",
          "hr business partner", "civil engineer", "pharmacist", "warehouse operative", "graphic designer",
          "call centre agent"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(client: httpx.Client, server: subprocess.Popen, log: Path, deadline: float) -> None:
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"uwe serve exited with {server.returncode}: {log.read_text()[-2000:]}")
        try:
            if client.get("/health").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"uwe serve did not answer /health in time; its log: {log}")


def load(client: httpx.Client, n: int, concurrency: int, space: str, deadline: float) -> tuple[list, list, int, float]:
    """Send ``n`` requests from ``concurrency`` threads; (latencies ms, server took_ms, errors, wall seconds)."""
    def one(i: int):
        start = time.perf_counter()
        try:
            r = client.post("/rank", json={"texts": [TITLES[i % len(TITLES)]], "space": space, "k": 10})
        except httpx.HTTPError:
            return None
        return (1000 * (time.perf_counter() - start), r.json()["took_ms"]) if r.status_code == 200 else None

    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        futures = [pool.submit(one, i) for i in range(n)]
        done, pending = wait(futures, timeout=max(0.0, deadline - time.monotonic()))
        for f in pending:
            f.cancel()
    wall = time.perf_counter() - start
    ok = [f.result() for f in done if f.result() is not None]
    return [lat for lat, _ in ok], [took for _, took in ok], n - len(ok), wall


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="tiny")
    p.add_argument("--space", default="esco_occupations", help="a built-in space, preloaded")
    p.add_argument("--requests", type=int, default=400)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--startup-limit", type=float, default=300.0, help="seconds to load the model and the space")
    p.add_argument("--time-limit", type=float, default=120.0, help="seconds for all requests")
    args = p.parse_args()

    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "serve.log"
        with log.open("w") as log_file:
            server = subprocess.Popen([sys.executable, "-m", "uwe.cli", "serve", "--model", args.model, "--host",
                                       "127.0.0.1", "--port", str(port), "--preload", args.space],
                                      stdout=log_file, stderr=subprocess.STDOUT)
        try:
            limits = httpx.Limits(max_connections=args.concurrency)
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30.0, limits=limits) as client:
                wait_healthy(client, server, log, time.monotonic() + args.startup_limit)
                client.post("/rank", json={"texts": ["warm up"], "space": args.space, "k": 10}).raise_for_status()
                latencies, took, errors, wall = load(client, args.requests, args.concurrency, args.space,
                                                     time.monotonic() + args.time_limit)
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()

    if len(latencies) < 2:
        sys.exit(f"only {len(latencies)} of {args.requests} requests succeeded")
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    print(f"\nuwe serve --model {args.model}, space {args.space}, {args.requests} requests of 1 text (k=10), "
          f"concurrency {args.concurrency}, loopback")
    print(f"{'ok':>5} {'errors':>6} {'wall s':>7} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'server p50 ms':>14}")
    print(f"{len(latencies):>5} {errors:>6} {wall:>7.2f} {len(latencies) / wall:>7.1f} {q[49]:>7.1f} {q[98]:>7.1f} "
          f"{statistics.median(took):>14.1f}")
    if errors:
        sys.exit(f"{errors} request(s) failed or timed out")


if __name__ == "__main__":
    main()
