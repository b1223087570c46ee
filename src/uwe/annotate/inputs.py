"""The input dataset as units of work: each input file is hashed (sha256), its ids read, and its rows cut
into blocks; a block is one output part. Duplicate ids are found over the whole dataset, in file order, here,
so a row keeps or loses its annotation whichever worker gets it.

A Parquet file is cut at row groups (a block reads only its own); a CSV or JSONL file is parsed whole by
each of its blocks, so a very large one is better converted to Parquet first.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from uwe.annotate.options import AnnotateOptions
from uwe.annotate.rows import check_columns, id_text, is_missing
from uwe.annotate.storage import input_format, read_bytes


@dataclass(frozen=True)
class InputFile:
    """One input file as scanned: ``name`` is its path relative to INPUT (its file name for a single file)."""

    path: str
    name: str
    format: str
    sha256: str
    size: int
    rows: int
    row_groups: tuple[int, ...]  # rows per Parquet row group; () for CSV and JSONL


@dataclass(frozen=True)
class Unit:
    """A block of rows of one input file, annotated into the output part ``part``.

    ``key`` names everything the part's content depends on (the input's sha256, the rows, the duplicate rows,
    the run's model and options): a part whose footer holds another key is redone."""

    path: str
    name: str
    format: str
    sha256: str
    block: int
    start: int
    stop: int
    groups: tuple[int, ...]
    duplicates: tuple[int, ...]  # positions in the block whose id an earlier row of the dataset has
    part: str
    key: str

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "Unit":
        data = json.loads(text)
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


def parse(data: bytes, fmt: str, columns: list[str] | None = None) -> pd.DataFrame:
    """A CSV or JSONL file's rows. CSV cells are read as text, as written (``007`` stays ``007``, an empty
    cell is empty); JSONL values keep their JSON types, so a number where text belongs is a bad row."""
    if fmt == "csv":
        return pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False, na_values=[], usecols=columns,
                           encoding="utf-8")
    frame = pd.read_json(io.BytesIO(data), lines=True, dtype=False)
    if frame.empty and not len(frame.columns):  # an empty JSONL file has no rows, so no columns either
        return pd.DataFrame(columns=columns or [])
    return frame if columns is None else frame[columns]


def id_digests(ids: list) -> tuple[np.ndarray, np.ndarray]:
    """(16-byte blake2b digest of each id as text, True where the id is present): duplicates are found on these
    (a collision among 10M ids has odds of about 1e-25)."""
    present = np.array([not is_missing(v) for v in ids], dtype=bool)
    digests = np.array([hashlib.blake2b(id_text(v).encode(), digest_size=16).digest() if ok else b"" for v, ok in
                        zip(ids, present)], dtype="S16")
    return digests, present


def scan(fs, path: str, name: str, options: AnnotateOptions) -> tuple[InputFile, np.ndarray, np.ndarray]:
    """The file's record and its ids' digests; a missing column is a UserError, an unreadable file raises
    whatever its reader raised (the caller names it as a bad file)."""
    fmt = input_format(path)
    data = read_bytes(fs, path)
    sha = hashlib.sha256(data).hexdigest()
    if fmt == "parquet":
        reader = pq.ParquetFile(pa.BufferReader(data))
        check_columns(reader.schema_arrow.names, options.column_options, name)
        ids = reader.read(columns=[options.id_column]).column(0).to_pylist()
        groups = tuple(reader.metadata.row_group(i).num_rows for i in range(reader.metadata.num_row_groups))
    else:
        frame = parse(data, fmt)
        if len(frame) or len(frame.columns):
            check_columns(list(frame.columns), options.column_options, name)
        ids, groups = frame[options.id_column].tolist() if len(frame) else [], ()
    return InputFile(path, name, fmt, sha, len(data), len(ids), groups), *id_digests(ids)


def duplicate_rows(digests: list[np.ndarray], present: list[np.ndarray]) -> list[np.ndarray]:
    """Per file, the rows whose id an earlier row (earlier file, or earlier in the file) already has."""
    if not digests:
        return []
    every, ok = np.concatenate(digests), np.concatenate(present)
    where = np.flatnonzero(ok)
    _, first = np.unique(every[where], return_index=True)
    later = ok.copy()
    later[where[first]] = False
    bounds = np.cumsum([0] + [len(d) for d in digests])
    return [np.flatnonzero(later[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]


def blocks(file: InputFile, part_rows: int) -> list[tuple[int, int, tuple[int, ...]]]:
    """``(start, stop, row groups)`` of each block: whole row groups up to ``part_rows`` rows for Parquet
    (a larger group is a block of its own), ``part_rows`` rows otherwise; an empty file is one empty block.

    >>> f = InputFile("p", "p", "parquet", "", 0, 25, (10, 10, 5))
    >>> blocks(f, 20)
    [(0, 20, (0, 1)), (20, 25, (2,))]
    >>> blocks(InputFile("c", "c", "csv", "", 0, 5, ()), 2)
    [(0, 2, ()), (2, 4, ()), (4, 5, ())]
    """
    if not file.row_groups:
        return [(a, min(a + part_rows, file.rows), ()) for a in range(0, file.rows, part_rows)] or [(0, 0, ())]
    out, start, rows, groups = [], 0, 0, []
    for g, n in enumerate(file.row_groups):
        if groups and rows + n > part_rows:
            out.append((start, start + rows, tuple(groups)))
            start, rows, groups = start + rows, 0, []
        groups.append(g)
        rows += n
    out.append((start, start + rows, tuple(groups)))
    return out


def part_name(name: str, block: int) -> str:
    """The output part of block ``block`` of input ``name`` (its folders joined with ``__``).

    >>> part_name("2024/jan.csv", 3)
    '2024__jan.csv-00003.parquet'
    """
    return f"{name.replace(os.sep, '__').replace('/', '__')}-{block:05d}.parquet"


def units(file: InputFile, duplicates: np.ndarray, part_rows: int, run_key: str) -> list[Unit]:
    """The file's blocks as units of the run ``run_key`` (the model and options' fingerprint)."""
    out = []
    for b, (start, stop, groups) in enumerate(blocks(file, part_rows)):
        dups = tuple(int(i) - start for i in duplicates if start <= i < stop)
        key = hashlib.sha256(json.dumps([file.name, file.sha256, start, stop, dups, run_key]).encode()).hexdigest()
        out.append(Unit(file.path, file.name, file.format, file.sha256, b, start, stop, groups, dups,
                        part_name(file.name, b), key))
    return out


def read_unit(fs, unit: Unit, options: AnnotateOptions) -> pd.DataFrame:
    """The unit's rows (the input columns only); ValueError when the file is no longer the one planned."""
    if unit.format == "parquet":
        with fs.open_input_file(unit.path) as stream:
            reader = pq.ParquetFile(stream)
            table = reader.read_row_groups(list(unit.groups), columns=options.columns) if unit.groups else \
                reader.schema_arrow.empty_table().select(options.columns)
        if table.num_rows != unit.stop - unit.start:
            raise ValueError(f"it changed since the run was planned ({table.num_rows} rows in its block, "
                             f"{unit.stop - unit.start} expected)")
        # cells as Python values (None for null): a number where text belongs stays a number, a bad row
        return pd.DataFrame({c: pd.Series(table.column(c).to_pylist(), dtype=object) for c in options.columns})
    data = read_bytes(fs, unit.path)
    if hashlib.sha256(data).hexdigest() != unit.sha256:
        raise ValueError("it changed since the run was planned (another sha256)")
    return parse(data, unit.format, options.columns).iloc[unit.start:unit.stop].reset_index(drop=True)
