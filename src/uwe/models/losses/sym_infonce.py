"""InfoNCE in both directions: targets given queries and queries given targets (``loss=sym_infonce``)."""

from __future__ import annotations

import torch
from torch import nn

from uwe.models.losses.base import LOSSES
from uwe.models.losses.infonce import infonce, sampled_pairs


def sym_infonce(scores: torch.Tensor, pairs: torch.Tensor, tau: float | torch.Tensor) -> torch.Tensor:
    """``infonce`` of the sampled pairs over targets (rows of ``scores``) plus over queries (its columns).

    The two directions are summed, not averaged, as the paper's many-to-many loss sums them: with one
    positive per query ``m2m_infonce`` then equals this loss exactly, so the ablation plain -> symmetric ->
    multi-positive changes one thing at a time on one loss scale.

    Args:
        scores: [B_Q, B_Y] head scores.
        pairs: [P, 2] long, the sampled (query row, target column) pairs; each is an anchor in both
            directions, with all B_Y targets (resp. all B_Q queries) in its denominator.
        tau: temperature.

    Returns:
        Scalar: L_{Y|Q} + L_{Q|Y}, each a mean over the P pairs.

    Examples:
        Scores [[1, 0], [0, 1]], pairs (0, 0) and (1, 1), tau = 1: each of the 4 anchors has
        -log(e / (e + 1)) = 0.3133, mean 0.3133 per direction, sum 0.6265.

        >>> sym_infonce(torch.eye(2), torch.tensor([[0, 0], [1, 1]]), tau=1.0)
        tensor(0.6265)
    """
    rows, cols = pairs.unbind(1)
    return infonce(scores[rows], cols, tau) + infonce(scores.T[cols], rows, tau)


@LOSSES.register("sym_infonce")
class SymInfoNCELoss(nn.Module):
    """``sym_infonce`` on the sampled pairs (``pairs``, or the diagonal when None; see ``sampled_pairs``)."""

    def forward(
        self, scores: torch.Tensor, pos_mask: torch.Tensor, tau: float | torch.Tensor, pairs: torch.Tensor | None = None
    ) -> torch.Tensor:
        return sym_infonce(scores, sampled_pairs(pos_mask, pairs), tau)
