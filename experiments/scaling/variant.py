"""What a run of the scaling study changed from the ``cpu_long`` recipe, and the folder name that says so.

    python experiments/scaling/variant.py outputs/cpu_long/latest/results.json     # prints the run's name

The study has three axes: the data (the ``vacancy_skill`` cut and the seed, in every name), the backbone (the
encoder) and the recipe (right nodes per graph and step, learning rate, steps). A run of the plain recipe is
``vacancy_<cut>_seed<seed>``; each setting that differs from :data:`RECIPE` is appended, e.g.
``vacancy_1_seed42_mpnet`` or ``vacancy_1_seed42_nodes512_steps125``.
"""

from __future__ import annotations

import json
import sys

RECIPE = {"encoder": "minilm", "nodes": 128, "lr": 3e-5, "steps": 500}
"""conf/experiment/cpu_long.yaml: the recipe every point of the scaling law is trained with."""


def settings(record: dict) -> dict:
    """A results.json's cut, seed and the :data:`RECIPE` settings it ran with."""
    config = record["config"]
    return {"fraction": float(config["task_mix"]["graphs"]["vacancy_skill"].get("fraction", 1.0)),
            "seed": int(config["seed"]), "encoder": config["encoder"]["name"],
            "nodes": int(config["batch"]["nodes"]), "lr": float(config["optimizer"]["lr"]),
            "steps": int(config["trainer"]["max_steps"])}


def changed(run: dict) -> dict:
    """The settings of ``run`` (:func:`settings`) that differ from :data:`RECIPE`, in its order.

    >>> changed({"fraction": 1.0, "seed": 42, "encoder": "minilm", "nodes": 512, "lr": 3e-5, "steps": 125})
    {'nodes': 512, 'steps': 125}
    """
    return {key: run[key] for key, value in RECIPE.items() if run[key] != value}


def run_name(run: dict) -> str:
    """The run's folder under ``runs/``: its cut and seed, then what it changed from the recipe.

    >>> run_name({"fraction": 0.125, "seed": 43, "encoder": "minilm", "nodes": 128, "lr": 3e-5, "steps": 500})
    'vacancy_0.125_seed43'
    >>> run_name({"fraction": 1.0, "seed": 42, "encoder": "mpnet", "nodes": 512, "lr": 8e-5, "steps": 125})
    'vacancy_1_seed42_mpnet_nodes512_lr8e-05_steps125'
    """
    parts = [f"vacancy_{run['fraction']:g}_seed{run['seed']}"]
    parts += [value if key == "encoder" else f"{key}{value:g}" for key, value in changed(run).items()]
    return "_".join(parts)


def label(run: dict) -> str:
    """A short legend for a run: the backbone and the recipe settings it changed.

    >>> label({"fraction": 1.0, "seed": 42, "encoder": "minilm", "nodes": 512, "lr": 8e-5, "steps": 125})
    'MiniLM, 512 nodes x 125 steps, lr 8e-05'
    >>> label({"fraction": 0.5, "seed": 42, "encoder": "mpnet", "nodes": 128, "lr": 3e-5, "steps": 500})
    'mpnet, cpu_long recipe'
    """
    diff = changed(run)
    words = ["MiniLM" if run["encoder"] == "minilm" else run["encoder"]]
    if "nodes" in diff or "steps" in diff:
        words.append(f"{run['nodes']} nodes x {run['steps']} steps")
    if "lr" in diff:
        words.append(f"lr {run['lr']:g}")
    return ", ".join(words if len(words) > 1 else words + ["cpu_long recipe"])


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python experiments/scaling/variant.py RUN/results.json")
    with open(sys.argv[1], encoding="utf-8") as f:
        print(run_name(settings(json.load(f))))
