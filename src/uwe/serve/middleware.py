"""Pure ASGI middleware of the service: a request body limit and one access-log line per request.

Both wrap the app below any framework code, so a refused body is never parsed, and a refusal costs the
event loop nothing that other requests would wait for.
"""

from __future__ import annotations

import json
import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("uwe.serve")


class BodyLimit:
    """Answer 413 to a request body over ``max_bytes`` before the app reads any of it.

    A declared ``Content-Length`` is checked when the headers arrive (the server then delivers exactly that
    many bytes, or fails the request). A body without one (chunked) is read here while counting: at most
    ``max_bytes`` are held; one byte more is refused, and the rest is never read by the app.
    """

    def __init__(self, app: ASGIApp, max_bytes: int):
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1:
            raise ValueError(f"max_body_bytes must be an integer >= 1, got {max_bytes!r}")
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            size = int(declared) if declared.isdigit() else None
            if size is None:
                await _json(send, 400, f"Content-Length {declared.decode('latin-1')!r} is not a byte count")
            elif size > self.max_bytes:
                await _json(send, 413, f"the request body has {size} bytes; at most max_body_bytes={self.max_bytes}")
            else:
                await self.app(scope, receive, send)
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away: let the app see it
                chunks = None
                break
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                await _json(send, 413, f"the request body is over max_body_bytes={self.max_bytes} bytes")
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            if chunks is None:
                return {"type": "http.disconnect"}
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send)


class AccessLog:
    """Log one INFO line per HTTP request on ``uwe.serve``: method, path, status, latency and texts ranked.

    ``POST /rank 200 7.4 ms texts=1``: the latency runs from the request's arrival to its response's last
    byte; ``texts`` is what the endpoint put in ``request.state.texts`` (``-`` when it did not get there).
    """

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, status = time.perf_counter(), 500  # 500: the app failed before it answered
        state = scope.setdefault("state", {})  # request.state writes here

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            log.info("%s %s %d %.1f ms texts=%s", scope["method"], scope["path"], status,
                     1000 * (time.perf_counter() - start), state.get("texts", "-"))


async def _json(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
