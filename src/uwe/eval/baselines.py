"""Scorers that need no encoder: lexical BM25 and uniform random scores, as floors for the encoders.

Both expose ``score(queries, targets) -> [Q x T] float32``, the matrix :func:`uwe.eval.metrics.ranking_metrics`
ranks.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter

import torch

_TOKEN = re.compile(r"[^\W_]+")


def tokenize(text: str) -> list[str]:
    """Lower-case ``text`` and split it on every non-alphanumeric character (Unicode-aware; ``_`` splits too).

    >>> tokenize("Use Microsoft Office/Excel 2019, C++ & e-mail")
    ['use', 'microsoft', 'office', 'excel', '2019', 'c', 'e', 'mail']
    """
    return _TOKEN.findall(text.lower())


class BM25Scorer:
    """Okapi BM25 with targets as the documents: the scores of ``rank_bm25.BM25Okapi(...).get_scores``.

    ``rank_bm25`` scores one query at a time in Python (~170 queries/s at 13,896 ESCO skills, 7 min for
    SkillNorm's 71,538 queries), so the same formula runs here as one sparse [T x V] weight matrix times a
    chunk of query term counts (1,500-5,000 queries/s on 2 CPU cores, 15-45 s for SkillNorm). With n(t) the number of targets containing term t, N targets,
    tf(t, d) the count of t in target d, |d| its length and avgdl the mean length:

        idf(t)   = ln(N - n(t) + 0.5) - ln(n(t) + 0.5), and epsilon * mean idf where that is negative
        score(q, d) = sum over query tokens t (repeats count) of
                      idf(t) * tf(t, d) * (k1 + 1) / (tf(t, d) + k1 * (1 - b + b * |d| / avgdl))

    Query tokens absent from every target add nothing. Texts go through :func:`tokenize`.

    Args:
        k1, b, epsilon: the BM25 parameters, with ``rank_bm25``'s defaults.
        chunk_size: queries scored at a time; memory beyond the output is O(chunk_size x (V + T)).

    Example:
        >>> scores = BM25Scorer().score(["python scripts", "bake"], ["python", "bake bread", "write scripts"])
        >>> scores.shape, scores.argmax(1).tolist(), scores[1].tolist()[0]
        (torch.Size([2, 3]), [0, 1], 0.0)
    """

    def __init__(self, k1: float = 1.5, b: float = 0.75, epsilon: float = 0.25, chunk_size: int = 256):
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        self.k1, self.b, self.epsilon, self.chunk_size = k1, b, epsilon, chunk_size
        # Evaluation calls score() once per chunk of queries against the same targets: index them once.
        self._index: tuple[tuple[str, ...], dict[str, int], torch.Tensor] | None = None

    def score(self, queries: list[str], targets: list[str]) -> torch.Tensor:
        """BM25 score of every target for every query: [len(queries) x len(targets)] float32."""
        if self._index is None or self._index[0] != tuple(targets):
            self._index = (tuple(targets), *self._target_weights(targets))
        _, vocab, weights = self._index
        out = torch.empty(len(queries), len(targets))
        for lo in range(0, len(queries), self.chunk_size):
            chunk = queries[lo : lo + self.chunk_size]
            # [V x c] query term counts: a repeated query token adds its term's score again, as in rank_bm25.
            pairs = [(vocab[t], i) for i, q in enumerate(chunk) for t in tokenize(q) if t in vocab]
            counts = torch.zeros(len(vocab), len(chunk), dtype=torch.float64)
            if pairs:
                rows, cols = torch.tensor(pairs).T
                counts.index_put_((rows, cols), torch.ones(len(pairs), dtype=torch.float64), accumulate=True)
            out[lo : lo + len(chunk)] = torch.sparse.mm(weights, counts).T
        return out

    def _target_weights(self, targets: list[str]) -> tuple[dict[str, int], torch.Tensor]:
        """(term -> column, sparse [T x V] float64 per-(target, term) BM25 weights)."""
        docs = [Counter(tokenize(t)) for t in targets]
        vocab: dict[str, int] = {}
        for doc in docs:
            for term in doc:
                vocab.setdefault(term, len(vocab))
        if not vocab:
            raise ValueError(f"none of the {len(targets)} targets has a token; BM25 needs a vocabulary")
        doc_ids = torch.tensor([d for d, doc in enumerate(docs) for _ in doc])
        term_ids = torch.tensor([vocab[term] for doc in docs for term in doc])
        tf = torch.tensor([n for doc in docs for n in doc.values()], dtype=torch.float64)
        lengths = torch.tensor([doc.total() for doc in docs], dtype=torch.float64)

        n_docs = len(docs)
        df = torch.bincount(term_ids, minlength=len(vocab)).double()
        idf = torch.log(n_docs - df + 0.5) - torch.log(df + 0.5)
        # Terms in more than half of the targets would get a negative idf; rank_bm25 floors them here.
        idf = torch.where(idf < 0, self.epsilon * idf.mean(), idf)
        norm = self.k1 * (1 - self.b + self.b * lengths / lengths.mean())
        values = idf[term_ids] * tf * (self.k1 + 1) / (tf + norm[doc_ids])
        weights = torch.sparse_coo_tensor(
            torch.stack([doc_ids, term_ids]), values, size=(n_docs, len(vocab)), check_invariants=True
        )
        return vocab, weights.coalesce()


class RandomScorer:
    """Uniform [0, 1) scores, a chance-level floor.

    Each query's row comes from a torch Generator seeded with a hash of (``seed``, query text), so a row
    depends only on the seed, the query and the number of targets: scoring in chunks, in another order
    or on a sub-sample gives the same rows (one generator per call would repeat the same block in every
    chunk). Identical query strings get identical rows.

    Example:
        >>> a = RandomScorer(seed=0).score(["q1", "q2"], ["t1", "t2", "t3"])
        >>> b = RandomScorer(seed=0).score(["q2"], ["t1", "t2", "t3"])
        >>> a.shape, torch.equal(a[1], b[0])
        (torch.Size([2, 3]), True)
    """

    def __init__(self, seed: int = 0):
        self.seed = seed

    def score(self, queries: list[str], targets: list[str]) -> torch.Tensor:
        """[len(queries) x len(targets)] float32 scores, one seeded generator per query."""
        out = torch.empty(len(queries), len(targets))
        generator = torch.Generator()
        for row, query in zip(out, queries):
            # blake2b, not hash(): Python salts str hashes per process, which would break reproducibility.
            digest = hashlib.blake2b(f"{self.seed}\0{query}".encode(), digest_size=8).digest()
            generator.manual_seed(int.from_bytes(digest, "little"))
            torch.rand(len(targets), generator=generator, out=row)
        return out
