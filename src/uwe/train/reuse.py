"""Runs that coincide are run once: a finished run whose training and test config equal this one's is reused.

Studies share runs (the all-graph ``m2m_infonce`` cosine run is a point of the transfer, loss and head studies).
``train.py reuse=[outputs/studies]`` looks for a finished ``results.json`` under those folders whose recorded
config equals this run's, except for what does not change the numbers (:data:`IGNORED`), and copies it instead
of training again. Only full, test-split results qualify.
"""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path

log = logging.getLogger("uwe.train")

IGNORED = (
    "paths", "logger", "reuse", "ckpt_path", "export", "refresh_cache",
    "data.root", "data.cache_dir", "data.use_cache",
    "trainer.enable_progress_bar", "trainer.enable_model_summary", "trainer.log_every_n_steps",
)


def run_key(config: dict) -> dict:
    """``config`` (a resolved train config) without the :data:`IGNORED` keys, dotted paths into nested dicts."""
    key = copy.deepcopy(config)
    for dotted in IGNORED:
        *parents, leaf = dotted.split(".")
        node = key
        for p in parents:
            node = node.get(p) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(leaf, None)
    return key


def find_finished(config: dict, roots: list[str | Path], exclude: Path | None = None) -> Path | None:
    """The first ``results.json`` under ``roots`` (sorted, recursively) of a full test-split run with this
    ``config``'s :func:`run_key`; ``exclude``: a folder whose own results never count (the run itself)."""
    want = run_key(config)
    for root in roots:
        root = Path(root)
        if not root.is_dir():
            log.warning("reuse: %s is not a folder; nothing reused from it", root)
            continue
        for path in sorted(root.rglob("results.json")):
            if exclude is not None and path.parent.resolve() == exclude.resolve():
                continue
            try:
                record = json.loads(path.read_text())
            except (OSError, json.JSONDecodeError):
                continue  # a run being written, or not a results file
            if record.get("split") != "test" or record.get("subsampled") or "config" not in record:
                continue
            if run_key(record["config"]) == want:
                return path
    return None


def reuse_record(found: Path, out: Path) -> dict:
    """Copy the finished run's record into ``out/results.json``, with ``reused_from`` naming its file."""
    record = json.loads(found.read_text())
    record["reused_from"] = str(found.resolve())
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(record, indent=2) + "\n")
    log.info("reusing the finished run %s: same training and test config, not trained again", found)
    return record
