"""Encode a target space once and keep it on disk, keyed by the encoder's weights and the exact target list.

Files in ``cache_dir`` for a space ``name`` and key K (sha256 of the encoder fingerprint and the target list):

- ``{name}.{K[:12]}.safetensors``: ``pooled`` [N, D] float32, and ``tokens`` [N, L, D] + ``mask`` [N, L] bool when
  the encoder keeps tokens. Tokens are stored as float16, which halves the disk (13,896 ESCO skills x 64
  tokens x 768 dims: 1.4 GB instead of 2.7 GB) at a relative error of about 1e-3; they are read back as float32.
  Its safetensors metadata holds the full key and the sha256 of the tensors (:func:`uwe.files.arrays_digest`).
- ``{name}.{K[:12]}.json``: key, checksum, encoder name, n texts, dims, created time. Written last, so its
  presence means the safetensors file is complete.

Both are written atomically (:func:`uwe.files.atomic_write`). A file for ``name`` under another key is stale
(the weights or the targets changed) and is refused, never reused; so is a file whose own key is not the one
its name and sidecar promise (a file copied from another space) or whose tensors no longer match their
checksum (bytes changed inside it). Every refusal names the file and the fix: delete it, or refresh (Python
``refresh=True``; eval.py ``refresh_cache=true``; the ``uwe`` CLI ``--refresh``) to re-encode and replace it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from datetime import datetime, timezone
from pathlib import Path

import safetensors.torch
import torch
from safetensors import SafetensorError, safe_open

from uwe.errors import UserError
from uwe.files import arrays_digest, atomic_write
from uwe.models.embeddings import Embeddings
from uwe.models.encoder import TextEncoder

log = logging.getLogger(__name__)

KEY_PREFIX = 12
TOKENS_DTYPE = torch.float16
FORMAT = "uwe-space-cache/1"
REFRESH_HINT = "pass refresh=True"  # how a Python caller refreshes; eval.py and the CLI pass their own words


class CacheError(UserError, RuntimeError):
    """A cache file is unreadable or does not hold what its sidecar says."""


class StaleCacheError(CacheError):
    """The cache for a space was made with other weights or another target list."""


def cache_name(space: str, encoder: TextEncoder) -> str:
    """``{space}[.tokens].{model tag}``: one cache file per space, model name and kind of embedding.

    The model tag is the encoder's name made file-safe, plus ``.L{k}`` and ``.d{d}`` for a view's depth and width
    (:meth:`~uwe.models.encoder.TextEncoder.set_view`). A pooled and a token cache of one model never meet, nor
    do two views of it, so neither refuses the other as stale; a file whose key changed under the same name
    (new weights behind a name) is stale and refused.
    """
    tag = re.sub(r"[^\w.-]+", "_", encoder.name).strip("_.") or "encoder"
    view = "".join(f".{mark}{value}" for mark, value in (("L", encoder.view_layers), ("d", encoder.view_dim))
                   if value is not None)
    return f"{space}{'.tokens' if encoder.keep_tokens else ''}.{tag}{view}"


def cache_key(encoder: TextEncoder, texts: list[str]) -> str:
    """sha256 hex of the encoder's fingerprint and the exact target list (order included: it is the row order)."""
    digest = hashlib.sha256(encoder.weights_fingerprint().encode())
    digest.update(json.dumps(texts, ensure_ascii=False).encode())
    return digest.hexdigest()


def load_or_encode(encoder: TextEncoder, texts: list[str], cache_dir: Path, name: str, batch_size: int = 256,
                   refresh: bool = False, show_progress: bool = True,
                   refresh_hint: str = REFRESH_HINT) -> Embeddings:
    """Embeddings of ``texts`` from ``cache_dir`` if cached under the current key, else encoded and cached.

    Args:
        encoder: encodes on a miss; its fingerprint is part of the key.
        texts: the target space, in the row order of the result.
        cache_dir: folder of the cache files (created if missing).
        name: the space's name (e.g. ``esco_skills``), part of the file names.
        refresh: re-encode and replace whatever is cached for ``name``.
        refresh_hint: how the caller's user asks for ``refresh``, as the errors should say it (``pass
            refresh=True`` by default; eval.py says ``set refresh_cache=true``, the CLI ``pass --refresh``).

    Returns:
        pooled [N, D], and tokens [N, L, D] + mask [N, L] when the encoder keeps tokens; a hit and the miss
        that wrote it return identical tensors (a miss returns what it wrote, read back).

    Raises:
        StaleCacheError: a file for ``name`` exists under another key and ``refresh`` is False.
        CacheError: the cached file is unreadable, holds another key or fails its checksum.
    """
    if not re.fullmatch(r"[\w.-]+", name):
        raise UserError(f"cache name {name!r} must be letters, digits, '_', '.' or '-' (it becomes a file name)")
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
        stale = [(p, k) for p in sidecars if (k := _read_sidecar(p, refresh_hint)["key"]) != key]
        if stale:
            listed = "\n".join(f"  {p.with_suffix('.safetensors')} (key {k})" for p, k in stale)
            raise StaleCacheError(
                f"stale cache for {name!r}: the encoder weights or the target list changed.\n{listed}\n"
                f"  current key {key}\nDelete the file(s) or {refresh_hint} to re-encode and overwrite."
            )
        if sidecars:
            log.info("read cached %r from %s", name, data)
            return _read(data, len(texts), key, refresh_hint)

    # The torch model whatever the query backend: a space is encoded once, and its cache is the reference.
    embeddings = encoder.encode(texts, batch_size=batch_size, show_progress=show_progress, use_backend=False)
    _write(data, embeddings, key, encoder.name)
    log.info("cached %d texts of %r in %s", len(texts), name, data)
    return _read(data, len(texts), key, refresh_hint)


def _read_sidecar(path: Path, refresh_hint: str = REFRESH_HINT) -> dict:
    try:
        meta = json.loads(path.read_text())
        meta["key"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise CacheError(f"cache sidecar {path} is unreadable ({err!r}); delete it and its .safetensors "
                         f"or {refresh_hint}") from err
    return meta


def _read(path: Path, n_texts: int, key: str, refresh_hint: str = REFRESH_HINT) -> Embeddings:
    """The embeddings in ``path``, after checking that it holds ``key``'s space intact."""
    fix = f"delete it or {refresh_hint} to re-encode it"
    try:
        with safe_open(path, "pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
        embeddings = Embeddings(tensors["pooled"], tensors.get("tokens"), tensors.get("mask"))
        if len(embeddings) != n_texts:
            raise ValueError(f"{len(embeddings)} rows for {n_texts} texts")
    except (OSError, SafetensorError, KeyError, ValueError) as err:
        raise CacheError(f"cache file {path} is unreadable ({err!r}); {fix}") from err
    if meta.get("format") != FORMAT or "sha256" not in meta:
        raise CacheError(f"cache file {path} has no checksum (written by an older uwe or another program); {fix}")
    if meta.get("key") != key:
        raise CacheError(f"cache file {path} holds the space of key {meta.get('key')}, not {key} (a file copied or "
                         f"renamed from another space?); {fix}")
    if _digest(tensors) != meta["sha256"]:
        raise CacheError(f"cache file {path} is corrupt: its tensors do not match their checksum (bytes changed "
                         f"after it was written); {fix}")
    # Own memory, not the file's mapping: what was verified stays what is used, whatever later happens to the file.
    embeddings.pooled = embeddings.pooled.clone()
    if embeddings.tokens is not None:
        embeddings.tokens = embeddings.tokens.float()  # a copy (stored as float16)
        embeddings.mask = embeddings.mask.clone()
    return embeddings


def _digest(tensors: dict[str, torch.Tensor]) -> str:
    return arrays_digest({k: v.numpy() for k, v in tensors.items()}, FORMAT)


def _write(path: Path, embeddings: Embeddings, key: str, encoder_name: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {"pooled": embeddings.pooled.detach().cpu().contiguous()}
    if embeddings.tokens is not None:
        tensors["tokens"] = embeddings.tokens.detach().cpu().to(TOKENS_DTYPE).contiguous()
        tensors["mask"] = embeddings.mask.cpu().contiguous()
    digest = _digest(tensors)
    meta = {
        "key": key,
        "sha256": digest,
        "encoder": encoder_name,
        "n_texts": len(embeddings),
        "dim": embeddings.pooled.shape[1],
        "n_tokens": None if embeddings.tokens is None else embeddings.tokens.shape[1],
        "tokens_dtype": None if embeddings.tokens is None else str(TOKENS_DTYPE),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    header = {"format": FORMAT, "key": key, "sha256": digest}
    atomic_write(path, lambda tmp: safetensors.torch.save_file(tensors, tmp, metadata=header))
    atomic_write(path.with_suffix(".json"), lambda tmp: tmp.write_text(json.dumps(meta, indent=2)))
