"""Concurrent rank requests gathered into one encoder batch: ``Batcher(ranker).submit(texts, space, k)``.

One worker thread owns the ranker. It waits until ``max_batch`` texts are pending or the oldest pending
request has waited ``max_wait_ms``, takes the oldest requests up to ``max_batch`` texts, and answers them with
one :meth:`uwe.ranker.Ranker.rank_many` call (one encoder pass, one scoring per space). While it works, new
requests queue up, so under load a batch starts without waiting. A request whose space or ``k`` is wrong
fails alone, before the batch is encoded.

Examples:
    >>> batcher = Batcher(ranker, max_batch=64, max_wait_ms=5).start()     # doctest: +SKIP
    >>> batcher.submit(["data scientist"], "esco_skills", 3).result()       # doctest: +SKIP
    [[('computer science', 0.6903...), ('data analytics', 0.6281...), ('data warehouse', 0.6183...)]]
    >>> batcher.stop()  # how many pending requests it refused                # doctest: +SKIP
    0
"""

from __future__ import annotations

import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field

from uwe.ranker import Ranker


class ServiceStopped(RuntimeError):
    """The service is shutting down: a request not started is refused (HTTP 503)."""


@dataclass
class _Job:
    texts: list[str]
    space: str
    k: int
    future: Future = field(default_factory=Future)
    arrived: float = field(default_factory=time.monotonic)


class Batcher:
    """A worker thread that answers :meth:`submit` calls in batches of up to ``max_batch`` texts.

    Args:
        ranker: the only caller of its encoder while the batcher runs.
        max_batch: texts per encoder batch; one request with more texts forms a batch of its own.
        max_wait_ms: how long a request may wait for others to join its batch (0: never waits).
    """

    def __init__(self, ranker: Ranker, max_batch: int = 64, max_wait_ms: float = 5.0):
        if isinstance(max_batch, bool) or not isinstance(max_batch, int) or max_batch < 1:
            raise ValueError(f"max_batch must be an integer >= 1, got {max_batch!r}")
        if not max_wait_ms >= 0:
            raise ValueError(f"max_wait_ms must be >= 0, got {max_wait_ms!r}")
        self.ranker, self.max_batch, self.max_wait = ranker, max_batch, max_wait_ms / 1000
        self._pending: deque[_Job] = deque()
        self._changed = threading.Condition()
        self._stopping = True  # until started
        self._thread: threading.Thread | None = None

    def start(self) -> "Batcher":
        """Start the worker (again, after :meth:`stop`)."""
        with self._changed:
            if self._thread is not None and self._thread.is_alive():
                raise RuntimeError("the batcher is already running")
            self._stopping = False
            self._thread = threading.Thread(target=self._run, name="uwe-batcher", daemon=True)
            self._thread.start()
        return self

    def submit(self, texts: list[str], space: str, k: int) -> Future:
        """A future of ``ranker.rank(texts, space, k)`` (float32 rounding aside, see ``Ranker.rank_many``).

        Raises:
            ServiceStopped: the batcher is not started, or :meth:`stop` was called.
        """
        job = _Job(list(texts), space, k)
        with self._changed:
            if self._stopping:
                raise ServiceStopped("the service is not running (shutting down, or started without its lifespan)")
            self._pending.append(job)
            self._changed.notify()
        return job.future

    def stop(self, timeout: float | None = 30.0) -> int:
        """Finish the batch in progress, then refuse every request still pending with :class:`ServiceStopped`;
        the number refused."""
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
        with self._changed:
            left, self._pending = list(self._pending), deque()
        refused = [job for job in left if job.future.set_running_or_notify_cancel()]
        for job in refused:
            job.future.set_exception(ServiceStopped("the service shut down before this request was ranked"))
        return len(refused)

    def _take(self) -> list[_Job]:
        """The next batch, oldest first; empty once stopping."""
        with self._changed:
            while not self._pending and not self._stopping:
                self._changed.wait()
            if self._stopping:
                return []
            deadline = self._pending[0].arrived + self.max_wait  # under load the oldest has waited already
            while not self._stopping and sum(len(job.texts) for job in self._pending) < self.max_batch:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._changed.wait(left)
            if self._stopping:
                return []
            jobs, size = [], 0
            while self._pending and (not jobs or size + len(self._pending[0].texts) <= self.max_batch):
                jobs.append(self._pending.popleft())
                size += len(jobs[-1].texts)
            return jobs

    def _run(self) -> None:
        while jobs := self._take():
            self._answer(jobs)

    def _answer(self, jobs: list[_Job]) -> None:
        ready = []
        for job in jobs:
            if not job.future.set_running_or_notify_cancel():  # its client went away
                continue
            try:
                check_space_and_k(self.ranker, job.space, job.k)
            except Exception as err:  # noqa: BLE001 -- the request's own error, e.g. an unknown space
                job.future.set_exception(err)
                continue
            ready.append(job)
        if not ready:
            return
        try:
            ranked = self.ranker.rank_many([(job.texts, job.space, job.k) for job in ready])
        except Exception as err:  # noqa: BLE001 -- every request of the batch gets the error
            for job in ready:
                job.future.set_exception(err)
            return
        for job, result in zip(ready, ranked):
            job.future.set_result(result)


class KOutOfRange(ValueError):
    """``k`` larger than the requested space (HTTP 422)."""


def check_space_and_k(ranker: Ranker, space: str, k: int) -> None:
    """Load ``space`` if needed (UnknownSpaceError if there is none); KOutOfRange if ``k`` exceeds its size."""
    size = len(ranker.space(space).labels)
    if k > size:
        raise KOutOfRange(f"k must be from 1 to {size} (space {space!r} has {size} labels), got {k}")
