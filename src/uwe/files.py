"""Files that are whole or absent, and checksums of what they hold: the two guarantees every uwe cache and
checkpoint file rests on.

- :func:`atomic_write` writes through a unique temporary sibling, fsyncs it and renames it into place: a crash,
  a full disk or a failing writer leaves the old file (or none) and no temporary behind.
- :func:`arrays_digest` is the sha256 of named arrays and a text header, recorded inside a cache file when it
  is written and recomputed when it is read, so bytes changed inside the file are caught, not used.
- :func:`sha256_of` is the sha256 of a whole file, memoised by path, size and mtime, so a raw export, an
  encoder's weights or a checkpoint is hashed once per process and an edited file is hashed anew.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable, Mapping
from functools import lru_cache
from pathlib import Path

import numpy as np


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a fresh file ``tmp`` in ``path``'s folder, fsync it and rename it to ``path``.

    ``tmp`` is ``.<name>.<random>.tmp``: unique per call (two writers never share one) and never a name a user
    picked. On any error, ``tmp`` is removed and ``path`` is untouched. The folder is created if missing.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        with open(tmp, "xb"):  # claims the name; the permissions follow the umask like any new file
            pass
        write(tmp)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)
    return path


def _fsync_folder(folder: Path) -> None:
    """Make the rename durable; a file system that cannot sync folders is left as it is."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def arrays_digest(arrays: Mapping[str, np.ndarray], header: str = "") -> str:
    """sha256 hex of ``header`` and every array's name, dtype, shape and bytes, in name order.

    Examples:
        >>> a = {"x": np.arange(3, dtype=np.int64)}
        >>> arrays_digest(a) == arrays_digest({"x": np.array([0, 1, 2], dtype=np.int64)})
        True
        >>> arrays_digest(a) == arrays_digest({"x": np.array([0, 1, 3], dtype=np.int64)})
        False
        >>> arrays_digest(a) == arrays_digest(a, header="{}")
        False
    """
    digest = hashlib.sha256(header.encode("utf-8", "surrogatepass"))
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"\n{name}|{array.dtype.str}|{list(array.shape)}\n".encode())
        digest.update(array.reshape(-1).view(np.uint8).data if array.size else b"")
    return digest.hexdigest()


@lru_cache(maxsize=None)
def _file_sha256(path: Path, size: int, mtime_ns: int) -> str:
    # size and mtime are part of the memo key so an edited file is hashed anew
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_of(path: str | Path) -> str:
    """sha256 hex of the file at ``path``, memoised by (path, size, mtime)."""
    path = Path(path)
    st = path.stat()
    return _file_sha256(path, st.st_size, st.st_mtime_ns)
