"""Pair files: the one format of (query, label) pairs that trains a graph and evaluates a custom task.

- ``.csv``, ``.tsv``: a header row with the columns ``query`` and ``label`` (other columns are ignored);
- ``.jsonl``: one object ``{"query": ..., "label": ...}`` per line;
- ``.parquet``: columns ``query`` and ``label`` of strings.

One row per pair, so a query with three labels has three rows. ``query`` is the left side (a title, an alias, a
sentence), ``label`` the node it points to (a skill, an occupation, a concept of your own taxonomy); other column
names are chosen with ``query_column`` / ``label_column``. Texts are NFC-normalised and stripped
(:func:`uwe.data.text.label_key`, how labels are compared everywhere); each distinct cell value is normalised
once, so a file of millions of rows over far fewer distinct texts reads in seconds.

A mistake (a missing file or column, an empty or non-string cell, a file that is not UTF-8, a damaged Parquet
file, no rows) is a one-line :class:`DataError` naming the file, the line or row, and the fix.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from uwe.data.errors import DataError
from uwe.data.text import is_invisible, label_key
from uwe.files import sha256_of

COLUMNS = ("query", "label")
DELIMITERS = {".csv": ",", ".tsv": "\t"}
SUFFIXES = {d: s for s, d in DELIMITERS.items()}
DELIMITER_NAMES = {",": "comma", "\t": "tab"}
JSONL = ".jsonl"
PARQUET = ".parquet"
FORMATS = (*DELIMITERS, JSONL, PARQUET)


def pairs_fix(query_column: str = "query", label_column: str = "label") -> str:
    return (f"PAIRS needs the columns {query_column} and {label_column} (a .csv or .tsv header row, .jsonl keys or "
            ".parquet columns), one row per pair")


@dataclass(frozen=True)
class TextFile:
    """A file's decoded text and the sha256 of its bytes."""

    path: Path
    text: str
    sha256: str


def check_file(path: str | Path, what: str) -> Path:
    """``path`` expanded, or a :class:`DataError` naming it as ``what`` when it is not a file."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"{what} file {path} not found; pass the path of an existing file")
    return path


def check_format(path: str | Path) -> str:
    """The lower-case suffix of ``path`` when it is a pair-file format, else a :class:`DataError`."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise DataError(f"{path}: unknown format {suffix or '(no suffix)'!r}; name it {', '.join(FORMATS[:-1])} or "
                        f"{FORMATS[-1]}. {pairs_fix()}")
    return suffix


def read_text(path: str | Path, what: str) -> TextFile:
    """The UTF-8 text of ``path`` (a byte-order mark is dropped), or a :class:`DataError` naming it as ``what``
    (``PAIRS``, ``TARGETS``) when it is missing, not UTF-8 or blank."""
    path = check_file(path, what)
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise DataError(f"{path} is not UTF-8 text (byte {err.start}: {err.reason}); save it as UTF-8") from None
    if not text.strip():
        raise DataError(f"{path} is empty; {pairs_fix() if what == 'PAIRS' else 'TARGETS needs one label per line'}")
    return TextFile(path, text, hashlib.sha256(data).hexdigest())


@dataclass(frozen=True)
class Cells:
    """The raw query and label cells of a file, in file order, and where each row is (for messages)."""

    queries: list
    labels: list
    lines: list[int] | None  # the line of each row (text formats); None: rows are counted from 1 (Parquet)

    def where(self, row: int) -> str:
        return f"line {self.lines[row]}" if self.lines is not None else f"row {row + 1}"


def _table_cells(file: TextFile, delimiter: str, columns: tuple[str, str]) -> Cells:
    reader = csv.reader(io.StringIO(file.text, newline=""), delimiter=delimiter)
    try:
        header = [cell.strip() for cell in next(reader)]
        missing = [c for c in columns if c not in header]
        if missing:
            other = "\t" if delimiter == "," else ","
            hint = ""
            if len(header) == 1 and other in header[0]:
                hint = f" (it looks {DELIMITER_NAMES[other]}-separated: name the file {SUFFIXES[other]})"
            raise DataError(f"{file.path}: no column {' or '.join(map(repr, missing))}; its header has {header}{hint}. "
                            f"{pairs_fix(*columns)}")
        q, label = header.index(columns[0]), header.index(columns[1])
        queries, labels, lines = [], [], []
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue  # a blank line
            if len(row) != len(header):
                raise DataError(f"{file.path} line {reader.line_num}: {len(row)} field(s) where the header has "
                                f"{len(header)}; quote a text that holds the delimiter ({delimiter!r})")
            queries.append(row[q])
            labels.append(row[label])
            lines.append(reader.line_num)
    except csv.Error as err:
        raise DataError(f"{file.path} line {reader.line_num}: cannot be read as {DELIMITER_NAMES[delimiter]}-separated "
                        f"values ({err})") from None
    return Cells(queries, labels, lines)


def _jsonl_cells(file: TextFile, columns: tuple[str, str]) -> Cells:
    queries, labels, lines = [], [], []
    for line_no, line in enumerate(file.text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(f"{file.path} line {line_no} is not JSON ({err.msg}); each line must be an object "
                            f'{{"{columns[0]}": "...", "{columns[1]}": "..."}}') from None
        if not isinstance(item, dict) or any(c not in item for c in columns):
            found = sorted(item) if isinstance(item, dict) else type(item).__name__
            raise DataError(f"{file.path} line {line_no}: expected an object with the keys {columns[0]} and "
                            f"{columns[1]}, found {found}. {pairs_fix(*columns)}")
        queries.append(item[columns[0]])
        labels.append(item[columns[1]])
        lines.append(line_no)
    return Cells(queries, labels, lines)


def _parquet_cells(path: Path, columns: tuple[str, str]) -> Cells:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        names = pq.read_schema(path).names
        missing = [c for c in columns if c not in names]
        if missing:
            raise DataError(f"{path}: no column {' or '.join(map(repr, missing))}; its columns are {names}. "
                            f"{pairs_fix(*columns)}")
        table = pq.read_table(path, columns=list(columns))
    except (pa.ArrowException, OSError) as err:
        reason = " ".join(str(err).split())
        raise DataError(f"{path} cannot be read as Parquet ({reason}); write it again (e.g. "
                        "pandas.DataFrame.to_parquet) or use .csv, .tsv or .jsonl") from None
    return Cells(table.column(columns[0]).to_pylist(), table.column(columns[1]).to_pylist(), None)


@dataclass(frozen=True)
class PairTable:
    """The pairs of a file as node ids: pair ``i`` is ``(queries[query_ids[i]], labels[label_ids[i]])``.

    ``queries`` and ``labels`` are the distinct normalised texts in first-seen order; ``query_ids`` and
    ``label_ids`` (int64, shape [rows]) keep the file's row order, duplicates included.
    """

    path: Path
    sha256: str
    queries: list[str]
    labels: list[str]
    query_ids: np.ndarray
    label_ids: np.ndarray

    def pairs(self) -> list[tuple[str, str]]:
        return list(zip(np.array(self.queries, dtype=object)[self.query_ids].tolist(),
                        np.array(self.labels, dtype=object)[self.label_ids].tolist()))


def _normalise(cells: list) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(distinct normalised texts in first-seen order, each row's index into them, each row's bad flag) of one
    column's cells; a cell is bad when it is not a string or has no visible character."""
    codes, uniques = pd.factorize(pd.Series(cells, dtype=object), use_na_sentinel=True)
    texts, bad = [], []
    for i, cell in enumerate(uniques):
        text = label_key(cell) if isinstance(cell, str) else ""
        if not text or is_invisible(text):
            bad.append(i)
        texts.append(text)
    node_of_unique, nodes = pd.factorize(pd.Series(texts, dtype=object))  # NFC variants of one text: one node
    node_of_unique = np.append(node_of_unique.astype(np.int64), -1)  # code -1 (a missing cell) stays -1
    return list(nodes), node_of_unique[codes], np.isin(codes, bad) | (codes < 0)


def _describe(cell: object) -> str:
    if cell is None:
        return "is missing"
    return f"{cell!r} is empty" if isinstance(cell, str) else f"is a {type(cell).__name__}, not a string"


def _check_cells(path: Path, cells: Cells, columns: tuple[str, str], bad_query: np.ndarray,
                 bad_label: np.ndarray) -> None:
    """A :class:`DataError` naming the first row with a bad cell (query before label) and how many there are."""
    n_bad = int(bad_query.sum() + bad_label.sum())
    if not n_bad:
        return
    row = int(np.flatnonzero(bad_query | bad_label)[0])
    column, cell = (columns[0], cells.queries[row]) if bad_query[row] else (columns[1], cells.labels[row])
    raise DataError(f"{path}: {n_bad:,} query or label cell(s) without text, the first on {cells.where(row)}: "
                    f"{column} {_describe(cell)}; every row needs a query and a label with text: fill or delete "
                    "those rows")


def read_pair_table(path: str | Path, query_column: str = "query", label_column: str = "label") -> PairTable:
    """The pairs of a PAIRS file (see the module docstring), normalised, as a :class:`PairTable`."""
    path = check_file(path, "PAIRS")
    suffix = check_format(path)
    columns = (query_column, label_column)
    if suffix == PARQUET:
        cells, sha = _parquet_cells(path, columns), sha256_of(path)
    else:
        file = read_text(path, "PAIRS")
        cells = _jsonl_cells(file, columns) if suffix == JSONL else _table_cells(file, DELIMITERS[suffix], columns)
        sha = file.sha256
    if not cells.queries:
        raise DataError(f"{path} has no rows; add one row per relevant ({query_column}, {label_column}) pair")
    queries, query_ids, bad_query = _normalise(cells.queries)
    labels, label_ids, bad_label = _normalise(cells.labels)
    _check_cells(path, cells, columns, bad_query, bad_label)
    return PairTable(path, sha, queries, labels, query_ids, label_ids)
