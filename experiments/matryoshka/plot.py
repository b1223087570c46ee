"""The depth x width study: macro MAP of each (layers, dim) view against its latency and its cached space.

    python experiments/matryoshka/plot.py [--outputs outputs/matryoshka] [--out experiments/matryoshka]

Reads the grid's eval.py runs (``outputs/matryoshka/<model>_L<layers>_d<dim>/results.json``, from grid.sh; copied
into ``<out>/runs/``), the full models' own test records (``FULL`` below) and the latency bench
(``<out>/latency.json``, from ``bench/bench_depth_width.py --out``). Writes ``results.md``, ``map_vs_latency.png``
and ``map_vs_memory.png`` (each model's Pareto front drawn: the views no other view beats on both axes).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
# The full (6 layers, 384 dims) models' test records: zero-shot MiniLM, the CPU cpu_long checkpoint the grid cut
# (the plain model), and the same recipe with matryoshka=2d, trained on an H200 (experiments/h200), seed 42.
FULL = {"minilm": REPO / "experiments/baselines/minilm_zero_shot.results.json",
        "cpu_long": REPO / "experiments/rankpo/runs/all_m2m_infonce_cosine_seed42/results.json",
        "matryoshka_h200": REPO / "experiments/matryoshka/runs/all_m2m_infonce+matryoshka-2d_cosine_seed42_h200/results.json"}
NAMES = {"minilm": "MiniLM zero-shot", "cpu_long": "UWE cpu_long (plain)",
         "matryoshka_h200": "UWE cpu_long + 2D Matryoshka"}
RUN = re.compile(r"(?P<model>\w+?)_L(?P<layers>\d+)_d(?P<dim>\d+)$")


def collect(outputs: Path, out: Path) -> dict[tuple[str, int, int], float]:
    """(model, layers, dim) -> macro MAP (%) of every grid run and full model: grid runs in ``outputs`` are first
    copied into ``out/runs``, then every grid run there is read (the committed ones included)."""
    maps = {(model, 6, 384): 100 * json.loads(path.read_text())["macro"]["map"]
            for model, path in FULL.items() if path.is_file()}
    for run in sorted(outputs.glob("*/results.json")):
        if RUN.match(run.parent.name):
            dest = out / "runs" / run.parent.name
            dest.mkdir(parents=True, exist_ok=True)
            shutil.copy(run, dest / "results.json")
    for run in sorted((out / "runs").glob("*/results.json")):
        match = RUN.match(run.parent.name)
        if match is not None:
            maps[(match["model"], int(match["layers"]), int(match["dim"]))] = \
                100 * json.loads(run.read_text())["macro"]["map"]
    return maps


def pareto(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The points (cost, quality) that no other point beats on both: lower cost and higher quality, by cost.

    >>> pareto([(1, 5), (2, 4), (3, 9), (4, 8)])
    [(1, 5), (3, 9)]
    """
    front, best = [], float("-inf")
    for cost, quality in sorted(points, key=lambda p: (p[0], -p[1])):
        if quality > best:
            front.append((cost, quality))
            best = quality
    return front


def draw(maps, cost: dict[tuple[int, int], float], label: str, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for model, name in NAMES.items():
        points = [(cost[(layers, dim)], value, layers, dim) for (m, layers, dim), value in maps.items()
                  if m == model and (layers, dim) in cost]
        if not points:
            continue
        scatter = ax.scatter([p[0] for p in points], [p[1] for p in points], label=name)
        for x, y, layers, dim in points:
            ax.annotate(f"{layers}x{dim}", (x, y), textcoords="offset points", xytext=(4, 3), fontsize=7)
        front = pareto([(p[0], p[1]) for p in points])
        ax.plot([p[0] for p in front], [p[1] for p in front], color=scatter.get_facecolor()[0], alpha=0.6)
    ax.set(xlabel=label, ylabel="macro MAP (%), WorkBench test", title="2D Matryoshka views (layers x dims)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--outputs", type=Path, default=REPO / "outputs/matryoshka")
    p.add_argument("--out", type=Path, default=REPO / "experiments/matryoshka")
    args = p.parse_args()
    maps = collect(args.outputs, args.out)
    bench = json.loads((args.out / "latency.json").read_text())["views"]
    latency = {(v["layers"], v["dim"]): v["p50_ms"] for v in bench.values()}
    memory = {(v["layers"], v["dim"]): v["space_bytes"] / 2**20 for v in bench.values()}
    draw(maps, latency, "single-query p50 (ms, one thread, ONNX)", args.out / "map_vs_latency.png")
    draw(maps, memory, "cached ESCO skill space (MB)", args.out / "map_vs_memory.png")
    views = sorted({(layers, dim) for _, layers, dim in maps}, key=lambda v: (-v[0], -v[1]))
    rows = ["| layers x dims | " + " | ".join(f"{name} macro MAP" for name in NAMES.values())
            + " | p50 (ms) | space (MB) |", "|---|" + "---|" * (len(NAMES) + 2)]
    for view in views:
        values = [f"{maps[(model, *view)]:.2f}" if (model, *view) in maps else "-" for model in NAMES]
        rows.append(f"| {view[0]} x {view[1]} | " + " | ".join(values)
                    + f" | {latency.get(view, float('nan')):.2f} | {memory.get(view, float('nan')):.1f} |")
    (args.out / "results.md").write_text("\n".join(rows) + "\n")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
