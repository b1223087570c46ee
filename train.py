"""Train UWE on a task mixture: ``python train.py task_mix=all loss=m2m_infonce`` (see conf/train.yaml).

Builds the mixture's training graphs, refuses to start when any training edge equals a test pair (the
leakage guard), trains with validation on the WorkBench val splits, keeps the best checkpoint by
``val/macro_map``, tests it with eval's code and exports a model folder. Works as a Hydra multirun. A user
error (config, data, checkpoint) ends in one line and exit status 2 (``+debug=true`` or ``UWE_DEBUG=1`` shows
its traceback; see uwe.errors).
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from uwe.errors import hydra_guard, run_hydra
from uwe.quiet import quiet_libraries
from uwe.train.run import train


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    with hydra_guard("train.py", cfg):
        try:
            record = train(cfg)
        finally:
            if cfg.logger and "Wandb" in str(cfg.logger.get("_target_", "")):
                import wandb

                wandb.finish()  # one W&B run per job, also under -m
        macro = (record or {}).get("macro") or {}
        return macro.get("map")  # for Hydra sweepers


if __name__ == "__main__":
    quiet_libraries()
    run_hydra(main)
