"""Soft late interaction against a pooled target (``head=soft_li_pooled``, ConTeXT-Match style)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from uwe.models.embeddings import Embeddings
from uwe.models.heads.base import HEADS, ScoringHead, zero_padding


def soft_li_pooled_scores(
    q_tokens: torch.Tensor, q_mask: torch.Tensor, t: torch.Tensor, tau_a: float = 0.1
) -> torch.Tensor:
    """``s(q, y) = sum_i w_i cos(q_i, y)`` with ``w_i = softmax_i(<q_i, y> / tau_a)`` over real query tokens.

    The weights sum to 1, so the score is a weighted mean of token cosines and needs no normalisation.

    Args:
        q_tokens: [Nq, Lq, D] query token states; q_mask: [Nq, Lq] bool, True for real tokens.
        t: [Nt, D] pooled target vectors (the target's mean-pooled tokens, ``Embeddings.pooled``).
        tau_a: temperature of the attention over query tokens (0.1 as for ``soft_li``).

    Returns:
        [Nq, Nt] scores. Every query needs at least one real token.

    Examples:
        Query tokens (1, 0) and (0, 1) against y = (1, 0): dots 1 and 0, so with tau_a = 1
        w = (e, 1) / (e + 1) and s = w_1 * 1 + w_2 * 0 = e / (e + 1) = 0.7311; the padding token is ignored.

        >>> q = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [5.0, 5.0]]])
        >>> qm = torch.tensor([[True, True, False]])
        >>> soft_li_pooled_scores(q, qm, torch.tensor([[1.0, 0.0]]), tau_a=1.0)
        tensor([[0.7311]])
    """
    q_tokens = zero_padding(q_tokens, q_mask)
    dot = torch.einsum("qid,td->qit", q_tokens, t)
    norms = q_tokens.norm(dim=-1).clamp_min(1e-12)[:, :, None] * t.norm(dim=-1).clamp_min(1e-12)[None, None, :]
    w = F.softmax((dot / tau_a).masked_fill(~q_mask[:, :, None], float("-inf")), dim=1)
    return (w * dot / norms).sum(1)


@HEADS.register("soft_li_pooled")
class SoftLateInteractionPooledHead(ScoringHead):
    """``soft_li_pooled_scores``: query token states against the target's pooled vector."""

    needs_query_tokens = True
    needs_target_tokens = False

    def __init__(self, tau_a: float = 0.1):
        super().__init__()
        self.tau_a = tau_a

    def _score_block(self, q: Embeddings, t: Embeddings) -> torch.Tensor:
        return soft_li_pooled_scores(q.tokens, q.mask, t.pooled, self.tau_a)

    def extra_repr(self) -> str:
        return f"tau_a={self.tau_a}"
