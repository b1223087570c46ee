"""The HTTP service: every endpoint, every refusal, batching equal to single calls, readiness, logs, shutdown."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import httpx
import pytest
from fastapi.testclient import TestClient

from uwe import Ranker
from uwe.serve import create_app
from uwe.serve.batcher import Batcher, ServiceStopped

LABELS = ["python", "statistics", "bake bread", "knead dough", "manage a team", "data analysis", "nursing", "sql"]
pytestmark = pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")  # a dead worker
ACCESS_LINE = re.compile(r"(GET|POST) (/\w+) (\d{3}) \d+\.\d ms texts=(\d+|-)")


@pytest.fixture(scope="module")
def ranker(tmp_path_factory) -> Ranker:
    ranker = Ranker.from_pretrained("tiny", cache_dir=tmp_path_factory.mktemp("spaces"), show_progress=False)
    ranker.add_space("demo", LABELS)
    ranker.add_space("small", ["python", "sql"])
    return ranker


@pytest.fixture(scope="module")
def client(ranker) -> TestClient:
    with TestClient(create_app(ranker, max_texts=4, max_k=5, max_text_chars=20)) as client:
        yield client


def as_json(ranked: list[list[tuple[str, float]]]) -> list[list[dict]]:
    return [[{"label": label, "score": score} for label, score in rows] for rows in ranked]


def assert_same_ranking(got: list[list[dict]], expected: list[list[dict]]) -> None:
    """Labels equal; scores equal up to float32 rounding (a batch changes the order of sums, see rank_many)."""
    assert [[hit["label"] for hit in rows] for rows in got] == [[hit["label"] for hit in rows] for rows in expected]
    assert [[hit["score"] for hit in rows] for rows in got] == \
        [[pytest.approx(hit["score"], abs=1e-5) for hit in rows] for rows in expected]


def test_health(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "version": "0.1.0", "model": "tiny", "head": "CosineHead",
                               "pooling": "mean", "max_length": 64, "layers": 2, "dim": 32, "device": "cpu",
                               "backend": "onnx"}


def test_spaces(client):
    response = client.get("/spaces")
    assert response.status_code == 200
    assert response.json() == {"spaces": [{"name": "esco_skills", "size": None},
                                          {"name": "esco_occupations", "size": None},
                                          {"name": "onet_tech_skills", "size": None},
                                          {"name": "demo", "size": 8}, {"name": "small", "size": 2}]}


def test_rank_returns_the_rankers_top_k(client, ranker):
    texts = ["python", "bread", "lead nurses"]
    response = client.post("/rank", json={"texts": texts, "space": "demo", "k": 3})
    assert response.status_code == 200
    body = response.json()
    assert body["results"] == as_json(ranker.rank(texts, "demo", k=3))  # alone in its batch: the same sums
    assert body["results"][0][0] == {"label": "python", "score": pytest.approx(1.0, abs=1e-5)}
    assert body["took_ms"] > 0


@pytest.mark.parametrize("payload, status, detail", [
    ({"texts": ["python", ""], "space": "demo", "k": 1}, 422, "texts[1] is empty ('')"),
    ({"texts": ["   "], "space": "demo", "k": 1}, 422, "texts[0] is empty ('   ')"),
    ({"texts": ["python", "x" * 21], "space": "demo", "k": 1}, 422,
     "texts[1] has 21 characters; at most max_text_chars=20"),
    ({"texts": ["python", "ok \ud800"], "space": "demo", "k": 1}, 422,
     "texts[1] is not valid Unicode: a lone surrogate '\\ud800' at character 3"),
    ({"texts": ["python"], "space": "nope", "k": 1}, 404,
     "unknown space 'nope'; valid: demo, esco_occupations, esco_skills, onet_tech_skills, small"),
    ({"texts": ["python"], "space": "demo", "k": 0}, 422, "k must be from 1 to 5 (max_k=5), got 0"),
    ({"texts": ["python"], "space": "demo", "k": 6}, 422, "k must be from 1 to 5 (max_k=5), got 6"),
    ({"texts": ["python"], "space": "demo", "k": 10 ** 30}, 422,
     "k must be from 1 to 5 (max_k=5), got 1000000000000000000000000000000"),
    ({"texts": ["python"], "space": "small", "k": 3}, 422,
     "k must be from 1 to 2 (space 'small' has 2 labels), got 3"),
    ({"texts": ["a", "b", "c", "d", "e"], "space": "demo", "k": 1}, 422,
     "5 texts in one request; at most max_texts=4"),
])
def test_bad_requests_get_a_clear_4xx(client, payload, status, detail):
    # ensure_ascii: a lone surrogate travels as the JSON escape "\ud800", which decodes to one in Python
    response = client.post("/rank", content=json.dumps(payload), headers={"content-type": "application/json"})
    assert response.status_code == status
    assert response.json() == {"detail": detail}


@pytest.mark.parametrize("body, field", [
    ('{"texts": [], "space": "demo"}', "texts"),
    ('{"texts": "python", "space": "demo"}', "texts"),
    ('{"texts": ["python", 3], "space": "demo"}', 1),
    ('{"texts": [null], "space": "demo"}', 0),
    ('{"texts": ["python"]}', "space"),
    ('{"texts": ["python"], "space": 1}', "space"),
    ('{"texts": ["python"], "space": "demo", "k": "many"}', "k"),
    ('{"texts": ["python"], "space": "demo", "k": "3"}', "k"),
    ('{"texts": ["python"], "space": "demo", "k": 3.0}', "k"),
    ('{"texts": ["python"], "space": "demo", "k": true}', "k"),
    ('{"texts": ["python"], "space": "demo", "k": 1e400}', "k"),  # inf once parsed: no JSON echo of it
    ('{"texts": ["python"], "space": "demo", "k": null}', "k"),
    ('{"texts": ["python"], "space": "demo", "top_k": 3}', "top_k"),  # not silently ignored
    ('{"texts": ["python"], "space": "demo", "k": 1', "body"),  # cut JSON
])
def test_malformed_requests_get_pydantic_422(client, body, field):
    response = client.post("/rank", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422
    errors = response.json()["detail"]
    assert len(errors) == 1 and field in errors[0]["loc"] and errors[0]["msg"]


def test_a_missing_data_root_is_a_one_line_500(tmp_path):
    ranker = Ranker.from_pretrained("tiny", cache_dir=tmp_path, data_root=tmp_path / "no-data", show_progress=False)
    with TestClient(create_app(ranker), raise_server_exceptions=False) as client:
        response = client.post("/rank", json={"texts": ["python"], "space": "esco_skills", "k": 1})
    assert response.status_code == 500
    assert response.json()["detail"].startswith("MissingFilesError: ") and "\n" not in response.json()["detail"]


@pytest.mark.parametrize("batching", [True, False])
def test_sixteen_concurrent_requests_equal_single_calls(ranker, batching):
    payloads = [{"texts": [LABELS[i % 8], f"text number {i}"], "space": ["demo", "small"][i % 2], "k": 1 + i % 2}
                for i in range(16)]
    expected = [as_json(ranker.rank(p["texts"], p["space"], p["k"])) for p in payloads]
    with TestClient(create_app(ranker, max_wait_ms=20, batching=batching)) as client, ThreadPoolExecutor(16) as pool:
        responses = list(pool.map(lambda p: client.post("/rank", json=p), payloads))
    assert [r.status_code for r in responses] == [200] * 16
    for response, want in zip(responses, expected):
        assert_same_ranking(response.json()["results"], want)


def test_concurrent_requests_share_encoder_batches(ranker, monkeypatch):
    calls = []
    encode = ranker.encoder.encode
    monkeypatch.setattr(ranker.encoder, "encode", lambda texts, **kw: calls.append(len(texts)) or encode(texts, **kw))
    payloads = [{"texts": [f"request {i}"], "space": "demo", "k": 3} for i in range(16)]
    with TestClient(create_app(ranker, max_batch=64, max_wait_ms=50)) as client, ThreadPoolExecutor(16) as pool:
        responses = list(pool.map(lambda p: client.post("/rank", json=p), payloads))
    assert [r.status_code for r in responses] == [200] * 16
    assert sum(calls) == 16 and len(calls) < 16, calls  # every text encoded once, in fewer calls than requests
    for payload, response in zip(payloads, responses):
        assert_same_ranking(response.json()["results"], as_json(ranker.rank(payload["texts"], "demo", 3)))


def test_rank_many_equals_rank_per_request(ranker):
    requests = [(["python", "bread"], "demo", 3), (["sql"], "small", 1), (["python"], "demo", 8),
                (["lead nurses", "sql", "sql"], "small", 2)]
    for (texts, space, k), got in zip(requests, ranker.rank_many(requests)):
        assert_same_ranking(as_json(got), as_json(ranker.rank(texts, space, k)))
    with pytest.raises(ValueError, match=r"k must be an integer from 1 to 2 \(the size of 'small'\), got 3"):
        ranker.rank_many([(["python"], "demo", 1), (["python"], "small", 3)])


class FakeRanker:
    """What the batcher needs of a ranker; rank_many records each batch and may block until released."""

    def __init__(self):
        self.batches, self.entered, self.release = [], threading.Event(), threading.Event()
        self.release.set()

    def space(self, name):
        return SimpleNamespace(labels=["a", "b", "c"])

    def rank_many(self, requests):
        self.batches.append([texts for texts, _, _ in requests])
        self.entered.set()
        self.release.wait(10)
        return [[[(text, 1.0)] for text in texts] for texts, _, _ in requests]


def test_batches_hold_at_most_max_batch_texts_oldest_first():
    fake = FakeRanker()
    batcher = Batcher(fake, max_batch=4, max_wait_ms=0)
    with pytest.raises(ServiceStopped, match="not running"):
        batcher.submit(["x"], "s", 1)
    fake.release.clear()
    batcher.start()
    first = batcher.submit(["first"], "s", 1)
    assert fake.entered.wait(10)  # the worker is busy: the next requests queue up, then form batches
    sizes = [1, 1, 3, 2, 6, 1]  # 6 > max_batch: a batch of its own
    futures = [batcher.submit([f"t{i}.{j}" for j in range(n)], "s", 1) for i, n in enumerate(sizes)]
    fake.release.set()
    assert first.result(timeout=10) == [[("first", 1.0)]]
    assert [f.result(timeout=10) for f in futures] == [[[(f"t{i}.{j}", 1.0)] for j in range(n)]
                                                       for i, n in enumerate(sizes)]
    assert [[len(texts) for texts in batch] for batch in fake.batches] == [[1], [1, 1], [3], [2], [6], [1]]
    assert batcher.stop() == 0


def test_a_bad_k_fails_alone_and_the_batch_goes_on():
    fake = FakeRanker()
    batcher = Batcher(fake, max_batch=8, max_wait_ms=50).start()
    good, bad = batcher.submit(["x"], "s", 1), batcher.submit(["y"], "s", 4)
    assert good.result(timeout=10) == [[("x", 1.0)]]
    with pytest.raises(ValueError, match=r"k must be from 1 to 3 \(space 's' has 3 labels\), got 4"):
        bad.result(timeout=10)
    assert fake.batches == [[["x"]]]
    batcher.stop()


def test_stop_finishes_the_batch_in_progress_and_refuses_the_rest():
    fake = FakeRanker()
    fake.release.clear()
    batcher = Batcher(fake, max_batch=1, max_wait_ms=0).start()
    running = batcher.submit(["a"], "s", 1)
    assert fake.entered.wait(10)
    pending = [batcher.submit([text], "s", 1) for text in "bc"]
    refused = []
    stopper = threading.Thread(target=lambda: refused.append(batcher.stop()))
    stopper.start()
    time.sleep(0.05)
    fake.release.set()
    stopper.join(10)
    assert refused == [2] and not batcher._thread.is_alive()
    assert running.result(timeout=1) == [[("a", 1.0)]]
    for future in pending:
        with pytest.raises(ServiceStopped):
            future.result(timeout=1)
    with pytest.raises(ServiceStopped):
        batcher.submit(["d"], "s", 1)


def test_an_idle_batcher_stops_at_once():
    batcher = Batcher(FakeRanker(), max_wait_ms=1000).start()
    start = time.perf_counter()
    assert batcher.stop() == 0
    assert not batcher._thread.is_alive() and time.perf_counter() - start < 1.0


def test_after_shutdown_a_request_gets_503_not_a_hang(ranker):
    client = TestClient(create_app(ranker))
    with client:
        assert client.post("/rank", json={"texts": ["sql"], "space": "demo", "k": 1}).status_code == 200
    response = client.post("/rank", json={"texts": ["sql"], "space": "demo", "k": 1})  # no lifespan: no worker
    assert response.status_code == 503
    assert "not running" in response.json()["detail"]


def test_a_large_body_is_refused_at_once(client):
    start = time.perf_counter()
    response = client.post("/rank", content=b" " * 10_000_000, headers={"content-type": "application/json"})
    assert time.perf_counter() - start < 1.0
    assert response.status_code == 413
    assert response.json() == {"detail": "the request body has 10000000 bytes; at most max_body_bytes=1048576"}


def test_a_chunked_body_is_counted_and_refused_at_the_limit(ranker):
    with TestClient(create_app(ranker, max_body_bytes=100)) as client:
        def chunks(n):
            for i in range(n):  # a generator body goes chunked, without Content-Length
                yield b'{"texts": ["sql"], "space": "demo", "k": 1}' if i == 0 else b" " * 10
        too_big = client.post("/rank", content=chunks(100), headers={"content-type": "application/json"})
        small = client.post("/rank", content=chunks(3), headers={"content-type": "application/json"})
    assert too_big.status_code == 413
    assert too_big.json() == {"detail": "the request body is over max_body_bytes=100 bytes"}
    assert small.status_code == 200 and small.json()["results"][0][0]["label"] == "sql"


def test_health_is_503_until_the_preloaded_spaces_are_in_memory(ranker, monkeypatch):
    loaded, space = threading.Event(), ranker.space
    monkeypatch.setattr(ranker, "space", lambda name: loaded.wait(10) and space(name))
    with TestClient(create_app(ranker, preload=["demo"])) as client:
        assert client.get("/health").status_code == 503
        assert client.get("/health").json() == {"status": "loading"}
        response = client.post("/rank", json={"texts": ["sql"], "space": "demo", "k": 1})
        assert response.status_code == 503 and "loading" in response.json()["detail"]
        loaded.set()
        deadline = time.monotonic() + 10
        while client.get("/health").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert client.get("/health").json()["status"] == "ok"
        assert client.post("/rank", json={"texts": ["sql"], "space": "demo", "k": 1}).status_code == 200


def test_a_failed_preload_keeps_health_503_with_the_reason(tmp_path):
    ranker = Ranker.from_pretrained("tiny", cache_dir=tmp_path, data_root=tmp_path / "no-data", show_progress=False)
    with TestClient(create_app(ranker, preload=["esco_skills"])) as client:
        deadline = time.monotonic() + 10
        while client.get("/health").json()["status"] == "loading" and time.monotonic() < deadline:
            time.sleep(0.01)
        response = client.get("/health")
    assert response.status_code == 503
    assert response.json()["status"] == "failed"
    assert response.json()["detail"].startswith("preloading space 'esco_skills' failed: MissingFilesError: ")


def test_one_access_log_line_per_request(client, caplog):
    with caplog.at_level(logging.INFO, logger="uwe.serve"):
        client.get("/health")
        client.post("/rank", json={"texts": ["sql", "python"], "space": "demo", "k": 1})
        client.post("/rank", json={"texts": ["sql"], "space": "demo", "k": 99})
        client.post("/rank", content=b" " * 2_000_000)
    lines = [ACCESS_LINE.fullmatch(r.getMessage()) for r in caplog.records if r.name == "uwe.serve"]
    assert [m.groups() for m in lines if m] == [
        ("GET", "/health", "200", "-"), ("POST", "/rank", "200", "2"), ("POST", "/rank", "422", "1"),
        ("POST", "/rank", "413", "-")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_uwe_serve_refuses_a_10mb_body_quickly_logs_and_stops_cleanly_on_sigterm(tmp_path):
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(LABELS))
    port = _free_port()
    command = ["serve", "--model", "tiny", "--labels", f"demo={labels}", "--cache-dir", str(tmp_path), "--preload",
               "demo", "--port", str(port)]
    server = subprocess.Popen([sys.executable, "-m", "uwe.cli", *command], stderr=subprocess.PIPE, text=True,
                              env={**os.environ, "HF_HUB_OFFLINE": "1"})
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    if http.get("/health").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.2)
            assert http.post("/rank", json={"texts": ["sql"], "space": "demo", "k": 1}).status_code == 200
            start = time.perf_counter()
            refused = http.post("/rank", content=b" " * 10_000_000, headers={"content-type": "application/json"})
            assert refused.status_code == 413 and time.perf_counter() - start < 1.0
            assert http.post("/rank", json={"texts": ["sql"], "space": "demo", "k": 1}).status_code == 200
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=20) == -signal.SIGTERM  # uvicorn shuts down, then re-raises the signal
    finally:
        if server.poll() is None:
            server.kill()
    log = server.stderr.read()
    assert "Traceback" not in log and "stopped; 0 pending request(s) refused" in log
    assert [m.groups() for m in ACCESS_LINE.finditer(log) if m.group(2) == "/rank"] == [
        ("POST", "/rank", "200", "1"), ("POST", "/rank", "413", "-"), ("POST", "/rank", "200", "1")]


def test_serve_options_and_their_defaults(capsys):
    from uwe.cli import build_parser

    args = build_parser().parse_args(["serve"])
    assert (args.model, args.preload, args.no_preload, args.max_batch, args.max_wait, args.no_batching,
            args.max_texts, args.max_text_chars, args.max_body_bytes, args.max_k) == \
        ("minilm", None, False, 64, 5.0, False, 256, 2000, 1 << 20, 100)
    for bad in (["--preload", "esco_skills", "--no-preload"], ["--max-batch", "0"], ["--max-body-bytes", "1e6"]):
        with pytest.raises(SystemExit):
            build_parser().parse_args(["serve", *bad])


def test_serve_preloads_every_builtin_space_by_default(tmp_path, tiny_root, monkeypatch, capsys):
    import uvicorn

    from uwe.cli import main

    served = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: served.update(app=app, **kw))
    monkeypatch.setenv("UWE_CACHE_DIR", str(tmp_path / "built"))  # the tiny root's built tasks
    common = ["serve", "--model", "tiny", "--data-root", str(tiny_root), "--cache-dir", str(tmp_path / "spaces")]
    assert main([*common, "--preload", "nope"]) == 2
    assert capsys.readouterr().err.splitlines()[-1].startswith("uwe serve: error: --preload 'nope' is no "
                                                              "space; valid: esco_occupations, esco_skills, ")
    assert main(common) == 0
    with TestClient(served["app"]) as client:
        deadline = time.monotonic() + 30
        while client.get("/health").status_code == 503 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert client.get("/health").json()["status"] == "ok"
        sizes = {s["name"]: s["size"] for s in client.get("/spaces").json()["spaces"]}
    assert set(sizes) == {"esco_skills", "esco_occupations", "onet_tech_skills"} and None not in sizes.values()
