"""What the token heads (``soft_li``, ``maxsim``) share at inference: a target space's real tokens grouped by
length (:func:`~uwe.models.heads.token_space.build_token_space`), built on the first call for a space and kept
while the same ``t.tokens`` and ``t.mask`` tensors come back unmodified, then scored block by block
(:func:`~uwe.models.heads.space_scores.token_space_scores`)."""

from __future__ import annotations

import torch

from uwe.models.embeddings import Embeddings
from uwe.models.heads.base import ScoringHead
from uwe.models.heads.memo import TensorMemo
from uwe.models.heads.token_space import TokenSpace, build_token_space, gather_token_space, token_rows


class TokenSpaceHead(ScoringHead):
    """A token head whose ``score_chunked`` and ``score_once`` score against a :class:`TokenSpace`.

    Subclasses give the math (``_score_block`` for training, ``_space_scores`` for inference). ``bf16_inference``
    (a subclass option) stores the space's tokens in bfloat16 for the GEMMs; scores stay in float32.
    """

    needs_query_tokens = True
    needs_target_tokens = True
    bf16_inference: bool = False

    def __init__(self):
        super().__init__()
        self._spaces = TensorMemo()
        self._rows = TensorMemo()  # per space: where its targets' real tokens are (score_rows)

    def _space_scores(self, q_tokens: torch.Tensor, q_mask: torch.Tensor, space: TokenSpace,
                      max_queries: int) -> torch.Tensor:
        """[Nq, space.n_targets] scores of ``q_tokens`` [Nq, Lq, D] (``q_mask`` [Nq, Lq]) against ``space``."""
        raise NotImplementedError

    def _matmul_dtype(self, dtype: torch.dtype) -> torch.dtype:
        return torch.bfloat16 if self.bf16_inference else dtype

    def token_space(self, t: Embeddings, dtype: torch.dtype | None = None) -> TokenSpace:
        """``build_token_space`` of ``t`` in ``dtype`` (default ``t.tokens.dtype``; bfloat16 matmuls when
        ``bf16_inference``), from memory when ``t``'s tensors were seen before."""
        dtype = t.tokens.dtype if dtype is None else dtype
        matmul_dtype = self._matmul_dtype(dtype)
        return self._spaces.get(lambda: build_token_space(t.tokens, t.mask, dtype, matmul_dtype=matmul_dtype),
                                (t.tokens, t.mask), (dtype, matmul_dtype))

    @torch.no_grad()
    def score_once(self, q: Embeddings, t: Embeddings) -> torch.Tensor:
        """``score_chunked`` against targets seen once: their token space is built and dropped, never memoised."""
        self._check(q, t)
        dtype = torch.promote_types(q.tokens.dtype, t.tokens.dtype)
        space = build_token_space(t.tokens, t.mask, dtype, matmul_dtype=self._matmul_dtype(dtype))
        return self._space_scores(q.tokens, q.mask, space, self.chunk_size)

    @torch.no_grad()
    def score_rows(self, q: Embeddings, t: Embeddings, rows: torch.Tensor) -> torch.Tensor:
        """``score_once(q, t[rows])`` reading only the real tokens of targets ``rows`` (a shortlist of a cached
        space); the index of where ``t``'s
        real tokens are is kept per space, its token blocks are not."""
        self._check(q, t)
        dtype = torch.promote_types(q.tokens.dtype, t.tokens.dtype)
        index = self._rows.get(lambda: token_rows(t.tokens, t.mask), (t.tokens, t.mask))
        space = gather_token_space(index, rows, dtype, self._matmul_dtype(dtype))
        return self._space_scores(q.tokens, q.mask, space, self.chunk_size)

    @torch.no_grad()
    def score_chunked(self, q: Embeddings, t: Embeddings, chunk_size: int | None = None) -> torch.Tensor:
        """Scores [Nq, Nt] of ``forward``, without gradients, ``chunk_size`` queries at a time (and at most
        ``space_scores.DEFAULT_QUERY_TOKENS`` real query tokens) against all of ``t``'s token blocks."""
        chunk_size = self._resolve_chunk_size(chunk_size)
        self._check(q, t)
        space = self.token_space(t, torch.promote_types(q.tokens.dtype, t.tokens.dtype))
        return self._space_scores(q.tokens, q.mask, space, chunk_size)
