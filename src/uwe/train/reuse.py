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
    "paths", "logger", "reuse", "ckpt_path", "save_every_n_steps", "export", "refresh_cache",
    "data.root", "data.cache_dir", "data.use_cache",
    "trainer.enable_progress_bar", "trainer.enable_model_summary", "trainer.log_every_n_steps",
)


# Keys added after runs were recorded, with the value that changes nothing: a run recorded before them equals
# one with them at that value. ``preferences`` and ``batch.triples`` are read by preference losses only.
INERT = {"init_from": None, "val.at_start": False, "mining.negatives": 0, "matryoshka.name": "none"}
WHOLE = {"mining.negatives": "mining", "matryoshka.name": "matryoshka"}  # at its inert value, the group goes
TRIPLES_ONLY = ("preferences", "batch.triples")


def run_key(config: dict) -> dict:
    """``config`` (a resolved train config) without the :data:`IGNORED` keys, dotted paths into nested dicts, and
    without the :data:`INERT` keys at their inert value (with ``mining`` whole when it mines nothing, ``matryoshka``
    whole when it is ``none``) and, unless the loss is ``rankpo``, the keys only a preference loss reads."""
    key = copy.deepcopy(config)
    drop = [k for k, inert in INERT.items() if _get(key, k, inert) == inert]
    drop = [WHOLE.get(k, k) for k in drop]
    if (key.get("loss") or {}).get("name") != "rankpo":
        drop += TRIPLES_ONLY
    for dotted in (*IGNORED, *drop):
        *parents, leaf = dotted.split(".")
        node = key
        for p in parents:
            node = node.get(p) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(leaf, None)
    return key


def _get(config: dict, dotted: str, default):
    node = config
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node


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
