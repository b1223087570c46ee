"""Ranking metrics with graded relevance: each relevant target of a query has a gain g > 0.

WorkBench-offline scores job2skill and skill2job with every ESCO occupation-skill relation as an equal positive;
ESCO marks each relation essential or optional. With gains essential 2 and optional 1
(:func:`uwe.data.tasks.esco_relations.relation_gains`), two graded metrics are reported beside the binary ones:

- ``ndcg@k_graded``: DCG = sum over relevant targets ranked <= k of (2^g - 1) / log2(rank + 1), divided by the
  ideal DCG of the query's gains sorted descending over min(k, |R|) positions. The exponential gain and log2
  discount are workrb 0.6's ``ndcg@k`` for its graded tasks (``_calculate_ndcg``, TREC/pytrec_eval's form); with
  every gain 1 it is the binary ``ndcg@k``.
- ``map_graded``: gain-weighted AP = sum_{j in R} g_j * P@rank_j / sum_{j in R} g_j, where P@r is the (binary)
  precision at rank r. With equal gains it is the binary AP. workrb 0.6 has no graded MAP: its ``map`` keeps
  the targets whose grade clears a threshold as binary positives.

Ranks are those of :mod:`uwe.eval.metrics` (ties to the lower target index).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from uwe.eval.metrics import as_scores, flatten_labels, ranked_chunks

GRADED_METRICS = ("ndcg@10_graded", "map_graded")


def graded_per_query(scores: torch.Tensor | np.ndarray, labels: Sequence[Sequence[int]],
                     gains: Sequence[Sequence[float]], k: int = 10, chunk_size: int = 128) -> dict[str, np.ndarray]:
    """``ndcg@{k}_graded`` and ``map_graded`` for every query (NaN where a query has no label).

    Args:
        scores: [Q x T] scores, higher first.
        labels: Q lists of relevant target indices.
        gains: Q lists aligned with ``labels``, each gain > 0 (a label listed twice keeps its largest gain).
        k: the nDCG cut-off.

    Examples:
        Query 0 ranks targets (1, 0, 2); R = {0: gain 2, 2: gain 1} at ranks 2 and 3.
        DCG@10 = 3 / log2(3) + 1 / log2(4) = 2.3928; ideal = 3 / log2(2) + 1 / log2(3) = 3.6309; nDCG = 0.6590.
        Graded AP = (2 * 1/2 + 1 * 2/3) / 3 = 0.5556 (binary AP: (1/2 + 2/3) / 2 = 0.5833).

        >>> m = graded_per_query(np.array([[0.5, 0.9, -0.1]]), [[0, 2]], [[2, 1]])
        >>> round(float(m["ndcg@10_graded"][0]), 4), round(float(m["map_graded"][0]), 4)
        (0.659, 0.5556)
    """
    scores = as_scores(scores)
    n_queries, n_targets = scores.shape
    if len(gains) != len(labels) or any(len(g) != len(x) for g, x in zip(gains, labels)):
        raise ValueError("gains must align with labels: one gain per label of every query")
    counts, flat = flatten_labels(labels, n_queries, n_targets)
    best: dict[tuple[int, int], float] = {}
    for q, (xs, gs) in enumerate(zip(labels, gains)):
        for j, g in zip(xs, gs):
            if not g > 0:
                raise ValueError(f"gain {g!r} of label {j} of query {q} is not > 0")
            best[(q, int(j))] = max(float(g), best.get((q, int(j)), 0.0))
    flat_gain = np.array([best[(q, int(j))] for q, j in zip(np.repeat(np.arange(n_queries), counts), flat)])
    out = {f"ndcg@{k}_graded": np.full(n_queries, np.nan), "map_graded": np.full(n_queries, np.nan)}
    for queries, n, where, ranks in ranked_chunks(scores, counts, flat, chunk_size):
        g = np.where(where >= 0, flat_gain[np.maximum(where, 0)], 0.0)
        out[f"ndcg@{k}_graded"][queries] = _ndcg(ranks, g, k)
        out["map_graded"][queries] = _graded_ap(ranks, g)
    return out


def _ndcg(ranks: np.ndarray, g: np.ndarray, k: int) -> np.ndarray:
    """[c] from ranks and gains [c x m] (+inf ranks and 0 gains as padding)."""
    dcg = np.where(ranks <= k, (2.0 ** g - 1) / np.log2(ranks + 1), 0.0).sum(1)
    ideal_gains = -np.sort(-g, axis=1)[:, :k]
    ideal = ((2.0 ** ideal_gains - 1) / np.log2(np.arange(2, ideal_gains.shape[1] + 2))).sum(1)
    return dcg / ideal


def _graded_ap(ranks: np.ndarray, g: np.ndarray) -> np.ndarray:
    """[c] gain-weighted AP from ranks and gains [c x m] (padding: +inf rank, 0 gain)."""
    order = np.argsort(ranks, axis=1, kind="stable")
    sorted_ranks = np.take_along_axis(ranks, order, 1)
    sorted_gains = np.take_along_axis(g, order, 1)
    precision = np.arange(1, ranks.shape[1] + 1) / sorted_ranks  # the i-th relevant target found at its rank
    return (sorted_gains * precision).sum(1) / g.sum(1)
