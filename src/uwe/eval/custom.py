"""Your own ranking tasks (files of pairs and targets), evaluated by the code that scores the built-in tasks:
``uwe evaluate --pairs PAIRS [--targets TARGETS] --model MODEL`` and eval.py's ``+custom.<name>.pairs=PAIRS``.

A custom task's result is kept in the results record under ``custom``, apart from ``tasks``: ``{"<name>/custom":
{metrics, sizes, evaluated_queries, ..., dropped, sources}}``, where ``sources`` holds both files' absolute paths
and sha256 (see :func:`uwe.data.custom.custom_task`). So it never enters the WorkBench macro nor a table or plot
of benchmark rows, and ``results.md`` lists it in a table of its own.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from pathlib import Path

from uwe.data.cache import default_cache_dir
from uwe.data.custom import SPLIT, custom_task
from uwe.data.task import RankingTask
from uwe.eval.evaluate import METRICS, evaluate_task
from uwe.eval.report import build_record, format_table, write_results
from uwe.eval.scorers import EncoderScorer, Scorer
from uwe.models.device import resolve_device
from uwe.models.load import load_model

SUMMARY_SIZES = ("queries", "targets", "pairs")
DROPPED_WORDS = {"label_not_in_space": "pair(s) whose label is not in the targets",
                 "query_without_label": "query(ies) left without a label",
                 "duplicate_pair": "duplicate pair(s)", "duplicate_target": "duplicate target(s)"}


def tasks_from_config(custom: Mapping[str, Mapping]) -> list[RankingTask]:
    """eval.py's ``custom`` config, ``{name: {pairs, targets, drop_unknown, query_column, label_column}}`` (all but
    pairs optional), as tasks, each read and checked (a bad file is one clear error before any scoring)."""
    return [custom_task(name, spec["pairs"], spec.get("targets"), drop_unknown=bool(spec.get("drop_unknown", False)),
                        drop_hint=f"set +custom.{name}.drop_unknown=true",
                        query_column=spec.get("query_column") or "query",
                        label_column=spec.get("label_column") or "label")
            for name, spec in custom.items()]


def evaluate_custom(scorer: Scorer, tasks: list[RankingTask], chunk: int = 2048, max_queries: int | None = None,
                    seed: int = 42, show_progress: bool = True) -> dict[str, dict]:
    """``{task.key: entry}``: each task scored by :func:`uwe.eval.evaluate.evaluate_task` (the built-in tasks'
    code: same metrics, ties, chunking and sub-sampling), its ``TaskResult.to_dict()`` plus what was dropped."""
    return {t.key: {**evaluate_task(scorer, t, chunk=chunk, max_queries=max_queries, seed=seed,
                                    show_progress=show_progress).to_dict(), "dropped": dict(t.dropped)}
            for t in tasks}


def summary(entry: dict) -> dict:
    """One task's entry as ``uwe evaluate --format json`` prints it: ``map``, ``rp@10``, ``mrr`` (fractions in
    [0, 1]), ``queries``, ``targets``, ``pairs`` and ``dropped`` (counts)."""
    return {**{m: entry["metrics"][m] for m in METRICS}, **{s: entry["sizes"][s] for s in SUMMARY_SIZES},
            "dropped": entry["dropped"]}


def describe_dropped(dropped: dict[str, int]) -> str:
    """What building a custom task dropped, in words.

    >>> describe_dropped({"label_not_in_space": 2, "query_without_label": 1})
    'dropped 2 pair(s) whose label is not in the targets, 1 query(ies) left without a label'
    """
    return "dropped " + ", ".join(f"{n:,} {DROPPED_WORDS.get(what, what)}" for what, n in dropped.items())


def format_custom(custom: dict[str, dict]) -> str:
    """A Markdown table of custom tasks in percent, as :func:`uwe.eval.report.format_table` prints built-in ones.

    >>> entry = {"metrics": {"map": 0.5, "rp@10": 1.0, "mrr": 0.5}, "evaluated_queries": 2, "subsampled": False,
    ...          "sizes": {"queries": 2, "targets": 3, "pairs": 3}}
    >>> print(format_custom({"demo/custom": entry}))
    | custom task | queries x targets | pairs | MAP | RP@10 | MRR |
    |---|---|---|---|---|---|
    | demo/custom | 2 x 3 | 3 | 50.00 | 100.00 | 50.00 |
    """
    rows = ["| custom task | queries x targets | pairs | " + " | ".join(m.upper() for m in METRICS) + " |",
            "|" + "---|" * (len(METRICS) + 3)]
    for key, r in custom.items():
        note = " (subsampled)" if r["subsampled"] else ""
        size = f"{r['evaluated_queries']:,} x {r['sizes']['targets']:,} | {r['sizes']['pairs']:,}"
        rows.append(f"| {key}{note} | {size} | " + " | ".join(f"{100 * r['metrics'][m]:.2f}" for m in METRICS) + " |")
    return "\n".join(rows)


def format_record(record: dict) -> str:
    """The printed table of a results record: the built-in tasks' (when any), then the custom tasks' (when any)."""
    parts = [format_table(record)] if record["tasks"] or not record.get("custom") else []
    if record.get("custom"):
        parts.append(format_custom(record["custom"]))
    return "\n\n".join(parts)


def write_record(out_dir: Path, record: dict) -> tuple[Path, Path]:
    """:func:`uwe.eval.report.write_results`, with ``results.md``'s table as :func:`format_record` prints it."""
    js, md = write_results(out_dir, record)
    if record.get("custom"):
        md.write_text(md.read_text().replace(format_table(record), format_record(record), 1))
    return js, md


def default_name(pairs: str | Path) -> str:
    """A task name from the PAIRS file's name: its stem, with anything but letters, digits, ``_ . -`` as ``_``."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(pairs).stem).strip("_.") or "custom"


def evaluate_files(pairs: str | Path, targets: str | Path | None, model: str | Path, *, head: str | None = None,
                   name: str | None = None, drop_unknown: bool = False, cache_dir: str | Path | None = None,
                   refresh: bool = False, device: str = "auto", out_dir: Path | None = None,
                   show_progress: bool = True, drop_hint: str = "pass --drop-unknown", layers: int | None = None,
                   dim: int | None = None, query_column: str = "query", label_column: str = "label") -> dict:
    """``model`` (an export folder, a train.py checkpoint or an encoder name, see :func:`uwe.models.load.load_model`)
    on the task of ``pairs`` and ``targets``: a results record (:func:`uwe.eval.report.build_record`) whose
    ``custom`` entry holds the result, also written to ``out_dir`` (``results.json``, ``results.md``) when given.

    The files are read and checked before the model is loaded, so a mistake in them costs no model load.
    ``layers`` and ``dim`` evaluate a view of the model (its first k layers and d dimensions; None: the full one).
    """
    start = time.perf_counter()
    task = custom_task(name or default_name(pairs), pairs, targets, drop_unknown=drop_unknown, drop_hint=drop_hint,
                       query_column=query_column, label_column=label_column)
    target = resolve_device(device)
    encoder, head_module = load_model(model, head, layers, dim)
    scorer = EncoderScorer(encoder, head_module, Path(cache_dir).expanduser() if cache_dir else default_cache_dir(),
                           show_progress=show_progress, refresh_cache=refresh, device=target)
    custom = evaluate_custom(scorer, [task], show_progress=show_progress)
    config = {"pairs": str(pairs), "targets": None if targets is None else str(targets), "model": str(model),
              "head": head, "name": task.name, "drop_unknown": drop_unknown, "device": str(target),
              "layers": layers, "dim": dim, "query_column": query_column, "label_column": label_column}
    record = build_record({}, None, scorer.describe(), config, SPLIT, time.perf_counter() - start)
    record["custom"] = custom
    if out_dir is not None:
        write_record(Path(out_dir), record)
    return record
