"""The known releases of every raw file the loaders read, and the check that a data root holds them.

``known_files.json`` (next to this module) records, per source and file, the sha256, the byte size and the
row count of the published file; for an ESCO file also the official zip that holds it (its name, sha256 and
size). A file found as the zip is checked by the zip's sha256, an extracted file by its own. The sha256 is the
one the cache keys use (:func:`uwe.files.sha256_of`, memoised), so nothing is hashed twice.

A file that differs (another release, a truncated download, an edited copy) is an error naming the file,
what was expected and what was found, and the fix. With ``data.allow_unknown_versions=true`` (or
``UWE_ALLOW_UNKNOWN_DATA=1``, or ``--allow-unknown``) it is read, with one warning line, and every result
built from it is marked unverified (``results.json`` ``unverified_sources``; the printed table says so).

Regenerate after a deliberate change of release:
``python -c "from uwe.data.known_files import write_manifest; write_manifest('../shared/data')"``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pandas as pd

from uwe.data.errors import DataError
from uwe.data.readers.archive import read_member
from uwe.files import sha256_of

MANIFEST = Path(__file__).with_name("known_files.json")
ENV_VAR = "UWE_ALLOW_UNKNOWN_DATA"
FIX = ("download the official file again (see `python -m uwe.data fetch` and the README's Data section), or run "
       "it as an unknown version with data.allow_unknown_versions=true (eval.py/train.py), --allow-unknown "
       "(python -m uwe.data) or UWE_ALLOW_UNKNOWN_DATA=1: every result is then marked unverified")


class UnknownVersionError(DataError):
    """A raw file that is not a known release of it."""


def allow_unknown_from_env() -> bool:
    return os.environ.get(ENV_VAR, "").strip().lower() in ("1", "true", "yes", "on")


@lru_cache(maxsize=1)
def known() -> dict[str, dict[str, dict]]:
    """source -> file -> {sha256, bytes, rows, zip: {name, sha256, bytes} (ESCO)}."""
    return json.loads(MANIFEST.read_text(encoding="utf-8"))["sources"]


@dataclass(frozen=True)
class Mismatch:
    """A file that is not its known release: where, what was expected, what was found."""

    source: str
    file: str
    path: Path
    expected: str
    found: str

    def describe(self) -> str:
        where = self.path if self.path.name == self.file else f"{self.path}:{self.file}"
        return f"{where}: expected {self.expected}; found {self.found}"


def check_file(source: str, file: str, path: Path, sha256: str) -> Mismatch | None:
    """None when ``path`` (the file itself, or the zip holding ``file``) is the known release, else a Mismatch.

    ``sha256`` is the digest of ``path`` as already computed for cache keys. A source or file with no record
    (e.g. SkillMatch-1K, which has no public release here) is not checked.
    """
    entry = known().get(source, {}).get(file)
    if entry is None:
        return None
    size = f"{path.stat().st_size:,} bytes, sha256 {sha256[:16]}..."
    if path.suffix.lower() == ".zip":
        z = entry.get("zip")
        if z is None or z["sha256"] == sha256:
            return None
        if hashlib.sha256(read_member(path, file)).hexdigest() == entry["sha256"]:
            return None  # another zip (re-packed, renamed) holding the very same file
        expected = (f"the official zip {z['name']} ({z['bytes']:,} bytes, sha256 {z['sha256'][:16]}...) with {file} "
                    f"of {entry['rows']:,} rows")
        return Mismatch(source, file, path, expected, f"a zip of {size} with {file} of {_rows_found(path, file)}")
    if entry["sha256"] == sha256:
        return None
    expected = f"{entry['rows']:,} rows, {entry['bytes']:,} bytes, sha256 {entry['sha256'][:16]}..."
    return Mismatch(source, file, path, expected, f"{_rows_found(path, file)}, {size}")


def _rows_found(path: Path, file: str) -> str:
    """``"N rows"`` of the file found (only on the error path: it parses the file)."""
    try:
        data = read_member(path, file) if path.suffix.lower() == ".zip" else path.read_bytes()
        return f"{count_rows(file, data):,} rows"
    except Exception:  # noqa: BLE001 -- a file too broken to count is reported by its size and digest alone
        return "unreadable rows"


def count_rows(file: str, data: bytes) -> int:
    """Data rows of a raw file as the readers parse it (a parquet's rows; CSV/TSV records, quoted newlines
    inside a field counted once)."""
    if file.endswith(".parquet"):
        import pyarrow.parquet as pq

        return pq.ParquetFile(io.BytesIO(data)).metadata.num_rows
    sep = "\t" if file.endswith(".txt") else ","
    return len(pd.read_csv(io.BytesIO(data), sep=sep, dtype=str, keep_default_na=False, encoding="utf-8"))


def unknown_version_error(mismatches: list[Mismatch]) -> UnknownVersionError:
    lines = [f"{len(mismatches)} raw file(s) are not the known release:"]
    lines += [f"  - {m.describe()}" for m in mismatches]
    lines.append(f"Fix: {FIX}.")
    return UnknownVersionError("\n".join(lines))


def describe_root(root: str | os.PathLike) -> dict:
    """The manifest of the raw files under ``root`` (every file of :data:`uwe.data.root.SOURCES`)."""
    from uwe.data.root import SOURCES, locate

    root = Path(root)
    out: dict[str, dict[str, dict]] = {}
    for name, paths in locate(root, list(SOURCES)).items():
        for file, path in paths.items():
            if path.suffix.lower() == ".zip":
                data = read_member(path, file)
                entry = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data),
                         "zip": {"name": path.name, "sha256": sha256_of(path), "bytes": path.stat().st_size}}
            else:
                data = path.read_bytes()
                entry = {"sha256": sha256_of(path), "bytes": len(data)}
            entry["rows"] = count_rows(file, data)
            out.setdefault(name, {})[file] = entry
    return out


def write_manifest(root: str | os.PathLike) -> Path:
    sources = describe_root(root)
    MANIFEST.write_text(json.dumps({"about": "Known releases of the raw files (see uwe/data/known_files.py).",
                                    "sources": sources}, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    known.cache_clear()
    return MANIFEST
