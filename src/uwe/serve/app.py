"""FastAPI app over a :class:`uwe.ranker.Ranker`: ``POST /rank``, ``POST /extract``, ``GET /spaces``, ``GET /health``.

Requests are refused before any work, each with a ``detail`` naming the value at fault:

- a body over ``max_body_bytes``: 413, answered from its headers (or, chunked, at the byte over the limit),
  before the body is read whole (:class:`uwe.serve.middleware.BodyLimit`);
- strict types (``k`` an integer, not ``"3"``, ``3.0``, ``true`` or ``1e400``; ``texts`` a list of strings; no
  unknown field): 422 in FastAPI's list form;
- more than ``max_texts`` texts, an empty text, one over ``max_text_chars`` characters or not valid Unicode
  (a lone surrogate such as JSON's ``"\\ud800"``), ``k`` outside 1..min(max_k, space size): 422;
- an unknown space: 404; the service still loading its spaces or shutting down: 503.
- ``POST /extract``: an ad that is empty, over :data:`uwe.extract.checks.MAX_AD_CHARS` characters, binary or
  not English (unless ``any_language``), a ``min_prob`` outside [0, 1] or a ``top`` below 1: 422; a model
  with no calibration and no validation data to fit one: 503 (no probability is made up).

Concurrent requests are answered in batches by one worker (:class:`uwe.serve.batcher.Batcher`: up to
``max_batch`` texts, waiting at most ``max_wait_ms`` for them); ``batching=False`` is the reference path, each
request ranked alone in a thread under the ranker's lock. ``/health`` is 503 ``{"status": "loading"}`` until
the ``preload`` spaces are in memory (they load in the background, so the port answers at once), then 200.
Every request gets one access-log line on the ``uwe.serve`` logger (:class:`uwe.serve.middleware.AccessLog`).
On shutdown (uvicorn on SIGTERM: requests in flight are answered first) the worker finishes its batch and any
request still pending gets a 503.

    curl -s localhost:8080/rank -H 'content-type: application/json' \\
         -d '{"texts": ["data scientist"], "space": "esco_skills", "k": 3}'
    curl -s localhost:8080/extract -H 'content-type: application/json' \\
         -d '{"text": "Data Engineer\\n- Python and SQL\\n- Spark", "top": 5}'
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from collections.abc import Sequence
from contextlib import asynccontextmanager

from fastapi import FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr

from uwe import __version__
from uwe.extract import CalibrationError, NoCalibrationDataError
from uwe.ranker import Ranker, UnknownSpaceError, check_texts
from uwe.serve.batcher import Batcher, KOutOfRange, ServiceStopped, check_space_and_k
from uwe.serve.middleware import AccessLog, BodyLimit

log = logging.getLogger("uwe.serve")


class RankRequest(BaseModel):
    """Texts to rank against one space."""

    model_config = ConfigDict(extra="forbid")

    texts: list[StrictStr] = Field(min_length=1, description="non-empty texts, at most max_texts of them")
    space: StrictStr = Field(description="a name listed by GET /spaces")
    k: StrictInt = Field(10, description="labels per text, 1..min(max_k, space size)")


class Hit(BaseModel):
    label: str
    score: float


class RankResponse(BaseModel):
    """Per text, its top-k labels best first; ``took_ms``: the request's time in the server, waiting for its
    batch (or the ranker's lock) included."""

    results: list[list[Hit]]
    took_ms: float


class ExtractRequest(BaseModel):
    """A job ad to extract skills and occupations from (see :meth:`uwe.ranker.Ranker.extract`)."""

    model_config = ConfigDict(extra="forbid")

    text: StrictStr = Field(description="the whole ad; line breaks and bullets separate sentences")
    title: StrictStr | None = Field(None, description="the job title (default: the first line if it reads as one)")
    min_prob: StrictFloat | StrictInt | None = Field(None, description="report skills from this probability "
                                                                       "(default: the calibrated operating point)")
    top: StrictInt | None = Field(None, description="at most this many skills, most probable first")
    any_language: StrictBool = Field(False, description="extract from an ad that does not look English")


class EvidenceOut(BaseModel):
    text: str
    start: int
    end: int
    probability: float


class SkillOut(BaseModel):
    label: str
    uri: str
    probability: float
    evidence: list[EvidenceOut]


class OccupationOut(BaseModel):
    label: str
    uri: str
    probability: float


class ExtractResponse(BaseModel):
    """The ad's skills (calibrated probability, evidence sentences with character offsets) and occupations."""

    skills: list[SkillOut]
    occupations: list[OccupationOut]
    title: str | None
    title_source: str
    sentences: int
    threshold: float
    model: str
    took_ms: float


def one_line(err: BaseException) -> str:
    """``Type: message`` on one line, e.g. a missing data root's multi-line error."""
    message = re.sub(r"\s*\n\s*", " ", str(err)).strip()
    return f"{type(err).__name__}: {message}"


def check_request(request: RankRequest, max_texts: int, max_text_chars: int, max_k: int) -> None:
    """ValueError naming the first text or the ``k`` at fault (the space's size is checked by the ranker)."""
    if len(request.texts) > max_texts:
        raise ValueError(f"{len(request.texts)} texts in one request; at most max_texts={max_texts}")
    check_texts(request.texts)
    for i, text in enumerate(request.texts):
        if len(text) > max_text_chars:
            raise ValueError(f"texts[{i}] has {len(text)} characters; at most max_text_chars={max_text_chars}")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as err:
            raise ValueError(f"texts[{i}] is not valid Unicode: a lone surrogate {text[err.start]!r} at "
                             f"character {err.start}") from None
    if not 1 <= request.k <= max_k:
        raise ValueError(f"k must be from 1 to {max_k} (max_k={max_k}), got {request.k}")


def _rank_alone(ranker: Ranker, texts: list[str], space: str, k: int) -> list[list[tuple[str, float]]]:
    check_space_and_k(ranker, space, k)
    return ranker.rank(texts, space, k)


class _Readiness:
    """Whether the preloaded spaces are in memory: ``loading``, ``ok`` or ``failed`` (with ``detail``)."""

    def __init__(self, ranker: Ranker, spaces: Sequence[str]):
        self.ranker, self.spaces = ranker, list(spaces)
        self.status, self.detail = ("loading" if self.spaces else "ok"), None

    def load(self) -> None:
        start = time.perf_counter()
        for name in self.spaces:
            try:
                size = len(self.ranker.space(name).labels)
            except Exception as err:  # noqa: BLE001 -- reported by /health and the log, not a dead thread
                self.detail = f"preloading space {name!r} failed: {one_line(err)}"
                self.status = "failed"
                log.error("%s; the service stays unready (restart without that space: --preload or --no-preload)",
                          self.detail)
                return
            log.info("space %s in memory: %d labels", name, size)
        self.status = "ok"
        log.info("ready: %d space(s) preloaded in %.1f s", len(self.spaces), time.perf_counter() - start)


def create_app(ranker: Ranker, *, max_texts: int = 256, max_k: int = 100, max_text_chars: int = 2000,
               max_body_bytes: int = 1 << 20, max_batch: int = 64, max_wait_ms: float = 5.0, batching: bool = True,
               preload: Sequence[str] = ()) -> FastAPI:
    """The service of ``ranker``.

    Args:
        ranker: serves every space it has or can load.
        max_texts: most texts per request (more: 422).
        max_k: largest ``k`` (larger: 422).
        max_text_chars: longest text in characters (longer: 422; the encoder keeps ``max_length`` tokens).
        max_body_bytes: largest request body (larger: 413 before it is read; default 1 MiB).
        max_batch: texts per encoder batch gathered from concurrent requests.
        max_wait_ms: how long a request waits for others to share its batch.
        batching: False ranks each request alone under the ranker's lock (the reference for the bench).
        preload: spaces loaded in the background at startup; ``/health`` is 503 until they are in memory.
    """
    readiness = _Readiness(ranker, preload)
    batcher = Batcher(ranker, max_batch, max_wait_ms) if batching else None

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if batcher is not None:
            batcher.start()
        threading.Thread(target=readiness.load, name="uwe-preload", daemon=True).start()
        try:
            yield
        finally:
            refused = 0 if batcher is None else await run_in_threadpool(batcher.stop)
            log.info("stopped; %d pending request(s) refused", refused)

    app = FastAPI(title="uwe ranker", version=__version__, lifespan=lifespan)
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    app.add_middleware(AccessLog)  # the outermost: refused bodies are logged too

    @app.exception_handler(Exception)
    def server_error(request: Request, err: Exception) -> JSONResponse:
        # e.g. a built-in space whose data root is missing: say so in one line instead of a bare 500
        return JSONResponse(status_code=500, content={"detail": one_line(err)})

    @app.exception_handler(RequestValidationError)
    def invalid_request(request: Request, err: RequestValidationError) -> JSONResponse:
        # FastAPI's default echoes each bad input, and inf (k=1e400) or a lone surrogate cannot be JSON: a 500
        errors = [{"type": e["type"], "loc": list(e["loc"]), "msg": e["msg"]} for e in err.errors()]
        return JSONResponse(status_code=422, content={"detail": errors})

    @app.post("/rank", response_model=RankResponse)
    async def rank(body: RankRequest, request: Request) -> RankResponse:
        start = time.perf_counter()
        request.state.texts = len(body.texts)
        if readiness.status != "ok":
            raise HTTPException(503, readiness.detail or "loading the preloaded spaces; GET /health says when ready")
        try:
            check_request(body, max_texts, max_text_chars, max_k)
        except ValueError as err:
            raise HTTPException(422, str(err)) from err
        try:
            if batcher is None:
                ranked = await run_in_threadpool(_rank_alone, ranker, body.texts, body.space, body.k)
            else:
                ranked = await asyncio.wrap_future(batcher.submit(body.texts, body.space, body.k))
        except UnknownSpaceError as err:
            raise HTTPException(404, str(err)) from err
        except KOutOfRange as err:
            raise HTTPException(422, str(err)) from err
        except ServiceStopped as err:
            raise HTTPException(503, str(err)) from err
        results = [[Hit(label=label, score=score) for label, score in rows] for rows in ranked]
        return RankResponse(results=results, took_ms=1000 * (time.perf_counter() - start))

    @app.post("/extract", response_model=ExtractResponse)
    async def extract(body: ExtractRequest) -> ExtractResponse:
        start = time.perf_counter()
        if readiness.status != "ok":
            raise HTTPException(503, readiness.detail or "loading the preloaded spaces; GET /health says when ready")
        try:
            found = await run_in_threadpool(ranker.extract, body.text, body.title, body.min_prob, body.top,
                                            body.any_language)
        except (NoCalibrationDataError, CalibrationError) as err:
            raise HTTPException(503, str(err)) from err
        except ValueError as err:  # AdError and the other checks of a request's values
            raise HTTPException(422, str(err)) from err
        out = found.to_dict()
        out.pop("calibration")
        return ExtractResponse(**out, took_ms=1000 * (time.perf_counter() - start))

    @app.get("/spaces")
    def spaces() -> dict:
        """Every space and its size (null: a built-in space not loaded yet)."""
        return {"spaces": [{"name": name, "size": size} for name, size in ranker.spaces().items()]}

    @app.get("/health")
    async def health() -> JSONResponse:
        """200 once the preloaded spaces are in memory; 503 ``loading`` before, ``failed`` if one failed."""
        if readiness.status == "loading":
            return JSONResponse(status_code=503, content={"status": "loading"})
        if readiness.status == "failed":
            return JSONResponse(status_code=503, content={"status": "failed", "detail": readiness.detail})
        return JSONResponse({"status": "ok", "version": __version__, **ranker.describe()})

    return app
