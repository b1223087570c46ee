"""The one container that flows from the encoder to the heads."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Embeddings:
    """Encoded texts.

    Attributes:
        pooled: [N, D] one vector per text (mean over non-padding tokens, or CLS: the pooling config decides).
        tokens: [N, L, D] last-layer token states, or None when the head needs only ``pooled``.
        mask: [N, L] bool, True for real (non-padding) tokens; None exactly when ``tokens`` is None.
    """

    pooled: torch.Tensor
    tokens: torch.Tensor | None = None
    mask: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if (self.tokens is None) != (self.mask is None):
            raise ValueError("Embeddings: tokens and mask go together (both set or both None)")
        if self.tokens is not None and self.tokens.shape[:2] != self.mask.shape:
            raise ValueError(f"Embeddings: tokens {tuple(self.tokens.shape)} and mask {tuple(self.mask.shape)} disagree")

    def __len__(self) -> int:
        return self.pooled.shape[0]

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> "Embeddings":
        """These embeddings on ``device`` and/or with float tensors in ``dtype`` (``mask`` stays bool); ``self``
        when nothing changes, so tensor identity (and the heads' per-space memo) is kept."""
        moved = [x if x is None else x.to(device=device, dtype=dtype) for x in (self.pooled, self.tokens)]
        mask = None if self.mask is None else self.mask.to(device=device)
        if moved[0] is self.pooled and moved[1] is self.tokens and mask is self.mask:
            return self
        return Embeddings(moved[0], moved[1], mask)

    def __getitem__(self, idx) -> "Embeddings":
        """Rows ``idx`` (a slice or an index tensor)."""
        if self.tokens is None:
            return Embeddings(self.pooled[idx])
        return Embeddings(self.pooled[idx], self.tokens[idx], self.mask[idx])
