"""``soft_li`` scores of queries against a whole prepared target space: the inference path of ``head=soft_li``.

Same values as :func:`uwe.models.heads.soft_li.soft_li_scores`, computed without padding and without the
[Nq, Lq, Nt, Lt] pair tensors: per block of target tokens one GEMM of the real query tokens against the
block's real target tokens, then a softmax over each target's tokens (a dense axis, since a block's targets
share their length), then one small GEMM that sums each query's tokens. No gradients: training scores with
``soft_li_scores``.
"""

from __future__ import annotations

import torch

from uwe.models.heads.token_space import TokenBlock, TokenSpace

# Real query tokens per block: 512 x 2048 target tokens of scores is 4 MiB (see token_space.DEFAULT_BLOCK_TOKENS).
DEFAULT_QUERY_TOKENS = 512
# Logits more than this below their target's largest are raised to it before exp: their attention weight,
# under e^-80 = 1.8e-35 of the largest token's, moves a score (a weighted mean of cosines in [-1, 1]) by under
# Lt * 1.8e-35, far below float32 and float64 resolution. Without it exp returns subnormal floats, whose
# arithmetic is 10-100x slower on x86: logits of real token states (|z| in the hundreds at tau_a = 0.1)
# made the whole batch scoring twice as slow (bench/bench_soft_li.py).
MIN_LOGIT_GAP = -80.0


def _attend(scaled: torch.Tensor, block: TokenBlock, out: torch.Tensor) -> None:
    """``out[m, k] = sum_l softmax_l(z[m, l, k]) z[m, l, k] / |y_lk|`` with ``z = scaled @ block.tokens.T``.

    Args:
        scaled: [Mq, D] real query tokens divided by tau_a, so z is the attention logit <q, y> / tau_a; in
            ``block.tokens.dtype``.
        block: its targets' L tokens; z is viewed [Mq, L, count] and reduced over L.
        out: [Mq, count] (a view into the scores of every block) written in place; z is computed in its dtype.
    """
    z = torch.mm(scaled, block.tokens.T).to(out.dtype)
    if block.length == 1:  # softmax over one token is 1
        torch.mul(z, block.inv_norm, out=out)
        return
    z = z.view(len(scaled), block.length, block.count)
    cos_scaled = z * block.inv_norm  # |q| cos(q, y) / tau_a
    z.sub_(z.amax(1, keepdim=True)).clamp_min_(MIN_LOGIT_GAP).exp_()  # unnormalised attention, in place
    torch.div(cos_scaled.mul_(z).sum(1), z.sum(1), out=out)


def _query_blocks(lengths: list[int], max_queries: int, max_query_tokens: int) -> list[tuple[int, int]]:
    """Consecutive ``[start, stop)`` query ranges of at most ``max_queries`` queries and ``max_query_tokens``
    real tokens each (a query longer than that gets a block of its own)."""
    blocks, start, tokens = [], 0, 0
    for i, n in enumerate(lengths):
        if i > start and (i - start == max_queries or tokens + n > max_query_tokens):
            blocks.append((start, i))
            start, tokens = i, 0
        tokens += n
    if start < len(lengths):
        blocks.append((start, len(lengths)))
    return blocks


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
    if max_queries < 1 or max_query_tokens < 1:
        raise ValueError(f"max_queries and max_query_tokens must be >= 1, got {max_queries}, {max_query_tokens}")
    if q_tokens.shape[-1] != space.dim:
        raise ValueError(f"query tokens have D={q_tokens.shape[-1]}, the target space D={space.dim}")
    n_queries, device = q_tokens.shape[0], q_tokens.device
    out = torch.empty(n_queries, space.n_targets, dtype=space.dtype, device=device)
    lengths = q_mask.sum(1)
    position = space.position.to(device)
    for start, stop in _query_blocks(lengths.tolist(), max_queries, max_query_tokens):
        rows = q_tokens[start:stop][q_mask[start:stop]].to(space.dtype)  # [Mq, D] real tokens, query by query
        inv_norm = rows.norm(dim=-1).clamp_min(1e-12).reciprocal()
        per_token = torch.empty(len(rows), space.n_targets, dtype=space.dtype, device=device)
        scaled = (rows * (1.0 / tau_a)).to(space.matmul_dtype)
        for block in space.blocks:
            _attend(scaled, block, per_token[:, block.start : block.start + block.count])
        # Sum (or mean) over each query's tokens as one GEMM with a [queries, Mq] weight matrix: contiguous
        # token segments, with tau_a and 1 / |q_i| folded into the weights.
        block_lengths = lengths[start:stop]
        owner = torch.repeat_interleave(torch.arange(stop - start, device=device), block_lengths)
        weight = inv_norm * tau_a
        if normalize_query_tokens:
            weight = weight / block_lengths[owner].to(space.dtype)
        reduce = torch.zeros(stop - start, len(rows), dtype=space.dtype, device=device)
        reduce[owner, torch.arange(len(rows), device=device)] = weight
        torch.index_select(reduce @ per_token, 1, position, out=out[start:stop])
    return out
