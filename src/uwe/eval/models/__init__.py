"""Evaluation models: what ``eval.py model=<name>`` ranks with, one module per ``conf/model/<name>.yaml``.

Each module registers a builder ``(cfg) -> Scorer`` (:class:`uwe.eval.scorers.Scorer`) of the whole eval config
with ``@MODELS.register("<name>")``: ``encoder`` (the configured encoder + pooling + head, or a trained model via
``ckpt_path``), ``bm25`` and ``random`` (the baselines of :mod:`uwe.eval.baselines`). A new model is a new file
here, a new ``conf/model/<name>.yaml`` and its tests; this ``__init__`` need not change.
"""

from __future__ import annotations

from uwe.models.registry import Registry

MODELS = Registry("model", __name__)
"""Config name (``model.name``) -> builder of the scorer; every module of this package is imported on the first
lookup, so a model registers itself from its own file."""

__all__ = ["MODELS"]
