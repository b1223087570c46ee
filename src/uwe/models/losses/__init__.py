"""Contrastive losses on a head's score matrix [B_Q, B_Y] and the batch's positive mask.

Every contrastive loss module has the same ``forward(scores, pos_mask, tau, pairs=None)``: ``pos_mask`` [B_Q, B_Y] bool
holds all in-batch edges, ``pairs`` [P, 2] the sampled (query row, target column) pairs (None: the diagonal,
(q_i, y_i) for i < min(B_Q, B_Y)). ``rankpo`` (a second training stage on preference triples, marked
``triples = True``) takes the triples' (chosen, rejected) scores instead. ``build_loss(name, **kwargs)`` builds one by its config name.

A new loss is one file here that registers its class (``@LOSSES.register("<name>")``, see
:mod:`uwe.models.losses.base`), one ``conf/loss/<name>.yaml`` and its tests; this ``__init__`` need not change.
"""

from __future__ import annotations

from torch import nn

from uwe.models.losses.base import LOSSES

# Iterating LOSSES follows registration order (the order of these imports); errors list the names sorted.
from uwe.models.losses.infonce import InfoNCELoss, infonce, sampled_pairs
from uwe.models.losses.sym_infonce import SymInfoNCELoss, sym_infonce
from uwe.models.losses.m2m_infonce import M2MInfoNCELoss, m2m_infonce, m2m_infonce_directions
from uwe.models.losses.rankpo import RankPOLoss, rankpo_advantage, rankpo_losses


def build_loss(name: str, **kwargs) -> nn.Module:
    """The loss registered as ``name`` (a key of ``LOSSES``), built with ``kwargs``."""
    return LOSSES.build(name, **kwargs)


__all__ = [
    "LOSSES",
    "InfoNCELoss",
    "M2MInfoNCELoss",
    "RankPOLoss",
    "SymInfoNCELoss",
    "build_loss",
    "infonce",
    "m2m_infonce",
    "m2m_infonce_directions",
    "rankpo_advantage",
    "rankpo_losses",
    "sampled_pairs",
    "sym_infonce",
]
