"""Hard negatives mined by a model from a graph's own target space, with a false-negative guard.

In-batch negatives are random nodes: easy. A mined negative of a left node (a title, an alias, a sentence) is a
right node (a skill, an occupation) that the model ranks high although it is not linked to it: what sharpens a
ranking model. Mining scores every left text against the graph's right nodes through the one scoring path
(:class:`uwe.models.retriever.Retriever`) and keeps each row's best candidates that pass the guard.

**The false-negative guard.** A candidate right node ``r`` of a left text ``q`` is never a negative when
- ``(q, r)`` is an edge of the graph;
- ``r`` is a positive of ``q`` under ANY graph given to the guard (the same left text in another graph), or
- ``r`` is an alias of such a positive: texts joined by an edge of an alias graph (``skill_alias``,
  ``occupation_alias``, ``skill_hidden``: an alias and its preferred label) are one concept, so a mined
  "negative" that is another name of a positive is refused.
Texts compare after stripping and lower-casing (as the leakage guard does).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

import numpy as np
import torch

from uwe.data.graph import TrainingGraph
from uwe.data.leakage import pair_text
from uwe.models.encoder import TextEncoder
from uwe.models.heads import ScoringHead
from uwe.models.retriever import Retriever

log = logging.getLogger(__name__)

ALIAS_GRAPHS = ("skill_alias", "occupation_alias", "skill_hidden")


def catalog_alias_graphs(catalog) -> list[TrainingGraph]:
    """The alias graphs of a :class:`uwe.data.catalog.Catalog`, for the guard, whether or not they train."""
    return [catalog.graph(name) for name in ALIAS_GRAPHS]


def take_negatives(candidates: np.ndarray, excluded: np.ndarray, k: int) -> np.ndarray:
    """The first ``k`` candidates of each row that are not excluded, in candidate order; -1 pads a short row.

    Args:
        candidates: [N, D] int, each row's candidates best first.
        excluded: [N, D] bool, True where a candidate must not be a negative.
        k: negatives kept per row.

    Returns:
        [N, k] int64.

    >>> take_negatives(np.array([[5, 7, 9, 2], [1, 3, 4, 6]]), np.array([[True, False, False, True],
    ...                [True, True, True, False]]), 2).tolist()
    [[7, 9], [6, -1]]
    """
    keep = ~excluded
    order = np.argsort(excluded, axis=1, kind="stable")[:, :k]  # kept candidates first, each side in order
    picked = np.take_along_axis(candidates, order, 1).astype(np.int64)
    return np.where(np.take_along_axis(keep, order, 1), picked, -1)


class FalseNegativeGuard:
    """Which (left text, right text) pairs may never be a mined negative (see the module docstring).

    Args:
        graphs: every graph whose edges are positives (the training mix).
        alias_graphs: graphs whose edges join two names of one concept (default: those of ``graphs`` named in
            :data:`ALIAS_GRAPHS`; pass the catalog's alias graphs to guard with them even when they do not train).
    """

    def __init__(self, graphs: Iterable[TrainingGraph], alias_graphs: Iterable[TrainingGraph] | None = None):
        graphs = list(graphs)
        alias_graphs = [g for g in graphs if g.name in ALIAS_GRAPHS] if alias_graphs is None else list(alias_graphs)
        self._parent: dict[str, str] = {}
        for g in alias_graphs:
            for a, b in g.pairs():
                self._union(pair_text(a), pair_text(b))
        self._positives: dict[str, set[str]] = {}
        self.graph_names = {g.name for g in graphs}
        for g in graphs:
            for a, b in g.pairs():
                self._positives.setdefault(pair_text(a), set()).add(self.concept(b))

    def _find(self, x: str) -> str:
        root = x
        while self._parent.get(root, root) != root:
            root = self._parent[root]
        while x != root:  # path compression
            self._parent[x], x = root, self._parent[x]
        return root

    def _union(self, a: str, b: str) -> None:
        ra, rb = self._find(a), self._find(b)
        if ra != rb:
            self._parent[max(ra, rb)] = min(ra, rb)

    def concept(self, text: str) -> str:
        """The representative of ``text``'s alias group (itself, normalised, when it has no alias)."""
        return self._find(pair_text(text))

    def is_false_negative(self, left: str, right: str) -> bool:
        """True when ``right`` is a positive of ``left`` under any graph, or an alias of one."""
        return self.concept(right) in self._positives.get(pair_text(left), ())

    def excluded(self, graph: TrainingGraph, left_ids: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """[N, D] bool: which ``candidates`` (right node ids of ``graph``) of the left nodes ``left_ids`` [N] the
        guard refuses."""
        if graph.name not in self.graph_names:  # its own edges would not be guarded
            raise ValueError(f"the guard was built without graph {graph.name}; build it with every mined graph")
        concepts = [self.concept(t) for t in graph.right]
        out = np.zeros(candidates.shape, dtype=bool)
        for row, i in enumerate(left_ids):
            positives = self._positives.get(pair_text(graph.left[i]), set())
            out[row] = [concepts[j] in positives for j in candidates[row]]
        return out


def mine_negatives(encoder: TextEncoder, head: ScoringHead, graph: TrainingGraph, guard: FalseNegativeGuard, k: int,
                   left_ids: np.ndarray | None = None, precision: str = "32", depth: int | None = None,
                   show_progress: bool = False) -> np.ndarray:
    """The ``k`` best-scored right nodes of each left node of ``graph`` that the guard lets through.

    Args:
        encoder, head: the model that mines (its weights are not changed; eval mode inside, restored after).
        graph: its right nodes are the space mined; its left nodes the queries.
        guard: the false-negative guard.
        k: negatives per left node (1 to the number of right nodes).
        left_ids: the left nodes to mine for (default: all), [N] int.
        precision: ``"32"`` or ``"bf16"`` encoding (:class:`Retriever`).
        depth: candidates scored per row before the guard (default: k + the largest left degree + 32, capped at
            the space), so a node with many positives still keeps k negatives.

    Returns:
        [N, k] int64 right node ids, best first; -1 where fewer than k candidates passed the guard.
    """
    n_right = len(graph.right)
    if not 1 <= k <= n_right:
        raise ValueError(f"k={k} mined negatives per node is not in [1, {n_right}] (graph {graph.name} has "
                         f"{n_right} right nodes)")
    left_ids = np.arange(len(graph.left)) if left_ids is None else np.asarray(left_ids, dtype=np.int64)
    if depth is None:
        max_degree = int(np.bincount(graph.edges[:, 0], minlength=len(graph.left)).max()) if len(graph.edges) else 0
        depth = k + max_degree + 32
    depth = min(depth, n_right)
    start, was_training = time.perf_counter(), encoder.training
    retriever = Retriever(encoder, head, cache_dir=None, precision=precision, show_progress=show_progress)
    space = f"mining_{graph.name}"
    try:
        retriever.encode_space(space, list(graph.right))
        queries = [graph.left[i] for i in left_ids]
        with torch.inference_mode():
            candidates = np.concatenate([scores.topk(depth, dim=1).indices.cpu().numpy()
                                         for _, scores in retriever.iter_scores(queries, space)]) \
                if queries else np.zeros((0, depth), dtype=np.int64)
    finally:
        encoder.train(was_training)
    mined = take_negatives(candidates, guard.excluded(graph, left_ids, candidates), k)
    log.info("mined %d negatives for %d %s nodes in %.1f s (%d short of k)", k, len(left_ids), graph.name,
             time.perf_counter() - start, int((mined < 0).sum()))
    return mined
