"""Checkpoints that are whole or absent: a crash or a full disk while saving never leaves a truncated one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

from uwe.files import atomic_write


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint IO, saving through :func:`uwe.files.atomic_write`.

    ``torch.save`` writes to a unique temporary file beside the checkpoint, which is fsynced and renamed onto
    it; on any error the temporary is removed and the previous file of that name, if any, is untouched.
    (Lightning's own writer stages in the system temp folder and copies across file systems, which a full
    disk can cut short.) Loading and removing are Lightning's. Given to the trainer as ``plugins=[...]``; it
    works under every strategy that saves through a CheckpointIO (single device, DDP).
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any | None = None) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options, got {storage_options!r}")
        atomic_write(Path(path), lambda tmp: torch.save(checkpoint, tmp))
