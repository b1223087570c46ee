"""ColBERT late interaction (``head=maxsim``): each query token takes its best-matching target token."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from uwe.models.embeddings import Embeddings
from uwe.models.heads.base import HEADS, reduce_query_tokens, zero_padding
from uwe.models.heads.space_scores import DEFAULT_QUERY_TOKENS, token_space_scores
from uwe.models.heads.token_space import TokenSpace
from uwe.models.heads.token_space_head import TokenSpaceHead


def maxsim_scores(
    q_tokens: torch.Tensor,
    q_mask: torch.Tensor,
    t_tokens: torch.Tensor,
    t_mask: torch.Tensor,
    normalize_query_tokens: bool = True,
) -> torch.Tensor:
    """MaxSim: ``s(q, y) = sum_i max_j cos(q_i, y_j)`` over real tokens (mean over i when normalising).

    Args:
        q_tokens: [Nq, Lq, D] query token states; q_mask: [Nq, Lq] bool, True for real tokens.
        t_tokens: [Nt, Lt, D] target token states; t_mask: [Nt, Lt] bool, True for real tokens.
        normalize_query_tokens: mean instead of sum over the real query tokens. True by default, unlike
            ColBERT: scores then lie in [-1, 1] whatever the query length, which the reverse-direction loss
            (queries ranked for a target, each with its own length) and the paper's loss temperatures
            (0.05 / 0.02, tuned for cosine-scale scores) need; it also matches ``soft_li``'s default, so the
            head ablation compares heads, not scales. False gives ColBERT's sum.

    Returns:
        [Nq, Nt] scores. Every row of both masks needs at least one real token.

    Examples:
        Query tokens (1, 0) and (0, 1); one target with tokens (2, 0), (1, 1) and a padding token:
        max_j cos = 1 for the first query token and 1/sqrt(2) for the second.

        >>> q = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
        >>> t = torch.tensor([[[2.0, 0.0], [1.0, 1.0], [0.0, 9.0]]])
        >>> qm, tm = torch.tensor([[True, True]]), torch.tensor([[True, True, False]])
        >>> maxsim_scores(q, qm, t, tm, normalize_query_tokens=False)
        tensor([[1.7071]])
        >>> maxsim_scores(q, qm, t, tm)
        tensor([[0.8536]])
    """
    qn = F.normalize(zero_padding(q_tokens, q_mask), dim=-1)
    tn = F.normalize(zero_padding(t_tokens, t_mask), dim=-1)
    cos = torch.einsum("qid,tjd->qitj", qn, tn)
    best = cos.masked_fill(~t_mask[None, None], float("-inf")).amax(-1)  # [Nq, Lq, Nt]
    return reduce_query_tokens(best, q_mask, normalize_query_tokens)


def _best(z: torch.Tensor, inv_norm: torch.Tensor, out: torch.Tensor) -> None:
    """``out[m, k] = max_l z[m, l, k] * inv_norm[l, k]`` (= |q_m| max_l cos(q_m, y_lk)): z [Mq, L, count] the dots
    (overwritten), inv_norm [L, count] = 1 / |y|, out [Mq, count] written in place."""
    out.copy_(z.mul_(inv_norm).amax(1))


@torch.no_grad()
def maxsim_space_scores(
    q_tokens: torch.Tensor,
    q_mask: torch.Tensor,
    space: TokenSpace,
    normalize_query_tokens: bool = True,
    max_queries: int = 128,
    max_query_tokens: int = DEFAULT_QUERY_TOKENS,
) -> torch.Tensor:
    """``maxsim_scores(q_tokens, q_mask, t_tokens, t_mask, normalize_query_tokens)`` for the targets of
    ``space = build_token_space(t_tokens, t_mask)``, without gradients: per block of target tokens one GEMM of
    the real query tokens against them, the best cosine over each target's tokens (a dense axis, since a
    block's targets share their length), then one small GEMM that averages each query's tokens
    (:func:`~uwe.models.heads.space_scores.token_space_scores`).

    Args:
        q_tokens: [Nq, Lq, D] query token states; q_mask: [Nq, Lq] bool, True for real tokens.
        space: the targets, from :func:`~uwe.models.heads.token_space.build_token_space`.
        normalize_query_tokens: as for ``maxsim_scores``.
        max_queries, max_query_tokens: query block limits (whichever is reached first).

    Returns:
        [Nq, space.n_targets] scores in ``space.dtype``, targets in the order given to ``build_token_space``.

    Examples:
        The ``maxsim_scores`` example, through a token space:

        >>> from uwe.models.heads.token_space import build_token_space
        >>> space = build_token_space(torch.tensor([[[2.0, 0.0], [1.0, 1.0], [0.0, 9.0]]]),
        ...                           torch.tensor([[True, True, False]]))
        >>> maxsim_space_scores(torch.tensor([[[1.0, 0.0], [0.0, 1.0]]]), torch.tensor([[True, True]]), space)
        tensor([[0.8536]])
    """
    return token_space_scores(q_tokens, q_mask, space, _best, 1.0, normalize_query_tokens, max_queries,
                              max_query_tokens)


@HEADS.register("maxsim")
class MaxSimHead(TokenSpaceHead):
    """``maxsim_scores`` on the token states of queries and targets.

    Training (``forward``) scores in-batch pairs with ``maxsim_scores``; inference (``score_chunked``) with
    ``maxsim_space_scores`` against the target space's real tokens grouped by length, kept per space
    (:class:`~uwe.models.heads.token_space_head.TokenSpaceHead`): the same values up to float rounding.
    """

    def __init__(self, normalize_query_tokens: bool = True):
        super().__init__()
        self.normalize_query_tokens = normalize_query_tokens

    def _score_block(self, q: Embeddings, t: Embeddings) -> torch.Tensor:
        return maxsim_scores(q.tokens, q.mask, t.tokens, t.mask, self.normalize_query_tokens)

    def _space_scores(self, q_tokens: torch.Tensor, q_mask: torch.Tensor, space: TokenSpace,
                      max_queries: int) -> torch.Tensor:
        return maxsim_space_scores(q_tokens, q_mask, space, self.normalize_query_tokens, max_queries)

    def extra_repr(self) -> str:
        return f"normalize_query_tokens={self.normalize_query_tokens}"
