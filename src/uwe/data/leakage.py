"""The leakage guard: no training edge may equal a (query, label) pair of an evaluated test split."""

from __future__ import annotations

from collections.abc import Iterable

from uwe.data.errors import DataError
from uwe.data.graph import TrainingGraph
from uwe.data.task import RankingTask


def pair_text(text: str) -> str:
    """A text as pairs compare it: stripped and lower-cased."""
    return text.strip().lower()


def test_pair_set(tasks: Iterable[RankingTask]) -> dict[tuple[str, str], str]:
    """Normalised (query, label) AND (label, query) of every task -> the task key it came from."""
    out: dict[tuple[str, str], str] = {}
    for task in tasks:
        for q, t in task.pairs():
            q, t = pair_text(q), pair_text(t)
            out.setdefault((q, t), task.key)
            out.setdefault((t, q), task.key)
    return out


def find_leaks(graph: TrainingGraph, test_pairs: dict[tuple[str, str], str]) -> list[tuple[str, str, str]]:
    """(left, right, task key) for every edge of ``graph`` that equals a test pair in either direction."""
    return [(a, b, test_pairs[k]) for a, b in graph.pairs() if (k := (pair_text(a), pair_text(b))) in test_pairs]


class LeakageError(DataError):
    """Training would see test pairs."""


def check_no_leakage(graphs: Iterable[TrainingGraph], tasks: Iterable[RankingTask], max_examples: int = 5) -> None:
    """Refuse to train when any edge of ``graphs`` equals a (query, label) pair of ``tasks``.

    Comparison is after stripping and lower-casing, in both directions. The error names every leaking
    graph, how many edges leak, and a few pairs.
    """
    tasks = [t for t in tasks if t.split == "test"]
    pairs = test_pair_set(tasks)
    problems = []
    for g in graphs:
        leaks = find_leaks(g, pairs)
        if leaks:
            shown = "; ".join(f"({a!r}, {b!r}) in {k}" for a, b, k in leaks[:max_examples])
            problems.append(f"graph {g.name}: {len(leaks)} edge(s) equal test pairs, e.g. {shown}")
    if problems:
        raise LeakageError(
            "refusing to train: training edges equal test (query, label) pairs.\n  "
            + "\n  ".join(problems)
            + "\nDrop the graph from task_mix, or leave its task out of evaluation (e.g. skill_related is the "
            "skillsim test set; onet_skill is the O*NET zero-shot test set)."
        )
