"""Callbacks of the training run."""

from __future__ import annotations

import logging
import time

import lightning as L

log = logging.getLogger("uwe.train")


class ProgressLog(L.Callback):
    """A log line every ``every`` steps (step, loss, steps/s, ETA): the progress bar's content for runs whose
    output is a file (nohup, clusters), where a live bar shows nothing."""

    def __init__(self, every: int = 10):
        self.every, self._start, self._first = every, 0.0, 0

    def on_train_start(self, trainer, pl_module) -> None:
        self._start, self._first = time.perf_counter(), trainer.global_step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        step = trainer.global_step
        if step % self.every:
            return
        rate = (step - self._first) / max(time.perf_counter() - self._start, 1e-9)
        eta = (trainer.max_steps - step) / rate if rate > 0 and trainer.max_steps > 0 else float("nan")
        loss = trainer.callback_metrics.get("train/loss")
        log.info("step %d/%d  loss %s  %.2f steps/s  eta %.0f s", step, trainer.max_steps,
                 f"{float(loss):.4f}" if loss is not None else "-", rate, eta)

    def on_validation_end(self, trainer, pl_module) -> None:
        value = trainer.callback_metrics.get("val/macro_map")
        if value is not None:
            log.info("step %d  val/macro_map %.4f", trainer.global_step, float(value))
