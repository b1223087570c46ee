"""UWE's soft late interaction over query and target tokens (``head=soft_li``)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from uwe.models.embeddings import Embeddings
from uwe.models.heads.base import HEADS, reduce_query_tokens, zero_padding
from uwe.models.heads.soft_li_space import soft_li_space_scores
from uwe.models.heads.token_space import TokenSpace
from uwe.models.heads.token_space_head import TokenSpaceHead


def soft_li_scores(
    q_tokens: torch.Tensor,
    q_mask: torch.Tensor,
    t_tokens: torch.Tensor,
    t_mask: torch.Tensor,
    tau_a: float = 0.1,
    normalize_query_tokens: bool = True,
) -> torch.Tensor:
    """``s(q, y) = sum_i sum_j A_ij C_ij`` with ``A_ij = softmax_j(<q_i, y_j> / tau_a)``, ``C_ij = cos(q_i, y_j)``.

    The attention A runs over the real TARGET tokens and uses raw dot products; i runs over the real query
    tokens. As tau_a -> 0, A_i becomes one-hot on the target token with the largest dot product, so the
    score tends to MaxSim exactly when the target tokens have equal norms (argmax of dot = argmax of cos);
    otherwise to the cosine at the largest-dot token.

    Args:
        q_tokens: [Nq, Lq, D] query token states; q_mask: [Nq, Lq] bool, True for real tokens.
        t_tokens: [Nt, Lt, D] target token states; t_mask: [Nt, Lt] bool, True for real tokens.
        tau_a: attention temperature: 0.1 in the paper's text (the default), 0.5 in its appendix.
        normalize_query_tokens: mean instead of sum over the real query tokens. The paper does not say;
            the mean is our choice (default True) because it keeps scores in [-1, 1] whatever the query
            length, so the reverse-direction loss (queries of different lengths ranked for one target) and
            the paper's loss temperatures (0.05 / 0.02, tuned for cosine-scale scores) behave. False gives
            the plain sum of the paper's formula.

    Returns:
        [Nq, Nt] scores. Every row of both masks needs at least one real token.

    Examples:
        Query token (1, 0) against target tokens (1, 0) and (0, 1) (dots 1 and 0) and a padding token.
        With tau_a = 1: A = (e, 1) / (e + 1), C = (1, 0), so s = e / (e + 1) = 0.7311.

        >>> q = torch.tensor([[[1.0, 0.0]]])
        >>> t = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [9.0, 9.0]]])
        >>> qm, tm = torch.tensor([[True]]), torch.tensor([[True, True, False]])
        >>> soft_li_scores(q, qm, t, tm, tau_a=1.0)
        tensor([[0.7311]])
        >>> soft_li_scores(q, qm, t, tm, tau_a=1e-3)  # -> MaxSim
        tensor([[1.]])
    """
    q_tokens = zero_padding(q_tokens, q_mask)
    t_tokens = zero_padding(t_tokens, t_mask)
    dot = torch.einsum("qid,tjd->qitj", q_tokens, t_tokens)
    # Scale and mask in one pass over the block (an additive -inf where the mask is False).
    mask_bias = torch.zeros_like(t_mask, dtype=dot.dtype).masked_fill(~t_mask, float("-inf"))
    attn = F.softmax(torch.add(mask_bias, dot, alpha=1.0 / tau_a), dim=-1)
    # cos = dot / (|q_i| |y_j|): one matmul serves both A and C. Padding tokens are 0, so their cos is 0.
    q_norm = q_tokens.norm(dim=-1).clamp_min(1e-12)
    t_norm = t_tokens.norm(dim=-1).clamp_min(1e-12)
    per_token = torch.einsum("qitj,qitj,tj->qit", attn, dot, 1.0 / t_norm) / q_norm[:, :, None]
    return reduce_query_tokens(per_token, q_mask, normalize_query_tokens)


# Ranker.rank's default shortlist (uwe.models.shortlist): the 2,048 best targets by pooled cosine, then exact
# soft_li on those. Against ESCO's 13,896 skills it keeps the exhaustive top 10 for >= 99% of 500 val queries
# (bench/bench_default_path.py prints the share); a space of 2,048 targets or fewer is scored whole.
DEFAULT_CANDIDATES = 2048


@HEADS.register("soft_li")
class SoftLateInteractionHead(TokenSpaceHead):
    """``soft_li_scores`` on the token states of queries and targets (UWE's head).

    Training (``forward``) scores in-batch pairs with ``soft_li_scores``. Inference (``score_chunked``) scores
    with ``soft_li_space_scores`` against the target space's real tokens grouped by length, kept per space
    (:class:`~uwe.models.heads.token_space_head.TokenSpaceHead`): the same values up to float rounding, 3-6x
    faster than chunked ``soft_li_scores`` on one CPU thread against 13,896 ESCO-sized targets, ~80% of the
    time in the query x target token GEMM that no exact method avoids (bench/bench_soft_li.py).

    Args:
        tau_a, normalize_query_tokens: as for ``soft_li_scores``.
        bf16_inference: opt-in, inference only: ``score_chunked`` multiplies tokens in bfloat16 (logits,
            softmax and scores stay float32). Fast only where bf16 matmul is native (avx512_bf16, AMX, GPUs);
            NOT exact: logits are rounded to bf16, so scores move by up to ~2e-3 (top-10 overlap ~99% on
            random states, see bench/bench_soft_li.py --bf16). For serving; reported numbers use float32.
    """

    default_candidates = DEFAULT_CANDIDATES

    def __init__(self, tau_a: float = 0.1, normalize_query_tokens: bool = True, bf16_inference: bool = False):
        super().__init__()
        self.tau_a = tau_a
        self.normalize_query_tokens = normalize_query_tokens
        self.bf16_inference = bf16_inference

    def _score_block(self, q: Embeddings, t: Embeddings) -> torch.Tensor:
        return soft_li_scores(q.tokens, q.mask, t.tokens, t.mask, self.tau_a, self.normalize_query_tokens)

    def _space_scores(self, q_tokens: torch.Tensor, q_mask: torch.Tensor, space: TokenSpace,
                      max_queries: int) -> torch.Tensor:
        return soft_li_space_scores(q_tokens, q_mask, space, self.tau_a, self.normalize_query_tokens, max_queries)

    def extra_repr(self) -> str:
        extra = ", bf16_inference=True" if self.bf16_inference else ""
        return f"tau_a={self.tau_a}, normalize_query_tokens={self.normalize_query_tokens}{extra}"
