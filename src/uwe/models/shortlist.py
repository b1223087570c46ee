"""Two-stage ranking: a pooled-cosine shortlist of each query's N best targets, then the head's exact scores on
those alone. Not exhaustive (a target outside the shortlist is never returned), so it is opt-in
(``Ranker.rank(..., candidates=N)``) and ``bench/bench_latency.py`` reports how often its top-10 equals the
exhaustive top-10; ``Ranker.scores`` and evaluation stay exhaustive.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from uwe.models.embeddings import Embeddings
from uwe.models.heads.base import ScoringHead
from uwe.models.top_k import top_k


def unit_rows(pooled: torch.Tensor) -> torch.Tensor:
    """[T, D] pooled vectors -> [T, D] of unit length (computed once per space, then reused)."""
    return F.normalize(pooled.float(), dim=-1)


def shortlist(queries: torch.Tensor, unit_targets: torch.Tensor, n: int) -> torch.Tensor:
    """Rows [Q, n] of the ``n`` targets with the best cosine to each of ``queries`` [Q, D], given the targets'
    unit vectors ``unit_targets`` [T, D] (``n`` <= T)."""
    return (F.normalize(queries.float(), dim=-1) @ unit_targets.T).topk(n, dim=1).indices


def rerank_top_k(head: ScoringHead, queries: Embeddings, targets: Embeddings, rows: torch.Tensor,
                 k: int) -> list[list[tuple[int, float]]]:
    """Per query, the ``k`` best (target row, score) among its shortlisted ``rows`` [Q, n] (k <= n), scored
    exactly by ``head``: score descending, ties by row, as :func:`uwe.models.top_k.top_k` orders them.

    Each query is scored against its own n targets alone (``head.score_once``: soft_li's token blocks built
    for those n, the plain formula for other heads; the head's memo of the whole space is left alone), so the
    work is Q x n pairs, never Q x the union.
    """
    ranked = []
    for i, own in enumerate(rows.sort(dim=1).values):  # ascending rows: ties stay by row
        scores = head.score_once(queries[i:i + 1], targets[own])
        ranked += [[(int(own[c]), s) for c, s in row] for row in top_k(scores.cpu(), k)]
    return ranked
