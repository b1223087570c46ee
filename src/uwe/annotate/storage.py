"""Where inputs are read and parts written: a local path or any URI pyarrow's file systems take (``s3://``,
``gs://``, ``hdfs://``), the file systems Ray Data reads too.

A part is written whole or not at all: on a local disk through a fsynced temporary sibling renamed into place
(:func:`uwe.files.atomic_write`); on an object store an object appears only when its upload completes.
"""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow.fs as pafs

from uwe.errors import UserError
from uwe.files import atomic_write

FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}


def filesystem(uri: str) -> tuple[pafs.FileSystem, str]:
    """The file system of ``uri`` and the path on it (a local path made absolute)."""
    if "://" not in str(uri):
        return pafs.LocalFileSystem(), os.path.abspath(uri)
    try:
        return pafs.FileSystem.from_uri(str(uri))
    except Exception as err:  # pyarrow raises ArrowInvalid / OSError / ValueError for a scheme it cannot open
        raise UserError(f"cannot open {uri}: {err}; give a local path or a URI pyarrow reads (s3://, gs://, hdfs://)")


def input_format(path: str) -> str | None:
    """``parquet``, ``csv`` or ``jsonl`` by the file's extension; None for another file."""
    return FORMATS.get(os.path.splitext(path)[1].lower())


def list_inputs(fs: pafs.FileSystem, path: str, uri: str) -> tuple[list[str], list[str]]:
    """The input files under ``path`` (itself when it is a file), sorted, and the other files skipped.

    Names starting with ``_`` or ``.`` (``_SUCCESS``, ``.crc``, a part being written) are not data and are not
    listed."""
    info = fs.get_file_info(path)
    if info.type == pafs.FileType.NotFound:
        raise UserError(f"INPUT {uri} does not exist: give a Parquet, CSV or JSONL file, or a folder of them")
    if info.type == pafs.FileType.File:
        if input_format(path) is None:
            raise UserError(f"INPUT {uri} is not a .parquet, .csv or .jsonl file: convert it, or name its format by "
                            "its extension")
        return [path], []
    found, skipped = [], []
    for item in fs.get_file_info(pafs.FileSelector(path, recursive=True)):
        rel = os.path.relpath(item.path, path)
        if item.type != pafs.FileType.File or any(part[:1] in "_." for part in rel.split(os.sep)):
            continue
        (found if input_format(item.path) else skipped).append(item.path)
    return sorted(found), sorted(skipped)


def read_bytes(fs: pafs.FileSystem, path: str) -> bytes:
    with fs.open_input_stream(path) as stream:
        return stream.readall()


def write_whole(fs: pafs.FileSystem, path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a reader sees the old file (or none) or all of ``data``."""
    if isinstance(fs, pafs.LocalFileSystem):
        atomic_write(Path(path), lambda tmp: tmp.write_bytes(data))
        return
    fs.create_dir(os.path.dirname(path), recursive=True)
    with fs.open_output_stream(path) as stream:
        stream.write(data)
