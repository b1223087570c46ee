"""Your own ranking task from two files, no code: relevant (query, label) pairs and, optionally, the target space.

- PAIRS: ``.csv``, ``.tsv`` (a header row with the columns ``query`` and ``label``; other columns are ignored) or
  ``.jsonl`` (one object ``{"query": ..., "label": ...}`` per line); one row per relevant pair, so a query with
  three labels has three rows.
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

import csv
import hashlib
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path

from uwe.data.errors import DataError
from uwe.data.task import RankingTask, build_task
from uwe.data.text import is_invisible, label_key

SPLIT = "custom"  # the split of every custom task: its key is ``<name>/custom``
COLUMNS = ("query", "label")
DELIMITERS = {".csv": ",", ".tsv": "\t"}
SUFFIXES = {d: s for s, d in DELIMITERS.items()}
DELIMITER_NAMES = {",": "comma", "\t": "tab"}
JSONL = ".jsonl"
PAIRS_FIX = "PAIRS needs the columns query and label (a .csv or .tsv header row, or .jsonl keys), one row per pair"
NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class TextFile:
    """A file's decoded text and the sha256 of its bytes."""

    path: Path
    text: str
    sha256: str


def read_text(path: str | Path, what: str) -> TextFile:
    """The UTF-8 text of ``path`` (a byte-order mark is dropped), or a :class:`DataError` naming it as ``what``
    (``PAIRS``, ``TARGETS``) when it is missing, not UTF-8 or blank."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"{what} file {path} not found; pass the path of an existing file")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise DataError(f"{path} is not UTF-8 text (byte {err.start}: {err.reason}); save it as UTF-8") from None
    if not text.strip():
        raise DataError(f"{path} is empty; {PAIRS_FIX if what == 'PAIRS' else 'TARGETS needs one label per line'}")
    return TextFile(path, text, hashlib.sha256(data).hexdigest())


def _table_rows(file: TextFile, delimiter: str) -> list[tuple[int, object, object]]:
    """(line, query cell, label cell) of every data row of a CSV or TSV file."""
    reader = csv.reader(io.StringIO(file.text, newline=""), delimiter=delimiter)
    try:
        return _check_rows(file, reader, delimiter)
    except csv.Error as err:
        raise DataError(f"{file.path} line {reader.line_num}: cannot be read as {DELIMITER_NAMES[delimiter]}-separated "
                        f"values ({err})") from None


def _check_rows(file: TextFile, reader, delimiter: str) -> list[tuple[int, object, object]]:
    """The rows of ``reader`` after its header, which must name both columns; blank lines skipped."""
    header = [cell.strip() for cell in next(reader)]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        other = "\t" if delimiter == "," else ","
        hint = ""
        if len(header) == 1 and other in header[0]:
            hint = f" (it looks {DELIMITER_NAMES[other]}-separated: name the file {SUFFIXES[other]})"
        raise DataError(f"{file.path}: no column {' or '.join(map(repr, missing))}; its header has {header}{hint}. "
                        f"{PAIRS_FIX}")
    q, label = header.index("query"), header.index("label")
    rows = []
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue  # a blank line
        if len(row) != len(header):
            raise DataError(f"{file.path} line {reader.line_num}: {len(row)} field(s) where the header has "
                            f"{len(header)}; quote a text that holds the delimiter ({delimiter!r})")
        rows.append((reader.line_num, row[q], row[label]))
    return rows


def _jsonl_rows(file: TextFile) -> list[tuple[int, object, object]]:
    """(line, query value, label value) of every non-blank line of a JSON-lines file."""
    rows = []
    for line_no, line in enumerate(file.text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(f"{file.path} line {line_no} is not JSON ({err.msg}); each line must be an object "
                            '{"query": "...", "label": "..."}') from None
        if not isinstance(item, dict) or any(c not in item for c in COLUMNS):
            found = sorted(item) if isinstance(item, dict) else type(item).__name__
            raise DataError(f"{file.path} line {line_no}: expected an object with the keys query and label, found "
                            f"{found}. {PAIRS_FIX}")
        rows.append((line_no, item["query"], item["label"]))
    return rows


def read_pairs(path: str | Path) -> tuple[list[tuple[str, str]], TextFile]:
    """The (query, label) pairs of a PAIRS file in file order, NFC-normalised and stripped, and the file.

    Raises :class:`DataError` naming the file (and line) for an unknown suffix, a missing column or key, no
    rows, or a query or label that is empty, not a string, or has no visible character.
    """
    path = Path(path).expanduser()
    suffix = path.suffix.lower()
    if suffix not in (*DELIMITERS, JSONL):
        raise DataError(f"{path}: unknown format {suffix or '(no suffix)'!r}; name it .csv, .tsv or .jsonl. "
                        f"{PAIRS_FIX}")
    file = read_text(path, "PAIRS")
    rows = _jsonl_rows(file) if suffix == JSONL else _table_rows(file, DELIMITERS[suffix])
    if not rows:
        raise DataError(f"{path} has no rows; add one row per relevant (query, label) pair")
    pairs, bad = [], []
    for line, *cells in rows:
        texts = [label_key(c) if isinstance(c, str) else None for c in cells]
        for column, cell, text in zip(COLUMNS, cells, texts):
            if text is None:
                bad.append(f"line {line}: {column} is a {type(cell).__name__}, not a string")
            elif not text or is_invisible(text):
                bad.append(f"line {line}: {column} {cell!r} is empty")
        pairs.append((texts[0], texts[1]))
    if bad:
        raise DataError(f"{path}: {len(bad)} query or label cell(s) without text, the first on {bad[0]}; every row "
                        "needs a query and a label with text: fill or delete those rows")
    return pairs, file


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
                drop_hint: str = "pass --drop-unknown") -> RankingTask:
    """The ranking task ``<name>/custom`` of a PAIRS file and a TARGETS file (default: PAIRS's unique labels).

    Args:
        name: the task's name (letters, digits, ``_ . -``).
        pairs, targets: the files (see the module docstring).
        drop_unknown: drop the pairs whose label is not in TARGETS (counted in ``dropped["label_not_in_space"]``,
            a query left without labels in ``dropped["query_without_label"]``) instead of refusing them.
        drop_hint: how the error for unknown labels tells the user to drop them.

    Returns:
        A :class:`RankingTask` with the sorted unique targets, one query per distinct query text, ``dropped``
        counts (``duplicate_pair``, ``duplicate_target`` and the two above, where non-zero) and ``sources``
        holding both files' absolute paths and sha256 (``targets`` is ``"(the labels of PAIRS)"`` by default).
    """
    check_name(name)
    pair_list, pairs_file = read_pairs(pairs)
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
