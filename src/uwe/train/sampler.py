"""Node-centric batches from one bipartite training graph (the paper: sample skills, then neighbours)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from uwe.data.graph import TrainingGraph


@dataclass
class GraphBatch:
    """One graph's share of a training step.

    Attributes:
        left, right: the texts of the sampled left and right nodes (left: titles, aliases, sentences).
        left_ids [B_L], right_ids [B_R]: their node indices in the graph (int64).
        pairs [P, 2]: the sampled (left row, right column) edges; infonce uses only these.
        left_tokens, right_tokens: the texts' token ids (special tokens included, truncated), when the
            sampler was given a tokenizer; the training step then packs every graph's texts into one pass.
    """

    left: list[str]
    right: list[str]
    left_ids: torch.Tensor
    right_ids: torch.Tensor
    pairs: torch.Tensor
    left_tokens: list[list[int]] | None = None
    right_tokens: list[list[int]] | None = None


class GraphSampler:
    """Samples ``nodes`` distinct right nodes (skills, occupations) and one random neighbour of each.

    The positive mask of a batch is NOT the sampled pairs: :meth:`positives` marks every edge of the graph
    among the sampled nodes, which is what the many-to-many loss needs (and what makes it differ from InfoNCE).

    ``pad_prob``: with this probability a left text is followed by a random non-matching left text of the
    graph (the paper pads vacancy sentences with probability 0.8); 0 turns the augmentation off.

    ``tokenize`` (texts -> token-id lists): when given, every node's text is tokenised ONCE here and batches
    carry token ids, so no step tokenises (a padded text, made in the step, is tokenised then).

    ``negatives``: mined hard negatives added per sampled left node, drawn from its row of :attr:`mined`
    ([n_left, pool] right ids, -1 for none; set by :mod:`uwe.train.mining`) and appended to the right nodes
    (columns) of the batch. They are ordinary columns: :meth:`positives` marks an edge wherever the graph has
    one, so a node mined for one left node that is linked to another stays that one's positive.
    """

    def __init__(self, graph: TrainingGraph, nodes: int, pad_prob: float = 0.0,
                 tokenize: Callable[[list[str]], list[list[int]]] | None = None):
        if nodes < 1:
            raise ValueError(f"batch nodes must be >= 1, got {nodes}")
        self.graph, self.nodes, self.pad_prob = graph, min(nodes, len(graph.right)), pad_prob
        order = np.argsort(graph.edges[:, 1], kind="stable")
        self._by_right = graph.edges[order, 0]  # left ids grouped by right node (CSR)
        self._start = np.searchsorted(graph.edges[order, 1], np.arange(len(graph.right) + 1))
        by_left = np.argsort(graph.edges[:, 0], kind="stable")
        self._right_of_left = graph.edges[by_left, 1]  # right ids grouped by left node (CSR)
        self._left_start = np.searchsorted(graph.edges[by_left, 0], np.arange(len(graph.left) + 1))
        self._tokenize = tokenize
        self.negatives, self.mined = 0, None
        self._left_tokens = tokenize(list(graph.left)) if tokenize else None
        self._right_tokens = tokenize(list(graph.right)) if tokenize else None

    def sample(self, rng: np.random.Generator) -> GraphBatch:
        right = rng.choice(len(self.graph.right), self.nodes, replace=False)
        degree = self._start[right + 1] - self._start[right]
        left_of_pair = self._by_right[self._start[right] + (rng.random(len(right)) * degree).astype(np.int64)]
        left, rows = np.unique(left_of_pair, return_inverse=True)
        pairs = np.stack([rows, np.arange(len(right))], axis=1)
        right = np.concatenate([right, self._mined_for(left, right, rng)])
        left_texts = [self._left_text(i, rng) for i in left]
        return GraphBatch(
            left=left_texts,
            right=[self.graph.right[j] for j in right],
            left_ids=torch.from_numpy(left.astype(np.int64)),
            right_ids=torch.from_numpy(right.astype(np.int64)),
            pairs=torch.from_numpy(pairs.astype(np.int64)),
            left_tokens=None if self._tokenize is None else self._tokens_of(left, left_texts),
            right_tokens=None if self._tokenize is None else [self._right_tokens[j] for j in right],
        )

    def _mined_for(self, left: np.ndarray, right: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Up to :attr:`negatives` mined right ids per left node, drawn from its pool, not already in ``right``."""
        if not self.negatives or self.mined is None:
            return np.zeros(0, dtype=right.dtype)
        pool = self.mined[left]
        keys = np.where(pool >= 0, rng.random(pool.shape), np.inf)  # a random order of each row's valid entries
        picked = np.take_along_axis(pool, np.argsort(keys, axis=1)[:, : self.negatives], 1)
        picked = picked[picked >= 0]
        picked = picked[~np.isin(picked, right)]
        return np.unique(picked).astype(right.dtype)

    def _tokens_of(self, left: np.ndarray, texts: list[str]) -> list[list[int]]:
        """Token ids of the sampled left texts: precomputed, except padded texts (tokenised together here)."""
        out = [self._left_tokens[i] for i in left]
        padded = [row for row, (i, text) in enumerate(zip(left, texts)) if text != self.graph.left[i]]
        for row, ids in zip(padded, self._tokenize([texts[row] for row in padded]) if padded else []):
            out[row] = ids
        return out

    def positives(self, left_ids: torch.Tensor, right_ids: torch.Tensor) -> torch.Tensor:
        """[B_L, B_R] bool: True where the graph has the edge (left_ids[i], right_ids[j]).

        Walks the neighbours of the B_L left nodes only (their degrees, not the graph's size, set the cost), so a
        step costs the same on a graph of 30k edges as on one of millions.
        """
        left, right = left_ids.numpy(), right_ids.numpy()
        starts, lengths = self._left_start[left], self._left_start[left + 1] - self._left_start[left]
        rows = np.repeat(np.arange(len(left)), lengths)
        offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        neighbours = self._right_of_left[np.repeat(starts, lengths) + offsets]
        columns, inverse = np.unique(right, return_inverse=True)  # sorted distinct columns; duplicates share one
        pos = np.searchsorted(columns, neighbours).clip(max=max(len(columns) - 1, 0))
        hit = columns[pos] == neighbours if len(columns) else np.zeros(len(neighbours), dtype=bool)
        mask = np.zeros((len(left), len(columns)), dtype=bool)
        mask[rows[hit], pos[hit]] = True
        return torch.from_numpy(np.ascontiguousarray(mask[:, inverse]))

    def _left_text(self, i: int, rng: np.random.Generator) -> str:
        text = self.graph.left[i]
        if self.pad_prob and rng.random() < self.pad_prob:
            other = int(rng.integers(len(self.graph.left)))
            if other != i:  # a random other text; the graph is large, so it is almost never a match
                text = f"{text} {self.graph.left[other]}"
        return text
