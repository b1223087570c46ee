"""Ranking metrics of WorkBench (the definitions of `workrb`), vectorised and chunked over queries.

Every target of a query is ranked by descending score; ties go to the lower target index, so the
ranking is reproducible. The rank of a relevant target ``j`` of query ``q`` is therefore

    rank = 1 + #{t : s[q, t] > s[q, j]} + #{t < j : s[q, t] == s[q, j]}

which is all any metric needs. Counting it costs two comparison passes over a score row per relevant
target; that is 10-30x cheaper than sorting 13,896 targets when a query has a few labels (SkillNorm's
71,538 queries have one or two), and about as fast as a sort at job2skill's ~41 labels per query.
Scores are never filtered: negative and zero scores rank like any other.

Metrics (R = the query's relevant set; a query with no label is skipped, not counted as 0):

- ``map``: AP = (1/|R|) * sum over relevant targets of precision at their rank, over the full ranking.
- ``mrr``: 1 / rank of the first relevant target.
- ``rp@k``: |top-k & R| / min(k, |R|).
- ``recall@k``: |top-k & R| / |R|.
- ``hit@k``: 1 if any relevant target is in the top k, else 0.
- ``ndcg@k``: binary gains, discount 1 / log2(rank + 1), ideal DCG over min(k, |R|) relevant targets.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import torch

DEFAULT_METRICS = ("map", "rp@10", "mrr")
_PLAIN = ("map", "mrr")
_AT_K = ("rp", "recall", "hit", "ndcg")
_AT_K_NAME = re.compile(rf"^({'|'.join(_AT_K)})@([1-9][0-9]*)$")
VALID_METRICS = (*_PLAIN, *(f"{m}@k" for m in _AT_K))


def ranking_metrics(
    scores: torch.Tensor | np.ndarray,
    labels: Sequence[Sequence[int]],
    metrics: Sequence[str] = DEFAULT_METRICS,
    chunk_size: int = 128,
) -> dict[str, float]:
    """Mean of each metric over the queries that have at least one label.

    Args:
        scores: [Q x T] float scores, a torch tensor or a numpy array; higher ranks first.
        labels: Q lists of relevant target indices in [0, T); duplicates count once; an empty list
            marks a query that is skipped.
        metrics: names among ``map``, ``mrr``, ``rp@k``, ``recall@k``, ``hit@k``, ``ndcg@k`` (any k >= 1).
        chunk_size: queries scored at a time; memory beyond ``scores`` is O(chunk_size x T).

    Returns:
        ``{name: mean over labelled queries}`` as Python floats in [0, 1], in the order of ``metrics``.

    Raises:
        ValueError: unknown metric, shape mismatch, label out of range, NaN scores, or no labelled query.

    Example:
        Query 0 ranks targets (1, 0, 2) and has R = {0, 2}, at ranks 2 and 3; query 1 ranks (2, 1, 0)
        with R = {2} at rank 1. AP(q0) = (1/2 + 2/3) / 2 = 7/12, AP(q1) = 1, MAP = 19/24.

        >>> s = np.array([[0.5, 0.9, -0.1], [-3.0, 0.0, 2.0]])
        >>> m = ranking_metrics(s, [[0, 2], [2]], ["map", "mrr", "rp@1", "recall@2"])
        >>> {k: round(v, 4) for k, v in m.items()}
        {'map': 0.7917, 'mrr': 0.75, 'rp@1': 0.5, 'recall@2': 0.75}
    """
    per_query = per_query_metrics(scores, labels, metrics, chunk_size)
    labelled = ~np.isnan(next(iter(per_query.values())))
    if not labelled.any():
        raise ValueError(f"none of the {len(labels)} queries has a label; there is nothing to average")
    return {name: float(values[labelled].mean()) for name, values in per_query.items()}


def per_query_metrics(
    scores: torch.Tensor | np.ndarray,
    labels: Sequence[Sequence[int]],
    metrics: Sequence[str] = DEFAULT_METRICS,
    chunk_size: int = 128,
) -> dict[str, np.ndarray]:
    """Each metric for every query; same arguments as :func:`ranking_metrics`.

    Returns:
        ``{name: float64 array [Q]}``; a query without labels gets NaN in every array.
    """
    parsed = _parse_metrics(metrics)
    scores = as_scores(scores)
    n_queries, n_targets = scores.shape
    counts, flat = flatten_labels(labels, n_queries, n_targets)
    out = {name: np.full(n_queries, np.nan) for name in metrics}
    for queries, n, _, ranks in ranked_chunks(scores, counts, flat, chunk_size):
        ranks = np.sort(ranks, axis=1)
        for name, (kind, k) in parsed.items():
            out[name][queries] = _from_ranks(kind, k, ranks, n)
    return out


def ranked_chunks(scores: torch.Tensor, counts: np.ndarray, flat: np.ndarray, chunk_size: int = 128):
    """Yield ``(queries [c], |R| [c], flat positions [c x max|R|], ranks [c x max|R|])`` for chunks of the
    labelled queries: each relevant target's 1-based rank (in label order, +inf as padding) and its position in
    ``flat`` (-1 as padding), for labels given as ``counts`` [Q] and ``flat`` (:func:`flatten_labels`)."""
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    starts = np.concatenate(([0], np.cumsum(counts)))
    # Ascending label count inside a chunk makes the queries that still have a k-th label a suffix of
    # the chunk, so every comparison pass runs on a view and never on padding.
    order = np.argsort(counts, kind="stable")
    order = order[counts[order] > 0]
    for lo in range(0, len(order), chunk_size):
        queries = order[lo : lo + chunk_size]
        n = counts[queries]
        # [c x max|R|] label indices, padded with 0 where a query has fewer labels (never read).
        pos = np.arange(n.max())
        valid = pos < n[:, None]
        where = np.where(valid, starts[queries, None] + pos, -1)
        targets = np.zeros(valid.shape, dtype=np.int64)
        targets[valid] = flat[where[valid]]
        rows = scores.index_select(0, torch.as_tensor(queries, device=scores.device))
        # NaN compares false with everything: a NaN relevant score would silently rank first.
        nan_rows = torch.isnan(rows).any(1).cpu().numpy()
        if nan_rows.any():
            raise ValueError(f"scores contain NaN in the rows of queries {queries[nan_rows][:5].tolist()}")
        yield queries, n, where, relevant_ranks(rows, torch.as_tensor(targets, device=scores.device), n)


def relevant_ranks(rows: torch.Tensor, targets: torch.Tensor, n: np.ndarray) -> np.ndarray:
    """[c x max|R|] 1-based ranks of each query's relevant targets, in the order of ``targets``, +inf as padding.

    ``rows`` [c x T] holds the scores of queries whose label counts ``n`` ascend; ``targets`` [c x max|R|]
    their padded label indices.
    """
    ranks = np.full(targets.shape, np.inf)
    index = torch.arange(rows.shape[1], device=rows.device)
    for k in range(targets.shape[1]):
        first = int(np.searchsorted(n, k, side="right"))  # first query with more than k labels
        sub, j = rows[first:], targets[first:, k : k + 1]
        s = sub.gather(1, j)
        higher = (sub > s).sum(1)
        ties = (sub == s).sum(1) > 1
        # Ties are rare for model scores, so the index comparison runs only on rows that have one.
        if ties.any():
            tied = ties.nonzero().squeeze(1)
            before = ((sub[tied] == s[tied]) & (index < j[tied])).sum(1)
            higher = higher.index_add(0, tied, before)
        ranks[first:, k] = (higher + 1).cpu().numpy()
    return ranks


def _from_ranks(kind: str, k: int, ranks: np.ndarray, n: np.ndarray) -> np.ndarray:
    """One metric per query from its sorted relevant ranks [c x max|R|] (+inf padded) and |R| [c]."""
    if kind == "map":
        precision = np.arange(1, ranks.shape[1] + 1) / ranks  # i-th relevant target found at ranks[i]
        return precision.sum(1) / n
    if kind == "mrr":
        return 1.0 / ranks[:, 0]
    in_top = ranks <= k
    hits = in_top.sum(1)
    if kind == "rp":
        return hits / np.minimum(k, n)
    if kind == "recall":
        return hits / n
    if kind == "hit":
        return (hits > 0).astype(np.float64)
    dcg = np.where(in_top, 1.0 / np.log2(ranks + 1), 0.0)
    ideal = np.cumsum(1.0 / np.log2(np.arange(2, k + 2)))[np.minimum(k, n) - 1]
    return dcg.sum(1) / ideal


def _parse_metrics(metrics: Sequence[str]) -> dict[str, tuple[str, int]]:
    """``{name: (kind, k)}``; k is 0 for ``map`` and ``mrr``."""
    if isinstance(metrics, str):
        raise ValueError(f"metrics must be a list of names, got the string {metrics!r}")
    parsed = {}
    for name in metrics:
        match = _AT_K_NAME.match(name)
        if name in _PLAIN:
            parsed[name] = (name, 0)
        elif match:
            parsed[name] = (match[1], int(match[2]))
        else:
            raise ValueError(f"unknown metric {name!r}; valid: {', '.join(VALID_METRICS)} (k >= 1, e.g. rp@10)")
    if not parsed:
        raise ValueError(f"no metric requested; valid: {', '.join(VALID_METRICS)}")
    return parsed


def as_scores(scores: torch.Tensor | np.ndarray) -> torch.Tensor:
    """A [Q x T] floating tensor sharing memory with ``scores`` (no copy of a 71,538 x 13,896 matrix)."""
    tensor = torch.as_tensor(scores)
    if tensor.ndim != 2:
        raise ValueError(f"scores must be [queries x targets], got shape {tuple(tensor.shape)}")
    if not tensor.is_floating_point():
        raise ValueError(f"scores must be floating point, got {tensor.dtype}; pass scores.float()")
    return tensor


def flatten_labels(labels: Sequence[Sequence[int]], n_queries: int, n_targets: int) -> tuple[np.ndarray, np.ndarray]:
    """(|R| per query [Q], concatenated sorted unique label indices [sum |R|]) after validation."""
    if len(labels) != n_queries:
        raise ValueError(f"{len(labels)} label lists for {n_queries} score rows; there must be one per query")
    lengths = np.fromiter((len(x) for x in labels), dtype=np.int64, count=n_queries)
    flat = np.fromiter((int(j) for x in labels for j in x), dtype=np.int64, count=int(lengths.sum()))
    bad = (flat < 0) | (flat >= n_targets)
    if bad.any():
        query = int(np.repeat(np.arange(n_queries), lengths)[bad.argmax()])
        raise ValueError(f"label {int(flat[bad.argmax()])} of query {query} is out of range for {n_targets} targets")
    # Unique (query, target) keys, sorted by query then target: R is a set.
    keys = np.unique(np.repeat(np.arange(n_queries, dtype=np.int64), lengths) * n_targets + flat)
    return np.bincount(keys // n_targets, minlength=n_queries), keys % n_targets
