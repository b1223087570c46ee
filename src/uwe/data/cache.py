"""On-disk cache of built tasks and graphs, keyed by source file hashes and the protocol version.

An entry is one safetensors file: data, never code (nothing in it is unpickled or executed). Its arrays hold
the dataclass's lists (strings as UTF-8 bytes plus lengths, lists of ints flattened plus lengths, arrays as
they are); its metadata holds the format, the entry's full key, the other fields as JSON and the sha256 of
all of it (:func:`uwe.files.arrays_digest`). Reading checks the format, the key and the checksum: a file of
another entry under this entry's name, a torn file, bytes changed inside it or a foreign file is rebuilt and
replaced, with one warning line naming it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import typing
from collections.abc import Callable
from itertools import chain
from pathlib import Path
from typing import TypeVar

import numpy as np
import safetensors.numpy
from safetensors import safe_open

from uwe.data import PROTOCOL
from uwe.files import arrays_digest, atomic_write

log = logging.getLogger(__name__)

# Bump when a builder changes what it produces from the same files: old entries then miss, never mislead.
BUILD_VERSION = 1
ENV_VAR = "UWE_CACHE_DIR"
FORMAT = "uwe-data-cache/1"
SUFFIX = ".safetensors"

T = TypeVar("T")


class CacheEntryError(ValueError):
    """A cache file that is not this entry, or not whole: it is rebuilt, never used."""


def default_cache_dir() -> Path:
    return Path(os.environ.get(ENV_VAR) or Path.home() / ".cache" / "uwe").expanduser()


def cache_key(kind: str, name: str, versions: dict[str, str], **options) -> str:
    """sha256 over protocol, build version, what is built, every source's file hashes and options."""
    payload = {"protocol": PROTOCOL, "build": BUILD_VERSION, "kind": kind, "name": name, "sources": versions, **options}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def cached(cls: type[T], path: Path | None, key: str, build: Callable[[], T]) -> T:
    """The ``cls`` stored at ``path`` under ``key``, or ``build()``, then written there atomically.

    ``path=None`` disables the cache. A file that does not hold ``key``'s entry intact (see the module
    docstring) is rebuilt and replaced, with one warning line naming it.
    """
    if path is not None and path.is_file():
        try:
            return read_entry(cls, path, key)
        except Exception as err:  # noqa: BLE001 -- whatever is wrong with the file, it is rebuilt, never trusted
            reason = " ".join(str(err).split()) or type(err).__name__
            log.warning("cache entry %s: %s; rebuilding it", path, reason)
    obj = build()
    if path is not None:
        write_entry(obj, path, key)
    return obj


def write_entry(obj, path: Path, key: str) -> None:
    """Write the dataclass ``obj`` to ``path`` (atomically) with ``key`` and its checksum."""
    arrays, fields = _encode(obj)
    fields_json = json.dumps(fields, ensure_ascii=False, sort_keys=True)
    metadata = {"format": FORMAT, "kind": type(obj).__name__, "key": key, "fields": fields_json,
                "sha256": arrays_digest(arrays, _digest_header(key, type(obj).__name__, fields_json))}
    atomic_write(path, lambda tmp: safetensors.numpy.save_file(arrays, tmp, metadata=metadata))


def read_entry(cls: type[T], path: Path, key: str) -> T:
    """The ``cls`` in ``path``; :class:`CacheEntryError` (or the reader's error) unless it is ``key``'s, intact."""
    with safe_open(path, "np") as f:
        metadata = f.metadata() or {}
        arrays = {name: f.get_tensor(name) for name in f.keys()}
    if metadata.get("format") != FORMAT:
        raise CacheEntryError(f"not a uwe data cache file (format {metadata.get('format')!r}, expected {FORMAT!r})")
    if metadata.get("kind") != cls.__name__ or metadata.get("key") != key:
        raise CacheEntryError(f"holds another entry ({metadata.get('kind')} key {str(metadata.get('key'))[:16]}..., "
                              f"expected {cls.__name__} key {key[:16]}...)")
    fields_json = metadata.get("fields", "")
    if arrays_digest(arrays, _digest_header(key, cls.__name__, fields_json)) != metadata.get("sha256"):
        raise CacheEntryError("checksum mismatch: its content changed after it was written")
    return _decode(cls, arrays, json.loads(fields_json))


def _digest_header(key: str, kind: str, fields_json: str) -> str:
    return f"{FORMAT}\n{kind}\n{key}\n{fields_json}"


def _encode(obj) -> tuple[dict[str, np.ndarray], dict]:
    """Arrays for the list and array fields (by their type hints), JSON values for the others."""
    hints = typing.get_type_hints(type(obj))
    arrays: dict[str, np.ndarray] = {}
    fields: dict = {}
    for field in dataclasses.fields(obj):
        value, hint = getattr(obj, field.name), hints[field.name]
        if hint == list[str]:
            text = "".join(value)
            arrays[f"{field.name}.text"] = np.frombuffer(text.encode("utf-8", "surrogatepass"), dtype=np.uint8)
            arrays[f"{field.name}.lengths"] = np.fromiter(map(len, value), dtype=np.int64, count=len(value))
        elif hint == list[list[int]]:
            arrays[f"{field.name}.values"] = np.fromiter(chain.from_iterable(value), dtype=np.int64)
            arrays[f"{field.name}.lengths"] = np.fromiter(map(len, value), dtype=np.int64, count=len(value))
        elif hint is np.ndarray:
            arrays[field.name] = np.ascontiguousarray(value)
        else:
            fields[field.name] = value
    return arrays, fields


def _decode(cls: type[T], arrays: dict[str, np.ndarray], fields: dict) -> T:
    hints = typing.get_type_hints(cls)
    values = dict(fields)
    for field in dataclasses.fields(cls):
        hint = hints[field.name]
        if hint == list[str]:
            text = arrays[f"{field.name}.text"].tobytes().decode("utf-8", "surrogatepass")
            ends = np.cumsum(arrays[f"{field.name}.lengths"]).tolist()
            if (ends[-1] if ends else 0) != len(text):
                raise CacheEntryError(f"field {field.name}: lengths do not add up to its text")
            values[field.name] = [text[a:b] for a, b in zip([0] + ends[:-1], ends)]
        elif hint == list[list[int]]:
            flat = arrays[f"{field.name}.values"].tolist()
            ends = np.cumsum(arrays[f"{field.name}.lengths"]).tolist()
            if (ends[-1] if ends else 0) != len(flat):
                raise CacheEntryError(f"field {field.name}: lengths do not add up to its values")
            values[field.name] = [flat[a:b] for a, b in zip([0] + ends[:-1], ends)]
        elif hint is np.ndarray:
            values[field.name] = np.array(arrays[field.name])  # writable, owning its memory
    return cls(**values)
