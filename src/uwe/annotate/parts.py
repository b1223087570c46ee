"""Output parts: a Parquet file per block of input rows whose footer says what it holds (the unit's key, its
input, rows and bad rows by kind), written whole or not at all. A run finds what is done by reading footers,
so a part written just before a kill counts even if ``_manifest.json`` never heard of it."""

from __future__ import annotations

import json
import os
import re

import pandas as pd
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from uwe.annotate.storage import write_whole

META_KEY = b"uwe.annotate"
_TORN = re.compile(r"\..+\.(parquet|json)\.[0-9a-f]{12}\.tmp")


def write_part(fs: pafs.FileSystem, path: str, frame: pd.DataFrame, schema: pa.Schema, meta: dict) -> None:
    """``frame`` as a Parquet part with ``meta`` in its footer, written whole (:func:`write_whole`)."""
    table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
    table = table.replace_schema_metadata({META_KEY: json.dumps(meta, sort_keys=True).encode()})
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    write_whole(fs, path, sink.getvalue().to_pybytes())


def read_meta(fs: pafs.FileSystem, path: str) -> dict | None:
    """The footer ``meta`` of a part this command wrote; None for any other file (never ours to touch)."""
    try:
        with fs.open_input_file(path) as stream:
            metadata = pq.read_schema(stream).metadata or {}
        return json.loads(metadata[META_KEY]) if META_KEY in metadata else None
    except (OSError, pa.ArrowException, ValueError):
        return None


def existing_parts(fs: pafs.FileSystem, out: str) -> dict[str, dict]:
    """The parts in ``out`` (by file name) that this command wrote, with their footers."""
    if fs.get_file_info(out).type != pafs.FileType.Directory:
        return {}
    parts = {}
    for item in fs.get_file_info(pafs.FileSelector(out)):
        name = os.path.basename(item.path)
        if item.type == pafs.FileType.File and name.endswith(".parquet") and not name.startswith("."):
            meta = read_meta(fs, item.path)
            if meta is not None:
                parts[name] = meta
    return parts


def remove_torn(fs: pafs.FileSystem, out: str) -> int:
    """Delete the temporary files a killed run left in ``out`` (``.<part>.parquet.<12 hex>.tmp``, named so by
    :func:`uwe.files.atomic_write`; readers skip them, being hidden); how many."""
    if fs.get_file_info(out).type != pafs.FileType.Directory:
        return 0
    torn = [item.path for item in fs.get_file_info(pafs.FileSelector(out))
            if _TORN.fullmatch(os.path.basename(item.path))]
    for path in torn:
        fs.delete_file(path)
    return len(torn)
