"""Draw the own-data study from its committed results: held-out O*NET MAP per model, and WorkBench macro MAP.

    python experiments/own_data/plot.py [--out experiments/own_data/own_data.png]

Reads ``runs/<model>/<kind>/results.json`` (``uwe evaluate --out``; kinds ``title_occupation`` and
``occupation_tech``) and the WorkBench test record named in MODELS (the macro of the same model), for every
file that exists; a model without a file is left out of that panel.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
# folder under runs/ -> (label, the results.json of its WorkBench test run)
MODELS = {
    "minilm_zero_shot": ("MiniLM zero-shot", REPO / "experiments/baselines/minilm_zero_shot.results.json"),
    "cpu_long": ("UWE cpu_long", HERE / "runs/cpu_long/train/results.json"),  # the run evaluated on the held-out half
    "adapted": ("UWE cpu_long + own O*NET pairs", HERE / "runs/adapted/train/results.json"),
}
KINDS = {"title_occupation": "alternate title -> occupation\n(25,816 queries x 1,016)",
         "occupation_tech": "occupation -> technology skill\n(458 queries x 8,768)"}


def held_out_map(model: str, kind: str) -> float | None:
    path = HERE / "runs" / model / kind / "results.json"
    if not path.is_file():
        return None
    (entry,) = json.loads(path.read_text())["custom"].values()
    return 100 * entry["metrics"]["map"]


def macro_map(path: Path) -> float | None:
    return 100 * json.loads(path.read_text())["macro"]["map"] if path.is_file() else None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=HERE / "own_data.png")
    args = p.parse_args()
    fig, (held, macro) = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [2, 1]})
    width = 0.8 / len(MODELS)
    for i, (model, (label, _)) in enumerate(MODELS.items()):
        values = [held_out_map(model, kind) for kind in KINDS]
        if all(v is None for v in values):
            continue
        xs = [k + (i - (len(MODELS) - 1) / 2) * width for k in range(len(KINDS))]
        bars = held.bar([x for x, v in zip(xs, values) if v is not None], [v for v in values if v is not None],
                        width, label=label, color=f"C{i}")
        held.bar_label(bars, fmt="%.1f", fontsize=8)
    held.set_xticks(range(len(KINDS)), list(KINDS.values()), fontsize=9)
    held.set_ylabel("MAP (%) on the held-out half of O*NET")
    held.set_title("Held-out O*NET occupations, ranked against the whole taxonomy", fontsize=10)
    held.legend(fontsize=8, loc="upper right")
    names, values, colors = [], [], []
    for i, (model, (label, path)) in enumerate(MODELS.items()):
        value = macro_map(path)
        if value is not None:
            names.append(label.replace(" + ", "\n+ "))
            values.append(value)
            colors.append(f"C{i}")
    bars = macro.bar(range(len(values)), values, color=colors)
    macro.bar_label(bars, fmt="%.2f", fontsize=8)
    macro.set_xticks(range(len(values)), names, fontsize=8)
    macro.set_ylim(min(values) - 3, max(values) + 1.5)
    macro.set_ylabel("WorkBench-offline macro MAP (%)")
    macro.set_title("What adapting costs on ESCO", fontsize=10)
    fig.tight_layout()
    fig.savefig(args.out, dpi=130)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
