"""The HTTP service: every endpoint, every 4xx case, and concurrent requests equal to sequential ones."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from uwe import Ranker
from uwe.serve import create_app

LABELS = ["python", "statistics", "bake bread", "knead dough", "manage a team", "data analysis", "nursing", "sql"]


@pytest.fixture(scope="module")
def ranker(tmp_path_factory) -> Ranker:
    ranker = Ranker.from_pretrained("tiny", cache_dir=tmp_path_factory.mktemp("spaces"), show_progress=False)
    ranker.add_space("demo", LABELS)
    ranker.add_space("small", ["python", "sql"])
    return ranker


@pytest.fixture(scope="module")
def client(ranker) -> TestClient:
    with TestClient(create_app(ranker, max_batch=4, max_k=5)) as client:
        yield client


def test_health(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "version": "0.1.0", "model": "tiny", "head": "CosineHead",
                               "pooling": "mean", "max_length": 64, "device": "cpu"}


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
    expected = ranker.rank(texts, "demo", k=3)
    assert body["results"] == [[{"label": label, "score": score} for label, score in rows] for rows in expected]
    assert body["results"][0][0] == {"label": "python", "score": pytest.approx(1.0, abs=1e-5)}
    assert body["took_ms"] > 0


@pytest.mark.parametrize("payload, status, detail", [
    ({"texts": ["python", ""], "space": "demo", "k": 1}, 422, "texts[1] is empty ('')"),
    ({"texts": ["   "], "space": "demo", "k": 1}, 422, "texts[0] is empty ('   ')"),
    ({"texts": ["python"], "space": "nope", "k": 1}, 404,
     "unknown space 'nope'; valid: demo, esco_occupations, esco_skills, onet_tech_skills, small"),
    ({"texts": ["python"], "space": "demo", "k": 0}, 422,
     "k must be from 1 to 5 (max_k=5, space 'demo' has 8 labels), got 0"),
    ({"texts": ["python"], "space": "demo", "k": 6}, 422,
     "k must be from 1 to 5 (max_k=5, space 'demo' has 8 labels), got 6"),
    ({"texts": ["python"], "space": "small", "k": 3}, 422,
     "k must be from 1 to 2 (max_k=5, space 'small' has 2 labels), got 3"),
    ({"texts": ["a", "b", "c", "d", "e"], "space": "demo", "k": 1}, 413,
     "5 texts in one request; at most max_batch=4"),
])
def test_bad_requests_get_a_clear_4xx(client, payload, status, detail):
    response = client.post("/rank", json=payload)
    assert response.status_code == status
    assert response.json() == {"detail": detail}


@pytest.mark.parametrize("payload, field", [
    ({"texts": [], "space": "demo"}, "texts"),
    ({"texts": "python", "space": "demo"}, "texts"),
    ({"texts": ["python"]}, "space"),
    ({"texts": ["python"], "space": "demo", "k": "many"}, "k"),
])
def test_malformed_requests_get_pydantic_422(client, payload, field):
    response = client.post("/rank", json=payload)
    assert response.status_code == 422
    assert [error["loc"][-1] for error in response.json()["detail"]] == [field]


def test_a_missing_data_root_is_a_one_line_500(tmp_path):
    ranker = Ranker.from_pretrained("tiny", cache_dir=tmp_path, data_root=tmp_path / "no-data", show_progress=False)
    with TestClient(create_app(ranker), raise_server_exceptions=False) as client:
        response = client.post("/rank", json={"texts": ["python"], "space": "esco_skills", "k": 1})
    assert response.status_code == 500
    assert response.json()["detail"].startswith("MissingFilesError: ") and "\n" not in response.json()["detail"]


def test_eight_concurrent_requests_equal_sequential_ones(client):
    payloads = [{"texts": [LABELS[i], f"text number {i}"], "space": "demo", "k": 5} for i in range(8)]
    sequential = [client.post("/rank", json=p).json()["results"] for p in payloads]
    with ThreadPoolExecutor(8) as pool:
        concurrent = list(pool.map(lambda p: client.post("/rank", json=p), payloads * 2))
    assert all(r.status_code == 200 for r in concurrent)
    assert [r.json()["results"] for r in concurrent] == sequential * 2
