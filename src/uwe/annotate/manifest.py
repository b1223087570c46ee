"""``_manifest.json``: what a run annotated with what.

It names the run (model, its checksum, its calibration's sha256, the options: what the rows depend on), uwe's
version and commit, every input file with its sha256, rows, parts and bad rows by kind, the bad files with
their reasons, and the totals. A run into a folder whose manifest names another run is refused unless
``--overwrite``. The parts' footers hold the same facts per part, so the manifest is rebuilt from them.
"""

from __future__ import annotations

import hashlib
import json
import time

from uwe.annotate.storage import read_bytes, write_whole
from uwe.errors import UserError

FILE = "_manifest.json"
FORMAT = "uwe-annotate/1"


def run_record(ranker, calibration, spec, options) -> dict:
    """What every output row depends on: the model, its calibration and the options."""
    from uwe.extract.store import model_checksum

    described = ranker.describe()
    return {
        "model": {"name": spec.model, "checksum": model_checksum(ranker.encoder, ranker.head),
                  "calibration_sha256": hashlib.sha256(json.dumps(calibration.record, sort_keys=True,
                                                                  default=str).encode()).hexdigest(),
                  **{k: described[k] for k in ("head", "pooling", "max_length", "layers", "dim", "backend")}},
        "options": options.to_dict(),
    }


def run_key(run: dict) -> str:
    return hashlib.sha256(json.dumps(run, sort_keys=True).encode()).hexdigest()


def read(fs, out: str) -> dict | None:
    """The manifest in ``out``, None when there is none; a damaged one is a UserError naming the fix."""
    path = f"{out}/{FILE}"
    try:
        data = read_bytes(fs, path)
    except FileNotFoundError:
        return None
    try:
        manifest = json.loads(data)
        assert manifest["format"] == FORMAT and "run" in manifest
    except (ValueError, KeyError, TypeError, AssertionError):
        raise UserError(f"{path} is not a uwe annotate manifest: pass --overwrite to replace it and the parts "
                        "this command wrote, or pick another --out") from None
    return manifest


def check_same_run(manifest: dict | None, run: dict, out: str) -> None:
    """A UserError when ``out`` holds another run's output (another model, calibration or options)."""
    if manifest is None or manifest["run"] == run:
        return
    old, new = manifest["run"], run
    if old["model"]["checksum"] != new["model"]["checksum"]:
        what = (f"model ({old['model']['name']} {old['model']['checksum'][:12]}, this run: {new['model']['name']} "
                f"{new['model']['checksum'][:12]})")
    elif old["model"] != new["model"]:
        changed = [k for k in new["model"] if old["model"].get(k) != new["model"][k]]
        what = f"model setting ({', '.join(changed)} differ)"
    else:
        what = "set of options (" + ", ".join(f"{k}: {old['options'].get(k)!r}, this run: {v!r}"
                                             for k, v in new["options"].items() if old["options"].get(k) != v) + ")"
    raise UserError(f"{out}/{FILE} holds annotations made with another {what}: pass --overwrite to redo them "
                    "all with this run's, or pick another --out")


def build(run: dict, input_uri: str, files: list, parts: dict[str, dict], bad_files: dict[str, str],
          code: dict, created_at: str | None, last_pass: dict | None = None) -> dict:
    """The manifest of ``files`` (:class:`uwe.annotate.inputs.InputFile`) and the ``parts`` now in the output;
    ``last_pass``: what the latest pass wrote, in how long, and its workers' peak memory."""
    from uwe import __version__

    by_input: dict[str, list[tuple[str, dict]]] = {}
    for name, meta in sorted(parts.items()):
        by_input.setdefault(meta["input"], []).append((name, meta))
    inputs, totals = [], {"rows": 0, "annotated": 0, "bad_rows": 0, "by_kind": {}}
    for f in files:
        done = [(name, meta) for name, meta in by_input.get(f.name, []) if meta["sha256"] == f.sha256]
        errors: dict[str, int] = {}
        for _, meta in done:
            for kind, n in meta["errors"].items():
                errors[kind] = errors.get(kind, 0) + n
        rows_done = sum(meta["rows"] for _, meta in done)
        annotated = sum(meta["annotated"] for _, meta in done)
        inputs.append({"path": f.name, "sha256": f.sha256, "bytes": f.size, "rows": f.rows,
                       "complete": rows_done == f.rows, "parts": [name for name, _ in done],
                       "annotated": annotated, "bad_rows": errors})
        totals["rows"] += rows_done
        totals["annotated"] += annotated
        totals["bad_rows"] += sum(errors.values())
        for kind, n in errors.items():
            totals["by_kind"][kind] = totals["by_kind"].get(kind, 0) + n
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return {"format": FORMAT, "run": run, "uwe": {"version": __version__, "code": code}, "input": input_uri,
            "created_at": created_at or now, "updated_at": now, "inputs": inputs,
            "bad_files": [{"path": path, "reason": reason} for path, reason in sorted(bad_files.items())],
            "totals": {**totals, "files": len(files), "bad_files": len(bad_files),
                       "parts": sum(len(i["parts"]) for i in inputs)}, "last_pass": last_pass or {}}


def write(fs, out: str, manifest: dict) -> None:
    write_whole(fs, f"{out}/{FILE}", json.dumps(manifest, indent=1, ensure_ascii=False).encode())
