"""In-batch negatives across processes: gather every rank's embeddings (with gradients) and node ids.

Under DDP each rank encodes its local part of the batch, then ``gather_embeddings`` builds the GLOBAL batch
(all ranks' rows, concatenated in rank order) so that the head scores every local query against every
global target and the contrastive loss sees all processes' negatives.

Gradient arithmetic (why the loss must NOT be divided by the world size W):

1. Every rank gathers the same global batch and computes the SAME global loss L on it.
2. ``torch.distributed.nn.functional.all_gather``'s backward sums, into the owning rank r, the gradients
   of every rank's copy of e_r. Each of the W ranks contributes dL/de_r, so rank r holds W * dL/de_r and
   backpropagates it into its encoder: its parameter gradient is W * (the part of dL/dtheta that flows
   through its own rows).
3. DDP all-reduces the parameter gradients and divides by W: sum_r W * dL/dtheta|_{rows of r} / W
   = dL/dtheta, the single-process gradient of L on the global batch.

So every rank's loss (and gradient, after DDP) equals the single-process one on the concatenated batch;
dividing L by W would shrink the gradient by W.

Both functions are collectives: every rank must call them, in the same order, with the same ``tokens``
presence. The backward of ``gather_embeddings`` is a collective too, so every rank must backpropagate
through it (true when all ranks compute the same L).
"""

from __future__ import annotations

import warnings

import torch
import torch.distributed as dist
import torch.nn.functional as F

from uwe.models.embeddings import Embeddings


def _world_size() -> int:
    """The default group's size, or 1 when torch.distributed is unavailable or not initialised."""
    if not (dist.is_available() and dist.is_initialized()):
        return 1
    return dist.get_world_size()


def _all_gather_sizes(sizes: list[int], device: torch.device) -> torch.Tensor:
    """[W, len(sizes)] int64: row r holds rank r's ``sizes`` (a plain, non-differentiable all_gather)."""
    local = torch.tensor(sizes, dtype=torch.int64, device=device)
    out = [torch.empty_like(local) for _ in range(dist.get_world_size())]
    dist.all_gather(out, local)
    return torch.stack(out).cpu()


def _differentiable_all_gather(x: torch.Tensor) -> list[torch.Tensor]:
    """Every rank's ``x`` (same shape on all ranks), with the summing backward of ``torch.distributed.nn``."""
    from torch.distributed.nn.functional import all_gather

    with warnings.catch_warnings():
        # torch >= 2.6 flags it deprecated in favour of the private _functional_collectives; it still works.
        warnings.filterwarnings("ignore", r"torch\.distributed\.nn\.functional\.all_gather", FutureWarning)
        return list(all_gather(x))


def _plain_all_gather(x: torch.Tensor) -> list[torch.Tensor]:
    """Every rank's ``x`` (same shape on all ranks), no gradient."""
    out = [torch.empty_like(x) for _ in range(dist.get_world_size())]
    dist.all_gather(out, x.contiguous())
    return out


def _unpad_rows(parts: list[torch.Tensor], rows: list[int]) -> torch.Tensor:
    """Concatenation of the first ``rows[r]`` rows of each ``parts[r]``."""
    return torch.cat([p[:n] for p, n in zip(parts, rows)])


def gather_embeddings(emb: Embeddings) -> Embeddings:
    """All ranks' embeddings, concatenated in rank order, differentiable w.r.t. this rank's rows.

    Ranks may hold different numbers of rows N_r and (for ``tokens``) different token lengths L_r: rows are
    padded to max N_r before the gather and sliced off after; tokens are padded to L = max L_r with mask
    False, and every padding token of the result (this rank's own and the added ones) is a zero vector.
    Not distributed (or world size 1): ``emb`` itself.

    Args:
        emb: this rank's pooled [N_r, D], tokens [N_r, L_r, D] | None, mask [N_r, L_r] | None.

    Returns:
        Embeddings with pooled [sum N_r, D], tokens [sum N_r, max L_r, D] | None and
        mask [sum N_r, max L_r] | None.
    """
    if _world_size() == 1:
        return emb
    n, length = len(emb), 0 if emb.tokens is None else emb.tokens.shape[1]
    sizes = _all_gather_sizes([n, length], emb.pooled.device)
    rows = sizes[:, 0].tolist()
    pad_n, max_len = max(rows) - n, int(sizes[:, 1].max())

    pooled = _unpad_rows(_differentiable_all_gather(F.pad(emb.pooled, (0, 0, 0, pad_n))), rows)
    if emb.tokens is None:
        return Embeddings(pooled)
    pad_l = max_len - length
    tokens = F.pad(emb.tokens.masked_fill(~emb.mask.unsqueeze(-1), 0.0), (0, 0, 0, pad_l, 0, pad_n))
    mask = F.pad(emb.mask, (0, pad_l, 0, pad_n), value=False)
    return Embeddings(
        pooled,
        _unpad_rows(_differentiable_all_gather(tokens), rows),
        _unpad_rows(_plain_all_gather(mask), rows),
    )


def gather_ids(ids: torch.Tensor) -> torch.Tensor:
    """All ranks' node ids, concatenated in rank order (no gradient; lengths may differ per rank).

    Args:
        ids: [N_r] int64 node ids of this rank's rows.

    Returns:
        [sum N_r] int64. Not distributed (or world size 1): ``ids`` itself.
    """
    if _world_size() == 1:
        return ids
    if ids.dim() != 1:
        raise ValueError(f"gather_ids expects a 1-D tensor, got shape {tuple(ids.shape)}")
    rows = _all_gather_sizes([ids.shape[0]], ids.device)[:, 0].tolist()
    padded = F.pad(ids, (0, max(rows) - ids.shape[0]))
    return _unpad_rows(_plain_all_gather(padded), rows)
