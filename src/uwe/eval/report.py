"""Results files: ``results.json`` (everything needed to trust and reproduce a number) and ``results.md``."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from uwe.data import PROTOCOL
from uwe.data.tasks.registry import TASKS
from uwe.eval.evaluate import METRICS, TaskResult

LIBRARIES = ("uwe", "torch", "transformers", "tokenizers", "safetensors", "lightning", "hydra-core", "omegaconf",
             "numpy", "pandas", "rank-bm25", "wandb", "sentence-transformers")


def accelerator() -> str:
    """The GPU that torch sees (its name), else ``cpu (<model name>, <n> cores)``: where a run's numbers were
    computed. CPU speeds and bf16 support differ between machines of one name (``x86_64``), so the CPU's model
    name is read from ``/proc/cpuinfo`` where there is one."""
    import torch

    if torch.cuda.is_available():
        return torch.cuda.get_device_name(torch.cuda.current_device())
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"cpu ({cpu_model()}, {cores} cores)"


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU's model name (``AMD EPYC 7B13``, ``Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz``), else the
    processor or machine name ``platform`` gives."""
    try:
        for line in cpuinfo.read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def library_versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0], "platform": platform.platform(), "accelerator": accelerator()}
    for lib in LIBRARIES:
        try:
            out[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            out[lib] = "not installed"
    return out


def code_version(repo: Path = Path(__file__).resolve().parents[3]) -> dict:
    """The git commit of the uwe source tree that produced a result, and whether it had uncommitted changes
    (``{"commit": None}`` outside a git checkout, e.g. an installed wheel). A copy of the tree without ``.git``
    (a remote GPU machine's) names its commit in ``UWE_CODE_COMMIT``: ``{"commit": ..., "from": "UWE_CODE_COMMIT"}``."""
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        named = os.environ.get("UWE_CODE_COMMIT")
        return {"commit": named, "from": "UWE_CODE_COMMIT"} if named else {"commit": None}
    return {"commit": commit, "dirty": bool(git("status", "--porcelain", "--untracked-files=no", "--", "src", "conf"))}


def build_record(results: dict[str, TaskResult], macro: dict | None, model: dict, config: dict,
                 split: str, wall_time_s: float, unverified: list[str] = ()) -> dict:
    """``unverified``: raw files (``source/file``) that are not their known release; a record built from any
    has the protocol ``<PROTOCOL> UNVERIFIED`` and lists them in ``unverified_sources``."""
    data = {}
    for r in results.values():
        data.update(r.sources)
    return {
        "protocol": PROTOCOL + (" UNVERIFIED" if unverified else ""),
        "unverified_sources": list(unverified),
        "split": split,
        "model": model,
        "data_sources": data,
        "macro": macro,
        "macro_groups": sorted({t.group for t in TASKS.values() if t.group}),
        "tasks": {k: r.to_dict() for k, r in results.items()},
        "subsampled": any(r.subsampled for r in results.values()),
        "wall_time_s": round(wall_time_s, 1),
        "libraries": library_versions(),
        "code": code_version(),
        "config": config,
    }


def format_table(record: dict, metrics=METRICS) -> str:
    """A Markdown table in percent: WorkBench tasks, their macro, then the tasks reported apart."""
    head = "| task | queries x targets | " + " | ".join(m.upper() for m in metrics) + " |"
    rows = [head, "|" + "---|" * (len(metrics) + 2)]

    def row(name: str, r: dict) -> str:
        size = f"{r['evaluated_queries']:,} x {r['sizes']['targets']:,}"
        note = " (subsampled)" if r["subsampled"] else ""
        note += " (surrogate)" if r.get("surrogate") else ""
        return f"| {name}{note} | {size} | " + " | ".join(f"{100 * r['metrics'][m]:.2f}" for m in metrics) + " |"

    tasks = record["tasks"]
    apart = [k for k in tasks if TASKS[k.split("/")[0]].group is None]
    rows += [row(k, tasks[k]) for k in tasks if k not in apart]
    if record["macro"]:
        rows.append("| **macro (6 groups)** | | " + " | ".join(f"**{100 * record['macro'][m]:.2f}**" for m in metrics) + " |")
    rows += [row(k, tasks[k]) for k in apart]
    rows += graded_table(record)
    if record.get("unverified_sources"):
        rows.append(f"\nUNVERIFIED: built from raw files that are not the known release "
                    f"({', '.join(record['unverified_sources'])}); not comparable to the benchmark")
    return "\n".join(rows)


GRADED_COLUMNS = ("map", "map_graded", "ndcg@10", "ndcg@10_graded")


def graded_table(record: dict) -> list[str]:
    """Lines of a Markdown table of the tasks evaluated with graded relevance (none: no line)."""
    graded = {k: r for k, r in record["tasks"].items() if "map_graded" in r["metrics"]}
    if not graded:
        return []
    lines = ["", "Graded relevance (ESCO essential 2, optional 1; uwe.eval.graded):", "",
             "| task | " + " | ".join(m.upper() for m in GRADED_COLUMNS) + " |", "|" + "---|" * (len(GRADED_COLUMNS) + 1)]
    return lines + [f"| {k} | " + " | ".join(f"{100 * r['metrics'][m]:.2f}" for m in GRADED_COLUMNS) + " |"
                    for k, r in graded.items()]


def write_results(out_dir: Path, record: dict) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    js, md = out_dir / "results.json", out_dir / "results.md"
    js.write_text(json.dumps(record, indent=1, default=str))
    model = record["model"]
    title = model.get("encoder") or model.get("name")
    md.write_text(
        f"# {record['protocol']} / {record['split']}: {title} ({model.get('head', model['kind'])})\n\n"
        + format_table(record)
        + f"\n\nWall time {record['wall_time_s']} s. Full record: results.json.\n"
    )
    return js, md
