"""Draw and tabulate the scaling study from the committed runs: the data-scaling law (MAP against the vacancy
pairs trained on) and what data, backbone and recipe each move.

    python experiments/scaling/plot.py [--out experiments/scaling]

Reads ``runs/<name>/results.json`` (``run.sh`` copies each finished run there; the pairs are the run's
``graphs.vacancy_skill.edges``, its cut ``config.task_mix.graphs.vacancy_skill.fraction``). The runs of the plain
``cpu_long`` recipe (:mod:`variant`) fit MAP on log2(pairs) per panel (:mod:`law`: macro MAP, job2skill,
skill2job) where at least three exist. Writes ``scaling.png`` (those runs, the fitted line with its 95% band, the
line carried on to the paper's 3.3M pairs, and MiniLM zero-shot), ``limits.png`` (macro MAP of every run and both
zero-shot backbones, by what it changed), ``results.json`` (the runs and each fit: MAP per doubling, the MAP it
implies at 3.3M pairs, the pairs a +7.9 gain over zero-shot would need, what a run on 10k ... 3.3M pairs should
give) and ``results.md``.
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
ZERO_SHOT = {name: REPO / f"experiments/baselines/{name}_zero_shot.results.json" for name in ("minilm", "mpnet")}
PAPER_MACRO = {"UWE": 40.2, "all-mpnet-base-v2 zero-shot": 32.3}  # the paper's table (ESCO v1.2.0, SkillMatch-1K)
PAPER_PAIRS = 3_300_000  # the paper's job-skill pairs (TechWolf vacancies + generated pairs for rare skills)
PAPER_GAIN = 7.9  # the paper's macro MAP gain of UWE over its zero-shot backbone
EXPECT_PAIRS = (10_000, 30_000, 100_000, 300_000, 1_000_000, PAPER_PAIRS)  # "what should N pairs give?"
PANELS = {"macro": "WorkBench-offline macro MAP (%)", "job2skill/test": "job2skill MAP (%)",
          "skill2job/test": "skill2job MAP (%)"}



def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"scaling_{name}", HERE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


law, variant = _load("law"), _load("variant")


def run_point(record: dict) -> dict:
    """One run's point: its pairs, settings (cut, seed, backbone, recipe), what it changed from ``cpu_long``,
    machine and MAP (%) per panel."""
    graph, run = record["graphs"]["vacancy_skill"], variant.settings(record)
    return {"pairs": graph["edges"], "titles": graph["left"], **run, "changed": variant.changed(run),
            "label": variant.label(run), "accelerator": record["libraries"]["accelerator"],
            "precision": record.get("precision"), "commit": (record.get("code") or {}).get("commit"),
            "map": panel_maps(record)}


def panel_maps(record: dict) -> dict[str, float]:
    """A results.json's MAP (%) per panel: the macro, or the task's."""
    return {panel: 100 * (record["macro"] if panel == "macro" else record["tasks"][panel]["metrics"])["map"]
            for panel in PANELS}


def zero_shot(backbone: str = "minilm") -> dict[str, float]:
    """The backbone's zero-shot MAP (%) per panel (experiments/baselines)."""
    return panel_maps(json.loads(ZERO_SHOT[backbone].read_text()))


def fit_line(points: list[dict], panel: str):
    """The panel's :class:`law.LogFit`; None with fewer than three runs (no uncertainty to give)."""
    if len(points) < 3 or len({p["pairs"] for p in points}) < 2:
        return None
    return law.fit_log2([p["pairs"] for p in points], [p["map"][panel] for p in points])


def implications(fit, base: float, measured: tuple[int, int]) -> dict:
    """What ``fit`` says: MAP per doubling, MAP at the paper's pairs (95% band), the pairs for zero-shot + 7.9, and
    what a run on each of ``EXPECT_PAIRS`` should give (the line, its 95% band, the 95% interval of one run, and
    whether that is outside the ``measured`` (smallest, largest) pairs)."""
    need = fit.pairs_for(base + PAPER_GAIN)
    mid, (line_low, line_high), (run_low, run_high) = (fit.predict(EXPECT_PAIRS), fit.band(EXPECT_PAIRS),
                                                       fit.band(EXPECT_PAIRS, new_run=True))
    expect = [{"pairs": n, "map": float(mid[i]), "line_95": [float(line_low[i]), float(line_high[i])],
               "run_95": [float(run_low[i]), float(run_high[i])], "extrapolated": not measured[0] <= n <= measured[1]}
              for i, n in enumerate(EXPECT_PAIRS)]
    paper = expect[EXPECT_PAIRS.index(PAPER_PAIRS)]
    return {"per_doubling": fit.slope, "per_doubling_se": math.sqrt(fit.cov[1, 1]), "intercept": fit.intercept,
            "runs": fit.n, "residual_sd": math.sqrt(fit.sigma2), "at_paper_pairs": paper["map"],
            "at_paper_pairs_95": paper["line_95"], "zero_shot": base,
            "pairs_for_paper_gain": None if math.isinf(need) else need, "expect": expect}


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


def limit_rows(points: list[dict], bases: dict) -> list[tuple[str, str, list[float]]]:
    """The rows of ``limits.png``, top to bottom: (axis, label, macro MAP of each seed). Data: MiniLM zero-shot
    and each cut of the plain recipe; backbone: mpnet zero-shot and the runs on another encoder; recipe: the
    MiniLM runs that changed nodes, lr or steps."""
    rows = [("data", "MiniLM zero-shot", [bases["minilm"]])]
    groups: dict[tuple[str, str], list[float]] = {}
    for p in sorted(points, key=lambda p: (p["encoder"] != "minilm", bool(p["changed"]), p["fraction"], p["label"])):
        axis = "data" if not p["changed"] else "backbone" if "encoder" in p["changed"] else "recipe"
        cut = f"1/{round(1 / p['fraction'])} of vacancy_skill" if p["fraction"] < 1 else "whole graph"
        name = f"MiniLM, {cut} ({p['pairs']:,} pairs)" if axis == "data" else f"{p['label']}, {cut}"
        groups.setdefault((axis, name), []).append(p["map"]["macro"])
    rows += [(axis, name, values) for (axis, name), values in groups.items() if axis == "data"]
    rows.append(("backbone", "mpnet zero-shot", [bases["mpnet"]]))
    rows += [(axis, name, values) for (axis, name), values in groups.items() if axis != "data"]
    return rows


def draw_limits(rows: list[tuple[str, str, list[float]]], path: Path) -> None:
    colours = {"data": "C0", "backbone": "C1", "recipe": "C2"}
    fig, ax = plt.subplots(figsize=(9, 0.42 * len(rows) + 1.8))
    for y, (axis, name, values) in enumerate(reversed(rows)):
        ax.scatter(values, [y] * len(values), color=colours[axis], zorder=3)
        mean = f"{np.mean(values):.2f}" + (f" (mean of {len(values)})" if len(values) > 1 else "")
        ax.text(max(values) + 0.15, y, mean, va="center", fontsize=8)
    ax.set_yticks(range(len(rows)), [f"{axis}: {name}" for axis, name, _ in reversed(rows)], fontsize=8)
    for i, (name, value) in enumerate(PAPER_MACRO.items()):
        ax.axvline(value, color="grey", ls=":" if i else "--", lw=1, label=f"paper: {name} {value}")
    ax.set_xlabel("WorkBench-offline macro MAP (%), full test; each dot one run (seed)")
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title("What moves the number: data, backbone, recipe\n(the paper's lines: ESCO v1.2.0, SkillMatch-1K; "
                 "here: v1.1.1, the skillsim surrogate)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


def markdown(points: list[dict], fits: dict) -> str:
    law_runs = [p for p in points if not p["changed"]]
    lines = ["| cut | pairs | seed | backbone, recipe | macro MAP | job2skill | skill2job | machine |",
             "|---|---|---|---|---|---|---|---|"]
    for p in sorted(points, key=lambda p: (bool(p["changed"]), p["label"], p["pairs"], p["seed"])):
        lines.append(f"| {p['fraction']:g} | {p['pairs']:,} | {p['seed']} | {p['label']} | {p['map']['macro']:.2f} | "
                     f"{p['map']['job2skill/test']:.2f} | {p['map']['skill2job/test']:.2f} | "
                     f"{p['accelerator']}, {p['precision'] or 'precision not recorded'} |")
    for panel, fit in fits.items():
        if fit is None:
            lines.append(f"\n{panel}: no fit yet ({len(law_runs)} run(s) of the plain recipe; a fit needs 3, over 2 "
                         "sizes or more)")
            continue
        need = fit["pairs_for_paper_gain"]
        lines.append(f"\n{panel}: {fit['per_doubling']:+.2f} ± {fit['per_doubling_se']:.2f} MAP per doubling "
                     f"({fit['runs']} runs); at 3.3M pairs {fit['at_paper_pairs']:.2f} (95%: "
                     f"{fit['at_paper_pairs_95'][0]:.2f} to {fit['at_paper_pairs_95'][1]:.2f}); +{PAPER_GAIN} over "
                     f"zero-shot ({fit['zero_shot']:.2f}) needs "
                     + ("never (the slope is not positive)" if need is None else f"{need:,.0f} pairs"))
    if fits.get("macro") is not None:
        lines += ["", "What a run on N vacancy pairs should give (macro MAP; the cpu_long recipe on MiniLM, the other "
                  "default graphs whole; * outside the measured sizes: the line carried on):", "",
                  "| vacancy pairs | fitted | 95% band of the line | 95% interval of one run | over MiniLM zero-shot |",
                  "|---|---|---|---|---|"]
        base = fits["macro"]["zero_shot"]
        for e in fits["macro"]["expect"]:
            lines.append(f"| {e['pairs']:,}{'*' if e['extrapolated'] else ''} | {e['map']:.2f} | "
                         f"{e['line_95'][0]:.2f} to {e['line_95'][1]:.2f} | {e['run_95'][0]:.2f} to "
                         f"{e['run_95'][1]:.2f} | {e['map'] - base:+.2f} |")
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
    law_runs = [p for p in points if not p["changed"]]  # the plain cpu_long recipe: the scaling law's points
    if not law_runs:
        raise SystemExit(f"no run of the plain cpu_long recipe under {args.runs}: the law has no point yet")
    bases = {backbone: zero_shot(backbone) for backbone in ZERO_SHOT}
    lines = {panel: fit_line(law_runs, panel) for panel in PANELS}
    measured = (min(p["pairs"] for p in law_runs), max(p["pairs"] for p in law_runs))
    fits = {panel: None if line is None else implications(line, bases["minilm"][panel], measured)
            for panel, line in lines.items()}
    args.out.mkdir(parents=True, exist_ok=True)
    draw(law_runs, lines, bases["minilm"], args.out / "scaling.png")
    draw_limits(limit_rows(points, {b: v["macro"] for b, v in bases.items()}), args.out / "limits.png")
    summary = {"protocol": "cpu_long recipe (MiniLM, cosine, m2m InfoNCE, 128 nodes, lr 3e-5 with 10% warm-up, "
                           "500 steps, best val checkpoint), vacancy_skill cut to a seeded nested fraction of its "
                           "titles, full WorkBench test; runs that change the backbone or the recipe say so in "
                           "'changed' and are left out of the fits",
               "runs": points, "fits": fits, "zero_shot": bases, "paper_pairs": PAPER_PAIRS, "paper_gain": PAPER_GAIN,
               "paper_macro": PAPER_MACRO}
    (args.out / "results.json").write_text(json.dumps(summary, indent=1) + "\n")
    (args.out / "results.md").write_text(markdown(points, fits))
    print(markdown(points, fits))
    print(f"wrote {args.out / 'scaling.png'}, limits.png, results.json, results.md")


if __name__ == "__main__":
    main()
