"""``soft_li`` scores of queries against a whole prepared target space: the inference path of ``head=soft_li``.

Same values as :func:`uwe.models.heads.soft_li.soft_li_scores`, computed by
:func:`uwe.models.heads.space_scores.token_space_scores` with a softmax over each target's tokens (a dense
axis, since a block's targets share their length) as the per-token reduction. No gradients: training scores
with ``soft_li_scores``.
"""

from __future__ import annotations

import torch

from uwe.models.heads.space_scores import DEFAULT_QUERY_TOKENS, token_space_scores
from uwe.models.heads.token_space import TokenSpace

# Logits more than this below their target's largest are raised to it before exp: their attention weight,
# under e^-80 = 1.8e-35 of the largest token's, moves a score (a weighted mean of cosines in [-1, 1]) by under
# Lt * 1.8e-35, far below float32 and float64 resolution. Without it exp returns subnormal floats, whose
# arithmetic is 10-100x slower on x86: logits of real token states (|z| in the hundreds at tau_a = 0.1)
# made the whole batch scoring twice as slow (bench/bench_soft_li.py).
MIN_LOGIT_GAP = -80.0


def _attend(z: torch.Tensor, inv_norm: torch.Tensor, out: torch.Tensor) -> None:
    """``out[m, k] = sum_l softmax_l(z[m, l, k]) z[m, l, k] * inv_norm[l, k]``: z [Mq, L, count] the attention
    logits <q, y> / tau_a (overwritten), inv_norm [L, count] = 1 / |y|, out [Mq, count] written in place."""
    cos_scaled = z * inv_norm  # |q| cos(q, y) / tau_a
    z.sub_(z.amax(1, keepdim=True)).clamp_min_(MIN_LOGIT_GAP).exp_()  # unnormalised attention, in place
    torch.div(cos_scaled.mul_(z).sum(1), z.sum(1), out=out)


@torch.no_grad()
def soft_li_space_scores(
    q_tokens: torch.Tensor,
    q_mask: torch.Tensor,
    space: TokenSpace,
    tau_a: float = 0.1,
    normalize_query_tokens: bool = True,
    max_queries: int = 128,
    max_query_tokens: int = DEFAULT_QUERY_TOKENS,
) -> torch.Tensor:
    """``soft_li_scores(q_tokens, q_mask, t_tokens, t_mask, tau_a, normalize_query_tokens)`` for the targets
    of ``space = build_token_space(t_tokens, t_mask)``, without gradients.

    Per query q and target y, with z_ij = <q_i, y_j> / tau_a over real tokens only:
    ``s = (tau_a / n_q) sum_i (1 / |q_i|) sum_j softmax_j(z_ij) z_ij / |y_j|`` (no 1 / n_q when not
    normalising), which is ``mean_i sum_j A_ij cos(q_i, y_j)``. Memory beyond the [Nq, Nt] result is one
    [max_query_tokens, Nt] array plus a few [max_query_tokens, block tokens] ones.
    :func:`~uwe.models.heads.space_scores.token_space_scores` with :func:`_attend` per block.

    Args:
        q_tokens: [Nq, Lq, D] query token states; q_mask: [Nq, Lq] bool, True for real tokens (one per row at
            least; padding values are never read).
        space: the targets, from :func:`build_token_space`: the GEMMs run in ``space.matmul_dtype``, all else
            in ``space.dtype``.
        tau_a, normalize_query_tokens: as for ``soft_li_scores``.
        max_queries, max_query_tokens: query block limits (whichever is reached first).

    Returns:
        [Nq, space.n_targets] scores in ``space.dtype``, targets in the order given to ``build_token_space``.

    Examples:
        The ``soft_li_scores`` example: query token (1, 0) against target tokens (1, 0) and (0, 1), tau_a = 1:
        s = e / (e + 1).

        >>> from uwe.models.heads.token_space import build_token_space
        >>> space = build_token_space(torch.tensor([[[1.0, 0.0], [0.0, 1.0], [9.0, 9.0]]]),
        ...                           torch.tensor([[True, True, False]]))
        >>> soft_li_space_scores(torch.tensor([[[1.0, 0.0]]]), torch.tensor([[True]]), space, tau_a=1.0)
        tensor([[0.7311]])
    """
    return token_space_scores(q_tokens, q_mask, space, _attend, tau_a, normalize_query_tokens, max_queries,
                              max_query_tokens)
