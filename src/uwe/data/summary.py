"""Sizes of every task split and graph, as a table or as the JSON the acceptance test compares."""

from __future__ import annotations

from tqdm.auto import tqdm

from uwe.data.catalog import Catalog
from uwe.data.graphs import GRAPHS


def summarize(catalog: Catalog, progress: bool = True) -> dict[str, dict[str, int]]:
    """``{"<task>/<split>": {"queries", "targets", "pairs"}, "graph/<name>": {"edges", "left", "right"}}``."""
    out: dict[str, dict[str, int]] = {}
    keys = catalog.task_keys()
    catalog.require(keys, list(GRAPHS))  # one error listing every missing file, before any work
    for key in tqdm(keys + [f"graph/{g}" for g in GRAPHS], desc="building", disable=not progress, unit="item"):
        kind, name = key.split("/")
        out[key] = catalog.graph(name).sizes() if kind == "graph" else catalog.task(kind, name).sizes()
    return out


def format_table(catalog: Catalog, sizes: dict[str, dict[str, int]]) -> str:
    """A fixed-width table with drops and surrogate notes, for people."""
    rows = [f"{'task/split or graph':<32} {'queries':>9} {'targets':>9} {'pairs':>9}  notes"]
    for key, s in sizes.items():
        if key.startswith("graph/"):
            g = catalog.graph(key.split("/", 1)[1])
            spec = GRAPHS[g.name]
            note = ("opt-in; " if spec.opt_in else "" if spec.default else "extra (all_plus); ") + _drops(g.dropped)
            rows.append(f"{key:<32} {s['left']:>9} {s['right']:>9} {s['edges']:>9}  left/right/edges; {note}")
        else:
            t = catalog.task(*key.split("/"))
            note = (f"SURROGATE {t.surrogate}; " if t.surrogate else "") + _drops(t.dropped)
            rows.append(f"{key:<32} {s['queries']:>9} {s['targets']:>9} {s['pairs']:>9}  {note}")
    return "\n".join(rows)


def _drops(dropped: dict[str, int]) -> str:
    return ", ".join(f"dropped {v} {k}" for k, v in dropped.items())
