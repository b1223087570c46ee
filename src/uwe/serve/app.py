"""FastAPI app over a :class:`uwe.ranker.Ranker`: ``POST /rank``, ``GET /spaces``, ``GET /health``.

Requests are validated before any work: a batch above ``max_batch`` texts is 413, an unknown space 404, an
empty text or a ``k`` outside 1..min(max_k, space size) 422, each with a ``detail`` naming the value at fault
(malformed JSON gets FastAPI's own 422). The endpoints are plain functions, so FastAPI runs them in its thread
pool; concurrency is safe because the ranker serialises its own calls with a lock (see ``Ranker``), which also
makes the first request for a built-in space load it exactly once while the others wait.

    curl -s localhost:8080/rank -H 'content-type: application/json' \\
         -d '{"texts": ["data scientist"], "space": "esco_skills", "k": 3}'
"""

from __future__ import annotations

import re
import time

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from uwe import __version__
from uwe.ranker import Ranker, check_texts


class RankRequest(BaseModel):
    """Texts to rank against one space."""

    texts: list[str] = Field(min_length=1, description="non-empty texts, at most max_batch of them")
    space: str = Field(description="a name listed by GET /spaces")
    k: int = Field(10, description="labels per text, 1..min(max_k, space size)")


class Hit(BaseModel):
    label: str
    score: float


class RankResponse(BaseModel):
    """Per text, its top-k labels best first; ``took_ms``: the request's time in the server, waiting for the
    ranker's lock included."""

    results: list[list[Hit]]
    took_ms: float


def create_app(ranker: Ranker, max_batch: int = 256, max_k: int = 100) -> FastAPI:
    """The service of ``ranker``, refusing requests of more than ``max_batch`` texts or ``k`` above ``max_k``."""
    app = FastAPI(title="uwe ranker", version=__version__)

    @app.exception_handler(Exception)
    def server_error(request: Request, err: Exception) -> JSONResponse:
        # e.g. a built-in space whose data root is missing: say so in one line instead of a bare 500
        message = re.sub(r"\s*\n\s*", " ", str(err)).strip()
        return JSONResponse(status_code=500, content={"detail": f"{type(err).__name__}: {message}"})

    @app.post("/rank", response_model=RankResponse)
    def rank(request: RankRequest) -> RankResponse:
        start = time.perf_counter()
        if len(request.texts) > max_batch:
            raise HTTPException(413, f"{len(request.texts)} texts in one request; at most max_batch={max_batch}")
        try:
            check_texts(request.texts)
        except ValueError as err:
            raise HTTPException(422, str(err)) from err
        spaces = ranker.spaces()
        if request.space not in spaces:
            raise HTTPException(404, f"unknown space {request.space!r}; valid: {', '.join(sorted(spaces))}")
        size = len(ranker.space(request.space).labels)
        if not 1 <= request.k <= min(max_k, size):
            raise HTTPException(422, f"k must be from 1 to {min(max_k, size)} (max_k={max_k}, space "
                                     f"{request.space!r} has {size} labels), got {request.k}")
        ranked = ranker.rank(request.texts, request.space, request.k)
        results = [[Hit(label=label, score=score) for label, score in rows] for rows in ranked]
        return RankResponse(results=results, took_ms=1000 * (time.perf_counter() - start))

    @app.get("/spaces")
    def spaces() -> dict:
        """Every space and its size (null: a built-in space not loaded yet)."""
        return {"spaces": [{"name": name, "size": size} for name, size in ranker.spaces().items()]}

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok", "version": __version__, **ranker.describe()}

    return app
