"""Train UWE on a task mixture: ``python train.py task_mix=all``.

Builds the mixture's training graphs from the data root, refuses to start when any training edge equals a
test pair (the leakage guard of WORKBENCH.md), and reports what it would train on.
"""

from __future__ import annotations

import logging

import hydra
from omegaconf import DictConfig, OmegaConf

from uwe.data.catalog import Catalog
from uwe.data.mix import load_mix

log = logging.getLogger("train")


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> None:
    catalog = Catalog(cfg.data.root, cfg.data.cache_dir, cfg.data.use_cache, cfg.data.skillmatch_path)
    tasks = OmegaConf.to_container(cfg.tasks) if cfg.tasks is not None else None
    mix = load_mix(catalog, OmegaConf.to_container(cfg.task_mix.graphs), tasks)
    for e in mix:
        log.info("graph %-18s alpha=%.2f tau=%.3f %s", e.graph.name, e.alpha, e.tau, e.graph.sizes())
    log.info("leakage guard passed; data root %s", catalog.root)


if __name__ == "__main__":
    main()
