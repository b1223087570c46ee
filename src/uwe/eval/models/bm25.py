"""``model=bm25``: BM25 Okapi over the task's target texts (:class:`uwe.eval.baselines.BM25Scorer`)."""

from __future__ import annotations

from omegaconf import DictConfig

from uwe.eval.baselines import BM25Scorer
from uwe.eval.models import MODELS
from uwe.eval.scorers import BaselineScorer


@MODELS.register("bm25")
def bm25_model(cfg: DictConfig) -> BaselineScorer:
    """BM25 with ``rank_bm25``'s parameters (k1 1.5, b 0.75); the config holds nothing it reads."""
    return BaselineScorer(BM25Scorer(), "bm25")
