"""Cosine similarity of pooled vectors: the bi-encoder baseline (``head=cosine``)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from uwe.models.embeddings import Embeddings
from uwe.models.heads.base import HEADS, ScoringHead
from uwe.models.heads.memo import TensorMemo


def cosine_scores(q: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of every query with every target.

    Args:
        q: [Nq, D] pooled query vectors.
        t: [Nt, D] pooled target vectors.

    Returns:
        [Nq, Nt] with ``s[a, b] = cos(q[a], t[b])``.

    Examples:
        >>> q = torch.tensor([[1.0, 0.0], [3.0, 4.0]])
        >>> t = torch.tensor([[2.0, 0.0], [0.0, -1.0]])
        >>> cosine_scores(q, t)
        tensor([[ 1.0000,  0.0000],
                [ 0.6000, -0.8000]])
    """
    return F.normalize(q, dim=-1) @ F.normalize(t, dim=-1).T


@HEADS.register("cosine")
class CosineHead(ScoringHead):
    """``cosine_scores`` on ``Embeddings.pooled``; needs no token states.

    ``score_chunked`` normalises a target space once (kept while the same ``t.pooled`` tensor comes back
    unmodified) and scores ``chunk_size`` queries against all targets with one matmul into the result.
    """

    needs_query_tokens = False
    needs_target_tokens = False
    default_candidates = "bound"  # rank: exact, scoring only the targets a bf16 bound keeps
    chunk_size = 4096  # queries per matmul in score_chunked, written straight into the [Nq, Nt] result

    def __init__(self):
        super().__init__()
        self._normalized = TensorMemo()

    def _score_block(self, q: Embeddings, t: Embeddings) -> torch.Tensor:
        return cosine_scores(q.pooled, t.pooled)

    @torch.no_grad()
    def score_chunked(self, q: Embeddings, t: Embeddings, chunk_size: int | None = None) -> torch.Tensor:
        """``cosine_scores(q.pooled, t.pooled)`` [Nq, Nt] without gradients, ``chunk_size`` queries at a time."""
        chunk_size = self._resolve_chunk_size(chunk_size)
        dtype = torch.promote_types(q.pooled.dtype, t.pooled.dtype)
        targets = self._normalized.get(lambda: F.normalize(t.pooled.to(dtype), dim=-1), (t.pooled,), dtype)
        out = torch.empty(len(q), len(t), dtype=dtype, device=q.pooled.device)
        for start in range(0, len(q), chunk_size):
            queries = F.normalize(q.pooled[start : start + chunk_size].to(dtype), dim=-1)
            torch.mm(queries, targets.T, out=out[start : start + chunk_size])
        return out
