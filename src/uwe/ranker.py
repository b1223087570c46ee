"""Rank texts against a cached target space in milliseconds: ``Ranker.from_pretrained(...).rank(texts, space, k)``.

A target space (a list of labels: all ESCO skills, your own taxonomy) is encoded once, kept on disk with
:func:`uwe.models.space_cache.load_or_encode` (keyed by the encoder's weights and the exact label list; a
stale file is refused) and in memory; ranking is then one encoder pass over the texts plus the head's scores
and a top-k.

Examples (zero-shot MiniLM with cosine; a trained UWE export ranks with its own head):
    >>> from uwe import Ranker                                   # doctest: +SKIP
    >>> ranker = Ranker.from_pretrained("minilm")                # doctest: +SKIP
    >>> ranker.rank("data scientist", "esco_skills", k=3)        # doctest: +SKIP
    [[('computer science', 0.6903...), ('data analytics', 0.6281...), ('data warehouse', 0.6183...)]]
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path

import torch

from uwe.data.cache import default_cache_dir
from uwe.data.text import check_unicode, is_invisible, label_key
from uwe.errors import UserError
from uwe.models.embeddings import Embeddings
from uwe.models.encoder import TextEncoder
from uwe.models.encoder import check_texts as check_encoder_texts
from uwe.models.heads import ScoringHead
from uwe.models.load import load_model
from uwe.models.space_cache import REFRESH_HINT, cache_name, load_or_encode

# Built-in spaces: name -> (task, split) whose target list it is. Their cache files are named after the
# task's ``target_space``, exactly as evaluation names them, so eval.py and the ranker share pooled caches.
BUILTIN_SPACES: dict[str, tuple[str, str]] = {
    "esco_skills": ("job2skill", "test"),  # 13,896 ESCO v1.1.1 skills
    "esco_occupations": ("jobnorm", "test"),  # 3,007 ESCO v1.1.1 occupations
    "onet_tech_skills": ("onet_job2skill", "test"),  # 8,768 O*NET 29.2 technology skills
}
QUERY_CHUNK = 256  # texts encoded and scored at a time: scores stay [256, N targets] however many texts


class UnknownSpaceError(UserError, LookupError):
    """A space name that is neither built in nor added; the message lists the valid ones."""


@dataclass(frozen=True)
class Space:
    """A target space in memory: its labels and their embeddings (row i is ``labels[i]``)."""

    name: str
    labels: list[str]
    embeddings: Embeddings


def top_k(scores: torch.Tensor, k: int) -> list[list[tuple[int, float]]]:
    """Per row of ``scores`` [N, T], the ``k`` best columns as (column, score): score descending, ties by column.

    ``torch.topk`` finds the k-th best score; every column at least that good is then ordered stably, so a
    tie is broken by the lower column index even across the k-th position.

    Examples:
        >>> top_k(torch.tensor([[0.25, 0.75, 0.5, 0.75], [1.0, 0.0, 0.0, 0.0]]), 2)
        [[(1, 0.75), (3, 0.75)], [(0, 1.0), (1, 0.0)]]
    """
    kth = scores.topk(k, dim=1).values[:, -1:]
    result = []
    for row, bound in zip(scores, kth):
        columns = (row >= bound).nonzero().squeeze(1)  # ascending column order
        best = columns[row[columns].sort(descending=True, stable=True).indices[:k]]
        result.append(list(zip(best.tolist(), row[best].tolist())))
    return result


def check_labels(labels: list[str]) -> None:
    """Raise :class:`UserError` (a ValueError) unless ``labels`` is a non-empty list of strings, each with a
    visible character (not only whitespace, control or zero-width characters), valid Unicode, and unique
    after NFC normalisation and stripping (``café`` typed as NFC and as NFD is a duplicate)."""
    if isinstance(labels, str) or not isinstance(labels, (list, tuple)):
        raise UserError(f"labels must be a list of strings, got {type(labels).__name__}")
    if not labels:
        raise UserError("labels is empty: a space needs at least one label")
    seen: dict[str, int] = {}
    for i, label in enumerate(labels):
        if not isinstance(label, str):
            raise UserError(f"labels[{i}] is a {type(label).__name__}, not a str: {label!r}")
        key = label_key(label)
        if not key:
            raise UserError(f"labels[{i}] is empty ({label!r})")
        check_unicode(label, f"labels[{i}]")
        if is_invisible(key):
            raise UserError(f"labels[{i}] {label!r} has no visible character (only whitespace, control or "
                            "zero-width characters)")
        if key in seen:
            raise UserError(f"labels[{i}] {label!r} duplicates labels[{seen[key]}] {labels[seen[key]]!r} "
                            "(compared after Unicode NFC normalisation and stripping whitespace)")
        seen[key] = i


def check_texts(texts: str | list[str]) -> list[str]:
    """``texts`` as a list (one string becomes a list of one); ValueError if it is empty or holds an empty text."""
    texts = [texts] if isinstance(texts, str) else texts
    if not isinstance(texts, (list, tuple)) or not texts:
        raise UserError(f"texts must be a string or a non-empty list of strings, got {texts!r}")
    check_encoder_texts(list(texts))
    return list(texts)


class Ranker:
    """An encoder and a scoring head with target spaces cached on disk and in memory.

    Args:
        encoder: encodes texts and labels; put in eval mode for good.
        head: scores every text against every label (``score_chunked``).
        cache_dir: where spaces are cached (default ``$UWE_CACHE_DIR`` or ``~/.cache/uwe``, as evaluation).
        data_root: the data root of the built-in spaces (default: :func:`uwe.data.root.resolve_root`).
        device: where encoding and scoring run; cached spaces are moved there once.
        batch_size: texts per encoder batch.
        show_progress: a progress bar while a space is encoded (never for queries).
        refresh: re-encode every space once, when first used, replacing its cache file (e.g. a stale one).
        refresh_hint: how a stale-cache error tells the user to refresh (``pass refresh=True``; the CLI says
            ``pass --refresh``).

    Thread safety: every public method holds one re-entrant lock, so calls from many threads are serialised.
    Scoring alone would be re-entrant, but a fast tokenizer must not be shared by concurrent calls (Rust's
    "Already borrowed"), and a lazily loaded space must be encoded once. On a CPU each call already uses
    every core, so serialising costs little throughput.
    """

    def __init__(self, encoder: TextEncoder, head: ScoringHead, cache_dir: str | Path | None = None,
                 data_root: str | Path | None = None, device: str | torch.device = "cpu", batch_size: int = 256,
                 show_progress: bool = True, refresh: bool = False, refresh_hint: str = REFRESH_HINT):
        self.device = torch.device(device)
        self.encoder = encoder.to(self.device).eval()
        self.head = head.to(self.device).eval()
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
        self.data_root = data_root
        self.batch_size, self.show_progress = batch_size, show_progress
        self.refresh, self.refresh_hint = refresh, refresh_hint
        self._spaces: dict[str, Space] = {}
        self._catalog = None
        self._lock = threading.RLock()

    @classmethod
    def from_pretrained(cls, path_or_name: str | Path, head: str | None = None, cache_dir: str | Path | None = None,
                        device: str = "cpu", data_root: str | Path | None = None,
                        show_progress: bool = True, refresh: bool = False,
                        refresh_hint: str = REFRESH_HINT, backend: str = "auto") -> "Ranker":
        """A ranker from a trained or a zero-shot model.

        Args:
            path_or_name: a folder written by :func:`uwe.models.export.export_model` (``uwe export``; it has
                ``uwe_head.json`` and brings its own head), a ``.ckpt`` written by train.py, or an encoder name
                for zero-shot ranking: ``minilm``, ``mpnet``, ``tiny``, a Hugging Face model folder or hub name.
            head: the head of a zero-shot encoder, by config name (default ``cosine``); not allowed with an
                export or a checkpoint.
            cache_dir, device, data_root, show_progress, refresh, refresh_hint: as for :class:`Ranker`.
            backend: what encodes the queries: ``auto`` (ONNX Runtime when the folder has ``model.onnx``, from
                ``uwe export --onnx``, and onnxruntime is installed; else torch), ``torch``, ``onnx`` or
                ``onnx-int8`` (see :mod:`uwe.models.onnx_backend`). Spaces are always encoded by torch.
        """
        encoder, head_module = load_model(path_or_name, head)
        ranker = cls(encoder, head_module, cache_dir, data_root, device, show_progress=show_progress, refresh=refresh,
                     refresh_hint=refresh_hint)
        ranker.encoder.set_backend(backend)  # once on its device: ONNX Runtime runs on the CPU only
        return ranker

    @property
    def name(self) -> str:
        """The model's name (the encoder's), as in cache files."""
        return self.encoder.name

    def describe(self) -> dict:
        """Model name, head, pooling, max_length, device and query backend, e.g. for a health check."""
        return {"model": self.encoder.name, "head": type(self.head).__name__, "pooling": self.encoder.pooling,
                "max_length": self.encoder.max_length, "device": str(self.device), "backend": self.encoder.backend}

    def add_space(self, name: str, labels: list[str], refresh: bool = False) -> Space:
        """Encode (or load from the cache) the labels of a new space ``name`` and keep it in memory.

        Args:
            name: letters, digits, ``_``, ``.`` or ``-`` (it names the cache file); not a built-in name.
            labels: non-empty, unique after stripping whitespace; ranked results return them as given.
            refresh: re-encode and replace a cached file of ``name`` made with other labels or weights
                (without it such a file is refused with :class:`uwe.models.space_cache.StaleCacheError`).
        """
        if not isinstance(name, str) or not re.fullmatch(r"[\w.-]+", name):
            raise UserError(f"space name {name!r} must be letters, digits, '_', '.' or '-'")
        if name in BUILTIN_SPACES:
            raise UserError(f"{name!r} is a built-in space; pick another name")
        check_labels(labels)
        with self._lock:
            self._spaces[name] = self._encode_space(name, name, list(labels), refresh or self.refresh)
            return self._spaces[name]

    def spaces(self) -> dict[str, int | None]:
        """Every space's name and size: the built-in ones (None until first used) and those added."""
        with self._lock:
            sizes: dict[str, int | None] = dict.fromkeys(BUILTIN_SPACES)
            sizes.update({name: len(space.labels) for name, space in self._spaces.items()})
            return sizes

    def space(self, name: str) -> Space:
        """Space ``name`` in memory; a built-in one is read from the data root and its cache on first use."""
        with self._lock:
            if name in self._spaces:
                return self._spaces[name]
            if name not in BUILTIN_SPACES:
                raise UnknownSpaceError(f"unknown space {name!r}; valid: {', '.join(sorted(self.spaces()))}")
            if self._catalog is None:
                from uwe.data.catalog import Catalog

                self._catalog = Catalog(self.data_root)
            task = self._catalog.task(*BUILTIN_SPACES[name])
            self._spaces[name] = self._encode_space(name, task.target_space, task.targets, refresh=self.refresh)
            return self._spaces[name]

    def scores(self, texts: str | list[str], space: str) -> torch.Tensor:
        """Scores [len(texts), len(space)] of every text against every label of ``space``, on the CPU."""
        texts = check_texts(texts)
        with self._lock:
            target = self.space(space).embeddings
            return torch.cat([self._score(texts[i:i + QUERY_CHUNK], target).cpu()
                              for i in range(0, len(texts), QUERY_CHUNK)])

    def rank(self, texts: str | list[str], space: str, k: int = 10) -> list[list[tuple[str, float]]]:
        """The top ``k`` (label, score) of ``space`` for each text, best first, ties by label position.

        Raises:
            ValueError: an empty text, or ``k`` outside 1..len(space).
            UnknownSpaceError: ``space`` is neither built in nor added.
        """
        texts = check_texts(texts)
        with self._lock:
            target = self._space_for_k(space, k)
            ranked = []
            for i in range(0, len(texts), QUERY_CHUNK):
                for row in top_k(self._score(texts[i:i + QUERY_CHUNK], target.embeddings).cpu(), k):
                    ranked.append([(target.labels[j], score) for j, score in row])
            return ranked

    def rank_many(self, requests: list[tuple[list[str], str, int]]) -> list[list[list[tuple[str, float]]]]:
        """``[self.rank(texts, space, k) for texts, space, k in requests]`` with the texts of every request
        encoded in one pass and scored once per space: how the service answers requests that arrive together.

        Scores equal ``rank``'s up to float32 rounding (about 1e-6: a batch's padding and matrix shapes change
        the order of sums), so a near tie may swap. Every request is checked before any work, as ``rank``.
        """
        requests = [(check_texts(texts), space, k) for texts, space, k in requests]
        with self._lock:
            targets = {space: self._space_for_k(space, k) for _, space, k in requests}
            texts = [text for batch, _, _ in requests for text in batch]
            queries = self.encoder.encode(texts, batch_size=self.batch_size, show_progress=False).to(self.device)
            owner = [i for i, (batch, _, _) in enumerate(requests) for _ in batch]  # text row -> its request
            best: list[list[tuple[int, float]]] = [[] for _ in texts]  # per text row: its top (column, score)
            for space, target in targets.items():
                rows = [r for r, i in enumerate(owner) if requests[i][1] == space]
                k = max(k for _, name, k in requests if name == space)  # a smaller k takes a prefix
                for c in range(0, len(rows), QUERY_CHUNK):
                    chunk = rows[c:c + QUERY_CHUNK]
                    scores = self.head.score_chunked(queries[torch.tensor(chunk)], target.embeddings).cpu()
                    for r, row in zip(chunk, top_k(scores, k)):
                        best[r] = row
            ranked: list[list[list[tuple[str, float]]]] = [[] for _ in requests]
            for r, i in enumerate(owner):
                labels, k = targets[requests[i][1]].labels, requests[i][2]
                ranked[i].append([(labels[j], score) for j, score in best[r][:k]])
            return ranked

    def _space_for_k(self, space: str, k: int) -> Space:
        """Space ``space``, once ``k`` is known to be an integer from 1 to its size (else ValueError)."""
        target = self.space(space)
        n = len(target.labels)
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= n:
            raise UserError(f"k must be an integer from 1 to {n} (the size of {space!r}), got {k!r}")
        return target

    def _score(self, texts: list[str], target: Embeddings) -> torch.Tensor:
        queries = self.encoder.encode(texts, batch_size=self.batch_size, show_progress=False)
        return self.head.score_chunked(queries.to(self.device), target)

    def _encode_space(self, name: str, cache_stem: str, labels: list[str], refresh: bool) -> Space:
        embeddings = load_or_encode(self.encoder, labels, self.cache_dir, cache_name(cache_stem, self.encoder),
                                    self.batch_size, refresh=refresh, show_progress=self.show_progress,
                                    refresh_hint=self.refresh_hint)
        return Space(name, labels, embeddings.to(self.device))
