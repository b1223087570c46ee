"""UWE's many-to-many InfoNCE: every in-batch edge is a positive, in both directions (``loss=m2m_infonce``)."""

from __future__ import annotations

import torch
from torch import nn

from uwe.errors import ConfigError
from uwe.models.losses.base import LOSSES

DENOMINATORS = ("all", "mask_other_positives")


def _multi_positive_nll(
    scores: torch.Tensor, pos_mask: torch.Tensor, tau: float | torch.Tensor, denominator: str
) -> torch.Tensor:
    """One direction: rows of ``scores`` [B, C] are anchors, ``pos_mask`` [B, C] their positives."""
    logits = scores / tau
    if denominator == "all":
        log_prob = logits - logits.logsumexp(1, keepdim=True)
    else:
        # Denominator of the pair (q, y+): y+ itself plus the non-positives of q.
        log_negatives = logits.masked_fill(pos_mask, float("-inf")).logsumexp(1, keepdim=True)
        log_prob = logits - torch.logaddexp(logits, log_negatives)
    n_pos = pos_mask.sum(1)
    per_row = torch.where(pos_mask, log_prob, 0.0).sum(1) / n_pos.clamp_min(1)
    # Rows without a positive contribute 0 to the sum and are left out of the count.
    return -per_row.sum() / (n_pos > 0).sum().clamp_min(1)


def m2m_infonce_directions(
    scores: torch.Tensor, pos_mask: torch.Tensor, tau: float | torch.Tensor, denominator: str = "all"
) -> tuple[torch.Tensor, torch.Tensor]:
    """The two directions of ``m2m_infonce``, (L_{Y|Q}, L_{Q|Y}), e.g. to log them apart."""
    if denominator not in DENOMINATORS:
        raise ConfigError(f"unknown denominator {denominator!r}; valid: {', '.join(DENOMINATORS)}")
    if scores.shape != pos_mask.shape or pos_mask.dtype != torch.bool:
        raise ValueError(
            f"pos_mask must be bool of the scores' shape {tuple(scores.shape)}, "
            f"got {pos_mask.dtype} {tuple(pos_mask.shape)}"
        )
    return (
        _multi_positive_nll(scores, pos_mask, tau, denominator),
        _multi_positive_nll(scores.T, pos_mask.T, tau, denominator),
    )


def m2m_infonce(
    scores: torch.Tensor, pos_mask: torch.Tensor, tau: float | torch.Tensor, denominator: str = "all"
) -> torch.Tensor:
    """Many-to-many InfoNCE ``L_{Y|Q} + L_{Q|Y}``.

    ``L_{Y|Q} = -(1/|B_Q'|) sum_{q in B_Q'} (1/|P(q)|) sum_{y+ in P(q)} log( exp(s(q,y+)/tau) / Z(q, y+) )``
    where P(q) is the set of in-batch targets linked to q (``pos_mask`` row q) and B_Q' the queries with at
    least one; ``L_{Q|Y}`` is the same on the transpose. Rows (and columns) without a positive are skipped
    rather than counted as 0, so a batch's loss does not shrink with the number of unlinked nodes (e.g. the
    random non-matching sentences padded into a batch). The paper writes 1/|B_Q|; the two agree whenever
    every node has a positive, as a sampled pair guarantees. A direction with no positive at all is 0.

    Args:
        scores: [B_Q, B_Y] head scores.
        pos_mask: [B_Q, B_Y] bool, True where (q, y) is an edge of the graph (all edges among the sampled
            nodes, not only the sampled pairs).
        tau: temperature (a float, or a 0-d tensor when learnable).
        denominator: ``"all"``: Z(q, y+) = sum_{y in B_Y} exp(s(q, y)/tau), SupCon's L_out, the paper's
            formula (default). ``"mask_other_positives"``: the other positives of q are removed from Z,
            y+ itself is kept, so positives do not compete with each other.

    Returns:
        Scalar.

    Examples:
        One query, two linked targets with scores 1 and 1 and an unlinked one with score 0, tau = 1.
        L_{Y|Q} = -log(e / (2e + 1)) = 0.8620. L_{Q|Y}: each linked target has only that query, log(1) = 0;
        the unlinked column is skipped. With ``mask_other_positives``, L_{Y|Q} = -log(e / (e + 1)) = 0.3133.

        >>> scores, pos = torch.tensor([[1.0, 1.0, 0.0]]), torch.tensor([[True, True, False]])
        >>> m2m_infonce(scores, pos, tau=1.0)
        tensor(0.8620)
        >>> m2m_infonce(scores, pos, tau=1.0, denominator="mask_other_positives")
        tensor(0.3133)
    """
    y_given_q, q_given_y = m2m_infonce_directions(scores, pos_mask, tau, denominator)
    return y_given_q + q_given_y


@LOSSES.register("m2m_infonce")
class M2MInfoNCELoss(nn.Module):
    """``m2m_infonce``: every edge of ``pos_mask`` is a positive; ``pairs`` is accepted for a uniform signature
    across the losses and not used."""

    def __init__(self, denominator: str = "all"):
        super().__init__()
        if denominator not in DENOMINATORS:
            raise ConfigError(f"unknown denominator {denominator!r}; valid: {', '.join(DENOMINATORS)}")
        self.denominator = denominator

    def forward(
        self, scores: torch.Tensor, pos_mask: torch.Tensor, tau: float | torch.Tensor, pairs: torch.Tensor | None = None
    ) -> torch.Tensor:
        return m2m_infonce(scores, pos_mask, tau, self.denominator)

    def extra_repr(self) -> str:
        return f"denominator={self.denominator!r}"
