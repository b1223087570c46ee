"""What evaluation ranks with: anything that scores a chunk of queries against a whole target space."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import torch

from uwe.models.embeddings import Embeddings
from uwe.models.encoder import TextEncoder
from uwe.models.heads.base import ScoringHead
from uwe.models.retriever import Retriever, RetrieverView


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


class EncoderScorer(RetrieverView):
    """Evaluation's view of a :class:`~uwe.models.retriever.Retriever`: a task's targets encoded once as its
    target space (so job2skill and skillnorm share the ESCO skill space), its queries scored a chunk at a time.

    Args:
        encoder, head: the model; with ``device`` given they are moved there, else everything runs on the
            encoder's device (the head must be there too). Scores stay on that device.
        cache_dir: the disk cache of target spaces, or None for memory only (validation during training).
        batch_size, score_chunk, show_progress, precision: as for :class:`~uwe.models.retriever.Retriever`.
            ``precision="bf16"`` encodes under bf16 autocast and never touches the disk cache.
        refresh_cache: re-encode a stale cached space (a stale one is refused naming ``refresh_cache=true``).
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or a torch device, resolved once; None: the encoder's.
        backend: the query backend, as for :class:`~uwe.models.retriever.Retriever` (None keeps the encoder's).
    """

    def __init__(self, encoder: TextEncoder, head: ScoringHead, cache_dir: str | Path | None, batch_size: int = 256,
                 score_chunk: int | None = None, show_progress: bool = True, refresh_cache: bool = False,
                 precision: str | int = "32", device: str | torch.device | None = None, backend: str | None = None):
        self.retriever = Retriever(encoder, head, cache_dir, device=device, batch_size=batch_size,
                                   score_chunk=score_chunk, precision=precision, show_progress=show_progress,
                                   refresh=refresh_cache, refresh_hint="set refresh_cache=true", backend=backend)
        self.name = f"{encoder.name}+{type(head).__name__}"

    def space(self, targets: list[str], space: str) -> Embeddings:
        """``targets`` encoded (or read from the disk cache) once as ``space``, on :attr:`device`."""
        return self.retriever.encode_space(space, targets).embeddings

    def iter_scores(self, queries, targets, space, chunk):
        self.space(targets, space)
        return self.retriever.iter_scores(queries, space, chunk)

    def describe(self) -> dict:
        return {
            "kind": "encoder",
            "encoder": self.encoder.name,
            "head": type(self.head).__name__,
            "max_length": self.encoder.max_length,
            "pooling": self.encoder.pooling,
            "layers": self.encoder.num_layers,
            "dim": self.encoder.dim,
            "device": str(self.device),
            "precision": self.retriever.precision,
            "query_backend": self.encoder.backend,
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
