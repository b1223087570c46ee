"""Encode a target space once and keep it on disk, keyed by the encoder's weights and the exact target list.

Files in ``cache_dir`` for a space ``name`` and key K (sha256 of the encoder fingerprint and the target list):

- ``{name}.{K[:12]}.safetensors``: ``pooled`` [N, D] float32, and ``tokens`` [N, L, D] + ``mask`` [N, L] bool when
  the encoder keeps tokens. Tokens are stored as float16, which halves the disk (13,896 ESCO skills x 64
  tokens x 768 dims: 1.4 GB instead of 2.7 GB) at a relative error of about 1e-3; they are read back as float32.
- ``{name}.{K[:12]}.json``: key, encoder name, n texts, dims, created time. Written last, so its presence
  means the safetensors file is complete.

A file for ``name`` under another key is stale (the weights or the targets changed) and is refused, never
reused: delete it, or pass ``refresh=True`` to re-encode and replace it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import safetensors.torch
import torch
from safetensors import SafetensorError

from uwe.models.embeddings import Embeddings
from uwe.models.encoder import TextEncoder

log = logging.getLogger(__name__)

KEY_PREFIX = 12
TOKENS_DTYPE = torch.float16


class CacheError(RuntimeError):
    """A cache file is unreadable or does not hold what its sidecar says."""


class StaleCacheError(CacheError):
    """The cache for a space was made with other weights or another target list."""


def cache_name(space: str, encoder: TextEncoder) -> str:
    """``{space}[.tokens].{model tag}``: one cache file per space, model name and kind of embedding.

    The model tag is the encoder's name made file-safe. A pooled and a token cache of one model never meet,
    so neither refuses the other as stale; a file whose key changed under the same name (new weights behind
    a name) is stale and refused.
    """
    tag = re.sub(r"[^\w.-]+", "_", encoder.name).strip("_.") or "encoder"
    return f"{space}{'.tokens' if encoder.keep_tokens else ''}.{tag}"


def cache_key(encoder: TextEncoder, texts: list[str]) -> str:
    """sha256 hex of the encoder's fingerprint and the exact target list (order included: it is the row order)."""
    digest = hashlib.sha256(encoder.weights_fingerprint().encode())
    digest.update(json.dumps(texts, ensure_ascii=False).encode())
    return digest.hexdigest()


def load_or_encode(encoder: TextEncoder, texts: list[str], cache_dir: Path, name: str, batch_size: int = 256,
                   refresh: bool = False, show_progress: bool = True) -> Embeddings:
    """Embeddings of ``texts`` from ``cache_dir`` if cached under the current key, else encoded and cached.

    Args:
        encoder: encodes on a miss; its fingerprint is part of the key.
        texts: the target space, in the row order of the result.
        cache_dir: folder of the cache files (created if missing).
        name: the space's name (e.g. ``esco_skills``), part of the file names.
        refresh: re-encode and replace whatever is cached for ``name``.

    Returns:
        pooled [N, D], and tokens [N, L, D] + mask [N, L] when the encoder keeps tokens; a hit and the miss
        that wrote it return identical tensors (a miss returns what it wrote, read back).

    Raises:
        StaleCacheError: a file for ``name`` exists under another key and ``refresh`` is False.
        CacheError: the cached file is unreadable or inconsistent.
    """
    if not re.fullmatch(r"[\w.-]+", name):
        raise ValueError(f"cache name {name!r} must be letters, digits, '_', '.' or '-' (it becomes a file name)")
    cache_dir = Path(cache_dir)
    key = cache_key(encoder, texts)
    data = cache_dir / f"{name}.{key[:KEY_PREFIX]}.safetensors"
    own = re.compile(rf"{re.escape(name)}\.[0-9a-f]{{{KEY_PREFIX}}}\.json")
    sidecars = sorted(p for p in cache_dir.glob("*.json") if own.fullmatch(p.name))

    if refresh:
        for sidecar in sidecars:
            sidecar.unlink()
            sidecar.with_suffix(".safetensors").unlink(missing_ok=True)
            log.info("refresh: removed %s", sidecar.with_suffix(".safetensors"))
    else:
        stale = [(p, k) for p in sidecars if (k := _read_sidecar(p)["key"]) != key]
        if stale:
            listed = "\n".join(f"  {p.with_suffix('.safetensors')} (key {k})" for p, k in stale)
            raise StaleCacheError(
                f"stale cache for {name!r}: the encoder weights or the target list changed.\n{listed}\n"
                f"  current key {key}\nDelete the file(s) or pass refresh=True to re-encode and overwrite."
            )
        if sidecars:
            log.info("read cached %r from %s", name, data)
            return _read(data, len(texts))

    embeddings = encoder.encode(texts, batch_size=batch_size, show_progress=show_progress)
    _write(data, embeddings, key, encoder.name)
    log.info("cached %d texts of %r in %s", len(texts), name, data)
    return _read(data, len(texts))


def _read_sidecar(path: Path) -> dict:
    try:
        meta = json.loads(path.read_text())
        meta["key"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise CacheError(f"cache sidecar {path} is unreadable ({err!r}); delete it and its .safetensors "
                         "or pass refresh=True") from err
    return meta


def _read(path: Path, n_texts: int) -> Embeddings:
    try:
        tensors = safetensors.torch.load_file(path)
        embeddings = Embeddings(tensors["pooled"], tensors.get("tokens"), tensors.get("mask"))
        if len(embeddings) != n_texts:
            raise ValueError(f"{len(embeddings)} rows for {n_texts} texts")
    except (OSError, SafetensorError, KeyError, ValueError) as err:
        raise CacheError(f"cache file {path} is unreadable ({err!r}); delete it or pass refresh=True") from err
    if embeddings.tokens is not None:
        embeddings.tokens = embeddings.tokens.float()
    return embeddings


def _write(path: Path, embeddings: Embeddings, key: str, encoder_name: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {"pooled": embeddings.pooled.contiguous()}
    if embeddings.tokens is not None:
        tensors["tokens"] = embeddings.tokens.to(TOKENS_DTYPE).contiguous()
        tensors["mask"] = embeddings.mask.contiguous()
    meta = {
        "key": key,
        "encoder": encoder_name,
        "n_texts": len(embeddings),
        "dim": embeddings.pooled.shape[1],
        "n_tokens": None if embeddings.tokens is None else embeddings.tokens.shape[1],
        "tokens_dtype": None if embeddings.tokens is None else str(TOKENS_DTYPE),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    _atomic_write(path, lambda tmp: safetensors.torch.save_file(tensors, tmp))
    _atomic_write(path.with_suffix(".json"), lambda tmp: tmp.write_text(json.dumps(meta, indent=2)))


def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Write through a temporary sibling and rename it, so ``path`` is never half-written."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
