"""A task mixture: which training graphs train, each with its loss weight alpha and temperature tau.

A graph is a built-in one (``conf/graph/<name>.yaml``, built from the raw exports) or a file of your own pairs
(``+task_mix.graphs.<name>.pairs=FILE``, see :mod:`uwe.data.file_graph`). Either may be cut to a seeded, nested
fraction of its left nodes (``task_mix.graphs.<name>.fraction``, see :mod:`uwe.data.subset`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from uwe.data.catalog import Catalog
from uwe.data.errors import DataError
from uwe.data.file_graph import DEFAULT_ALPHA, DEFAULT_TAU, load_file_graph
from uwe.data.graph import TrainingGraph
from uwe.data.graphs import GRAPHS
from uwe.data.leakage import check_no_leakage
from uwe.data.pairs import check_file, check_format
from uwe.data.subset import subset_left
from uwe.data.tasks.registry import WORKBENCH_TASKS, ZERO_SHOT_TASKS

FILE_KEYS = ("pairs", "alpha", "tau", "fraction", "query_column", "label_column")


@dataclass(frozen=True)
class GraphChoice:
    """One graph of a mix as configured: a built-in graph (``pairs`` None) or a pair file."""

    alpha: float
    tau: float
    fraction: float = 1.0
    pairs: str | None = None
    query_column: str = "query"
    label_column: str = "label"


@dataclass(frozen=True)
class MixEntry:
    graph: TrainingGraph
    alpha: float
    tau: float


def _file_choice(key: str, entry: Mapping) -> GraphChoice:
    """A file graph's settings, checked: the name free, the file there and of a known format, no unknown key."""
    where = f"task_mix.graphs.{key}"
    if key in GRAPHS:
        raise DataError(f"{where}.pairs: {key!r} is a built-in graph; name your file graph otherwise, e.g. "
                        f"+task_mix.graphs.my_{key}.pairs=...")
    unknown = sorted(set(entry) - set(FILE_KEYS))
    if unknown:
        raise DataError(f"{where}: unknown key(s) {unknown} for a file graph; valid: {', '.join(FILE_KEYS)}")
    check_format(check_file(entry["pairs"], f"{where}.pairs: PAIRS"))
    columns = {c: entry.get(c) or c.split("_")[0] for c in ("query_column", "label_column")}
    if not all(isinstance(v, str) for v in columns.values()):
        raise DataError(f"{where}: query_column and label_column must be column names, got {columns}")
    return GraphChoice(_number(entry, "alpha", DEFAULT_ALPHA), _number(entry, "tau", DEFAULT_TAU),
                       _number(entry, "fraction", 1.0), str(entry["pairs"]), **columns)


def _number(entry: Mapping, key: str, default: float) -> float:
    value = entry.get(key)
    return default if value is None else value


def _check(name: str, choice: GraphChoice) -> GraphChoice:
    if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in (choice.alpha, choice.tau, choice.fraction)):
        raise DataError(f"task_mix: graph {name}'s alpha, tau and fraction must be numbers, got alpha={choice.alpha!r}, "
                        f"tau={choice.tau!r}, fraction={choice.fraction!r}")
    if choice.alpha <= 0 or choice.tau <= 0:
        raise DataError(f"task_mix: graph {name} needs alpha > 0 and tau > 0 (drop a graph with null), "
                        f"got alpha={choice.alpha}, tau={choice.tau}")
    if not 0 < choice.fraction <= 1:
        raise DataError(f"task_mix: graph {name} needs 0 < fraction <= 1 (the share of its left nodes trained on), "
                        f"got fraction={choice.fraction}")
    return replace(choice, alpha=float(choice.alpha), tau=float(choice.tau), fraction=float(choice.fraction))


def parse_mix(graphs: Mapping[str, Mapping]) -> dict[str, GraphChoice]:
    """``{key: {name, alpha, tau, fraction} or {pairs, alpha, tau, fraction, query_column, label_column}}`` (the
    ``task_mix.graphs`` config) -> ``{name: GraphChoice}``, validated before any file is read.

    A graph set to None is dropped: the leave-one-out mixes are ``task_mix=all`` with one graph null.
    """
    graphs = {k: v for k, v in (graphs or {}).items() if v is not None}
    if not graphs:
        raise DataError("task_mix has no graphs; pick one of conf/task_mix/*.yaml, e.g. task_mix=all, or add a file "
                        "of your own pairs: +task_mix.graphs.<name>.pairs=FILE")
    out = {}
    for key, entry in graphs.items():
        if entry.get("pairs") is not None:
            out[key] = _check(key, _file_choice(key, entry))
            continue
        name = entry.get("name", key)
        if name not in GRAPHS:
            raise DataError(f"task_mix: unknown graph {name!r}; valid: {', '.join(GRAPHS)}, or a file of your own "
                            f"pairs: +task_mix.graphs.{key}.pairs=FILE")
        missing = [k for k in ("alpha", "tau") if entry.get(k) is None]
        if missing:  # their one source is the graph's config file (conf/graph/<name>.yaml)
            raise DataError(f"task_mix: graph {name} has no {' and no '.join(missing)}; set them in "
                            f"conf/graph/{name}.yaml or with task_mix.graphs.{key}.alpha=... / .tau=...")
        out[name] = _check(name, GraphChoice(entry["alpha"], entry["tau"], _number(entry, "fraction", 1.0)))
    return out


def evaluated_tasks(mix: Iterable[str], tasks: list[str] | None = None) -> list[str]:
    """The test tasks a run evaluates: ``tasks`` as given, or by default every WorkBench task plus the
    O*NET zero-shot tasks that no graph of the mix IS (zero-shot numbers need O*NET held out)."""
    if tasks:
        return list(tasks)
    covered = {t for g in mix if g in GRAPHS for t in GRAPHS[g].is_test_of}
    return WORKBENCH_TASKS + [t for t in ZERO_SHOT_TASKS if t not in covered]


def build_graph_choice(catalog: Catalog, name: str, choice: GraphChoice, seed: int) -> TrainingGraph:
    """The graph of one mix entry: built-in or read from its file, cut to its fraction of left nodes."""
    if choice.pairs is None:
        graph = catalog.graph(name)
    else:
        graph = load_file_graph(name, choice.pairs, catalog.cache_dir if catalog.use_cache else None,
                                choice.query_column, choice.label_column)
    return subset_left(graph, choice.fraction, seed)


def load_mix(catalog: Catalog, graphs: Mapping[str, Mapping], tasks: list[str] | None = None,
             seed: int = 42) -> list[MixEntry]:
    """Build the mix's graphs and run the leakage guard against the test splits of the evaluated tasks.

    ``seed`` picks the left nodes of a graph cut to a fraction (nested: a smaller fraction's nodes are a subset
    of a larger one's with the same seed)."""
    mix = parse_mix(graphs)
    entries = [MixEntry(build_graph_choice(catalog, name, c, seed), c.alpha, c.tau) for name, c in mix.items()]
    check_no_leakage([e.graph for e in entries], [catalog.task(t, "test") for t in evaluated_tasks(mix, tasks)])
    return entries
