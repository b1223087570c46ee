"""RankPO: preference optimisation of an embedding model on (query, chosen, rejected) triples (``loss=rankpo``).

Zhang et al. 2025, "RankPO: Preference Optimization for Job-Talent Matching" (arXiv 2503.10723; code
yflyzhang/RankPO). A second training stage: starting from a contrastively trained model (stage 1), the policy
is pushed to score the chosen target above the rejected one by more than a frozen reference (the stage-1 model)
does, which aligns it with the new preferences while keeping what stage 1 learned.

Unlike the contrastive losses of this package, its input is not a batch's score matrix but the head's scores of
each triple: ``forward(scores [B, 2], ref_scores [B, 2] | None)`` with column 0 the chosen and column 1 the
rejected target. The module marks itself with ``triples = True``: the training module then trains it on a
preference set (:mod:`uwe.train.preferences`) instead of graph batches.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from uwe.errors import ConfigError
from uwe.models.losses.base import LOSSES

KINDS = ("sigmoid", "hinge")


def rankpo_advantage(chosen: torch.Tensor, rejected: torch.Tensor, ref_chosen: torch.Tensor | None = None,
                     ref_rejected: torch.Tensor | None = None, temperature: float = 0.1,
                     gamma: float = 0.0) -> torch.Tensor:
    """``a = [(s(q,c) - s(q,r)) - (s_ref(q,c) - s_ref(q,r))] / T - gamma``, per triple.

    Args:
        chosen, rejected: [B] the policy's scores of the chosen and the rejected target.
        ref_chosen, ref_rejected: [B] the frozen reference's scores, or both None (reference-free: s_ref = 0).
        temperature: T, the scale of a score difference (scores are cosines in [-1, 1]).
        gamma: the margin the advantage must clear (the reference code's ``gamma_beta_ratio``).

    Returns:
        [B].
    """
    if (ref_chosen is None) != (ref_rejected is None):
        raise ValueError("give both reference scores (ref_chosen, ref_rejected) or neither (reference-free)")
    margin = chosen - rejected
    if ref_chosen is not None:
        margin = margin - (ref_chosen - ref_rejected)
    return margin / temperature - gamma


def rankpo_losses(advantage: torch.Tensor, beta: float = 2.0, label_smoothing: float = 0.0,
                  kind: str = "sigmoid") -> torch.Tensor:
    """Per-triple RankPO loss of the advantages ``a`` [B] (:func:`rankpo_advantage`).

    ``sigmoid``: ``-(1 - eps) log sigmoid(beta a) - eps log sigmoid(-beta a)`` (eps: label smoothing, the
    conservative DPO variant: a share eps of the preferences is taken as flipped). ``hinge``:
    ``max(0, 1 - beta a)``; label smoothing does not apply to it (an error, not silently ignored).

    Examples:
        Policy scores 0.8 (chosen) and 0.5 (rejected), reference 0.7 and 0.6, T = 0.1, gamma = 0:
        a = (0.3 - 0.1) / 0.1 = 2 and beta a = 4, so -log sigmoid(4) = log(1 + e^-4) = 0.01815; the hinge is
        max(0, 1 - 4) = 0; with eps = 0.1, 0.9 * 0.01815 + 0.1 * log(1 + e^4) = 0.41815. Reference-free,
        a = 0.3 / 0.1 = 3 and -log sigmoid(6) = 0.002476.

        >>> c, r = torch.tensor([0.8], dtype=torch.float64), torch.tensor([0.5], dtype=torch.float64)
        >>> rc, rr = torch.tensor([0.7], dtype=torch.float64), torch.tensor([0.6], dtype=torch.float64)
        >>> a = rankpo_advantage(c, r, rc, rr, temperature=0.1)
        >>> round(rankpo_losses(a).item(), 5), rankpo_losses(a, kind="hinge").item()
        (0.01815, 0.0)
        >>> round(rankpo_losses(a, label_smoothing=0.1).item(), 5)
        0.41815
        >>> round(rankpo_losses(rankpo_advantage(c, r, temperature=0.1)).item(), 6)
        0.002476
    """
    if kind not in KINDS:
        raise ConfigError(f"unknown RankPO loss kind {kind!r}; valid: {', '.join(KINDS)}")
    logits = beta * advantage
    if kind == "hinge":
        if label_smoothing:
            raise ConfigError("label_smoothing applies to kind=sigmoid only; set it to 0 for kind=hinge")
        return torch.relu(1 - logits)
    return -(1 - label_smoothing) * F.logsigmoid(logits) - label_smoothing * F.logsigmoid(-logits)


@LOSSES.register("rankpo")
class RankPOLoss(nn.Module):
    """``loss=rankpo``: the mean RankPO loss over a batch of triples, plus ``contrastive_weight`` times the
    cross-entropy of choosing the chosen target over the rejected one, ``CE([s(q,c), s(q,r)] / T, 0)`` (the
    reference code's supervised term).

    Args:
        beta: scale of the advantage inside the sigmoid or hinge (the reference script: 2).
        gamma: margin the advantage must clear (0).
        temperature: T (the reference script: 0.1).
        label_smoothing: eps in [0, 0.5) (sigmoid only).
        kind: ``sigmoid`` or ``hinge``.
        contrastive_weight: weight of the triple's cross-entropy term (0: RankPO alone).
        reference_free: s_ref = 0, no reference model (the reference script's setting).

    ``forward(scores, ref_scores)``: ``scores`` [B, 2] the policy's (chosen, rejected) scores, ``ref_scores``
    [B, 2] the frozen reference's (ignored when ``reference_free``). Returns a scalar.
    """

    triples = True  # trained on preference triples, not on graph batches (uwe.train.module)

    def __init__(self, beta: float = 2.0, gamma: float = 0.0, temperature: float = 0.1, label_smoothing: float = 0.0,
                 kind: str = "sigmoid", contrastive_weight: float = 0.0, reference_free: bool = False):
        super().__init__()
        if kind not in KINDS:
            raise ConfigError(f"unknown RankPO loss kind {kind!r}; valid: {', '.join(KINDS)}")
        if not 0 <= label_smoothing < 0.5:
            raise ConfigError(f"loss.label_smoothing must be in [0, 0.5), got {label_smoothing}")
        if kind == "hinge" and label_smoothing:
            raise ConfigError("loss.label_smoothing applies to kind=sigmoid only; set it to 0 for kind=hinge")
        if beta <= 0 or temperature <= 0 or contrastive_weight < 0:
            raise ConfigError(f"loss needs beta > 0, temperature > 0 and contrastive_weight >= 0, got beta={beta}, "
                              f"temperature={temperature}, contrastive_weight={contrastive_weight}")
        self.beta, self.gamma, self.temperature = beta, gamma, temperature
        self.label_smoothing, self.kind = label_smoothing, kind
        self.contrastive_weight, self.reference_free = contrastive_weight, reference_free

    def forward(self, scores: torch.Tensor, ref_scores: torch.Tensor | None = None) -> torch.Tensor:
        if scores.ndim != 2 or scores.shape[1] != 2:
            raise ValueError(f"scores must be [B, 2] (chosen, rejected), got {tuple(scores.shape)}")
        if not self.reference_free and (ref_scores is None or ref_scores.shape != scores.shape):
            raise ValueError("RankPO with a reference needs ref_scores of the scores' shape (or reference_free=true)")
        ref = (None, None) if self.reference_free else (ref_scores[:, 0], ref_scores[:, 1])
        advantage = rankpo_advantage(scores[:, 0], scores[:, 1], *ref, self.temperature, self.gamma)
        loss = rankpo_losses(advantage, self.beta, self.label_smoothing, self.kind).mean()
        if self.contrastive_weight:
            target = torch.zeros(len(scores), dtype=torch.int64, device=scores.device)
            loss = loss + self.contrastive_weight * F.cross_entropy(scores / self.temperature, target)
        return loss

    def extra_repr(self) -> str:
        return (f"beta={self.beta}, gamma={self.gamma}, temperature={self.temperature}, kind={self.kind!r}, "
                f"label_smoothing={self.label_smoothing}, contrastive_weight={self.contrastive_weight}, "
                f"reference_free={self.reference_free}")
