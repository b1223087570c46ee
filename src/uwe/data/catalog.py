"""The one entry point to built tasks and graphs: names in, cached objects out."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from uwe.data import graphs as graph_builders
from uwe.data.cache import SUFFIX, cache_key, cached, default_cache_dir
from uwe.data.errors import UnknownNameError
from uwe.data.graph import TrainingGraph
from uwe.data.leakage import test_pair_set
from uwe.data.raw import RawData
from uwe.data.tasks.esco_relations import GRADED_TASKS, relation_gains, task_gains
from uwe.data.task import RankingTask
from uwe.data.tasks.registry import TASKS

OPTIONAL_TASKS = ("skillmatch",)  # built only when their file is configured


class Catalog:
    """Tasks and graphs of one data root, built once and cached on disk.

    Args:
        root: the data root (see :func:`uwe.data.root.resolve_root` for the default).
        cache_dir: where built objects are kept (default ``$UWE_CACHE_DIR`` or ``~/.cache/uwe``).
        use_cache: False builds everything from the raw files and writes nothing.
        skillmatch_path: the SkillMatch-1K CSV, which enables the ``skillmatch`` task.
        allow_unknown: build from raw files that are not their known release (see :class:`RawData`).
        esco_source: ``zip`` or ``folder`` when an ESCO file is both extracted and zipped.
    """

    def __init__(self, root=None, cache_dir=None, use_cache: bool = True, skillmatch_path=None,
                 allow_unknown: bool = False, esco_source: str | None = None):
        self.raw = RawData(root, skillmatch_path, allow_unknown, esco_source)
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
        self.use_cache = use_cache
        self._memo: dict[str, object] = {}

    @classmethod
    def from_config(cls, data) -> "Catalog":
        """The catalog of a ``data`` config group (conf/data/workbench.yaml)."""
        return cls(data.root, data.cache_dir, data.use_cache, data.skillmatch_path,
                   data.get("allow_unknown_versions", False), data.get("esco_source"))

    @property
    def unverified(self) -> list[str]:
        """The raw files read so far that are not their known release (allowed by ``allow_unknown``)."""
        return sorted(self.raw.unverified)

    @property
    def root(self) -> Path:
        return self.raw.root

    def task_keys(self, split: str | None = None, include_optional: bool | None = None) -> list[str]:
        """``name/split`` of every available task; SkillMatch-1K only when its file is configured."""
        optional = self.raw.skillmatch_path is not None if include_optional is None else include_optional
        return [
            f"{n}/{s}"
            for n, spec in TASKS.items()
            if optional or n not in OPTIONAL_TASKS
            for s in spec.splits
            if split in (None, s)
        ]

    def require(self, task_keys: list[str], graph_names: list[str] = ()) -> None:
        """Check all raw files these tasks and graphs read, raising one error that lists every missing one."""
        sources = {s for k in task_keys for s in self._sources(*k.split("/"))}
        sources |= {s for g in graph_names for s in self._graph_spec(g).sources}
        self.raw.require(sorted(sources))

    def _spec(self, name: str):
        spec = TASKS.get(name)
        if spec is None:
            raise UnknownNameError("task", name, list(TASKS))
        return spec

    def _graph_spec(self, name: str):
        spec = graph_builders.GRAPHS.get(name)
        if spec is None:
            raise UnknownNameError("graph", name, list(graph_builders.GRAPHS))
        return spec

    def _sources(self, name: str, split: str) -> tuple[str, ...]:
        spec = self._spec(name)
        if split not in spec.splits:
            raise UnknownNameError(f"split of task {name}", split, list(spec.splits))
        return spec.sources[split]

    def task(self, name: str, split: str = "test") -> RankingTask:
        sources = self._sources(name, split)
        spec = self._spec(name)
        key = f"task:{name}/{split}"
        if key not in self._memo:
            versions = self.raw.versions(list(sources))
            entry = cache_key("task", f"{name}/{split}", versions)
            path = self._path("tasks", f"{name}-{split}", entry)

            def build() -> RankingTask:
                # the registry names a task's sources (one place); its builder only reads them
                return replace(spec.build(self.raw, split), sources=versions)

            self._memo[key] = cached(RankingTask, path, entry, build)
        return self._memo[key]

    def gains(self, task: RankingTask) -> list[list[float]] | None:
        """Graded relevance of ``task`` (aligned with its labels) where the sources grade it: the test splits of
        job2skill and skill2job (ESCO essential 2, optional 1); None for every other task."""
        if task.split != "test" or task.name not in GRADED_TASKS:
            return None
        if "relation_gains" not in self._memo:
            self._memo["relation_gains"] = relation_gains(self.raw)
        return task_gains(task, self._memo["relation_gains"])

    def graph(self, name: str) -> TrainingGraph:
        """Graph ``name`` minus every edge equal to a test pair of a task it is not declared to be."""
        spec = self._graph_spec(name)
        key = f"graph:{name}"
        if key not in self._memo:
            tests = [k.split("/")[0] for k in self.task_keys("test", include_optional=False)]
            guarded = [t for t in tests if t not in spec.is_test_of]
            sources = sorted({s for t in guarded for s in TASKS[t].sources["test"]} | set(spec.sources))
            entry = cache_key("graph", name, self.raw.versions(sources), guard=guarded)
            path = self._path("graphs", name, entry)

            def build() -> TrainingGraph:
                return graph_builders.build(self.raw, name, test_pair_set(self.task(t) for t in guarded))

            self._memo[key] = cached(TrainingGraph, path, entry, build)
        return self._memo[key]

    def _path(self, kind: str, stem: str, key: str) -> Path | None:
        return self.cache_dir / kind / f"{stem}-{key[:16]}{SUFFIX}" if self.use_cache else None
