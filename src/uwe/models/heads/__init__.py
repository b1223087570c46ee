"""Scoring heads: s(q, y) for every query-target pair, from the encoder's ``Embeddings``.

Pure score functions (``*_scores``) hold the math; the ``*Head`` modules wire them to ``Embeddings`` and share
the chunked inference loop of ``ScoringHead``; the token heads ``soft_li`` and ``maxsim`` score a whole cached
target space through ``build_token_space`` + ``soft_li_space_scores`` / ``maxsim_space_scores`` instead.
``build_head(name, **kwargs)`` builds one by its config name.

A new head is one file here that registers its class (``@HEADS.register("<name>")``, see
:mod:`uwe.models.registry`), one ``conf/head/<name>.yaml`` and its tests; this ``__init__`` need not change.
"""

from __future__ import annotations

from uwe.models.heads.base import DEFAULT_CHUNK_SIZE, HEADS, ScoringHead

# Iterating HEADS follows registration order (the order of these imports); errors list the names sorted.
from uwe.models.heads.cosine import CosineHead, cosine_scores
from uwe.models.heads.maxsim import MaxSimHead, maxsim_scores, maxsim_space_scores
from uwe.models.heads.soft_li_pooled import SoftLateInteractionPooledHead, soft_li_pooled_scores
from uwe.models.heads.soft_li import SoftLateInteractionHead, soft_li_scores
from uwe.models.heads.soft_li_space import soft_li_space_scores
from uwe.models.heads.token_space import TokenSpace, build_token_space


def build_head(name: str, **kwargs) -> ScoringHead:
    """The head registered as ``name`` (a key of ``HEADS``), built with ``kwargs``."""
    return HEADS.build(name, **kwargs)


__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "HEADS",
    "CosineHead",
    "MaxSimHead",
    "ScoringHead",
    "SoftLateInteractionHead",
    "SoftLateInteractionPooledHead",
    "TokenSpace",
    "build_head",
    "build_token_space",
    "cosine_scores",
    "maxsim_scores",
    "maxsim_space_scores",
    "soft_li_pooled_scores",
    "soft_li_scores",
    "soft_li_space_scores",
]
