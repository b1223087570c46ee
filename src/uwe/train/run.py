"""From a composed train config to a trained, validated, tested and exported model."""

from __future__ import annotations

import logging
import os
import re
import time
import warnings
from pathlib import Path

import hydra
import lightning as L
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from omegaconf import DictConfig, OmegaConf

from uwe.config import check_train_config
from uwe.data.catalog import Catalog
from uwe.data.mix import evaluated_tasks, load_mix
from uwe.data.tasks.registry import WORKBENCH_TASKS
from uwe.eval.evaluate import subsample
from uwe.eval.models.encoder import encoder_scorer
from uwe.eval.report import code_version, format_table
from uwe.eval.run import check_subsampling, log_to_logger, run_eval
from uwe.train.callbacks import ProgressLog
from uwe.train.checkpoint_io import AtomicCheckpointIO
from uwe.train.module import UWEModule
from uwe.train.precision import resolve_precision
from uwe.train.reuse import find_finished, reuse_record
from uwe.train.second_stage import attach_training_data

log = logging.getLogger(__name__)


def resume_folder(ckpt_path: str | None) -> Path | None:
    """The run folder a checkpoint belongs to (``<run>/checkpoints/x.ckpt`` -> ``<run>``), else None.

    A resumed run continues in that folder: Lightning's ModelCheckpoint restores its best score and best
    checkpoint only when its folder is the one it saved from, so a new folder would forget the best so far.

    >>> str(resume_folder("outputs/train/run1/checkpoints/last.ckpt"))
    'outputs/train/run1'
    >>> resume_folder("elsewhere/last.ckpt") is None, resume_folder(None) is None
    (True, True)
    """
    if not ckpt_path:
        return None
    path = Path(str(ckpt_path)).expanduser()
    return path.parent.parent if path.parent.name == "checkpoints" else None


def link_latest(run_dir: Path) -> Path | None:
    """Point ``<run_dir>/../latest`` at ``run_dir`` (a relative symlink, replaced atomically), so the newest
    run of an experiment is ``outputs/<experiment>/latest``. Returns the link, or None where symlinks fail."""
    link = run_dir.parent / "latest"
    tmp = run_dir.parent / f".latest-{os.getpid()}"
    try:
        if tmp.is_symlink():
            tmp.unlink()
        tmp.symlink_to(run_dir.name, target_is_directory=True)
        os.replace(tmp, link)
    except OSError as err:  # e.g. a file system without symlinks: the run itself is unaffected
        log.warning("could not link %s -> %s (%s)", link, run_dir.name, err)
        return None
    return link


# train.yaml's hydra.run.dir: a resumed run's Hydra folder is the checkpoint's run folder; runs of an
# experiment go to outputs/<experiment>/ (uwe.or: the experiment's name, or "train" when there is none).
OmegaConf.register_new_resolver("uwe.resume_dir", lambda ckpt, default: str(resume_folder(ckpt) or default),
                                replace=True)
OmegaConf.register_new_resolver("uwe.or", lambda value, default: default if value in (None, "", "None", "null")
                                else value, replace=True)


def build_module(cfg: DictConfig, mix) -> UWEModule:
    c = OmegaConf.to_container(cfg, resolve=True)
    return UWEModule(
        encoder=c["encoder"], pooling=c["pooling"], head=c["head"], loss=c["loss"],
        graphs={e.graph.name: {"alpha": e.alpha, "tau": e.tau} for e in mix},
        optimizer=c["optimizer"], warmup_ratio=c["warmup_ratio"], batch=c["batch"], seed=c["seed"],
        steps_per_epoch=c["val"]["every_n_steps"], mining=c.get("mining"), matryoshka=c.get("matryoshka"),
    )


def build_loggers(cfg: DictConfig, out: Path) -> list:
    """The configured logger (W&B by default, offline unless logged in), and always a CSV log of the same
    metrics in ``<run folder>/csv/metrics.csv``, so every run leaves a readable record without any service. A
    resumed run writes ``csv/resumed_<date>_<time>/metrics.csv`` and keeps the earlier file (Lightning's CSV
    logger would replace a folder's file)."""
    loggers = [hydra.utils.instantiate(cfg.logger)] if cfg.logger and "_target_" in cfg.logger else []
    if not any(isinstance(lg, CSVLogger) for lg in loggers):
        version = f"resumed_{time.strftime('%Y-%m-%d_%H-%M-%S')}" if cfg.ckpt_path else ""
        loggers.append(CSVLogger(save_dir=str(out), name="csv", version=version))
    return loggers


def build_trainer(cfg: DictConfig, logger: list, callbacks: list, out: Path) -> L.Trainer:
    """``cfg.trainer`` with these logger and callbacks, the resolved precision, and checkpoints written
    atomically (:class:`AtomicCheckpointIO`, under any strategy)."""
    precision = resolve_precision(cfg.trainer.get("precision", "auto"), cfg.trainer.get("accelerator", "cpu"))
    log.info("precision %s", precision)
    return hydra.utils.instantiate(cfg.trainer, logger=logger, callbacks=callbacks, default_root_dir=str(out),
                                   precision=precision, plugins=[AtomicCheckpointIO()])


def train(cfg: DictConfig, callbacks_extra: list | None = None) -> dict:
    """Fit on ``cfg.task_mix``, keep the best checkpoint by ``val/macro_map``, test it, export it.

    ``callbacks_extra`` are added to the trainer's own. Returns the test results record (also written to
    ``results.json`` in the run folder).
    """
    check_train_config(cfg)
    check_subsampling(cfg)  # the final test's settings, refused now rather than after training
    L.seed_everything(cfg.seed, workers=True)
    code = code_version()  # the code this process trains with: the tree may move on before the test is recorded
    out = resume_folder(cfg.ckpt_path) or Path(cfg.paths.output_dir)
    if cfg.ckpt_path:
        UWEModule.load_trained(cfg.ckpt_path)  # a missing, damaged or foreign file: one clear error, before any work
        log.info("resuming %s in its run folder %s", cfg.ckpt_path, out)
    out = out.resolve() if out.is_symlink() else out  # resumed through outputs/<experiment>/latest
    if cfg.get("reuse") and not cfg.ckpt_path:
        found = find_finished(OmegaConf.to_container(cfg, resolve=True), list(cfg.reuse), exclude=out)
        if found:
            return reuse_record(found, out)
    catalog = Catalog.from_config(cfg.data)
    tasks = OmegaConf.to_container(cfg.tasks) if cfg.tasks is not None else None
    # the graphs (built-in or files) and the leakage guard before the run folder: a bad file writes nothing
    mix = load_mix(catalog, OmegaConf.to_container(cfg.task_mix.graphs), tasks, seed=cfg.seed)
    out.mkdir(parents=True, exist_ok=True)
    if not _multirun():  # a sweep's jobs are numbered folders of one sweep folder: no "latest" among them
        link_latest(out)
    val_names = list(cfg.val.tasks) if cfg.val.tasks else WORKBENCH_TASKS
    val_tasks = [subsample(catalog.task(n, "val"), cfg.val.max_queries, cfg.seed) for n in val_names]
    empty = [t.key for t in val_tasks if not t.queries]
    if empty:
        log.warning("validation skips %s: no queries", ", ".join(empty))
        val_tasks = [t for t in val_tasks if t.queries]

    module = build_module(cfg, mix)
    extra = attach_training_data(cfg, catalog, mix, module, val_tasks, lambda: build_module(cfg, mix))
    loggers = build_loggers(cfg, out)
    checkpoints = ModelCheckpoint(dirpath=out / "checkpoints", monitor="val/macro_map", mode="max",
                                  filename="best-{step}", auto_insert_metric_name=False)
    # last.ckpt at EVERY validation: Lightning 2.6's save_last rewrites it only when a new best is saved, so a
    # resume would restart from the last improvement. A second, unmonitored checkpoint keeps the latest.
    latest = ModelCheckpoint(dirpath=out / "checkpoints", filename="last", monitor=None, save_top_k=1,
                             enable_version_counter=False)
    callbacks = [checkpoints, latest, ProgressLog(cfg.trainer.get("log_every_n_steps", 10))]
    if cfg.get("save_every_n_steps"):  # and between validations (the step loader resumes mid-epoch)
        callbacks.insert(2, ModelCheckpoint(dirpath=out / "checkpoints", filename="last", monitor=None, save_top_k=1,
                                            enable_version_counter=False, every_n_train_steps=cfg.save_every_n_steps))
    callbacks += [LearningRateMonitor("step")] + list(callbacks_extra or [])
    trainer = build_trainer(cfg, loggers, callbacks, out)
    if cfg.val.get("at_start") and not cfg.ckpt_path:
        trainer.validate(module, verbose=False)  # step 0 joins the val curve (not a checkpoint candidate)
    with warnings.catch_warnings():
        if cfg.ckpt_path:  # last.ckpt written at a validation's end: the restart passes that validation without
            # rerunning it, and the best-model checkpoint warns that it found no monitored metric (its best is restored)
            warned = f"`ModelCheckpoint(monitor={checkpoints.monitor!r})` could not find the monitored key"
            warnings.filterwarnings("ignore", re.escape(warned))
        trainer.fit(module, ckpt_path=cfg.ckpt_path)
    if not trainer.is_global_zero:
        return {}

    best_path = checkpoints.best_model_path or latest.best_model_path
    log.info("best checkpoint %s (val/macro_map %s)", best_path, checkpoints.best_model_score)
    best = UWEModule.load_trained(best_path)
    scorer = encoder_scorer(cfg, best.encoder, best.head, device=trainer.strategy.root_device)  # the training device
    tested = {"path": best_path, "val_macro_map": _float(checkpoints.best_model_score), "global_step": trainer.global_step}
    # the O*NET zero-shot rows only when no graph of the mix is that O*NET task (the leakage guard's list)
    tested_tasks = evaluated_tasks([e.graph.name for e in mix], tasks)  # the mix parsed once, by load_mix
    graphs = {e.graph.name: {**e.graph.sizes(), "alpha": e.alpha, "tau": e.tau, "dropped": dict(e.graph.dropped),
                             "sources": dict(e.graph.sources)} for e in mix}
    record = run_eval(cfg, scorer=scorer, out_dir=out,
                      extra={"checkpoint": tested, "val_curve": module.val_history, "graphs": graphs,
                             "precision": str(trainer.precision), "code": code, **extra},
                      unverified=catalog.unverified, tasks=tested_tasks)
    print(format_table(record))
    for logger in loggers:
        log_to_logger(logger, record, prefix="test")
        logger.finalize("success")
    if cfg.export:
        # overwrite: a resumed run replaces its own earlier export (only ever a uwe export, see export_model)
        folder = best.export(out / "model", checkpoint=best_path, overwrite=True)
        log.info("exported model folder %s", folder)
    return record


def _multirun() -> bool:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def _float(x) -> float | None:
    return None if x is None else float(x)
