"""Logs a user reads stay quiet: the libraries' known chatter is turned off once, by each entry point.

What goes: transformers' "Loading weights" progress bars and its generation/tokenizer advice, Lightning's
hardware lines ("GPU available: False", "TPU available") and its litlogger tip, the known deprecation warning
Lightning 2.6 triggers in torch's pytree, and W&B's banner (``WANDB_QUIET``; its offline-sync hint stays).
What stays: warnings and errors of every library, uwe's own progress and results. ``UWE_VERBOSE=1`` keeps
everything, for a bug report.
"""

from __future__ import annotations

import logging
import os
import warnings

KNOWN_WARNINGS = (
    r".*isinstance\(treespec, LeafSpec\).*is deprecated.*",  # lightning 2.6 on torch 2.13 (lightning's pytree)
)
CHATTY_LOGGERS = ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero",
                  "lightning.pytorch.accelerators.cuda", "lightning.fabric.utilities.seed")


def quiet_libraries() -> None:
    """Silence the chatter above (idempotent); nothing when ``UWE_VERBOSE`` is set."""
    if os.environ.get("UWE_VERBOSE"):
        return
    for pattern in KNOWN_WARNINGS:
        warnings.filterwarnings("ignore", message=pattern)
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    os.environ.setdefault("WANDB_QUIET", "true")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "warning")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:  # pragma: no cover - transformers is a dependency
        return
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_warning()
