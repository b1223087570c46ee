"""ColBERT late interaction (``head=maxsim``): each query token takes its best-matching target token."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from uwe.models.embeddings import Embeddings
from uwe.models.heads.base import HEADS, ScoringHead, reduce_query_tokens, zero_padding


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


@HEADS.register("maxsim")
class MaxSimHead(ScoringHead):
    """``maxsim_scores`` on the token states of queries and targets."""

    needs_query_tokens = True
    needs_target_tokens = True

    def __init__(self, normalize_query_tokens: bool = True):
        super().__init__()
        self.normalize_query_tokens = normalize_query_tokens

    def _score_block(self, q: Embeddings, t: Embeddings) -> torch.Tensor:
        return maxsim_scores(q.tokens, q.mask, t.tokens, t.mask, self.normalize_query_tokens)

    def extra_repr(self) -> str:
        return f"normalize_query_tokens={self.normalize_query_tokens}"
