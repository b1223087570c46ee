"""A training graph from a pair file: ``python train.py +task_mix.graphs.<name>.pairs=FILE``.

The file is a pair file (:mod:`uwe.data.pairs`, the format ``uwe evaluate --pairs`` reads): ``query`` is the
left node, ``label`` the right node. The graph is built once and cached (safetensors, like the built-in
graphs) under a key of the file's sha256 and the columns read, so a second run reads it back in seconds and a
changed file is rebuilt. Unlike a built-in graph, nothing is removed from it: the leakage guard refuses the mix
when an edge equals a test pair of an evaluated task.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from uwe.data.cache import SUFFIX, cache_key, cached
from uwe.data.graph import TrainingGraph
from uwe.data.pairs import PairTable, check_file, read_pair_table
from uwe.files import sha256_of

DEFAULT_ALPHA = 1.0
DEFAULT_TAU = 0.05


def unique_edges(left_ids: np.ndarray, right_ids: np.ndarray, n_right: int) -> tuple[np.ndarray, int]:
    """([E, 2] int64 distinct (left, right) rows in first-seen order, how many repeats were dropped).

    >>> edges, repeats = unique_edges(np.array([1, 0, 1]), np.array([0, 1, 0]), 2)
    >>> edges.tolist(), repeats
    ([[1, 0], [0, 1]], 1)
    """
    keys = left_ids.astype(np.int64) * n_right + right_ids
    first = np.sort(np.unique(keys, return_index=True)[1])
    return np.stack([left_ids[first], right_ids[first]], axis=1).astype(np.int64).reshape(-1, 2), len(keys) - len(first)


def graph_from_table(name: str, table: PairTable) -> TrainingGraph:
    """The graph of a pair table: its distinct queries (left) and labels (right), its distinct pairs (edges)."""
    edges, repeats = unique_edges(table.query_ids, table.label_ids, len(table.labels))
    return TrainingGraph(name=name, left=table.queries, right=table.labels, edges=edges,
                         sources=file_sources(table.path, table.sha256),
                         dropped={"duplicate_pair": repeats} if repeats else {})


def file_sources(path: Path, sha256: str) -> dict[str, str]:
    return {"pairs": str(Path(path).resolve()), "pairs_sha256": sha256}


def load_file_graph(name: str, pairs: str | Path, cache_dir: Path | None, query_column: str = "query",
                    label_column: str = "label") -> TrainingGraph:
    """Graph ``name`` of the pair file ``pairs``, from the cache in ``cache_dir/graphs`` when it holds this
    file's bytes (None: no cache)."""
    path = check_file(pairs, "PAIRS")
    sha = sha256_of(path)
    key = cache_key("file_graph", "pairs", {"pairs": sha}, columns=[query_column, label_column])
    entry = None if cache_dir is None else Path(cache_dir) / "graphs" / f"file-{sha[:16]}-{key[:16]}{SUFFIX}"
    graph = cached(TrainingGraph, entry, key,
                   lambda: graph_from_table(name, read_pair_table(path, query_column, label_column)))
    return replace(graph, name=name, sources=file_sources(path, sha))
