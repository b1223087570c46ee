"""InfoNCE with one positive per query and in-batch negatives, one direction (``loss=infonce``)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from uwe.models.losses.base import LOSSES


def infonce(scores: torch.Tensor, pos_index: torch.Tensor, tau: float | torch.Tensor) -> torch.Tensor:
    """``-(1/B_Q) sum_q log( exp(s(q, y_q)/tau) / sum_{y in B_Y} exp(s(q, y)/tau) )``: cross-entropy of scores/tau.

    Args:
        scores: [B_Q, B_Y] head scores; every target of the row is a candidate (in-batch negatives).
        pos_index: [B_Q] long, the column of each row's positive.
        tau: temperature (a float, or a 0-d tensor when learnable).

    Returns:
        Scalar mean over the rows.

    Examples:
        Two candidates with scores 1 and 0, tau = 1: -log(e / (e + 1)) = log(1 + e^-1) = 0.3133.

        >>> infonce(torch.tensor([[1.0, 0.0]]), torch.tensor([0]), tau=1.0)
        tensor(0.3133)
    """
    return F.cross_entropy(scores / tau, pos_index)


def sampled_pairs(pos_mask: torch.Tensor, pairs: torch.Tensor | None) -> torch.Tensor:
    """The sampled (query row, target column) pairs [P, 2] long, checked against ``pos_mask`` [B_Q, B_Y].

    ``pairs=None`` means the diagonal convention: the batch is built so that (q_i, y_i) is the i-th sampled
    edge, for i < min(B_Q, B_Y).
    """
    if pairs is None:
        diagonal = torch.arange(min(pos_mask.shape), device=pos_mask.device)
        pairs = torch.stack([diagonal, diagonal], dim=1)
    if pairs.ndim != 2 or pairs.shape[1] != 2:
        raise ValueError(f"pairs must be [P, 2] (query row, target column), got {tuple(pairs.shape)}")
    if not bool(pos_mask[pairs[:, 0], pairs[:, 1]].all()):
        raise ValueError("some sampled pairs are not positives in pos_mask: the batch's rows and columns disagree")
    return pairs


@LOSSES.register("infonce")
class InfoNCELoss(nn.Module):
    """``infonce`` with each sampled pair's query as anchor and its target as the positive.

    ``forward(scores, pos_mask, tau, pairs=None)`` is the signature of every loss here; this one uses only the
    sampled pairs (``pairs``, or the diagonal when None; see ``sampled_pairs``), ``pos_mask`` only to check them.
    Other edges in ``pos_mask`` stay in the denominator as negatives.
    """

    def forward(
        self, scores: torch.Tensor, pos_mask: torch.Tensor, tau: float | torch.Tensor, pairs: torch.Tensor | None = None
    ) -> torch.Tensor:
        rows, cols = sampled_pairs(pos_mask, pairs).unbind(1)
        return infonce(scores[rows], cols, tau)
