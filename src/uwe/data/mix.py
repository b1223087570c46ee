"""A task mixture: which training graphs train, each with its loss weight alpha and temperature tau."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from uwe.data.catalog import Catalog
from uwe.data.errors import DataError
from uwe.data.graph import TrainingGraph
from uwe.data.graphs import GRAPHS
from uwe.data.leakage import check_no_leakage
from uwe.data.tasks.registry import WORKBENCH_TASKS, ZERO_SHOT_TASKS


@dataclass(frozen=True)
class MixEntry:
    graph: TrainingGraph
    alpha: float
    tau: float


def parse_mix(graphs: Mapping[str, Mapping]) -> dict[str, tuple[float, float]]:
    """``{name: {alpha, tau}}`` (the ``task_mix.graphs`` config) -> ``{name: (alpha, tau)}``, validated.

    A graph set to None is dropped: the leave-one-out mixes are ``task_mix=all`` with one graph null."""
    graphs = {k: v for k, v in (graphs or {}).items() if v is not None}
    if not graphs:
        raise DataError("task_mix has no graphs; pick one of conf/task_mix/*.yaml, e.g. task_mix=all")
    out = {}
    for key, entry in graphs.items():
        name = entry.get("name", key)
        if name not in GRAPHS:
            raise DataError(f"task_mix: unknown graph {name!r}; valid: {', '.join(GRAPHS)}")
        missing = [k for k in ("alpha", "tau") if entry.get(k) is None]
        if missing:  # their one source is the graph's config file (conf/graph/<name>.yaml)
            raise DataError(f"task_mix: graph {name} has no {' and no '.join(missing)}; set them in "
                            f"conf/graph/{name}.yaml or with task_mix.graphs.{key}.alpha=... / .tau=...")
        alpha, tau = float(entry["alpha"]), float(entry["tau"])
        if alpha <= 0 or tau <= 0:
            raise DataError(f"task_mix: graph {name} needs alpha > 0 and tau > 0 (drop a graph with null), "
                            f"got alpha={alpha}, tau={tau}")
        out[name] = (alpha, tau)
    return out


def evaluated_tasks(mix: Iterable[str], tasks: list[str] | None = None) -> list[str]:
    """The test tasks a run evaluates: ``tasks`` as given, or by default every WorkBench task plus the
    O*NET zero-shot tasks that no graph of the mix IS (zero-shot numbers need O*NET held out)."""
    if tasks:
        return list(tasks)
    covered = {t for g in mix for t in GRAPHS[g].is_test_of}
    return WORKBENCH_TASKS + [t for t in ZERO_SHOT_TASKS if t not in covered]


def load_mix(catalog: Catalog, graphs: Mapping[str, Mapping], tasks: list[str] | None = None) -> list[MixEntry]:
    """Build the mix's graphs and run the leakage guard against the test splits of the evaluated tasks."""
    mix = parse_mix(graphs)
    entries = [MixEntry(catalog.graph(name), alpha, tau) for name, (alpha, tau) in mix.items()]
    check_no_leakage([e.graph for e in entries], [catalog.task(t, "test") for t in evaluated_tasks(mix, tasks)])
    return entries
