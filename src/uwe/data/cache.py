"""On-disk cache of built tasks and graphs, keyed by source file hashes and the protocol version."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import pickle
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from uwe.data import PROTOCOL

log = logging.getLogger(__name__)

# Bump when a builder changes what it produces from the same files: old entries then miss, never mislead.
BUILD_VERSION = 1
ENV_VAR = "UWE_CACHE_DIR"

T = TypeVar("T")


def default_cache_dir() -> Path:
    return Path(os.environ.get(ENV_VAR) or Path.home() / ".cache" / "uwe").expanduser()


def cache_key(kind: str, name: str, versions: dict[str, str], **options) -> str:
    """sha256 over protocol, build version, what is built, every source's file hashes and options."""
    payload = {"protocol": PROTOCOL, "build": BUILD_VERSION, "kind": kind, "name": name, "sources": versions, **options}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def cached(cls: type[T], path: Path | None, build: Callable[[], T]) -> T:
    """Load ``path`` (a pickled dict of ``cls``'s fields) or build, then write atomically.

    ``path=None`` disables the cache. An unreadable entry is rebuilt and replaced, with a warning naming it.
    """
    if path is not None and path.is_file():
        try:
            with open(path, "rb") as f:
                return cls(**pickle.load(f))
        except Exception as e:  # a torn or foreign file is rebuilt, never trusted
            log.warning("cache entry %s is unreadable (%s); rebuilding it", path, e)
    obj = build()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fields = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            pickle.dump(fields, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    return obj
