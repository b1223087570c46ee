"""``model=random``: uniform random scores seeded with the config's ``seed`` (:class:`uwe.eval.baselines.RandomScorer`)."""

from __future__ import annotations

from omegaconf import DictConfig

from uwe.eval.baselines import RandomScorer
from uwe.eval.models import MODELS
from uwe.eval.scorers import BaselineScorer


@MODELS.register("random")
def random_model(cfg: DictConfig) -> BaselineScorer:
    """The chance-level floor; the same ``seed`` gives the same scores for a query."""
    return BaselineScorer(RandomScorer(seed=cfg.seed), "random")
