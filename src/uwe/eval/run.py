"""From a composed eval config to a results record: the code behind ``eval.py`` and train.py's final test."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from uwe.config import check_eval_config
from uwe.data.catalog import Catalog
from uwe.data.tasks.registry import WORKBENCH_TASKS, ZERO_SHOT_TASKS
from uwe.errors import ConfigError
from uwe.eval.custom import evaluate_custom, tasks_from_config, write_record
from uwe.eval.evaluate import TaskResult, evaluate_task, macro
from uwe.eval.models import MODELS
from uwe.eval.report import build_record
from uwe.eval.scorers import Scorer
from uwe.models.device import check_precision, resolve_device

log = logging.getLogger(__name__)


def default_tasks(split: str) -> list[str]:
    return WORKBENCH_TASKS + (ZERO_SHOT_TASKS if split == "test" else [])


def check_model(cfg: DictConfig) -> None:
    """``model.name`` is a registered evaluation model (:mod:`uwe.eval.models`), and a ``ckpt_path`` goes with
    ``model=encoder``, the model that evaluates it: both checked before any data is read."""
    name = OmegaConf.select(cfg, "model.name")
    MODELS.lookup(name)
    if cfg.get("ckpt_path") and name != "encoder":
        raise ConfigError(f"ckpt_path={cfg.ckpt_path} is not valid with model={name}: a checkpoint is evaluated by "
                          "model=encoder (the default)")


def build_scorer(cfg: DictConfig) -> Scorer:
    """The scorer ``cfg.model`` names, built by its registered builder from the whole config."""
    check_model(cfg)
    return MODELS.build(cfg.model.name, cfg=cfg)


def check_subsampling(cfg: DictConfig) -> None:
    if cfg.max_queries is not None and cfg.split == "test" and not cfg.force_subsample:
        raise ConfigError(
            f"max_queries={cfg.max_queries} on the test split would not give reportable numbers; use split=val, "
            "or add force_subsample=true (the results are then marked subsampled)"
        )
    if cfg.max_queries is not None and cfg.max_queries < 1:
        raise ConfigError(f"max_queries must be a positive integer or null, got {cfg.max_queries}")


def run_eval(cfg: DictConfig, scorer: Scorer | None = None, out_dir: Path | None = None,
             show_progress: bool = True, extra: dict | None = None, unverified: list[str] = (),
             tasks: list[str] | None = None) -> dict:
    """Evaluate ``scorer`` (or the one ``cfg`` describes) on ``cfg.tasks`` and write the results files;
    ``extra`` entries (e.g. the checkpoint a training run tested) are added to the record. ``unverified``
    raw files (e.g. of the training graphs) join the test tasks' own in the record's ``unverified_sources``.
    ``tasks``: the task names to evaluate when ``cfg.tasks`` is null (default: every task of the split).
    ``cfg.custom`` (``{name: {pairs, targets, drop_unknown}}``) adds your own tasks from files
    (:mod:`uwe.eval.custom`), recorded under ``custom``; ``tasks=[]`` beside them evaluates them alone."""
    check_eval_config(cfg)
    check_subsampling(cfg)
    if scorer is None:
        check_model(cfg)
    resolve_device(cfg.get("device", "cpu"))  # a bad device or precision fails before any work
    check_precision(cfg.get("precision", "32"))
    start = time.perf_counter()
    # Your own tasks' files are read and checked now, before any model or built-in task.
    custom = tasks_from_config(OmegaConf.to_container(cfg.custom, resolve=True) if cfg.get("custom") else {})
    catalog = Catalog.from_config(cfg.data)
    if custom and cfg.tasks is not None and not cfg.tasks:
        names = []  # tasks=[] beside custom tasks: those alone
    else:
        names = list(cfg.tasks) if cfg.tasks else (tasks or default_tasks(cfg.split))
    catalog.require([f"{n}/{cfg.split}" for n in names])  # bad names and every missing file, before any work
    tasks = [catalog.task(n, cfg.split) for n in names]
    scorer = scorer or build_scorer(cfg)
    results: dict[str, TaskResult] = {}
    for task in tasks:
        results[task.key] = r = evaluate_task(scorer, task, chunk=cfg.chunk, max_queries=cfg.max_queries,
                                              seed=cfg.seed, show_progress=show_progress, gains=catalog.gains(task))
        log.info("%s: %s (%.1f s)", task.key, {k: round(100 * v, 2) for k, v in r.metrics.items()}, r.seconds)
    custom_results = evaluate_custom(scorer, custom, chunk=cfg.chunk, max_queries=cfg.max_queries, seed=cfg.seed,
                                     show_progress=show_progress)
    for key, r in custom_results.items():
        log.info("%s: %s (%.1f s)", key, {k: round(100 * v, 2) for k, v in r["metrics"].items()}, r["seconds"])
    record = build_record(results, macro(results), scorer.describe(), OmegaConf.to_container(cfg, resolve=True),
                          cfg.split, time.perf_counter() - start, sorted({*catalog.unverified, *unverified}))
    if custom_results:
        record["custom"] = custom_results
    record.update(extra or {})
    if out_dir is not None:
        js, md = write_record(out_dir, record)
        log.info("results written to %s and %s", js, md)
    return record


def log_to_logger(logger, record: dict, prefix: str) -> None:
    """Per-task metrics and the macro as ``<prefix>/<task>/<metric>``; W&B also gets the table."""
    metrics = {f"{prefix}/{k.split('/')[0]}/{m}": v for k, r in record["tasks"].items() for m, v in r["metrics"].items()}
    metrics.update({f"{prefix}/custom/{k.split('/')[0]}/{m}": v for k, r in record.get("custom", {}).items()
                    for m, v in r["metrics"].items()})
    if record["macro"]:
        metrics.update({f"{prefix}/macro_{m}": v for m, v in record["macro"].items()})
    logger.log_metrics(metrics)
    if hasattr(logger, "log_table"):
        rows = [[k, *(r["metrics"][m] for m in ("map", "rp@10", "mrr"))] for k, r in record["tasks"].items()]
        logger.log_table(key=f"{prefix}/results", columns=["task", "map", "rp@10", "mrr"], data=rows)

