"""The k best columns of each row of a score matrix, ties broken by the lower column (the metrics' order)."""

from __future__ import annotations

import torch


def top_k(scores: torch.Tensor, k: int) -> list[list[tuple[int, float]]]:
    """Per row of ``scores`` [N, T], the ``k`` best columns as (column, score): score descending, ties by column.

    ``torch.topk`` finds the k-th best score; every column at least that good is then ordered stably, so a
    tie is broken by the lower column index even across the k-th position.

    Examples:
        >>> top_k(torch.tensor([[0.25, 0.75, 0.5, 0.75], [1.0, 0.0, 0.0, 0.0]]), 2)
        [[(1, 0.75), (3, 0.75)], [(0, 1.0), (1, 0.0)]]
    """
    kth = scores.topk(k, dim=1).values[:, -1:]
    result = []
    for row, bound in zip(scores, kth):
        columns = (row >= bound).nonzero().squeeze(1)  # ascending column order
        best = columns[row[columns].sort(descending=True, stable=True).indices[:k]]
        result.append(list(zip(best.tolist(), row[best].tolist())))
    return result
