"""Evaluate a scorer on WorkBench-offline tasks: per-task metrics, the macro over the six task groups."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from uwe.data.task import RankingTask
from uwe.data.tasks.registry import TASKS
from uwe.eval.graded import GRADED_METRICS, graded_per_query
from uwe.eval.metrics import DEFAULT_METRICS, per_query_metrics
from uwe.eval.scorers import Scorer

METRICS = DEFAULT_METRICS  # the one metric list: uwe.eval.metrics


@dataclass
class TaskResult:
    key: str
    metrics: dict[str, float]
    sizes: dict[str, int]
    evaluated_queries: int
    seconds: float
    subsampled: bool = False
    surrogate: str | None = None
    sources: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "metrics": self.metrics,
            "sizes": self.sizes,
            "evaluated_queries": self.evaluated_queries,
            "subsampled": self.subsampled,
            "seconds": round(self.seconds, 2),
            "queries_per_s": round(self.evaluated_queries / max(self.seconds, 1e-9), 1),
            "surrogate": self.surrogate,
            "sources": self.sources,
        }


def subsample_rows(n: int, max_queries: int | None, seed: int) -> np.ndarray | None:
    """The query rows :func:`subsample` keeps (sorted), or None when it keeps every query."""
    if max_queries is None or n <= max_queries:
        return None
    return np.sort(np.random.default_rng(seed).choice(n, max_queries, replace=False))


def subsample(task: RankingTask, max_queries: int | None, seed: int) -> RankingTask:
    """At most ``max_queries`` queries, drawn without replacement by ``numpy.random.default_rng(seed)``,
    kept in their original order; the target space is unchanged."""
    rows = subsample_rows(len(task.queries), max_queries, seed)
    if rows is None:
        return task
    return RankingTask(task.name, task.split, [task.queries[i] for i in rows], task.targets,
                       [task.labels[i] for i in rows], task.sources, task.target_space, task.dropped, task.surrogate)


def evaluate_task(scorer: Scorer, task: RankingTask, metrics=METRICS, chunk: int = 2048,
                  max_queries: int | None = None, seed: int = 42, show_progress: bool = True,
                  gains: list[list[float]] | None = None) -> TaskResult:
    """Score every query of ``task`` against its whole target space, ``chunk`` queries at a time, and
    average each metric over the queries that have labels.

    ``gains`` (aligned with ``task.labels``, e.g. :meth:`uwe.data.catalog.Catalog.gains`): also the graded
    metrics of :mod:`uwe.eval.graded` and the binary ``ndcg@10`` beside them."""
    start = time.perf_counter()
    evaluated = subsample(task, max_queries, seed)
    if gains is not None:
        rows = subsample_rows(len(task.queries), max_queries, seed)
        gains = gains if rows is None else [gains[i] for i in rows]
        metrics = (*metrics, *(m for m in ("ndcg@10",) if m not in metrics))
    per: dict[str, list[np.ndarray]] = {m: [] for m in (*metrics, *(GRADED_METRICS if gains is not None else ()))}
    with tqdm(total=len(evaluated.queries), desc=f"{task.key}", unit="q", disable=not show_progress) as bar:
        for first, scores in scorer.iter_scores(evaluated.queries, evaluated.targets, evaluated.target_space, chunk):
            labels = evaluated.labels[first:first + scores.shape[0]]
            for m, values in per_query_metrics(scores, labels, metrics).items():
                per[m].append(np.asarray(values, dtype=np.float64))
            if gains is not None:
                for m, values in graded_per_query(scores, labels, gains[first:first + scores.shape[0]]).items():
                    per[m].append(values)
            bar.update(scores.shape[0])
    values = {m: float(np.nanmean(np.concatenate(v))) if v else float("nan") for m, v in per.items()}
    return TaskResult(task.key, values, task.sizes(), len(evaluated.queries), time.perf_counter() - start,
                      subsampled=evaluated is not task, surrogate=task.surrogate, sources=task.sources)


def macro(results: dict[str, TaskResult], metrics=METRICS) -> dict[str, float] | None:
    """Mean over the six WorkBench task groups (skill_extraction = mean of house and tech first).

    None unless every group has a result: a macro over fewer groups is not the WorkBench number.
    """
    groups: dict[str, list[TaskResult]] = {}
    for r in results.values():
        group = TASKS[r.key.split("/")[0]].group
        if group is not None:
            groups.setdefault(group, []).append(r)
    expected = {t.group for t in TASKS.values() if t.group is not None}
    if set(groups) != expected:
        return None
    return {m: float(np.mean([np.mean([r.metrics[m] for r in rs]) for rs in groups.values()])) for m in metrics}
