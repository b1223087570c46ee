"""Write a training graph as a pair file (:mod:`uwe.data.pairs`): ``python -m uwe.data export-graph NAME OUT``.

One row per edge, in edge order, columns ``query`` (left node) and ``label`` (right node); the format follows
OUT's suffix. Read back with ``+task_mix.graphs.<name>.pairs=OUT`` it is the same graph (same nodes, same order),
so it trains the same model.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from uwe.data.graph import TrainingGraph
from uwe.data.pairs import DELIMITERS, JSONL, PARQUET, check_format
from uwe.files import atomic_write


def graph_frame(graph: TrainingGraph) -> pd.DataFrame:
    left = pd.Series(graph.left, dtype=object)
    right = pd.Series(graph.right, dtype=object)
    return pd.DataFrame({"query": left.iloc[graph.edges[:, 0]].to_numpy(),
                         "label": right.iloc[graph.edges[:, 1]].to_numpy()})


def write_pairs_file(frame: pd.DataFrame, out: str | Path) -> Path:
    """``frame`` (columns query, label) written atomically to ``out`` in the format of its suffix."""
    out = Path(out).expanduser()
    suffix = check_format(out)
    out.parent.mkdir(parents=True, exist_ok=True)

    def write(tmp: Path) -> None:
        if suffix == PARQUET:
            frame.to_parquet(tmp, index=False)
        elif suffix == JSONL:
            with open(tmp, "w", encoding="utf-8") as f:
                for q, label in zip(frame["query"], frame["label"]):
                    f.write(json.dumps({"query": q, "label": label}, ensure_ascii=False) + "\n")
        else:
            frame.to_csv(tmp, sep=DELIMITERS[suffix], index=False, encoding="utf-8")

    atomic_write(out, write)
    return out


def write_graph(graph: TrainingGraph, out: str | Path) -> Path:
    return write_pairs_file(graph_frame(graph), out)
