"""Entry points keep logs quiet (uwe.quiet): no weight-loading bars or Lightning tips, unless UWE_VERBOSE."""

from __future__ import annotations

import os
import subprocess
import sys

SCRIPT = """
import logging, warnings
logging.basicConfig(level=logging.INFO)
from uwe.quiet import quiet_libraries
quiet_libraries()
from uwe.models.encoder import TextEncoder
TextEncoder.from_name("minilm")
import lightning as L
L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False)
warnings.warn("`isinstance(treespec, LeafSpec)` is deprecated, use something else", DeprecationWarning)
logging.getLogger("uwe").warning("uwe's own warnings stay")
"""


def run(verbose: bool) -> str:
    # what quiet_libraries sets (an entry point called in this test process may have set it already)
    env = {k: v for k, v in os.environ.items()
           if k not in ("UWE_VERBOSE", "WANDB_QUIET", "TRANSFORMERS_VERBOSITY", "HF_HUB_DISABLE_PROGRESS_BARS")}
    env.update({"HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "always"})
    if verbose:
        env["UWE_VERBOSE"] = "1"
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr


def test_library_chatter_is_off_and_warnings_stay():
    quiet = run(verbose=False)
    for chatter in ("Loading weights", "litlogger", "GPU available", "LeafSpec"):
        assert chatter not in quiet
    assert "uwe's own warnings stay" in quiet


def test_uwe_verbose_keeps_everything():
    loud = run(verbose=True)
    for chatter in ("Loading weights", "litlogger", "GPU available", "LeafSpec"):
        assert chatter in loud
