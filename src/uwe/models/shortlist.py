"""Ranking in two stages: an approximate pooled cosine against every target, then the head's exact scores on a
shortlist of each query's targets alone.

Stage one multiplies bfloat16 copies of the unit pooled vectors (:class:`PooledIndex`: half the bytes of float32,
and AVX-512 BF16 or AMX multiplies them natively), with a bound on its error, so two kinds of shortlist come out:

- :func:`bounded_rows`: every target whose exact cosine may reach the k-th best (the error bound prunes the rest):
  the top k of the cosine head in two stages is exactly the exhaustive one (``Ranker.rank``'s default for
  ``cosine``);
- :func:`shortlist`: the n best by approximate pooled cosine: for a token head (``soft_li``) this is a heuristic,
  not exhaustive (``candidates=N``; ``soft_li``'s default n, :data:`uwe.models.heads.soft_li.DEFAULT_CANDIDATES`,
  keeps the exhaustive top 10 for >= 99% of 500 val queries against ESCO's skills: ``bench/bench_latency.py``).

``Ranker.scores``, ``Ranker.rank(..., exhaustive=True)`` and evaluation score every target.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from uwe.models.embeddings import Embeddings
from uwe.models.heads.base import ScoringHead
from uwe.models.top_k import top_k


# bfloat16 keeps 8 significant bits: the product of two unit vectors, rounded to it, is off by at most half an
# ulp, 2^-9 for a value in [0.5, 1) and 2^-8 just above 1 (a bf16 row's norm may exceed 1 by its rounding).
PRODUCT_ROUNDING = 2.0 ** -8
# float32 accumulation of D = 384..1024 bf16 products of unit vectors: under 1e-4 (D x 2^-24 x 1, ~6e-5 at 1024).
ACCUMULATION = 1e-4


def unit_rows(pooled: torch.Tensor) -> torch.Tensor:
    """[T, D] pooled vectors -> [T, D] of unit length (computed once per space, then reused)."""
    return F.normalize(pooled.float(), dim=-1)


@dataclass(frozen=True)
class PooledIndex:
    """A space's unit pooled vectors for stage one, built once per space by :func:`pooled_index`.

    Attributes:
        low: [T, D] bfloat16 copy of the unit vectors.
        error: the largest ``|unit_y - low_y|`` (L2) over the targets y.
    """

    low: torch.Tensor
    error: float


def pooled_index(pooled: torch.Tensor) -> PooledIndex:
    """The :class:`PooledIndex` of a space's pooled vectors [T, D]."""
    unit = unit_rows(pooled)
    low = unit.to(torch.bfloat16)
    return PooledIndex(low, float((unit - low.float()).norm(dim=-1).max()) if len(unit) else 0.0)


def approx_cosines(queries: torch.Tensor, index: PooledIndex) -> tuple[torch.Tensor, torch.Tensor]:
    """Approximate cosines [Q, T] of ``queries`` [Q, D] to every target, and per query a bound [Q] on
    ``|approx - exact|``.

    With unit q and y, their bfloat16 roundings q', y' (``|q - q'| = e_q``, ``|y - y'| <= e``):
    ``|q.y - q'.y'| <= |q.(y - y')| + |(q - q').y'| <= e + e_q (1 + e)``, plus the rounding of the product to
    bfloat16 and the float32 accumulation.
    """
    unit = F.normalize(queries.float(), dim=-1)
    low = unit.to(torch.bfloat16)
    approx = (low @ index.low.T).float()
    e_q = (unit - low.float()).norm(dim=-1)
    return approx, index.error + e_q * (1 + index.error) + PRODUCT_ROUNDING + ACCUMULATION


def shortlist(queries: torch.Tensor, index: PooledIndex, n: int) -> torch.Tensor:
    """Rows [Q, n] of the ``n`` targets (``n`` <= T) with the best approximate cosine to each of ``queries`` [Q, D]."""
    return approx_cosines(queries, index)[0].topk(n, dim=1).indices


def bounded_rows(queries: torch.Tensor, index: PooledIndex, k: int) -> list[torch.Tensor]:
    """Per query of ``queries`` [Q, D], the rows of every target whose exact cosine may be among its ``k`` best
    (ties included): a target's upper bound ``approx + b`` at least the k-th largest lower bound ``approx - b``.

    Why it is safe: k targets have exact cosines >= their lower bounds >= that k-th lower bound t, so the k-th best
    exact cosine s_k >= t, and any target with exact cosine >= s_k has an upper bound >= s_k >= t.
    """
    approx, bound = approx_cosines(queries, index)
    floor = approx.topk(k, dim=1).values[:, -1] - 2 * bound  # k-th approx - b, minus b: the upper bound's side
    return [row.nonzero().squeeze(1) for row in approx >= floor[:, None]]


def rerank_top_k(head: ScoringHead, queries: Embeddings, targets: Embeddings,
                 rows: torch.Tensor | list[torch.Tensor], k: int) -> list[list[tuple[int, float]]]:
    """Per query, the ``k`` best (target row, score) among its shortlisted ``rows`` (a [Q, n] tensor or one 1-D
    tensor per query, each with >= k rows), scored exactly by ``head``: score descending, ties by row, as
    :func:`uwe.models.top_k.top_k` orders them.

    Each query is scored against its own targets alone (``head.score_rows``: soft_li gathers only those targets'
    real tokens; the head's memo of the whole space is left alone), so the work is Q x n pairs, never Q x the union.
    """
    ranked = []
    for i, own in enumerate(rows):
        own = own.sort().values  # ascending rows: ties stay by row
        scores = head.score_rows(queries[i:i + 1], targets, own)
        ranked += [[(int(own[c]), s) for c, s in row] for row in top_k(scores.cpu(), k)]
    return ranked
