"""A graph's seeded, nested subsets of left nodes: ``task_mix.graphs.<name>.fraction`` (the data-scaling cuts)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from uwe.data.graph import TrainingGraph


def left_order(n_left: int, seed: int) -> np.ndarray:
    """[n_left] int64: the seeded order in which left nodes enter a subset; a fraction keeps a prefix of it, so
    the 1/8 subset is inside the 1/4 one (nested) for one seed."""
    return np.random.default_rng([seed, n_left]).permutation(n_left)


def subset_left(graph: TrainingGraph, fraction: float, seed: int) -> TrainingGraph:
    """``graph`` cut to ``round(fraction * n_left)`` of its left nodes (at least one) with all their edges.

    Nodes keep their order and are renumbered; right nodes left without an edge are dropped. ``dropped``
    gains ``fraction_left_nodes`` and ``fraction_edges`` (what the cut removed); fraction 1 returns ``graph``.

    >>> g = TrainingGraph("g", ["a", "b", "c", "d"], ["x", "y"], np.array([[0, 0], [1, 0], [2, 1], [3, 1]]))
    >>> half = subset_left(g, 0.5, seed=0)
    >>> len(half.left), set(half.left) < set(g.left), half.dropped
    (2, True, {'fraction_left_nodes': 2, 'fraction_edges': 2})
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    if fraction == 1.0:
        return graph
    n_left = len(graph.left)
    keep = np.zeros(n_left, dtype=bool)
    keep[left_order(n_left, seed)[: max(1, int(round(fraction * n_left)))]] = True
    edges = graph.edges[keep[graph.edges[:, 0]]]
    right_keep = np.zeros(len(graph.right), dtype=bool)
    right_keep[edges[:, 1]] = True
    new_left = np.cumsum(keep) - 1
    new_right = np.cumsum(right_keep) - 1
    dropped = {**graph.dropped, "fraction_left_nodes": int(n_left - keep.sum()),
               "fraction_edges": int(len(graph.edges) - len(edges))}
    return replace(graph, left=[t for t, k in zip(graph.left, keep) if k],
                   right=[t for t, k in zip(graph.right, right_keep) if k],
                   edges=np.stack([new_left[edges[:, 0]], new_right[edges[:, 1]]], axis=1).astype(np.int64),
                   dropped=dropped)
