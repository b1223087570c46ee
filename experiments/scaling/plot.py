"""Draw and tabulate the data-scaling law from the committed runs: MAP against the vacancy pairs trained on.

    python experiments/scaling/plot.py [--out experiments/scaling]

Reads ``runs/<name>/results.json`` (``run.sh`` copies each finished run there; the pairs are the run's
``graphs.vacancy_skill.edges``, its cut ``config.task_mix.graphs.vacancy_skill.fraction``), fits MAP on
log2(pairs) per panel (:mod:`law`: macro MAP, job2skill, skill2job) where at least three runs exist, and writes
``scaling.png`` (the runs, the fitted line with its 95% band, the line carried on to the paper's 3.3M pairs, and
MiniLM zero-shot), ``results.json`` (the runs and each fit: MAP per doubling, the MAP it implies at 3.3M pairs,
the pairs a +7.9 gain over zero-shot would need) and ``results.md``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import sys
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
ZERO_SHOT = REPO / "experiments/baselines/minilm_zero_shot.results.json"
PAPER_PAIRS = 3_300_000  # the paper's job-skill pairs (TechWolf vacancies + generated pairs for rare skills)
PAPER_GAIN = 7.9  # the paper's macro MAP gain of UWE over its zero-shot backbone
PANELS = {"macro": "WorkBench-offline macro MAP (%)", "job2skill/test": "job2skill MAP (%)",
          "skill2job/test": "skill2job MAP (%)"}

_spec = importlib.util.spec_from_file_location("scaling_law", HERE / "law.py")
law = importlib.util.module_from_spec(_spec)
sys.modules["scaling_law"] = law  # dataclasses look their module up there
_spec.loader.exec_module(law)


def run_point(record: dict) -> dict:
    """One run's point: its pairs, cut, seed, machine and MAP (%) per panel."""
    graph = record["graphs"]["vacancy_skill"]
    return {"pairs": graph["edges"], "titles": graph["left"],
            "fraction": record["config"]["task_mix"]["graphs"]["vacancy_skill"].get("fraction", 1.0),
            "seed": record["config"]["seed"], "accelerator": record["libraries"]["accelerator"],
            "precision": record.get("precision"), "commit": (record.get("code") or {}).get("commit"),
            "map": panel_maps(record)}


def panel_maps(record: dict) -> dict[str, float]:
    """A results.json's MAP (%) per panel: the macro, or the task's."""
    return {panel: 100 * (record["macro"] if panel == "macro" else record["tasks"][panel]["metrics"])["map"]
            for panel in PANELS}


def zero_shot() -> dict[str, float]:
    return panel_maps(json.loads(ZERO_SHOT.read_text()))


def fit_line(points: list[dict], panel: str):
    """The panel's :class:`law.LogFit`; None with fewer than three runs (no uncertainty to give)."""
    if len(points) < 3 or len({p["pairs"] for p in points}) < 2:
        return None
    return law.fit_log2([p["pairs"] for p in points], [p["map"][panel] for p in points])


def implications(fit, base: float) -> dict:
    """What ``fit`` says: MAP per doubling, MAP at the paper's pairs (95% band), the pairs for zero-shot + 7.9."""
    low, high = fit.band([PAPER_PAIRS])
    need = fit.pairs_for(base + PAPER_GAIN)
    return {"per_doubling": fit.slope, "per_doubling_se": math.sqrt(fit.cov[1, 1]), "intercept": fit.intercept,
            "runs": fit.n, "at_paper_pairs": float(fit.predict([PAPER_PAIRS])[0]),
            "at_paper_pairs_95": [float(low[0]), float(high[0])], "zero_shot": base,
            "pairs_for_paper_gain": None if math.isinf(need) else need}


def draw(points: list[dict], lines: dict, bases: dict, path: Path) -> None:
    fig, axes = plt.subplots(1, len(PANELS), figsize=(5 * len(PANELS), 4))
    # from below the smallest cut (1/8 of the whole graph) to past the paper's pairs, whatever runs exist yet
    smallest = min(min(p["pairs"] for p in points), max(p["pairs"] / p["fraction"] for p in points) / 8)
    grid = np.geomspace(smallest / 1.5, PAPER_PAIRS * 1.5, 200)
    for ax, panel in zip(axes, PANELS):
        seeds = sorted({p["seed"] for p in points})
        for i, seed in enumerate(seeds):
            mine = [p for p in points if p["seed"] == seed]
            ax.scatter([p["pairs"] for p in mine], [p["map"][panel] for p in mine], color=f"C{i}", zorder=3,
                       label=f"runs, seed {seed}")
        line = lines[panel]
        if line is not None:
            measured = grid <= max(p["pairs"] for p in points)
            ax.plot(grid[measured], line.predict(grid[measured]), color="k", lw=1,
                    label=f"fit: {line.slope:+.2f} ± {math.sqrt(line.cov[1, 1]):.2f} per doubling")
            ax.plot(grid[~measured], line.predict(grid[~measured]), color="k", lw=1, ls="--")
            low, high = line.band(grid)
            ax.fill_between(grid, low, high, color="k", alpha=0.12, label="95% band of the line")
        ax.axhline(bases[panel], color="C3", ls=":", label="MiniLM zero-shot")
        ax.axvline(PAPER_PAIRS, color="grey", ls=":", lw=1)
        ax.text(PAPER_PAIRS, ax.get_ylim()[0], " paper's 3.3M", rotation=90, va="bottom", fontsize=8, color="grey")
        ax.set_xscale("log", base=2)
        ax.set_xlim(grid[0], grid[-1])
        ax.set_xlabel("vacancy job-skill pairs trained on (log2)")
        ax.set_ylabel(PANELS[panel])
        ax.legend(fontsize=7, loc="upper left")
    fig.suptitle("Data scaling of the cpu_long recipe (MiniLM): vacancy_skill cut to 1/8 ... 1/1 of its titles",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


def markdown(points: list[dict], fits: dict) -> str:
    lines = ["| cut | pairs | seed | macro MAP | job2skill | skill2job | machine |", "|---|---|---|---|---|---|---|"]
    for p in sorted(points, key=lambda p: (p["pairs"], p["seed"])):
        lines.append(f"| {p['fraction']:g} | {p['pairs']:,} | {p['seed']} | {p['map']['macro']:.2f} | "
                     f"{p['map']['job2skill/test']:.2f} | {p['map']['skill2job/test']:.2f} | "
                     f"{p['accelerator']}, {p['precision'] or 'precision not recorded'} |")
    for panel, fit in fits.items():
        if fit is None:
            lines.append(f"\n{panel}: no fit yet ({len(points)} run(s); a fit needs 3, over 2 sizes or more)")
            continue
        need = fit["pairs_for_paper_gain"]
        lines.append(f"\n{panel}: {fit['per_doubling']:+.2f} ± {fit['per_doubling_se']:.2f} MAP per doubling "
                     f"({fit['runs']} runs); at 3.3M pairs {fit['at_paper_pairs']:.2f} (95%: "
                     f"{fit['at_paper_pairs_95'][0]:.2f} to {fit['at_paper_pairs_95'][1]:.2f}); +{PAPER_GAIN} over "
                     f"zero-shot ({fit['zero_shot']:.2f}) needs "
                     + ("never (the slope is not positive)" if need is None else f"{need:,.0f} pairs"))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=Path, default=HERE / "runs", help="a folder of <run>/results.json")
    p.add_argument("--out", type=Path, default=HERE)
    args = p.parse_args(argv)
    files = sorted(args.runs.glob("*/results.json"))
    if not files:
        raise SystemExit(f"no run under {args.runs}: run experiments/scaling/run.sh first")
    points = [run_point(json.loads(f.read_text())) | {"run": f.parent.name} for f in files]
    bases = zero_shot()
    lines = {panel: fit_line(points, panel) for panel in PANELS}
    fits = {panel: None if line is None else implications(line, bases[panel]) for panel, line in lines.items()}
    args.out.mkdir(parents=True, exist_ok=True)
    draw(points, lines, bases, args.out / "scaling.png")
    summary = {"protocol": "cpu_long recipe (MiniLM, cosine, m2m InfoNCE, 500 steps, best val checkpoint), "
                           "vacancy_skill cut to a seeded nested fraction of its titles, full WorkBench test",
               "runs": points, "fits": fits, "zero_shot": bases, "paper_pairs": PAPER_PAIRS, "paper_gain": PAPER_GAIN}
    (args.out / "results.json").write_text(json.dumps(summary, indent=1) + "\n")
    (args.out / "results.md").write_text(markdown(points, fits))
    print(markdown(points, fits))
    print(f"wrote {args.out / 'scaling.png'}, results.json, results.md")


if __name__ == "__main__":
    main()
