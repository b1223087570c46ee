"""From a composed eval config to a results record: the code behind ``eval.py`` and train.py's final test."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from uwe.config import check_eval_config
from uwe.data.catalog import Catalog
from uwe.data.tasks.registry import WORKBENCH_TASKS, ZERO_SHOT_TASKS
from uwe.errors import ConfigError
from uwe.eval.baselines import BM25Scorer, RandomScorer
from uwe.eval.custom import evaluate_custom, tasks_from_config, write_record
from uwe.eval.evaluate import TaskResult, evaluate_task, macro
from uwe.eval.report import build_record
from uwe.eval.scorers import BaselineScorer, EncoderScorer, Scorer
from uwe.models.checkpoint import load_checkpoint
from uwe.models.device import check_precision, resolve_device
from uwe.models.encoder import TextEncoder
from uwe.models.heads import build_head
from uwe.models.registry import config_kwargs

log = logging.getLogger(__name__)


def default_tasks(split: str) -> list[str]:
    return WORKBENCH_TASKS + (ZERO_SHOT_TASKS if split == "test" else [])


def encoder_scorer(cfg: DictConfig, encoder: TextEncoder, head,
                   device: str | torch.device | None = None) -> EncoderScorer:
    """``encoder`` and ``head``, moved to ``device`` (default: the config's ``device``; the CPU for a config
    without one), with the config's target-space cache, batch, scoring block and ``precision`` settings."""
    return EncoderScorer(encoder, head, cfg.paths.cache_dir, cfg.encoder.batch_size, cfg.score_chunk,
                         refresh_cache=cfg.refresh_cache, precision=cfg.get("precision", "32"),
                         device=cfg.get("device", "cpu") if device is None else device)


def build_encoder_scorer(cfg: DictConfig) -> EncoderScorer:
    head = build_head(cfg.head.name, **config_kwargs(OmegaConf.to_container(cfg.head)))
    encoder = TextEncoder.from_name(cfg.encoder.name, max_length=cfg.encoder.max_length, pooling=cfg.pooling.name,
                                    keep_tokens=head.needs_tokens)
    return encoder_scorer(cfg, encoder, head)


def build_checkpoint_scorer(cfg: DictConfig) -> EncoderScorer:
    """A trained UWE model with its own encoder, pooling and head (the config's encoder/head are ignored)."""
    encoder, head, hparams = load_checkpoint(cfg.ckpt_path)  # on the CPU; encoder_scorer moves it to cfg.device
    log.info("evaluating checkpoint %s (encoder %s, head %s)", cfg.ckpt_path, hparams["encoder"]["name"],
             hparams["head"]["name"])
    return encoder_scorer(cfg, encoder, head)


def build_scorer(cfg: DictConfig) -> Scorer:
    if cfg.get("ckpt_path"):
        return build_checkpoint_scorer(cfg)
    kind = cfg.model.kind
    if kind == "encoder":
        return build_encoder_scorer(cfg)
    if kind == "bm25":
        return BaselineScorer(BM25Scorer(), "bm25")
    if kind == "random":
        return BaselineScorer(RandomScorer(seed=cfg.seed), "random")
    raise ConfigError(f"model.kind={kind!r} is not one of encoder, bm25, random")


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
                                              seed=cfg.seed, show_progress=show_progress)
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

