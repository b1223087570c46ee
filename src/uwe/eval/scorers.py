"""What evaluation ranks with: anything that scores a chunk of queries against a whole target space."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import torch

from uwe.models.device import check_precision
from uwe.models.embeddings import Embeddings
from uwe.models.encoder import TextEncoder
from uwe.models.heads.base import ScoringHead
from uwe.models.space_cache import cache_name, load_or_encode


class Scorer(Protocol):
    """``iter_scores`` yields ``(first query row, scores [chunk, len(targets)])`` covering every query once.

    Scores may live on any device: the metrics (:mod:`uwe.eval.metrics`) rank where the scores are and bring
    only the ranks back to the CPU, so GPU scores never cross to the host as whole matrices.
    """

    name: str

    def iter_scores(self, queries: list[str], targets: list[str], space: str, chunk: int) -> Iterator[tuple[int, torch.Tensor]]:
        ...

    def describe(self) -> dict:
        ...


class EncoderScorer:
    """A bi-encoder and a scoring head, with each target space encoded once and cached on disk.

    Targets are cached under ``cache_dir`` keyed by the encoder's weights and the target list (a stale file
    is refused, see :mod:`uwe.models.space_cache`), or only in memory when ``cache_dir`` is None (validation
    during training, where the weights change every step); either way they are kept for the scorer's life,
    so job2skill and skillnorm share the ESCO skill space. Queries are encoded a chunk at a time (duplicates once) so memory stays
    bounded at 71,538 queries.

    Everything runs on the encoder's device (the head must be there too): target spaces are moved there once
    each, queries are encoded and scored there, and the scores stay there. ``precision="bf16"`` encodes under
    bf16 autocast (cheap validation during training) and never touches the disk cache, which holds the
    float32 embeddings that reported numbers use: its target spaces live in memory only.
    """

    def __init__(self, encoder: TextEncoder, head: ScoringHead, cache_dir: str | Path | None, batch_size: int = 256,
                 score_chunk: int | None = None, show_progress: bool = True, refresh_cache: bool = False,
                 precision: str | int = "32"):
        self.encoder, self.head = encoder, head
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir is not None else None
        self.batch_size, self.score_chunk, self.show_progress = batch_size, score_chunk, show_progress
        self.refresh_cache = refresh_cache
        self.precision = check_precision(precision)
        self.name = f"{encoder.name}+{type(head).__name__}"
        self._spaces: dict[str, tuple[list[str], Embeddings]] = {}

    @property
    def device(self) -> torch.device:
        """Where encoding and scoring run: the encoder's device."""
        return next(self.encoder.parameters()).device

    def space(self, targets: list[str], space: str) -> Embeddings:
        """``targets`` encoded (or read from the disk cache) once, kept on :attr:`device`."""
        cached = self._spaces.get(space)
        if cached is None or cached[0] != targets or cached[1].pooled.device != self.device:
            if self.cache_dir is None or self.precision != "32":
                emb = self.encoder.encode(targets, self.batch_size, show_progress=self.show_progress,
                                          out_device=self.device, precision=self.precision, use_backend=False)
            else:
                emb = load_or_encode(self.encoder, targets, self.cache_dir, cache_name(space, self.encoder),
                                     self.batch_size, refresh=self.refresh_cache, show_progress=self.show_progress,
                                     refresh_hint="set refresh_cache=true")
            self._spaces[space] = cached = (targets, emb.to(self.device))
        return cached[1]

    def iter_scores(self, queries, targets, space, chunk):
        t = self.space(targets, space)
        for start in range(0, len(queries), chunk):
            q = self.encoder.encode(queries[start:start + chunk], self.batch_size, show_progress=False,
                                    out_device=self.device, precision=self.precision)
            yield start, self.head.score_chunked(q, t, self.score_chunk)

    def describe(self) -> dict:
        return {
            "kind": "encoder",
            "encoder": self.encoder.name,
            "head": type(self.head).__name__,
            "max_length": self.encoder.max_length,
            "pooling": self.encoder.pooling,
            "device": str(self.device),
            "precision": self.precision,
            "weights_sha256": self.encoder.weights_fingerprint(),
        }


class BaselineScorer:
    """Wraps a scorer with ``score(queries, targets) -> [Q, T]`` (BM25, random) into chunks."""

    def __init__(self, impl, name: str):
        self.impl, self.name = impl, name

    def iter_scores(self, queries, targets, space, chunk):
        for start in range(0, len(queries), chunk):
            yield start, self.impl.score(queries[start:start + chunk], targets)

    def describe(self) -> dict:
        return {"kind": "baseline", "name": self.name, **{k: v for k, v in vars(self.impl).items() if isinstance(v, (int, float, str))}}
