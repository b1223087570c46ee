"""Evaluate a scorer on WorkBench-offline tasks: per-task metrics, the macro over the six task groups."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from uwe.data.task import RankingTask
from uwe.data.tasks.registry import TASKS
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


def subsample(task: RankingTask, max_queries: int | None, seed: int) -> RankingTask:
    """At most ``max_queries`` queries, drawn without replacement by ``numpy.random.default_rng(seed)``,
    kept in their original order; the target space is unchanged."""
    if max_queries is None or len(task.queries) <= max_queries:
        return task
    rows = np.sort(np.random.default_rng(seed).choice(len(task.queries), max_queries, replace=False))
    return RankingTask(task.name, task.split, [task.queries[i] for i in rows], task.targets,
                       [task.labels[i] for i in rows], task.sources, task.target_space, task.dropped, task.surrogate)


def evaluate_task(scorer: Scorer, task: RankingTask, metrics=METRICS, chunk: int = 2048,
                  max_queries: int | None = None, seed: int = 42, show_progress: bool = True) -> TaskResult:
    """Score every query of ``task`` against its whole target space, ``chunk`` queries at a time, and
    average each metric over the queries that have labels."""
    start = time.perf_counter()
    evaluated = subsample(task, max_queries, seed)
    per: dict[str, list[np.ndarray]] = {m: [] for m in metrics}
    with tqdm(total=len(evaluated.queries), desc=f"{task.key}", unit="q", disable=not show_progress) as bar:
        for first, scores in scorer.iter_scores(evaluated.queries, evaluated.targets, evaluated.target_space, chunk):
            labels = evaluated.labels[first:first + scores.shape[0]]
            for m, values in per_query_metrics(scores, labels, metrics).items():
                per[m].append(np.asarray(values, dtype=np.float64))
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
