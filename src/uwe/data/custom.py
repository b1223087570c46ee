"""Your own ranking task from two files, no code: relevant (query, label) pairs and, optionally, the target space.

- PAIRS: a pair file (:mod:`uwe.data.pairs`: ``.csv``, ``.tsv``, ``.jsonl`` or ``.parquet`` with the columns
  ``query`` and ``label``, or others named by ``query_column`` / ``label_column``); one row per relevant pair,
  so a query with three labels has three rows. Training graphs read the same files (``task_mix.graphs.<name>.pairs``).
- TARGETS: a UTF-8 text file, one label per line (blank lines skipped); default: the unique labels of PAIRS.

Texts are NFC-normalised and stripped (:func:`uwe.data.text.label_key`, how labels are compared everywhere),
a query's rows are merged into one query, the target space is made unique (duplicates counted). The task is a
:class:`~uwe.data.task.RankingTask` built by :func:`~uwe.data.task.build_task`, scored by the same evaluation
code as the built-in tasks. A label that is not in TARGETS is an error naming the first few and their count,
unless ``drop_unknown`` drops those pairs (counted in ``task.dropped``). Every other mistake (a missing or
misnamed column, an empty file or cell, a file that is not UTF-8) is a one-line :class:`DataError` naming the
file, the line and the fix.

Example:
    >>> import pathlib, tempfile                                                        # doctest: +SKIP
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "pairs.csv"                              # doctest: +SKIP
    >>> _ = f.write_text("query,label\\nbaker,bake bread\\nbaker,knead dough\\ncoder,python\\n")  # doctest: +SKIP
    >>> custom_task("demo", f).sizes()                                                  # doctest: +SKIP
    {'queries': 2, 'targets': 3, 'pairs': 3}
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from uwe.data.errors import DataError
from uwe.data.pairs import read_pair_table, read_text
from uwe.data.task import RankingTask, build_task
from uwe.data.text import is_invisible, label_key

SPLIT = "custom"  # the split of every custom task: its key is ``<name>/custom``
NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


def read_targets(path: str | Path) -> tuple[list[str], TextFile]:
    """The labels of a TARGETS file, one per non-blank line, NFC-normalised and stripped, in file order
    (duplicates kept: :func:`custom_task` counts them), and the file."""
    file = read_text(path, "TARGETS")
    labels = []
    for line_no, line in enumerate(file.text.split("\n"), start=1):
        label = label_key(line)
        if label and is_invisible(label):
            raise DataError(f"{file.path} line {line_no} has no visible character ({line!r}); delete it")
        if label:
            labels.append(label)
    return labels, file


def space_name(name: str, targets: list[str]) -> str:
    """``custom_<name>_<hash>``: the target-space name (and cache file name) of a custom task, one per exact
    target list, so an edited TARGETS file gets a fresh cache instead of a stale one."""
    digest = hashlib.sha256(json.dumps(sorted(targets), ensure_ascii=False).encode()).hexdigest()
    return f"custom_{name}_{digest[:12]}"


def check_name(name: object) -> str:
    """``name`` if it can name a task and a cache file (letters, digits, ``_ . -``), else :class:`DataError`."""
    if not isinstance(name, str) or not NAME.match(name):
        raise DataError(f"custom task name {name!r} is not valid: use letters, digits, '_', '.' or '-'")
    return name


def custom_task(name: str, pairs: str | Path, targets: str | Path | None = None, *, drop_unknown: bool = False,
                drop_hint: str = "pass --drop-unknown", query_column: str = "query",
                label_column: str = "label") -> RankingTask:
    """The ranking task ``<name>/custom`` of a PAIRS file and a TARGETS file (default: PAIRS's unique labels).

    Args:
        name: the task's name (letters, digits, ``_ . -``).
        pairs, targets: the files (see the module docstring).
        drop_unknown: drop the pairs whose label is not in TARGETS (counted in ``dropped["label_not_in_space"]``,
            a query left without labels in ``dropped["query_without_label"]``) instead of refusing them.
        drop_hint: how the error for unknown labels tells the user to drop them.
        query_column, label_column: the PAIRS columns (or .jsonl keys) holding the queries and the labels.

    Returns:
        A :class:`RankingTask` with the sorted unique targets, one query per distinct query text, ``dropped``
        counts (``duplicate_pair``, ``duplicate_target`` and the two above, where non-zero) and ``sources``
        holding both files' absolute paths and sha256 (``targets`` is ``"(the labels of PAIRS)"`` by default).
    """
    check_name(name)
    pairs_file = read_pair_table(pairs, query_column, label_column)
    pair_list = pairs_file.pairs()
    sources = {"pairs": str(pairs_file.path.resolve()), "pairs_sha256": pairs_file.sha256}
    if targets is None:
        space = list(dict.fromkeys(label for _, label in pair_list))
        sources["targets"] = "(the labels of PAIRS)"
    else:
        space, targets_file = read_targets(targets)
        sources.update(targets=str(targets_file.path.resolve()), targets_sha256=targets_file.sha256)
    known = set(space)
    unknown = list(dict.fromkeys(label for _, label in pair_list if label not in known))
    if unknown and not drop_unknown:
        n_pairs = sum(label not in known for _, label in pair_list)
        raise DataError(f"{pairs_file.path}: {len(unknown)} label(s) in {n_pairs} pair(s) are not in {targets}, e.g. "
                        f"{unknown[:5]}; add them to {targets}, or {drop_hint} to drop those pairs")
    if len(unknown) == len(set(label for _, label in pair_list)):
        raise DataError(f"{pairs_file.path}: none of its labels is in {targets}; is that the TARGETS file of these "
                        "pairs?")
    dropped = {"duplicate_pair": len(pair_list) - len(set(pair_list)), "duplicate_target": len(space) - len(known)}
    return build_task(name, SPLIT, pair_list, space, sources=sources, target_space=space_name(name, list(known)),
                      dropped={k: v for k, v in dropped.items() if v})
