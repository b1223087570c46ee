"""Token-head scores of queries against a whole prepared target space (:mod:`uwe.models.heads.token_space`):
the inference loop that ``soft_li`` and ``maxsim`` share.

Per block of real query tokens and per length block of real target tokens, one GEMM gives every query token's
logits against the block's target tokens; the head's ``reduce_block`` turns them into one score per query token
and target (a softmax-weighted cosine for ``soft_li``, the best cosine for ``maxsim``), and one small GEMM
sums (or averages) each query's tokens. No padding and no [Nq, Lq, Nt, Lt] pair tensors; no gradients:
training scores with the heads' plain formulas.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from uwe.models.heads.token_space import TokenBlock, TokenSpace

# Real query tokens per block: 512 x 2048 target tokens of scores is 4 MiB (see token_space.DEFAULT_BLOCK_TOKENS).
DEFAULT_QUERY_TOKENS = 512

# reduce_block(z, inv_norm, out): z [Mq, L, count] the logits <q, y> / tau of Mq real query tokens against the L
# tokens of a block's targets (L >= 2; may be overwritten), inv_norm [L, count] = 1 / |y|; writes out
# [Mq, count] with each query token's score against each target, times |q| / tau. One token needs no
# reduction: its score is z * inv_norm for every head.
BlockReduce = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], None]


def query_blocks(lengths: list[int], max_queries: int, max_query_tokens: int) -> list[tuple[int, int]]:
    """Consecutive ``[start, stop)`` query ranges of at most ``max_queries`` queries and ``max_query_tokens``
    real tokens each (a query longer than that gets a block of its own).

    >>> query_blocks([3, 3, 3, 3], max_queries=10, max_query_tokens=6)
    [(0, 2), (2, 4)]
    """
    blocks, start, tokens = [], 0, 0
    for i, n in enumerate(lengths):
        if i > start and (i - start == max_queries or tokens + n > max_query_tokens):
            blocks.append((start, i))
            start, tokens = i, 0
        tokens += n
    if start < len(lengths):
        blocks.append((start, len(lengths)))
    return blocks


def _score_block(scaled: torch.Tensor, block: TokenBlock, out: torch.Tensor, reduce_block: BlockReduce) -> None:
    """One GEMM of the query tokens against ``block``'s tokens, reduced over each target's tokens into ``out``."""
    z = torch.mm(scaled, block.tokens.T).to(out.dtype)
    if block.length == 1:
        torch.mul(z, block.inv_norm, out=out)
    else:
        reduce_block(z.view(len(scaled), block.length, block.count), block.inv_norm, out)


@torch.no_grad()
def token_space_scores(
    q_tokens: torch.Tensor,
    q_mask: torch.Tensor,
    space: TokenSpace,
    reduce_block: BlockReduce,
    tau: float = 1.0,
    normalize_query_tokens: bool = True,
    max_queries: int = 128,
    max_query_tokens: int = DEFAULT_QUERY_TOKENS,
) -> torch.Tensor:
    """``s(q, y) = (1 / n_q) sum_i (tau / |q_i|) r_i(y)``, with ``r_i(y)`` what ``reduce_block`` gives for real
    query token i (scaled by 1 / tau) against target y (no 1 / n_q when not normalising).

    Args:
        q_tokens: [Nq, Lq, D] query token states; q_mask: [Nq, Lq] bool, True for real tokens (one per row at
            least; padding values are never read).
        space: the targets, from :func:`build_token_space`: the GEMMs run in ``space.matmul_dtype``, all else
            in ``space.dtype``.
        reduce_block: the head's per-token score, see :data:`BlockReduce`.
        tau: the query tokens are multiplied by 1 / tau before the GEMM (soft_li's attention temperature).
        max_queries, max_query_tokens: query block limits (whichever is reached first).

    Returns:
        [Nq, space.n_targets] scores in ``space.dtype``, targets in the order given to ``build_token_space``.
    """
    if max_queries < 1 or max_query_tokens < 1:
        raise ValueError(f"max_queries and max_query_tokens must be >= 1, got {max_queries}, {max_query_tokens}")
    if q_tokens.shape[-1] != space.dim:
        raise ValueError(f"query tokens have D={q_tokens.shape[-1]}, the target space D={space.dim}")
    n_queries, device = q_tokens.shape[0], q_tokens.device
    out = torch.empty(n_queries, space.n_targets, dtype=space.dtype, device=device)
    lengths = q_mask.sum(1)
    position = space.position.to(device)
    for start, stop in query_blocks(lengths.tolist(), max_queries, max_query_tokens):
        rows = q_tokens[start:stop][q_mask[start:stop]].to(space.dtype)  # [Mq, D] real tokens, query by query
        inv_norm = rows.norm(dim=-1).clamp_min(1e-12).reciprocal()
        per_token = torch.empty(len(rows), space.n_targets, dtype=space.dtype, device=device)
        scaled = (rows * (1.0 / tau)).to(space.matmul_dtype)
        for block in space.blocks:
            _score_block(scaled, block, per_token[:, block.start : block.start + block.count], reduce_block)
        # Sum (or mean) over each query's tokens as one GEMM with a [queries, Mq] weight matrix: contiguous
        # token segments, with tau and 1 / |q_i| folded into the weights.
        block_lengths = lengths[start:stop]
        owner = torch.repeat_interleave(torch.arange(stop - start, device=device), block_lengths)
        weight = inv_norm * tau
        if normalize_query_tokens:
            weight = weight / block_lengths[owner].to(space.dtype)
        reduce = torch.zeros(stop - start, len(rows), dtype=space.dtype, device=device)
        reduce[owner, torch.arange(len(rows), device=device)] = weight
        torch.index_select(reduce @ per_token, 1, position, out=out[start:stop])
    return out
