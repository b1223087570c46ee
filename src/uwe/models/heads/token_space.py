"""A target space's real tokens, grouped by target length into dense blocks (built once per space).

Padding never enters: a target with L real tokens sits in a block of targets that all have L real tokens,
so a softmax over a target's tokens is a plain reduction over one axis of a dense tensor.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

# Target tokens per block: a block's logits for 512 query tokens are 512 x 2048 floats (4 MiB). On the 2-core
# AVX-512 CPU, 512-4096 were within ~10% of each other for a batch (the GEMM dominates) and 2048-4096 ~10%
# faster than 512-1024 for a single query (fewer small kernels per target space).
DEFAULT_BLOCK_TOKENS = 2048


@dataclass(frozen=True)
class TokenBlock:
    """Targets ``start .. start + count`` (in ``TokenSpace`` order), all with ``length`` real tokens.

    Attributes:
        length: L, the real token count of every target here.
        tokens: [L * count, D] position-major: row ``l * count + k`` is token l of the block's k-th target, so
            the scores of one query token against the block reshape to [L, count] without a copy.
        inv_norm: [L, count] 1 / |token| (norms clamped at 1e-12, as ``soft_li_scores``).
        start: the block's first column in ``TokenSpace`` order.
    """

    length: int
    tokens: torch.Tensor
    inv_norm: torch.Tensor
    start: int

    @property
    def count(self) -> int:
        """Targets in the block."""
        return self.inv_norm.shape[1]


@dataclass(frozen=True)
class TokenSpace:
    """The real tokens of ``n_targets`` targets, sorted by length (stably) into ``blocks``.

    Attributes:
        blocks: cover columns ``0 .. n_targets`` in order, without gaps.
        position: [n_targets] long: target i (input order) is column ``position[i]`` of the block order, so
            ``scores_in_block_order[:, position]`` puts scores back in input order.
        dtype: of the norms, the logits and the scores.
        matmul_dtype: of the blocks' tokens (``dtype`` unless built with a lower one, e.g. bfloat16).
    """

    blocks: tuple[TokenBlock, ...]
    position: torch.Tensor
    n_targets: int
    dim: int
    dtype: torch.dtype
    matmul_dtype: torch.dtype
    device: torch.device


@torch.no_grad()
def build_token_space(
    tokens: torch.Tensor,
    mask: torch.Tensor,
    dtype: torch.dtype | None = None,
    block_tokens: int = DEFAULT_BLOCK_TOKENS,
    matmul_dtype: torch.dtype | None = None,
) -> TokenSpace:
    """Group the real tokens of every target into length blocks of about ``block_tokens`` tokens each.

    Args:
        tokens: [Nt, Lt, D] target token states; padding values are never read (inf or NaN are fine).
        mask: [Nt, Lt] bool, True for real tokens; every row needs one. Real tokens need not be contiguous.
        dtype: the dtype of norms, logits and scores (default: ``tokens.dtype``).
        block_tokens: target tokens per block (a block always holds at least one target).
        matmul_dtype: the blocks' tokens are stored in it (default: ``dtype``); norms come from ``dtype`` tokens.

    Returns:
        A ``TokenSpace`` on ``tokens.device`` holding sum(mask) x D values, padding dropped.

    Examples:
        Three targets with 2, 1 and 2 real tokens: the 1-token target comes first, then one block of two.

        >>> t = torch.tensor([[[3.0, 4.0], [0.0, 1.0]], [[2.0, 0.0], [9.0, 9.0]], [[0.0, 2.0], [1.0, 0.0]]])
        >>> m = torch.tensor([[True, True], [True, False], [True, True]])
        >>> space = build_token_space(t, m)
        >>> [(b.length, b.count, b.start) for b in space.blocks], space.position.tolist()
        ([(1, 1, 0), (2, 2, 1)], [1, 0, 2])
        >>> space.blocks[1].tokens  # position-major: first tokens of both targets, then second tokens
        tensor([[3., 4.],
                [0., 2.],
                [0., 1.],
                [1., 0.]])
        >>> space.blocks[1].inv_norm
        tensor([[0.2000, 0.5000],
                [1.0000, 1.0000]])
    """
    if block_tokens < 1:
        raise ValueError(f"block_tokens must be >= 1, got {block_tokens}")
    n_targets, _, dim = tokens.shape
    lengths = mask.sum(1)
    if n_targets and int(lengths.min()) < 1:
        raise ValueError("build_token_space: some target rows have no real token (mask all False)")
    dtype = tokens.dtype if dtype is None else dtype
    matmul_dtype = dtype if matmul_dtype is None else matmul_dtype
    order = torch.argsort(lengths, stable=True)
    position = torch.empty_like(order)
    position[order] = torch.arange(n_targets, device=order.device)
    blocks: list[TokenBlock] = []
    values, counts = torch.unique_consecutive(lengths[order], return_counts=True)
    start = 0
    for length, count in zip(values.tolist(), counts.tolist()):
        ids = order[start : start + count]
        real = tokens[ids][mask[ids]].to(dtype).view(count, length, dim)  # row-major: each target's tokens in order
        per_block = max(1, block_tokens // length)
        for first in range(0, count, per_block):
            block = real[first : first + per_block].transpose(0, 1).contiguous()  # [L, c, D]
            inv_norm = block.norm(dim=-1).clamp_min(1e-12).reciprocal()
            blocks.append(TokenBlock(length, block.view(-1, dim).to(matmul_dtype), inv_norm, start + first))
        start += count
    return TokenSpace(tuple(blocks), position, n_targets, dim, dtype, matmul_dtype, tokens.device)


@dataclass(frozen=True)
class TokenRows:
    """Where every target's real tokens sit in its padded token states, so that a few targets' blocks can be
    gathered (:func:`gather_token_space`) without building the whole space's. Built once per space by
    :func:`token_rows`; it holds indices and a view of the tokens, no copy.

    Attributes:
        flat: [Nt * Lt, D] the padded token states, one row per (target, position).
        real: [sum of lengths] rows of ``flat``: the real tokens of target 0 in order, then of target 1, ...
        first: [Nt] where each target's tokens start in ``real``.
        lengths: [Nt] real tokens per target.
    """

    flat: torch.Tensor
    real: torch.Tensor
    first: torch.Tensor
    lengths: torch.Tensor


@torch.no_grad()
def token_rows(tokens: torch.Tensor, mask: torch.Tensor) -> TokenRows:
    """The :class:`TokenRows` of target token states [Nt, Lt, D] and their mask [Nt, Lt] (every row needs one
    real token)."""
    n_targets, width, dim = tokens.shape
    lengths = mask.sum(1)
    if n_targets and int(lengths.min()) < 1:
        raise ValueError("token_rows: some target rows have no real token (mask all False)")
    target, position = mask.nonzero(as_tuple=True)  # row-major: each target's real tokens in order
    first = torch.zeros_like(lengths)
    first[1:] = lengths.cumsum(0)[:-1]
    return TokenRows(tokens.reshape(n_targets * width, dim), target * width + position, first, lengths)


@torch.no_grad()
def gather_token_space(rows_of: TokenRows, rows: torch.Tensor, dtype: torch.dtype | None = None,
                       matmul_dtype: torch.dtype | None = None) -> TokenSpace:
    """``build_token_space(tokens[rows], mask[rows], dtype, matmul_dtype=...)`` with one block per length, reading
    only the real tokens of targets ``rows`` [n] (the targets of the space are ``rows``, in that order).

    Examples:
        The targets of :func:`build_token_space`'s example, the last two only: one block of length 1, then 2.

        >>> t = torch.tensor([[[3.0, 4.0], [0.0, 1.0]], [[2.0, 0.0], [9.0, 9.0]], [[0.0, 2.0], [1.0, 0.0]]])
        >>> m = torch.tensor([[True, True], [True, False], [True, True]])
        >>> space = gather_token_space(token_rows(t, m), torch.tensor([2, 1]))
        >>> [(b.length, b.count, b.start) for b in space.blocks], space.position.tolist()
        ([(1, 1, 0), (2, 1, 1)], [1, 0])
        >>> space.blocks[1].tokens
        tensor([[0., 2.],
                [1., 0.]])
    """
    dtype = rows_of.flat.dtype if dtype is None else dtype
    matmul_dtype = dtype if matmul_dtype is None else matmul_dtype
    lengths = rows_of.lengths[rows]
    order = torch.argsort(lengths, stable=True)
    position = torch.empty_like(order)
    position[order] = torch.arange(len(rows), device=order.device)
    blocks: list[TokenBlock] = []
    values, counts = torch.unique_consecutive(lengths[order], return_counts=True)
    start = 0
    for length, count in zip(values.tolist(), counts.tolist()):
        firsts = rows_of.first[rows[order[start:start + count]]]
        where = rows_of.real[firsts[None, :] + torch.arange(length, device=firsts.device)[:, None]]  # [L, count]
        block = rows_of.flat.index_select(0, where.reshape(-1)).to(dtype)  # position-major, as TokenBlock's
        inv_norm = block.norm(dim=-1).clamp_min(1e-12).reciprocal().view(length, count)
        blocks.append(TokenBlock(length, block.to(matmul_dtype), inv_norm, start))
        start += count
    return TokenSpace(tuple(blocks), position, len(rows), rows_of.flat.shape[1], dtype, matmul_dtype,
                      rows_of.flat.device)
