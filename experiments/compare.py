"""Compare results.json files: a Markdown table and a per-task bar chart (MAP, percent).

    python experiments/compare.py NAME=outputs/run/results.json [NAME=...] --out experiments/baselines

Writes ``<out>/results.md`` and ``<out>/map_by_task.png``; each row keeps the protocol and model it came from.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

METRICS = ("map", "rp@10")


def load(specs: list[str]) -> dict[str, dict]:
    runs = {}
    for spec in specs:
        name, _, path = spec.partition("=")
        if not path or not Path(path).is_file():
            raise SystemExit(f"expected NAME=path/to/results.json, got {spec!r} (file not found)")
        runs[name] = json.loads(Path(path).read_text())
    return runs


def table(runs: dict[str, dict]) -> str:
    tasks = list(next(iter(runs.values()))["tasks"])
    head = "| model | " + " | ".join(t.split("/")[0] for t in tasks) + " | macro MAP | macro RP@10 |"
    rows = [head, "|" + "---|" * (len(tasks) + 3)]
    for name, r in runs.items():
        cells = [f"{100 * r['tasks'][t]['metrics']['map']:.2f}" if t in r["tasks"] else "" for t in tasks]
        macro = r.get("macro") or {}
        rows.append(f"| {name} | " + " | ".join(cells) + " | "
                    + " | ".join(f"**{100 * macro[m]:.2f}**" if m in macro else "" for m in METRICS) + " |")
    return "\n".join(rows)


def plot(runs: dict[str, dict], path: Path) -> None:
    tasks = list(next(iter(runs.values()))["tasks"])
    width = 0.8 / len(runs)
    fig, ax = plt.subplots(figsize=(12, 4.5))
    for i, (name, r) in enumerate(runs.items()):
        values = [100 * r["tasks"][t]["metrics"]["map"] if t in r["tasks"] else 0 for t in tasks]
        ax.bar([x + i * width for x in range(len(tasks))], values, width, label=name)
    ax.set_xticks([x + 0.4 - width / 2 for x in range(len(tasks))])
    ax.set_xticklabels([t.split("/")[0] for t in tasks], rotation=30, ha="right")
    ax.set_ylabel("MAP (%)")
    ax.set_title(f"{next(iter(runs.values()))['protocol']}, test split")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", help="NAME=path/to/results.json")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args()
    runs = load(args.runs)
    args.out.mkdir(parents=True, exist_ok=True)
    md = table(runs)
    sources = "\n".join(f"- {n}: model {json.dumps(r['model'].get('encoder') or r['model'].get('name'))}, "
                        f"head {r['model'].get('head', '-')}, split {r['split']}, wall {r['wall_time_s']} s"
                        for n, r in runs.items())
    (args.out / "results.md").write_text(f"# MAP (%) per task, test split\n\n{md}\n\n{sources}\n")
    plot(runs, args.out / "map_by_task.png")
    print(md)
    print(f"\nwrote {args.out / 'results.md'} and {args.out / 'map_by_task.png'}")


if __name__ == "__main__":
    main()
