"""Rank texts against a cached target space in milliseconds: ``Ranker.from_pretrained(...).rank(texts, space, k)``.

A target space (a list of labels: all ESCO skills, your own taxonomy) is encoded once, kept on disk with
:func:`uwe.models.space_cache.load_or_encode` (keyed by the encoder's weights and the exact label list; a
stale file is refused) and in memory; ranking is then one encoder pass over the texts plus the head's scores
and a top-k. The encoding, the spaces and the scoring are those of :class:`uwe.models.retriever.Retriever`,
the path evaluation scores through; the ranker adds names (built-in spaces, your own), checks and a lock.

Examples (zero-shot MiniLM with cosine; a trained UWE export ranks with its own head):
    >>> from uwe import Ranker                                   # doctest: +SKIP
    >>> ranker = Ranker.from_pretrained("minilm")                # doctest: +SKIP
    >>> ranker.rank("data scientist", "esco_skills", k=3)        # doctest: +SKIP
    [[('computer science', 0.6903...), ('data analytics', 0.6281...), ('data warehouse', 0.6183...)]]
"""

from __future__ import annotations

import re
import threading
from pathlib import Path

import torch

from uwe.data.cache import default_cache_dir
from uwe.data.text import check_unicode, is_invisible, label_key
from uwe.errors import UserError
from uwe.models.encoder import TextEncoder
from uwe.models.encoder import check_texts as check_encoder_texts
from uwe.models.heads import ScoringHead
from uwe.models.load import load_model
from uwe.models.retriever import QUERY_CHUNK, Retriever, RetrieverView, Space
from uwe.models.space_cache import REFRESH_HINT
from uwe.models.top_k import top_k

__all__ = ["BUILTIN_SPACES", "QUERY_CHUNK", "Ranker", "Space", "UnknownSpaceError", "check_labels", "check_texts",
           "top_k"]

# Built-in spaces: name -> (task, split) whose target list it is. Their cache files are named after the
# task's ``target_space``, exactly as evaluation names them, so eval.py and the ranker share pooled caches.
BUILTIN_SPACES: dict[str, tuple[str, str]] = {
    "esco_skills": ("job2skill", "test"),  # 13,896 ESCO v1.1.1 skills
    "esco_occupations": ("jobnorm", "test"),  # 3,007 ESCO v1.1.1 occupations
    "onet_tech_skills": ("onet_job2skill", "test"),  # 8,768 O*NET 29.2 technology skills
}


class UnknownSpaceError(UserError, LookupError):
    """A space name that is neither built in nor added; the message lists the valid ones."""


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


class Ranker(RetrieverView):
    """Named target spaces (built in or added) over a :class:`~uwe.models.retriever.Retriever`, cached on disk
    and in memory.

    Args:
        encoder: encodes texts and labels; put in eval mode for good.
        head: scores every text against every label (``score_chunked``).
        cache_dir: where spaces are cached (default ``$UWE_CACHE_DIR`` or ``~/.cache/uwe``, as evaluation).
        data_root: the data root of the built-in spaces (default: :func:`uwe.data.root.resolve_root`).
        device: where encoding and scoring run (``auto``, ``cpu``, ``cuda``, ``cuda:N``); cached spaces are
            moved there once.
        batch_size: texts per encoder batch.
        show_progress: a progress bar while a space is encoded (never for queries).
        refresh: re-encode every space once, when first used, replacing its cache file (e.g. a stale one).
        refresh_hint: how a stale-cache error tells the user to refresh (``pass refresh=True``; the CLI says
            ``pass --refresh``).
        backend: what encodes the queries (see :meth:`from_pretrained`); None keeps the encoder's.

    Thread safety: every public method holds one re-entrant lock, so calls from many threads are serialised.
    Scoring alone would be re-entrant, but a fast tokenizer must not be shared by concurrent calls (Rust's
    "Already borrowed"), and a lazily loaded space must be encoded once. On a CPU each call already uses
    every core, so serialising costs little throughput.
    """

    def __init__(self, encoder: TextEncoder, head: ScoringHead, cache_dir: str | Path | None = None,
                 data_root: str | Path | None = None, device: str | torch.device = "cpu", batch_size: int = 256,
                 show_progress: bool = True, refresh: bool = False, refresh_hint: str = REFRESH_HINT,
                 backend: str | None = None):
        self.retriever = Retriever(encoder.eval(), head.eval(),
                                   cache_dir if cache_dir is not None else default_cache_dir(), device=device,
                                   batch_size=batch_size, query_chunk=QUERY_CHUNK, show_progress=show_progress,
                                   refresh=refresh, refresh_hint=refresh_hint, backend=backend)
        self.data_root = data_root
        # Space name -> the retriever's space: a built-in space is named after its task's target space, exactly
        # as evaluation names it, so eval.py and the ranker share its cache file.
        self._keys: dict[str, str] = {}
        self._catalog = None
        self._extractor = None  # built on the first extract()
        self._lock = threading.RLock()

    @classmethod
    def from_pretrained(cls, path_or_name: str | Path, head: str | None = None, cache_dir: str | Path | None = None,
                        device: str = "cpu", data_root: str | Path | None = None,
                        show_progress: bool = True, refresh: bool = False,
                        refresh_hint: str = REFRESH_HINT, backend: str = "auto", layers: int | None = None,
                        dim: int | None = None) -> "Ranker":
        """A ranker from a trained or a zero-shot model.

        Args:
            path_or_name: a folder written by :func:`uwe.models.export.export_model` (``uwe export``; it has
                ``uwe_head.json`` and brings its own head), a ``.ckpt`` written by train.py, or an encoder name
                for zero-shot ranking: ``minilm``, ``mpnet``, ``tiny``, a Hugging Face model folder or hub name.
            head: the head of a zero-shot encoder, by config name (default ``cosine``); not allowed with an
                export or a checkpoint.
            cache_dir, device, data_root, show_progress, refresh, refresh_hint: as for :class:`Ranker`.
            backend: what encodes the queries: ``auto`` (ONNX Runtime fp32 for every model on the CPU: the
                export folder's ``model.onnx`` when it holds these weights, else the model exported once into
                ``<cache_dir>/onnx/<weights sha256[:16]>/``, about 5 s for MiniLM, and reused; torch off the CPU,
                in bf16 or without onnxruntime; :func:`uwe.models.onnx_export.apply_backend`), ``torch``,
                ``onnx`` or ``onnx-int8`` (see :mod:`uwe.models.onnx_backend`). :meth:`describe` says which
                is in use. Spaces are always encoded by torch.
            layers, dim: rank with the model's first ``layers`` transformer layers and the first ``dim``
                dimensions of its vectors (a 2D Matryoshka view; None: the full depth, width). Spaces are cached
                per view, a cut depth gets its own ONNX file, and a view the model was not trained for logs one
                warning line (:meth:`uwe.models.encoder.TextEncoder.set_view`).
        """
        encoder, head_module = load_model(path_or_name, head, layers, dim)
        return cls(encoder, head_module, cache_dir, data_root, device, show_progress=show_progress, refresh=refresh,
                   refresh_hint=refresh_hint, backend=backend)

    @property
    def cache_dir(self) -> Path:
        """Where spaces are cached on disk."""
        return self.retriever.cache_dir

    @property
    def name(self) -> str:
        """The model's name (the encoder's), as in cache files."""
        return self.encoder.name

    def describe(self) -> dict:
        """Model name, head, pooling, max_length, depth and width in use, device and query backend, e.g. for a
        health check."""
        return {"model": self.encoder.name, "head": type(self.head).__name__, "pooling": self.encoder.pooling,
                "max_length": self.encoder.max_length, "layers": self.encoder.num_layers, "dim": self.encoder.dim,
                "device": str(self.device), "backend": self.encoder.backend}

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
            return self._encode(name, name, labels, refresh)

    def spaces(self) -> dict[str, int | None]:
        """Every space's name and size: the built-in ones (None until first used) and those added."""
        with self._lock:
            sizes: dict[str, int | None] = dict.fromkeys(BUILTIN_SPACES)
            sizes.update({name: len(self.retriever.space(key).labels) for name, key in self._keys.items()})
            return sizes

    @property
    def catalog(self):
        """The :class:`~uwe.data.catalog.Catalog` of ``data_root``: the built-in spaces and the validation data
        extraction is calibrated on."""
        with self._lock:
            if self._catalog is None:
                from uwe.data.catalog import Catalog

                self._catalog = Catalog(self.data_root)
            return self._catalog

    def space(self, name: str) -> Space:
        """Space ``name`` in memory; a built-in one is read from the data root and its cache on first use."""
        with self._lock:
            if name in self._keys:
                return self.retriever.space(self._keys[name])
            if name not in BUILTIN_SPACES:
                raise UnknownSpaceError(f"unknown space {name!r}; valid: {', '.join(sorted(self.spaces()))}")
            task = self.catalog.task(*BUILTIN_SPACES[name])
            return self._encode(name, task.target_space, task.targets, refresh=False)

    def scores(self, texts: str | list[str], space: str) -> torch.Tensor:
        """Scores [len(texts), len(space)] of every text against every label of ``space``, on the CPU."""
        texts = check_texts(texts)
        with self._lock:
            return self.retriever.scores(texts, self.space(space).name)

    def rank(self, texts: str | list[str], space: str, k: int = 10, candidates: int | None = None,
             exhaustive: bool = False) -> list[list[tuple[str, float]]]:
        """The top ``k`` (label, score) of ``space`` for each text, best first, ties by label position.

        By default the head's fast path (:meth:`uwe.models.retriever.Retriever.top_k`): ``cosine`` gives the
        exhaustive top k (scores up to float32 rounding, about 1e-7) from the labels that a bfloat16 pooled
        cosine and its error bound cannot rule out; ``soft_li`` reranks the 2,048 best labels by pooled cosine
        exactly, which kept the exhaustive top 10 for >= 99% of 500 val queries against ESCO's skills
        (``bench/bench_default_path.py``); a smaller space is scored whole. ``candidates=N`` ranks in two stages
        with another shortlist (not exhaustive, see :mod:`uwe.models.shortlist`); ``exhaustive=True`` scores
        every label, as :meth:`scores` does.

        Raises:
            ValueError: an empty text, or ``k`` outside 1..len(space).
            UnknownSpaceError: ``space`` is neither built in nor added.
        """
        texts = check_texts(texts)
        with self._lock:
            target = self._space_for_k(space, k)
            return [[(target.labels[j], score) for j, score in row]
                    for row in self.retriever.top_k(texts, target.name, k, candidates, exhaustive)]

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
            queries = self.retriever.encode_queries(texts)
            owner = [i for i, (batch, _, _) in enumerate(requests) for _ in batch]  # text row -> its request
            best: list[list[tuple[int, float]]] = [[] for _ in texts]  # per text row: its top (column, score)
            for space, target in targets.items():
                rows = [r for r, i in enumerate(owner) if requests[i][1] == space]
                k = max(k for _, name, k in requests if name == space)  # a smaller k takes a prefix
                for r, row in zip(rows, self.retriever.top_k(queries[torch.tensor(rows)], target.name, k)):
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

    def _encode(self, name: str, key: str, labels: list[str], refresh: bool) -> Space:
        """Space ``name`` as the retriever's space ``key``, which no other name of this ranker may hold."""
        owner = next((other for other, held in self._keys.items() if held == key and other != name), None)
        if owner is not None:
            raise UserError(f"spaces {owner!r} and {name!r} would share the cache name {key!r}; add yours under "
                            "another name")
        space = self.retriever.encode_space(key, labels, refresh=refresh)
        self._keys[name] = key
        return space

    def extract(self, text: str, title: str | None = None, min_prob: float | None = None, top: int | None = None,
                any_language: bool = False):
        """The ESCO skills a job ad asks for and the occupation it is, with calibrated probabilities and the
        sentences that say so (:class:`uwe.extract.Extraction`; see :meth:`uwe.extract.Extractor.extract`).

        The first call loads the model's calibration (``calibration.json`` in its export folder or the cache) or
        fits it on the local validation data and caches it; with no validation data it raises
        :class:`uwe.extract.NoCalibrationDataError` rather than make up probabilities.
        """
        with self._lock:
            if self._extractor is None:
                from uwe.extract import Extractor

                self._extractor = Extractor(self)
            return self._extractor.extract(text, title, min_prob, top, any_language)
