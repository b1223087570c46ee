"""A training graph: a bipartite, many-to-many edge list between two kinds of text."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from uwe.data.text import strip_pairs


@dataclass(frozen=True)
class TrainingGraph:
    """Edges ``(left[i], right[j])`` for every row ``[i, j]`` of ``edges`` (int64, shape [E, 2]).

    ``left`` and ``right`` are unique, stripped texts; ``sources`` records file versions as in tasks.
    """

    name: str
    left: list[str]
    right: list[str]
    edges: np.ndarray
    sources: dict[str, str] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)

    def sizes(self) -> dict[str, int]:
        return {"edges": int(len(self.edges)), "left": len(self.left), "right": len(self.right)}

    def pairs(self) -> Iterable[tuple[str, str]]:
        for i, j in self.edges:
            yield self.left[i], self.right[j]


def build_graph(
    name: str, pairs: Iterable[tuple[str, str]], *, sources: dict[str, str] | None = None
) -> TrainingGraph:
    """Strip both sides, drop empty texts (counted) and duplicate edges; nodes keep first-seen order."""
    left: dict[str, int] = {}
    right: dict[str, int] = {}
    edges: dict[tuple[int, int], None] = {}
    kept, empty = strip_pairs(pairs)
    for a, b in kept:
        i = left.setdefault(a, len(left))
        j = right.setdefault(b, len(right))
        edges[(i, j)] = None
    arr = np.array(list(edges), dtype=np.int64).reshape(-1, 2)
    return TrainingGraph(
        name=name,
        left=list(left),
        right=list(right),
        edges=arr,
        sources=dict(sources or {}),
        dropped={"empty_text": empty} if empty else {},
    )
