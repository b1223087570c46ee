"""A ranking task: every query ranks the whole target space; its labels are indices into it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from uwe.data.errors import DataError
from uwe.data.text import strip_pairs


@dataclass(frozen=True)
class RankingTask:
    """One split of one WorkBench-offline task.

    Attributes:
        name: task name as in WORKBENCH.md (``job2skill``, ``skill_extraction_house``, ...).
        split: ``test`` or ``val``.
        queries: unique, stripped query texts.
        targets: the sorted unique target space.
        labels: per query, the sorted indices of its relevant targets (never empty).
        sources: source name -> version and sha256 prefix of the files used.
        target_space: a name for the target space, shared by tasks that rank the same list.
        dropped: what the protocol dropped on the way, counted (e.g. ``{"label_not_in_space": 12}``).
        surrogate: set when the task stands in for an unobtainable one (its rows must say so).
    """

    name: str
    split: str
    queries: list[str]
    targets: list[str]
    labels: list[list[int]]
    sources: dict[str, str] = field(default_factory=dict)
    target_space: str = ""
    dropped: dict[str, int] = field(default_factory=dict)
    surrogate: str | None = None

    @property
    def key(self) -> str:
        return f"{self.name}/{self.split}"

    @property
    def n_pairs(self) -> int:
        return sum(len(x) for x in self.labels)

    def sizes(self) -> dict[str, int]:
        return {"queries": len(self.queries), "targets": len(self.targets), "pairs": self.n_pairs}

    def pairs(self) -> Iterable[tuple[str, str]]:
        """(query text, target text) for every relevant pair."""
        for q, labs in zip(self.queries, self.labels):
            for t in labs:
                yield q, self.targets[t]


def build_task(
    name: str,
    split: str,
    pairs: Iterable[tuple[str, str]],
    targets: Iterable[str],
    *,
    sources: dict[str, str] | None = None,
    target_space: str = "",
    dropped: dict[str, int] | None = None,
    surrogate: str | None = None,
    unknown_labels: str = "drop",
) -> RankingTask:
    """Build a task from (query, label) text pairs and a target space, with WORKBENCH.md's hygiene.

    Texts are stripped; the target space is the sorted unique stripped targets; empty queries or labels are
    dropped and counted; duplicate queries are merged (union of labels); a query left without labels is dropped.
    ``unknown_labels``: ``"drop"`` counts labels outside the target space in ``dropped["label_not_in_space"]``;
    ``"raise"`` refuses them with the offending values.
    """
    space = sorted({t.strip() for t in targets if isinstance(t, str) and t.strip()})
    if not space:
        raise DataError(f"task {name}/{split}: the target space is empty")
    index = {t: i for i, t in enumerate(space)}
    dropped = dict(dropped or {})
    merged: dict[str, set[int]] = {}
    unknown: list[str] = []
    kept, empty = strip_pairs(pairs)
    for q, label in kept:
        merged.setdefault(q, set())
        i = index.get(label)
        if i is None:
            unknown.append(label)
            continue
        merged[q].add(i)
    if unknown and unknown_labels == "raise":
        raise DataError(
            f"task {name}/{split}: {len(unknown)} label(s) are not in the target space, e.g. "
            f"{sorted(set(unknown))[:5]}; fix the labels or build the task with unknown_labels='drop'"
        )
    if empty:
        dropped["empty_text"] = dropped.get("empty_text", 0) + empty
    if unknown:
        dropped["label_not_in_space"] = dropped.get("label_not_in_space", 0) + len(unknown)
    no_label = [q for q, labs in merged.items() if not labs]
    if no_label:
        dropped["query_without_label"] = dropped.get("query_without_label", 0) + len(no_label)
    queries = [q for q, labs in merged.items() if labs]
    return RankingTask(
        name=name,
        split=split,
        queries=queries,
        targets=space,
        labels=[sorted(merged[q]) for q in queries],
        sources=dict(sources or {}),
        target_space=target_space,
        dropped=dropped,
        surrogate=surrogate,
    )
