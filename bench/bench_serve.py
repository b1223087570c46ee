"""A bounded load test of ``uwe serve`` on loopback: the batching service against one-request-at-a-time, in one run.

    python bench/bench_serve.py [--model minilm] [--space esco_skills] [--requests 400] [--concurrency 16]
                                [--max-batch 64] [--max-wait 5]

Starts ``uwe serve`` twice on 127.0.0.1 and a free port, each preloading ``--space``: first with
``--no-batching`` (the reference: each request ranked alone under the ranker's lock, as before batching),
then batching (``--max-batch`` texts or ``--max-wait`` ms). For each it waits for ``GET /health``, sends one
warm-up request, then ``--requests`` ``POST /rank`` requests (one job title each, k=10) from
``--concurrency`` threads sharing one httpx client, all within ``--time-limit`` seconds. Once a quarter of
them are answered, a second client posts a 10 MB body: the time until its 413 is reported, with the other
requests in flight. Prints per path throughput, client p50/p99 latency, the server's own p50 ``took_ms``,
errors (any non-200 or failed request; it must be 0) and the refusal time, then batching's throughput as a
multiple of the reference's.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import httpx

TITLES = ["data scientist", "registered nurse", "bakery assistant", "software engineer", "truck driver",
          "primary school teacher", "accountant", "electrician", "chef de partie", "sales manager",
          "hr business partner", "civil engineer", "pharmacist", "warehouse operative", "graphic designer",
          "call centre agent"]
BIG_BODY = 10_000_000  # bytes


@dataclass
class Result:
    latencies: list[float]  # client ms of each successful request
    took: list[float]  # the server's took_ms of each
    errors: int
    wall: float  # seconds for all requests
    refusal_ms: float | None  # the 10 MB body's round trip; None if it was not answered 413
    refused_in_flight: bool  # whether requests were still unanswered when the 413 came back


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(client: httpx.Client, server: subprocess.Popen, log: Path, deadline: float) -> None:
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"uwe serve exited with {server.returncode}: {log.read_text()[-2000:]}")
        try:
            health = client.get("/health")
        except httpx.TransportError:
            health = None
        if health is not None and health.status_code == 200:
            return
        if health is not None and health.json().get("status") == "failed":
            raise RuntimeError(f"uwe serve could not preload its space: {health.json()['detail']}")
        time.sleep(0.5)
    raise TimeoutError(f"uwe serve did not answer /health with 200 in time; its log ends: {log.read_text()[-2000:]}")


def refuse_big_body(base_url: str, start_after: threading.Event, done: list[int], n: int) -> tuple[float | None, bool]:
    """Wait for ``start_after``, post a 10 MB body; (ms until the 413 or None, whether requests were in flight)."""
    start_after.wait()
    with httpx.Client(base_url=base_url, timeout=30.0) as client:
        start = time.perf_counter()
        try:
            r = client.post("/rank", content=b" " * BIG_BODY, headers={"content-type": "application/json"})
        except httpx.HTTPError:
            return None, done[0] < n
        ms = 1000 * (time.perf_counter() - start)
    return (ms if r.status_code == 413 else None), done[0] < n


def load(client: httpx.Client, base_url: str, n: int, concurrency: int, space: str, deadline: float) -> Result:
    """Send ``n`` requests from ``concurrency`` threads, and the 10 MB body once a quarter are answered."""
    done, quarter, lock = [0], threading.Event(), threading.Lock()

    def one(i: int):
        start = time.perf_counter()
        try:
            r = client.post("/rank", json={"texts": [TITLES[i % len(TITLES)]], "space": space, "k": 10})
            ok = (1000 * (time.perf_counter() - start), r.json()["took_ms"]) if r.status_code == 200 else None
        except (httpx.HTTPError, ValueError, KeyError):
            ok = None
        with lock:
            done[0] += 1
            if done[0] >= n // 4:
                quarter.set()
        return ok

    with ThreadPoolExecutor(1) as side:
        refusal = side.submit(refuse_big_body, base_url, quarter, done, n)
        start = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as pool:
            futures = [pool.submit(one, i) for i in range(n)]
            finished, pending = wait(futures, timeout=max(0.0, deadline - time.monotonic()))
            for f in pending:
                f.cancel()
        wall = time.perf_counter() - start
        quarter.set()  # had too few requests succeeded, the refusal still runs
        refusal_ms, in_flight = refusal.result()
    ok = [f.result() for f in finished if f.result() is not None]
    return Result([lat for lat, _ in ok], [took for _, took in ok], n - len(ok), wall, refusal_ms, in_flight)


def run_server(args, extra: list[str]) -> Result:
    """Start ``uwe serve`` with ``extra`` options, load it, stop it."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    print(f"uwe serve {' '.join(extra)}: loading {args.model} and {args.space}, then {args.requests} requests",
          file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "serve.log"
        with log.open("w") as log_file:
            server = subprocess.Popen([sys.executable, "-m", "uwe.cli", "serve", "--model", args.model, "--host",
                                       "127.0.0.1", "--port", str(port), "--preload", args.space, *extra],
                                      stdout=log_file, stderr=subprocess.STDOUT)
        try:
            limits = httpx.Limits(max_connections=args.concurrency)
            with httpx.Client(base_url=base_url, timeout=30.0, limits=limits) as client:
                wait_healthy(client, server, log, time.monotonic() + args.startup_limit)
                client.post("/rank", json={"texts": ["warm up"], "space": args.space, "k": 10}).raise_for_status()
                return load(client, base_url, args.requests, args.concurrency, args.space,
                            time.monotonic() + args.time_limit)
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()


def row(name: str, r: Result) -> str:
    if len(r.latencies) < 2:
        return f"{name:<26} {len(r.latencies):>5} {r.errors:>6}   (too few successes for percentiles)"
    q = statistics.quantiles(r.latencies, n=100, method="inclusive")
    refusal = "not 413" if r.refusal_ms is None else f"{r.refusal_ms:.0f}" + ("" if r.refused_in_flight else "*")
    return (f"{name:<26} {len(r.latencies):>5} {r.errors:>6} {r.wall:>7.2f} {len(r.latencies) / r.wall:>7.1f} "
            f"{q[49]:>7.1f} {q[98]:>7.1f} {statistics.median(r.took):>14.1f} {refusal:>17}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="minilm")
    p.add_argument("--space", default="esco_skills", help="a built-in space, preloaded")
    p.add_argument("--requests", type=int, default=400)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--max-batch", type=int, default=64, help="the batching server's --max-batch")
    p.add_argument("--max-wait", type=float, default=5.0, help="the batching server's --max-wait (ms)")
    p.add_argument("--startup-limit", type=float, default=300.0, help="seconds to load the model and the space")
    p.add_argument("--time-limit", type=float, default=120.0, help="seconds for all requests of one server")
    args = p.parse_args()

    reference = run_server(args, ["--no-batching"])
    batching = run_server(args, ["--max-batch", str(args.max_batch), "--max-wait", str(args.max_wait)])

    print(f"\nuwe serve --model {args.model}, space {args.space}, {args.requests} requests of 1 text (k=10), "
          f"concurrency {args.concurrency}, loopback")
    print(f"{'path':<26} {'ok':>5} {'errors':>6} {'wall s':>7} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} "
          f"{'server p50 ms':>14} {'10 MB refused ms':>17}")
    print(row("one at a time (lock)", reference))
    print(row(f"batching ({args.max_batch} / {args.max_wait:g} ms)", batching))
    if reference.latencies and batching.latencies:
        ratio = (len(batching.latencies) / batching.wall) / (len(reference.latencies) / reference.wall)
        print(f"throughput, batching / one at a time: {ratio:.2f}x")
    if not (reference.refused_in_flight and batching.refused_in_flight):
        print("* the 10 MB body was refused after the last request was answered: not measured under load")
    failures = [f"{name}: {r.errors} request(s) failed or timed out" for name, r in
                (("one at a time", reference), ("batching", batching)) if r.errors]
    failures += [f"{name}: the 10 MB body was not refused with 413" for name, r in
                 (("one at a time", reference), ("batching", batching)) if r.refusal_ms is None]
    if failures:
        sys.exit("; ".join(failures))


if __name__ == "__main__":
    main()
