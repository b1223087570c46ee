"""Validation curves of training runs: val/macro_map (and each task's val MAP) against the step.

    python experiments/plot_val_curve.py NAME=outputs/run/results.json [NAME=...] --out experiments/cpu_long/val_curve.png \
        [--baseline "zero-shot=0.3376" ...]

A run's curve is its results.json's ``val_curve`` (one entry per validation, written by train.py). For a
run whose results.json predates that field, pass its ``train.log`` instead (NAME=path/train.log): the
``step N  val/macro_map X`` lines give the macro curve (per-task curves then are not available).
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

LOG_LINE = re.compile(r"step (\d+)\s+val/macro_map ([0-9.]+)")
NOT_TASKS = {"step", "macro_map", "macro_rp@10"}


def read_curve(path: Path) -> list[dict]:
    """``[{"step", "macro_map", <task>: map, ...}]`` from a results.json (``val_curve``) or a train.log."""
    if path.suffix == ".json":
        curve = json.loads(path.read_text()).get("val_curve")
        if not curve:
            raise SystemExit(f"{path} has no val_curve (written by train.py since the cpu_long recipe); "
                             "pass the run's train.log instead")
        return curve
    curve = [{"step": int(m.group(1)), "macro_map": float(m.group(2))} for m in LOG_LINE.finditer(path.read_text())]
    if not curve:
        raise SystemExit(f"{path} has no 'step N  val/macro_map X' lines")
    return curve


def plot(curves: dict[str, list[dict]], out: Path, baselines: dict[str, float] | None = None) -> None:
    """One panel of val/macro_map per run set, plus one panel of per-task val MAP for each run that has them."""
    with_tasks = {n: c for n, c in curves.items() if set(c[0]) - NOT_TASKS}
    fig, axes = plt.subplots(1, 1 + len(with_tasks), figsize=(5.5 * (1 + len(with_tasks)), 4), squeeze=False)
    ax = axes[0][0]
    for name, curve in curves.items():
        best = max(curve, key=lambda v: v["macro_map"])
        ax.plot([v["step"] for v in curve], [100 * v["macro_map"] for v in curve], marker="o", label=name)
        ax.annotate(f"best {100 * best['macro_map']:.2f}", (best["step"], 100 * best["macro_map"]),
                    textcoords="offset points", xytext=(0, 6), ha="center", fontsize=8)
    for (label, value), style in zip((baselines or {}).items(), ("--", ":", "-.")):
        ax.axhline(100 * value, color="grey", linestyle=style, label=label)
    ax.set(xlabel="step", ylabel="val macro MAP (%)", title="validation (sub-sampled val splits)")
    ax.legend(fontsize=8)
    for ax, (name, curve) in zip(axes[0][1:], with_tasks.items()):
        for task in [k for k in curve[0] if k not in NOT_TASKS]:
            ax.plot([v["step"] for v in curve], [100 * v[task] for v in curve], marker=".", label=task)
        ax.set(xlabel="step", ylabel="val MAP (%)", title=f"{name}: per task")
        ax.legend(fontsize=7)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    print(f"wrote {out}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", help="NAME=path/results.json or NAME=path/train.log")
    p.add_argument("--out", required=True, type=Path, help="the PNG to write")
    p.add_argument("--baseline", action="append", default=[], metavar="LABEL=VALUE",
                   help="a horizontal reference line, val macro MAP in 0-1 (repeatable)")
    args = p.parse_args()
    curves = {}
    for spec in args.runs:
        name, _, path = spec.partition("=")
        if not path or not Path(path).is_file():
            raise SystemExit(f"expected NAME=path/to/results.json|train.log, got {spec!r} (file not found)")
        curves[name] = read_curve(Path(path))
    baselines = {}
    for spec in args.baseline:
        label, _, value = spec.rpartition("=")
        try:
            baselines[label or "baseline"] = float(value)
        except ValueError:
            raise SystemExit(f"--baseline expects LABEL=VALUE with VALUE a number in 0-1, got {spec!r}") from None
    plot(curves, args.out, baselines)


if __name__ == "__main__":
    main()
