"""Evaluate a model on WorkBench-offline: ``python eval.py encoder=minilm`` (see conf/eval.yaml).

Prints the per-task table (MAP, RP@10, MRR in percent) and the macro over the six task groups, and writes
``results.json`` and ``results.md`` to the run folder. A user error (config, data, checkpoint) ends in one
line and exit status 2 (``+debug=true`` or ``UWE_DEBUG=1`` shows its traceback; see uwe.errors).
"""

from __future__ import annotations

import logging
from pathlib import Path

import hydra
from omegaconf import DictConfig

from uwe.errors import hydra_guard, run_hydra
from uwe.quiet import quiet_libraries
from uwe.eval.custom import format_record
from uwe.eval.run import log_to_logger, run_eval

log = logging.getLogger("eval")


@hydra.main(version_base="1.3", config_path="conf", config_name="eval")
def main(cfg: DictConfig) -> dict:
    with hydra_guard("eval.py", cfg):
        out_dir = Path(cfg.paths.output_dir)
        record = run_eval(cfg, out_dir=out_dir)
        print(format_record(record))
        print(f"\nresults: {out_dir / 'results.json'}, {out_dir / 'results.md'}")
        if cfg.logger and "_target_" in cfg.logger:
            logger = hydra.utils.instantiate(cfg.logger)
            log_to_logger(logger, record, prefix=cfg.split)
            logger.finalize("success")
            if type(logger).__name__ == "WandbLogger":
                import wandb

                wandb.finish()  # one W&B run per Hydra job, also under multirun
        return record


if __name__ == "__main__":
    quiet_libraries()
    run_hydra(main)
