"""Pooling: last-layer token states [N, L, D] and a mask [N, L] -> one vector per text [N, D].

Config names (``pooling=``):

- ``mean``: masked mean over the real tokens; all-MiniLM-L6-v2 and all-mpnet-base-v2 were trained with it.
- ``cls``: the first real token's state.
- ``tokens``: for token-level heads (``maxsim``, ``soft_li``): keep the token states and the mask AND the
  mean-pooled vector. :func:`resolve_pooling` turns it into (``"mean"``, keep_tokens=True).

A new pooling is a function here registered with ``@POOLINGS.register("<name>")`` (:mod:`uwe.models.registry`),
one ``conf/pooling/<name>.yaml`` and its tests.
"""

from __future__ import annotations

from typing import Callable

import torch

from uwe.models.registry import Registry

POOLINGS: Registry[Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = Registry("pooling")
"""Config name (``pooling.name``) -> pooling function ``(tokens [N, L, D], mask [N, L]) -> [N, D]``."""
TOKENS = "tokens"  # the config name that keeps token states beside the mean-pooled vector


@POOLINGS.register("mean")
def mean_pool(tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of the real tokens of each row.

    Args:
        tokens: [N, L, D] token states.
        mask: [N, L] bool, True for real tokens.

    Returns:
        [N, D]; a row without any real token gives zeros (not NaN).
    """
    weights = mask.to(tokens.dtype).unsqueeze(-1)
    return (tokens * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)


@POOLINGS.register("cls")
def cls_pool(tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """State of the first real token of each row ([CLS] with right padding; left padding works too).

    Args:
        tokens: [N, L, D] token states.
        mask: [N, L] bool, True for real tokens.

    Returns:
        [N, D]; a row without any real token gives zeros, like :func:`mean_pool`.
    """
    first = mask.int().argmax(dim=1)
    pooled = tokens[torch.arange(tokens.shape[0], device=tokens.device), first]
    return pooled * mask.any(dim=1, keepdim=True).to(tokens.dtype)


def resolve_pooling(name: str) -> tuple[str, bool]:
    """Config pooling name -> (key of :data:`POOLINGS`, whether token states must be kept).

    >>> resolve_pooling("tokens")
    ('mean', True)
    """
    if name == TOKENS:
        return "mean", True
    if not isinstance(name, str) or name not in POOLINGS:
        raise POOLINGS.unknown(name, also=[TOKENS])
    return name, False
