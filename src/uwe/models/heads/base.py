"""What every scoring head shares: input checks, the masked query-token reduction, the chunked inference loop,
and :data:`HEADS`, the registry every head joins with ``@HEADS.register("<config name>")``."""

from __future__ import annotations

import torch
from torch import nn

from uwe.models.embeddings import Embeddings
from uwe.models.registry import Registry

# Queries and targets per block in ``score_chunked``. A token head's largest temporaries are a few
# [chunk, Lq, chunk, Lt] tensors: 128 x 16 x 128 x 16 floats = 16 MiB each, so the peak stays ~100-200 MiB
# however many targets are cached. On CPU, 64-128 was fastest (blocks stay in cache); a GPU may prefer more.
DEFAULT_CHUNK_SIZE = 128


def zero_padding(tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``tokens`` [N, L, D] with padding tokens (``mask`` [N, L] False) set to 0.

    ``masked_fill`` rather than a multiply, so that inf or NaN in padding cannot leak (inf * 0 is NaN).
    """
    return tokens.masked_fill(~mask.unsqueeze(-1), 0.0)


def reduce_query_tokens(per_token: torch.Tensor, q_mask: torch.Tensor, normalize: bool) -> torch.Tensor:
    """Sum (or mean, when ``normalize``) of per_token [Nq, Lq, Nt] over the real query tokens -> [Nq, Nt]."""
    mask = q_mask.unsqueeze(-1)
    total = torch.where(mask, per_token, 0.0).sum(1)
    return total / mask.sum(1).to(total.dtype) if normalize else total


class ScoringHead(nn.Module):
    """Base of the heads: ``forward`` scores all pairs for training, ``score_chunked`` does so for inference.

    Subclasses set ``needs_query_tokens`` / ``needs_target_tokens`` (the encoder and the target cache keep
    token states only where a head needs them) and implement ``_score_block`` on all pairs of two small sets.
    """

    needs_query_tokens: bool = False
    needs_target_tokens: bool = False
    # Inference block edge: small for token heads (their pair tensors grow with tokens^2), large for pooled ones.
    chunk_size: int = DEFAULT_CHUNK_SIZE
    # What ``Ranker.rank`` does by default (uwe.models.shortlist): None scores every target; "bound" scores the
    # targets a bfloat16 pooled cosine cannot rule out (exact for a pooled cosine head); N reranks the N best.
    default_candidates: int | str | None = None

    @property
    def needs_tokens(self) -> bool:
        """Whether token embeddings are needed on either side."""
        return self.needs_query_tokens or self.needs_target_tokens

    def _score_block(self, q: Embeddings, t: Embeddings) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, q: Embeddings, t: Embeddings) -> torch.Tensor:
        """Scores [Nq, Nt] of all query-target pairs, differentiable (training, in-batch scores)."""
        self._check(q, t)
        return self._score_block(q, t)

    def paired(self, q: Embeddings, t: Embeddings) -> torch.Tensor:
        """Scores [B] of the aligned pairs (q[i], t[i]), differentiable: the diagonal of ``forward(q, t)``.

        A pooled head takes that diagonal (B x B dot products are cheap); a token head scores each pair alone
        (``torch.vmap`` over its one-pair block), so B pairs cost B token-pair blocks instead of B x B (RankPO's
        steps and reference scores).
        """
        if len(q) != len(t):
            raise ValueError(f"paired scores need as many queries as targets, got {len(q)} and {len(t)}")
        self._check(q, t)
        if not self.needs_tokens:
            return self._score_block(q, t).diagonal()
        fields = [(e.pooled,) if e.tokens is None else (e.pooled, e.tokens, e.mask) for e in (q, t)]

        def one(*rows: torch.Tensor) -> torch.Tensor:
            split = len(fields[0])
            side = [Embeddings(*(x[None] for x in part)) for part in (rows[:split], rows[split:])]
            return self._score_block(*side)[0, 0]

        return torch.vmap(one)(*fields[0], *fields[1])

    @torch.no_grad()
    def score_chunked(self, q: Embeddings, t: Embeddings, chunk_size: int | None = None) -> torch.Tensor:
        """Scores [Nq, Nt] computed ``chunk_size`` queries x ``chunk_size`` targets at a time (inference).

        Equal to ``forward`` but without gradients, and the token-pair tensors of a token head never exceed
        one block, so memory stays bounded when ``t`` is a whole cached target space. Heads with a faster
        exact path for a whole space override it (``cosine``, ``soft_li``), with the same values.
        """
        chunk_size = self._resolve_chunk_size(chunk_size)
        self._check(q, t)
        dtype = torch.promote_types(q.pooled.dtype, t.pooled.dtype)
        out = torch.empty(len(q), len(t), dtype=dtype, device=q.pooled.device)
        for qs in range(0, len(q), chunk_size):
            q_block = q[qs : qs + chunk_size]
            for ts in range(0, len(t), chunk_size):
                out[qs : qs + chunk_size, ts : ts + chunk_size] = self._score_block(q_block, t[ts : ts + chunk_size])
        return out

    @torch.no_grad()
    def score_once(self, q: Embeddings, t: Embeddings) -> torch.Tensor:
        """Scores [Nq, Nt] of ``forward`` against targets seen once (e.g. a shortlist of a cached space): the
        head's fastest path that keeps nothing in its per-space memo, so the memo of the whole cached space
        survives (:mod:`uwe.models.shortlist`). Here, the plain block formula in blocks of ``chunk_size``."""
        return ScoringHead.score_chunked(self, q, t)

    @torch.no_grad()
    def score_rows(self, q: Embeddings, t: Embeddings, rows: torch.Tensor) -> torch.Tensor:
        """Scores [Nq, len(rows)] of ``q`` against targets ``t[rows]`` (a shortlist of a cached space,
        :mod:`uwe.models.shortlist`): ``score_once(q, t[rows])`` unless the head gathers less."""
        return self.score_once(q, t[rows])

    def _resolve_chunk_size(self, chunk_size: int | None) -> int:
        """``chunk_size``, or the head's default when None; ValueError below 1."""
        chunk_size = self.chunk_size if chunk_size is None else chunk_size
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        return chunk_size

    def _check(self, q: Embeddings, t: Embeddings) -> None:
        for side, emb, needed in (("query", q, self.needs_query_tokens), ("target", t, self.needs_target_tokens)):
            if not needed:
                continue
            if emb.tokens is None:
                raise ValueError(
                    f"{type(self).__name__} needs {side} token embeddings, but Embeddings.tokens is None: "
                    f"encode the {side}s with token states kept"
                )
            # A text with no real token has no score (mean over nothing, softmax over nothing).
            if not bool(emb.mask.any(1).all()):
                raise ValueError(f"{type(self).__name__}: some {side} rows have no real token (mask all False)")


HEADS: Registry[type[ScoringHead]] = Registry("head", "uwe.models.heads")
"""Config name (``head.name``, ``conf/head/<file>.yaml``) -> head class; every module of the package is imported
on the first lookup, so a head registers itself from its own file."""
