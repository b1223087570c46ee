"""The leakage guard: no training edge may equal a (query, label) pair of an evaluated test split."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from uwe.data.errors import DataError
from uwe.data.graph import TrainingGraph
from uwe.data.task import RankingTask


def pair_text(text: str) -> str:
    """A text as pairs compare it: stripped and lower-cased."""
    return text.strip().lower()


def test_pair_set(tasks: Iterable[RankingTask]) -> dict[tuple[str, str], str]:
    """Normalised (query, label) AND (label, query) of every task -> the task key it came from."""
    out: dict[tuple[str, str], str] = {}
    for task in reversed(list(tasks)):  # an earlier task's key overwrites a later one's: the first task wins
        queries, targets = [pair_text(q) for q in task.queries], [pair_text(t) for t in task.targets]
        pairs = [(queries[i], targets[j]) for i, labels in enumerate(task.labels) for j in labels]
        key = task.key
        out.update(dict.fromkeys(((t, q) for q, t in pairs), key))
        out.update(dict.fromkeys(pairs, key))
    return out


def find_leaks(graph: TrainingGraph, test_pairs: dict[tuple[str, str], str],
               seen: set[str] | None = None) -> list[tuple[str, str, str]]:
    """(left, right, task key) for every edge of ``graph`` that equals a test pair in either direction, in edge
    order.

    Only edges whose two nodes both occur in some test pair are compared, found with one lookup per NODE, so a
    graph of millions of edges over fewer distinct texts is checked in about a second. ``seen``, the texts of
    ``test_pairs``, is derived when not given (a caller checking several graphs derives it once).
    """
    seen = {text for pair in test_pairs for text in pair} if seen is None else seen
    left = [pair_text(t) for t in graph.left]
    right = [pair_text(t) for t in graph.right]
    left_in = np.fromiter((t in seen for t in left), dtype=bool, count=len(left))
    right_in = np.fromiter((t in seen for t in right), dtype=bool, count=len(right))
    candidates = graph.edges[left_in[graph.edges[:, 0]] & right_in[graph.edges[:, 1]]] if len(graph.edges) else []
    return [(graph.left[i], graph.right[j], test_pairs[k]) for i, j in candidates.tolist()
            if (k := (left[i], right[j])) in test_pairs]


class LeakageError(DataError):
    """Training would see test pairs."""


def check_no_leakage(graphs: Iterable[TrainingGraph], tasks: Iterable[RankingTask], max_examples: int = 5) -> None:
    """Refuse to train when any edge of ``graphs`` equals a (query, label) pair of ``tasks``.

    Comparison is after stripping and lower-casing, in both directions. The error names every leaking
    graph, how many edges leak, and a few pairs.
    """
    tasks = [t for t in tasks if t.split == "test"]
    pairs = test_pair_set(tasks)
    seen = {text for pair in pairs for text in pair}
    problems, leaked_tasks = [], set()
    for g in graphs:
        leaks = find_leaks(g, pairs, seen)
        if leaks:
            shown = "; ".join(f"({a!r}, {b!r}) in {k}" for a, b, k in leaks[:max_examples])
            source = f" (file {g.sources['pairs']})" if "pairs" in g.sources else ""
            problems.append(f"graph {g.name}{source}: {len(leaks)} edge(s) equal test pairs, e.g. {shown}")
            leaked_tasks |= {k.split("/")[0] for _, _, k in leaks}
    if problems:
        kept = [t.name for t in tasks if t.name not in leaked_tasks]
        raise LeakageError(
            "refusing to train: training edges equal test (query, label) pairs.\n  "
            + "\n  ".join(problems)
            + "\nDrop the graph from task_mix, or leave its task out of evaluation with tasks=[...], here "
            f"tasks=[{','.join(kept)}] (e.g. skill_related is the skillsim test set; onet_skill and files built "
            "from O*NET hold O*NET zero-shot test pairs)."
        )
