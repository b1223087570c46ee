"""The one path from a model to scores: an encoder and a head, target spaces encoded once, all on one device.

Evaluation (:class:`uwe.eval.scorers.EncoderScorer`: eval.py, ``uwe evaluate``, validation and the final test of
training) and ranking (:class:`uwe.ranker.Ranker`: ``uwe rank``, ``uwe serve``, the WorkRB adapter) both score
through a :class:`Retriever`, so a speed-up, a device or a new head lands once. Scoring (:meth:`Retriever.scores`,
what evaluation uses) is exhaustive and exact: every query against every target, by the head's own inference path
(``ScoringHead.score_chunked``: cosine's normalised-once matmul, soft_li's bucketed token space, both memoised per
cached space). :meth:`Retriever.top_k` (ranking) takes the head's fast path by default (:mod:`uwe.models.shortlist`).

Examples (a random tiny BERT: a text's own label still scores a cosine of 1):
    >>> from uwe.models.encoder import TextEncoder
    >>> from uwe.models.heads import CosineHead
    >>> retriever = Retriever(TextEncoder.from_name("tiny"), CosineHead(), cache_dir=None, show_progress=False)
    >>> retriever.encode_space("skills", ["python", "bake bread", "sql"]).labels
    ['python', 'bake bread', 'sql']
    >>> retriever.scores(["sql", "python"], "skills").shape
    torch.Size([2, 3])
    >>> [[(j, round(s, 4)) for j, s in row] for row in retriever.top_k(["sql", "python"], "skills", k=1)]
    [[(2, 1.0)], [(0, 1.0)]]
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import torch

from uwe.errors import UserError
from uwe.models.device import check_precision, resolve_device
from uwe.models.embeddings import Embeddings
from uwe.models.encoder import TextEncoder
from uwe.models.heads.base import ScoringHead
from uwe.models.space_cache import REFRESH_HINT, cache_name, load_or_encode
from uwe.models.shortlist import PooledIndex, bounded_rows, pooled_index, rerank_top_k, shortlist
from uwe.models.top_k import top_k

QUERY_CHUNK = 256  # queries encoded and scored at a time by default: scores stay [256, N targets] however many


@dataclass(frozen=True)
class Space:
    """A target space in memory: its name, labels and their embeddings on the retriever's device (row i is
    ``labels[i]``; pooled [N, D], plus tokens [N, L, D] and mask [N, L] when the head needs tokens)."""

    name: str
    labels: list[str]
    embeddings: Embeddings


class Retriever:
    """An encoder and a scoring head with target spaces encoded once and kept on one device.

    Args:
        encoder: encodes queries (by its query backend, :meth:`TextEncoder.set_backend`) and spaces (always torch).
        head: scores queries against a whole space (``score_chunked``).
        cache_dir: where spaces are cached on disk, keyed by the encoder's weights and the label list (a stale
            file is refused, see :mod:`uwe.models.space_cache`); None keeps them in memory only (validation
            during training, where the weights change every step).
        device: where encoding and scoring run (``auto``, ``cpu``, ``cuda``, ``cuda:N``), resolved once
            (:func:`uwe.models.device.resolve_device`: a GPU that is not there is an error); the encoder and
            head are moved there. None: the encoder's device, nothing moved.
        batch_size: texts per encoder batch.
        query_chunk: queries encoded and scored at a time (default of :meth:`iter_scores`), so the scores held
            at once are [query_chunk, N targets] however many queries come.
        score_chunk: the head's block size in ``score_chunked`` (None: the head's own default).
        precision: ``"32"`` (reported numbers) or ``"bf16"``: encode under bf16 autocast; such spaces stay in
            memory, never in the disk cache, which holds the float32 embeddings.
        show_progress: a progress bar while a space is encoded (never for queries).
        refresh: re-encode a space when this retriever first encodes it, replacing its cache file.
        refresh_hint: how a stale-cache error tells the user to refresh (``pass refresh=True``; eval.py says
            ``set refresh_cache=true``, the CLI ``pass --refresh``).
        backend: the encoder's query backend (``auto``, ``torch``, ``onnx``, ``onnx-int8``), set once it is on
            ``device`` by :func:`uwe.models.onnx_export.apply_backend`: ``auto`` is ONNX Runtime fp32 on the CPU
            in fp32 (exported once into ``cache_dir/onnx/``), else torch. None keeps the encoder's.

    Not thread-safe: :class:`uwe.ranker.Ranker` serialises its callers.
    """

    def __init__(self, encoder: TextEncoder, head: ScoringHead, cache_dir: str | Path | None,
                 device: str | torch.device | None = None, batch_size: int = 256, query_chunk: int = QUERY_CHUNK,
                 score_chunk: int | None = None, precision: str | int = "32", show_progress: bool = True,
                 refresh: bool = False, refresh_hint: str = REFRESH_HINT, backend: str | None = None):
        self.precision = check_precision(precision)
        if device is None:
            self.device = next(encoder.parameters()).device
        else:
            self.device = resolve_device(device)
            encoder.to(self.device)
            head.to(self.device)
        self.encoder, self.head = encoder, head
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir is not None else None
        if backend is not None:  # once on its device: ONNX Runtime runs on the CPU only
            from uwe.models.onnx_export import apply_backend

            apply_backend(encoder, backend, self.cache_dir, self.precision)
        self.batch_size, self.query_chunk, self.score_chunk = batch_size, query_chunk, score_chunk
        self.show_progress, self.refresh, self.refresh_hint = show_progress, refresh, refresh_hint
        self._spaces: dict[str, Space] = {}
        self._index: dict[str, tuple[Embeddings, PooledIndex]] = {}  # per space: its stage-one pooled vectors

    @property
    def spaces(self) -> Mapping[str, Space]:
        """The spaces in memory by name (read-only)."""
        return MappingProxyType(self._spaces)

    def space(self, name: str) -> Space:
        """Space ``name``, encoded before by :meth:`encode_space`; KeyError otherwise."""
        try:
            return self._spaces[name]
        except KeyError:
            raise KeyError(f"no space {name!r} in memory; encode_space({name!r}, labels) first") from None

    def encode_space(self, name: str, labels: list[str], refresh: bool = False) -> Space:
        """``labels`` as space ``name`` on :attr:`device`: from memory when this name already holds these labels,
        else read from the disk cache or encoded (and cached), then moved to the device once.

        Args:
            name: the space's name; with a disk cache it names the files (``{name}[.tokens].{model}.{key}``,
                :func:`uwe.models.space_cache.cache_name`), so letters, digits, ``_``, ``.`` or ``-``.
            labels: the targets, in the row order of the space.
            refresh: re-encode and replace a cached file made with other labels or weights (as does the
                retriever's own ``refresh`` the first time), instead of refusing it as stale.
        """
        labels = list(labels)
        space = self._spaces.get(name)
        if space is not None and space.labels == labels and not refresh:
            return space
        if self.cache_dir is None or self.precision != "32":
            embeddings = self.encoder.encode(labels, batch_size=self.batch_size, show_progress=self.show_progress,
                                             out_device=self.device, precision=self.precision, use_backend=False)
        else:
            embeddings = load_or_encode(self.encoder, labels, self.cache_dir, cache_name(name, self.encoder),
                                        self.batch_size, refresh=refresh or self.refresh,
                                        show_progress=self.show_progress, refresh_hint=self.refresh_hint)
        self._spaces[name] = space = Space(name, labels, embeddings.to(self.device))
        return space

    def encode_queries(self, texts: list[str], batch_size: int | None = None) -> Embeddings:
        """``texts`` encoded by the query backend at :attr:`precision`, on :attr:`device` (duplicates once), in
        batches of ``batch_size`` (default :attr:`batch_size`)."""
        return self.encoder.encode(texts, batch_size=batch_size or self.batch_size, show_progress=False,
                                   out_device=self.device, precision=self.precision)

    def iter_scores(self, queries: list[str] | Embeddings, space: str,
                    chunk: int | None = None) -> Iterator[tuple[int, torch.Tensor]]:
        """``(first query row, scores [chunk, len(space)])`` on :attr:`device`, covering every query once.

        Args:
            queries: texts, encoded ``chunk`` at a time, or queries already encoded (:meth:`encode_queries`).
            space: a space in memory (:meth:`encode_space`).
            chunk: queries per step (default :attr:`query_chunk`); bounds memory at 71,538 queries.
        """
        target = self.space(space).embeddings
        chunk = self.query_chunk if chunk is None else chunk
        for start in range(0, len(queries), chunk):
            block = queries[start:start + chunk]
            q = block if isinstance(block, Embeddings) else self.encode_queries(block)
            yield start, self.head.score_chunked(q, target, self.score_chunk)

    def scores(self, queries: list[str] | Embeddings, space: str) -> torch.Tensor:
        """Scores [len(queries), len(space)] of every query against every label of ``space``, gathered on the
        CPU a chunk at a time (a GPU holds one chunk's scores)."""
        return torch.cat([scores.cpu() for _, scores in self.iter_scores(queries, space)])

    def top_k(self, queries: list[str] | Embeddings, space: str, k: int, candidates: int | None = None,
              exhaustive: bool = False) -> list[list[tuple[int, float]]]:
        """Per query, the ``k`` (1 to ``len(space)``) best (label row, score) of ``space``: score descending,
        ties by row (:func:`uwe.models.top_k.top_k`).

        By default the head's fast path (``head.default_candidates``, :mod:`uwe.models.shortlist`): ``cosine``
        scores only the targets that a bfloat16 pooled cosine with its error bound cannot rule out, which gives
        the exhaustive top k exactly; ``soft_li`` scores its 2,048 best targets by pooled cosine (the exhaustive
        top 10 for >= 99% of val queries against ESCO's skills); other heads score every target.

        Args:
            candidates: two stages with this shortlist instead (``k`` to ``len(space)``): the head's exact scores
                on each query's ``candidates`` best targets by pooled cosine only; a target outside the
                shortlist is never returned. At ``len(space)``: every target.
            exhaustive: score every target (equal to sorting :meth:`scores`); not with ``candidates``.
        """
        n_targets = len(self.space(space).labels)
        if exhaustive and candidates is not None:
            raise UserError("pass candidates or exhaustive=True, not both")
        if candidates is not None and (isinstance(candidates, bool) or not isinstance(candidates, int)
                                       or candidates < k):
            raise UserError(f"candidates must be an integer from k={k} to {n_targets}, or None, got {candidates!r}")
        plan = None if exhaustive else candidates if candidates is not None else self.head.default_candidates
        if plan is None or (plan != "bound" and plan >= n_targets):
            ranked: list[list[tuple[int, float]]] = []
            for _, scores in self.iter_scores(queries, space):
                ranked += top_k(scores.cpu(), k)
            return ranked
        target = self.space(space).embeddings
        index = self._pooled_index(space)
        ranked = []
        for start in range(0, len(queries), self.query_chunk):
            block = queries[start:start + self.query_chunk]
            q = block if isinstance(block, Embeddings) else self.encode_queries(block)
            rows = bounded_rows(q.pooled, index, k) if plan == "bound" else shortlist(q.pooled, index, plan)
            ranked += rerank_top_k(self.head, q, target, rows, k)
        return ranked

    def _pooled_index(self, space: str) -> PooledIndex:
        """The :class:`~uwe.models.shortlist.PooledIndex` of ``space`` (stage one), built once per space."""
        target = self.space(space).embeddings
        cached = self._index.get(space)
        if cached is None or cached[0] is not target:  # re-encoded since: rebuild
            self._index[space] = cached = (target, pooled_index(target.pooled))
        return cached[1]


class RetrieverView:
    """The model of an object that scores through a :class:`Retriever` held as ``self.retriever``
    (:class:`uwe.eval.scorers.EncoderScorer`, :class:`uwe.ranker.Ranker`)."""

    retriever: Retriever

    @property
    def encoder(self) -> TextEncoder:
        return self.retriever.encoder

    @property
    def head(self) -> ScoringHead:
        return self.retriever.head

    @property
    def device(self) -> torch.device:
        """Where encoding and scoring run."""
        return self.retriever.device
