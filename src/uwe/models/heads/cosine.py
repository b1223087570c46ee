"""Cosine similarity of pooled vectors: the bi-encoder baseline (``head=cosine``)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from uwe.models.embeddings import Embeddings
from uwe.models.heads.base import ScoringHead


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


class CosineHead(ScoringHead):
    """``cosine_scores`` on ``Embeddings.pooled``; needs no token states."""

    needs_query_tokens = False
    needs_target_tokens = False
    chunk_size = 4096  # one [4096, D] x [D, 4096] matmul block is 64 MiB of scores

    def _score_block(self, q: Embeddings, t: Embeddings) -> torch.Tensor:
        return cosine_scores(q.pooled, t.pooled)
