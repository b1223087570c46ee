"""Draw a study's tables and plots from its results.json files alone, so anyone can redraw them.

    python experiments/study.py collect outputs/studies/transfer --into experiments/transfer
    python experiments/study.py transfer experiments/transfer
    python experiments/study.py ablation experiments/ablation_loss --by loss
    python experiments/study.py ablation experiments/ablation_head --by head
    python experiments/study.py merging experiments/merging --compare experiments/transfer/runs/*/results.json
    python experiments/study.py stages experiments/rankpo --reference all_m2m_infonce_cosine_seed42

``collect`` copies each finished job's results.json (and its CSV log) of a Hydra sweep folder into
``<study>/runs/<run name>/``, the name made from the run's config (training mix, loss, head, seed; a second
stage's also names its first stage's loss when that is not the plain one, the first stage found among the sweep's
runs by ``init_from``); a zero-shot eval.py job (no training mix, no checkpoint) goes to
``<study>/zero_shot/<head>/``. The other commands read ``<study>/runs/*/results.json`` and the MiniLM zero-shot baseline
(experiments/baselines/minilm_zero_shot.results.json) and write ``<study>/results.md`` and PNG plots; the head
ablation also compares each head with its own zero-shot run where ``<study>/zero_shot/`` has one.
Numbers are MAP in percent on the full test split.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

BASELINE = Path(__file__).resolve().parent / "baselines" / "minilm_zero_shot.results.json"
DEFAULT_GRAPHS = ("vacancy_skill", "occupation_alias", "skill_alias", "skill_description")
COLUMNS = ("job2skill", "skill2job", "jobnorm", "skill_extraction_house", "skill_extraction_tech", "skillnorm",
           "skillsim", "macro", "onet_job2skill", "onet_skill2job", "onet_jobnorm")


# -- names ----------------------------------------------------------------------------------------------------
def mix_name(config: dict) -> str:
    """``all``, one graph's name, ``all - <graph>`` for leave-one-out, else the graphs joined by ``+``."""
    graphs = {g for g, entry in config["task_mix"]["graphs"].items() if entry is not None}  # null: left out
    if graphs == set(DEFAULT_GRAPHS):
        return "all"
    if len(graphs) == 1:
        return next(iter(graphs))
    missing = set(DEFAULT_GRAPHS) - graphs
    if graphs < set(DEFAULT_GRAPHS) and len(missing) == 1:
        return f"all - {missing.pop()}"
    return "+".join(sorted(graphs))


def loss_name(config: dict, first_stage: dict | None = None) -> str:
    """The loss, its denominator option, mined negatives (``+ mined``), and a preference loss's sources; for a
    second stage, ``first_stage`` (the config of the run it started from) names that run's loss where it is not
    the plain ``m2m_infonce``, so second stages from differently trained first stages get different names."""
    loss = config["loss"]
    name = loss["name"] + (" (mask other positives)" if loss.get("denominator") == "mask_other_positives" else "")
    if (config.get("mining") or {}).get("negatives"):
        name += f"+mined{config['mining']['negatives']}"
    if (config.get("matryoshka") or {}).get("name", "none") != "none":
        name += f"+matryoshka-{config['matryoshka']['name']}"
    if loss["name"] == "rankpo":
        sources = [k for k, v in ((config.get("preferences") or {}).get("sources") or {}).items() if v is not None]
        name += f" ({'+'.join(sources)})"
    if first_stage is not None and (first := loss_name(first_stage)) != "m2m_infonce":
        name += f" from {first}"
    return name


def head_name(config: dict) -> str:
    head = config["head"]
    return head["name"] + (f" tau_a={head['tau_a']:g}" if "tau_a" in head else "")


def folder_safe(name: str) -> str:
    return name.replace(" - ", "-minus-").replace(" ", "-").replace("(", "").replace(")", "").replace("=", "")


def hardware_suffix(record: dict) -> str:
    """``""`` for a run computed on a CPU (or recorded before the accelerator was), else ``_<gpu>``, e.g. ``_h200``
    for "NVIDIA H200": GPU runs of a recipe sit beside its CPU runs instead of replacing them."""
    accelerator = record.get("libraries", {}).get("accelerator", "cpu")
    return "" if accelerator.startswith("cpu") else "_" + folder_safe(accelerator.split()[-1].lower())


def run_name(config: dict, first_stage: dict | None = None) -> str:
    """A folder name for one run: mix, loss (and for a second stage, its first stage's loss), head, seed."""
    parts = [mix_name(config), loss_name(config, first_stage), head_name(config), f"seed{config['seed']}"]
    return "_".join(folder_safe(p) for p in parts)


def is_zero_shot(config: dict) -> bool:
    """An eval.py run of an untrained encoder: no training mix and no checkpoint (``model.name``; before the
    model registry, ``model.kind``)."""
    model = config.get("model", {})
    untrained = "task_mix" not in config and not config.get("ckpt_path")
    return untrained and model.get("name", model.get("kind")) == "encoder"


# -- reading --------------------------------------------------------------------------------------------------
def collect(sweep: Path, into: Path) -> list[Path]:
    """Copy every finished job of ``sweep`` into ``into/runs/<run name>/`` (results.json, csv/metrics.csv), or a
    zero-shot eval.py job into ``into/zero_shot/<head>/``; other eval.py jobs (a checkpoint's) are skipped."""
    copied = []
    records = {p: json.loads(p.read_text()) for p in sorted(sweep.rglob("results.json"))}  # rglob: jobs may nest
    for results, record in records.items():
        if record.get("split") != "test" or record.get("subsampled"):
            continue
        config = record["config"]
        if "task_mix" in config:
            first = first_stage(config["init_from"], records.values()) if config.get("init_from") else None
            if config.get("init_from") and first is None:
                print(f"{results}: the run of its first stage ({config['init_from']}) is neither in {sweep} nor "
                      "where that path points; named without it")
            dest = into / "runs" / (run_name(config, first and first["config"]) + hardware_suffix(record))
        elif is_zero_shot(config):
            dest = into / "zero_shot" / (folder_safe(head_name(config)) + hardware_suffix(record))
        else:
            print(f"skipped {results}: an eval.py run of a checkpoint, not a study run or a zero-shot reference")
            continue
        if "reused_from" in record and Path(record["reused_from"]).resolve() == (dest / "results.json").resolve():
            continue  # a restarted sweep reused this very file: it is collected already
        if dest in copied:
            raise SystemExit(f"{results} and another run of {sweep} both name {dest}: their configs differ in nothing "
                             "the run name shows; collect them into different studies (--into)")
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(results, dest / "results.json")
        if (results.parent / "csv" / "metrics.csv").is_file():
            shutil.copyfile(results.parent / "csv" / "metrics.csv", dest / "metrics.csv")
        copied.append(dest)
    return copied


def first_stage(init_from: str, records, look_on_disk: bool = True) -> dict | None:
    """The results.json record of the run a second stage started from: among ``records``, the one whose tested
    checkpoint lies in the run folder of ``init_from`` (a checkpoint under ``<run>/checkpoints/`` or the exported
    ``<run>/model``), matched on the folder's trailing path parts, so a sweep copied elsewhere still matches;
    else (``look_on_disk``) that run folder's own results.json, where it still is. None when neither exists."""
    start = Path(init_from)
    run = start.parent.parent if start.parent.name == "checkpoints" else start.parent
    for record in records:
        tested = Path((record.get("checkpoint") or {}).get("path") or "")
        if tested.parent.name == "checkpoints" and tested.parent.parent.parts[-len(run.parts):] == run.parts:
            return record
    on_disk = run / "results.json"
    return json.loads(on_disk.read_text()) if look_on_disk and on_disk.is_file() else None


def load_runs(study: Path) -> list[dict]:
    runs = [json.loads(p.read_text()) for p in sorted((study / "runs").glob("*/results.json"))]
    if not runs:
        raise SystemExit(f"no runs in {study / 'runs'}: collect a sweep first "
                         "(python experiments/study.py collect ...)")
    return runs


def task_map(record: dict) -> dict[str, float]:
    """MAP in percent per column of :data:`COLUMNS` (``macro``: the WorkBench macro MAP)."""
    out = {k.split("/")[0]: 100 * r["metrics"]["map"] for k, r in record["tasks"].items()}
    out["macro"] = 100 * record["macro"]["map"]
    return out


def baseline() -> dict[str, float]:
    return task_map(json.loads(BASELINE.read_text()))


def zero_shot_runs(study: Path, key) -> dict[str, dict[str, float]]:
    """Per-task MAP of the zero-shot references, by ``key(config)``: the baseline, then ``<study>/zero_shot/*``."""
    records = [json.loads(BASELINE.read_text())]
    records += [json.loads(p.read_text()) for p in sorted((study / "zero_shot").glob("*/results.json"))]
    return {key(r["config"]): task_map(r) for r in records}


# -- tables ---------------------------------------------------------------------------------------------------
def markdown(rows: dict[str, dict[str, str]], columns=COLUMNS) -> str:
    lines = ["| run | " + " | ".join(columns) + " |", "|" + "---|" * (len(columns) + 1)]
    lines += [f"| {name} | " + " | ".join(cells.get(c, "") for c in columns) + " |" for name, cells in rows.items()]
    return "\n".join(lines)


def group(runs: list[dict], key) -> dict[str, list[dict[str, float]]]:
    """Per-task MAP of the runs, grouped by ``key(config)`` (e.g. the seeds of one variant), in first-seen order."""
    out: dict[str, list[dict[str, float]]] = {}
    for r in runs:
        out.setdefault(key(r["config"]), []).append(task_map(r))
    return out


def mean_spread(values: list[float]) -> tuple[float, float]:
    """Mean and half the range (max - min) / 2 of the seeds' values (0 for one seed)."""
    return statistics.fmean(values), (max(values) - min(values)) / 2


# -- studies --------------------------------------------------------------------------------------------------
def transfer(study: Path) -> str:
    base = baseline()
    order = ["all", *DEFAULT_GRAPHS, *(f"all - {g}" for g in DEFAULT_GRAPHS)]
    runs = group(load_runs(study), mix_name)
    names = [n for n in order if n in runs] + [n for n in runs if n not in order]
    maps = {n: {c: statistics.fmean(m[c] for m in runs[n]) for c in COLUMNS} for n in names}
    gains = {n: {c: maps[n][c] - base[c] for c in COLUMNS} for n in names}
    rows = {"MiniLM zero-shot": {c: f"{base[c]:.2f}" for c in COLUMNS}}
    rows |= {n: {c: f"{maps[n][c]:.2f} ({gains[n][c]:+.2f})" for c in COLUMNS} for n in names}
    heatmap(gains, names, study / "transfer_heatmap.png",
            "MAP gain over MiniLM zero-shot (points), training mix x test task")
    return markdown(rows)


def heatmap(gains: dict[str, dict[str, float]], names: list[str], path: Path, title: str) -> None:
    values = [[gains[n][c] for c in COLUMNS] for n in names]
    bound = max(abs(v) for row in values for v in row) or 1.0
    fig, ax = plt.subplots(figsize=(13, 0.55 * len(names) + 2.2))
    im = ax.imshow(values, cmap="RdBu", vmin=-bound, vmax=bound, aspect="auto")
    ax.set_xticks(range(len(COLUMNS)), COLUMNS, rotation=30, ha="right")
    ax.set_yticks(range(len(names)), names)
    for i, row in enumerate(values):
        for j, v in enumerate(row):
            ax.text(j, i, f"{v:+.2f}", ha="center", va="center", fontsize=8,
                    color="white" if abs(v) > 0.6 * bound else "black")
    ax.axvline(COLUMNS.index("macro") - 0.5, color="k", lw=0.8)
    ax.axvline(COLUMNS.index("macro") + 0.5, color="k", lw=0.8)
    fig.colorbar(im, ax=ax, label="MAP gain (points)")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def ablation(study: Path, by: str) -> str:
    """Mean ± half-range of the seeds per variant. For ``by="head"``, each head's own zero-shot run (from
    ``<study>/zero_shot/``) is a row too, and a second table and plot give the gain of training over it."""
    key = {"loss": loss_name, "head": head_name}[by]
    base = baseline()
    runs = group(load_runs(study), key)
    rows = {"MiniLM zero-shot (cosine)": {c: f"{base[c]:.2f}" for c in COLUMNS}}
    stats = {n: {c: mean_spread([m[c] for m in ms]) for c in COLUMNS} for n, ms in runs.items()}
    for n, s in stats.items():
        rows[f"{n} (seeds: {len(runs[n])})"] = {c: f"{m:.2f} ± {h:.2f}" for c, (m, h) in s.items()}
    bars(stats, runs, study / f"ablation_{by}.png",
         f"{by} ablation: MAP gain over MiniLM zero-shot (mean of seeds; bars: min to max)", {n: base for n in stats})
    md = markdown(rows)
    own = {n: z for n, z in zero_shot_runs(study, key).items() if n in stats} if by == "head" else {}
    if own:
        rows = {f"{n} zero-shot": {c: f"{z[c]:.2f}" for c in COLUMNS} for n, z in own.items()}
        rows |= {f"{n} trained (seeds: {len(runs[n])})": {c: f"{stats[n][c][0]:.2f} ({stats[n][c][0] - z[c]:+.2f})"
                                                          for c in COLUMNS} for n, z in own.items()}
        bars({n: stats[n] for n in own}, runs, study / f"ablation_{by}_vs_own_zero_shot.png",
             f"{by} ablation: MAP gain of training over the same {by}'s zero-shot (mean of seeds; bars: min to max)",
             own)
        md += f"\n\n## Each {by} against its own zero-shot (gain of training in brackets)\n\n" + markdown(rows)
    return md


def bars(stats: dict, runs: dict, path: Path, title: str, bases: dict[str, dict[str, float]]) -> None:
    """Per variant ``n`` and column: the mean gain over ``bases[n]`` (MAP points), error bars from the seeds'
    min to max."""
    names = list(stats)
    width = 0.8 / len(names)
    fig, ax = plt.subplots(figsize=(13, 4.8))
    for i, n in enumerate(names):
        xs = [x + i * width for x in range(len(COLUMNS))]
        gains = [stats[n][c][0] - bases[n][c] for c in COLUMNS]
        lo = [stats[n][c][0] - min(m[c] for m in runs[n]) for c in COLUMNS]
        hi = [max(m[c] for m in runs[n]) - stats[n][c][0] for c in COLUMNS]
        seeds = len(runs[n])
        ax.bar(xs, gains, width, yerr=[lo, hi], capsize=2, label=f"{n} ({seeds} seed{'s' if seeds > 1 else ''})")
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xticks([x + 0.4 - width / 2 for x in range(len(COLUMNS))], COLUMNS, rotation=30, ha="right")
    ax.set_ylabel("MAP gain (points)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def merging(study: Path, compare: list[Path] = ()) -> str:
    """``<study>/runs/*``: the merged models (named by their folder); ``compare``: results.json files of the
    models they are compared with (named by their training mix, e.g. the transfer study's runs)."""
    base = baseline()
    runs = {p.parent.name: task_map(json.loads(p.read_text())) for p in sorted((study / "runs").glob("*/results.json"))}
    if not runs:
        raise SystemExit(f"no runs in {study / 'runs'}")
    for path in compare:
        record = json.loads(Path(path).read_text())
        runs[f"trained on {mix_name(record['config'])}"] = task_map(record)
    rows = {"MiniLM zero-shot": {c: f"{base[c]:.2f}" for c in COLUMNS}}
    rows |= {n: {c: f"{m[c]:.2f} ({m[c] - base[c]:+.2f})" for c in COLUMNS} for n, m in runs.items()}
    heatmap({n: {c: m[c] - base[c] for c in COLUMNS} for n, m in runs.items()}, list(runs),
            study / "merging_heatmap.png", "MAP gain over MiniLM zero-shot (points): merged vs joint vs single-graph")
    return markdown(rows)


GRADED = (("job2skill", "ndcg@10"), ("job2skill", "ndcg@10_graded"), ("job2skill", "map_graded"),
          ("skill2job", "ndcg@10"), ("skill2job", "ndcg@10_graded"), ("skill2job", "map_graded"))


def stages(study: Path, reference: str) -> str:
    """Runs that start from one model (``reference``: its run folder, e.g. the stage-1 run) and what each
    changes: per-task MAP with the change over the reference, the graded metrics of job2skill and skill2job,
    a bar plot of the changes and the validation curves (``val_curve`` of each results.json)."""
    records = {p.parent.name: with_graded(p) for p in sorted((study / "runs").glob("*/results.json"))}
    if reference not in records:
        raise SystemExit(f"no run {reference!r} in {study / 'runs'}; runs: {', '.join(records) or 'none'}")
    base, ref = baseline(), task_map(records[reference])
    maps = {n: task_map(r) for n, r in records.items()}
    rows = {"MiniLM zero-shot": {c: f"{base[c]:.2f}" for c in COLUMNS}}
    rows |= {n: {c: f"{m[c]:.2f}" + ("" if n == reference else f" ({m[c] - ref[c]:+.2f})") for c in COLUMNS}
             for n, m in maps.items()}
    graded_columns = [f"{t} {m}" for t, m in GRADED]
    graded = {}
    for n, r in records.items():
        cells = {}
        for (t, m), col in zip(GRADED, graded_columns):
            value = r["tasks"].get(f"{t}/test", {}).get("metrics", {}).get(m)
            ref_value = records[reference]["tasks"].get(f"{t}/test", {}).get("metrics", {}).get(m)
            if value is not None:
                cells[col] = f"{100 * value:.2f}" + ("" if n == reference or ref_value is None
                                                     else f" ({100 * (value - ref_value):+.2f})")
        graded[n] = cells
    others = {n: {c: (m[c], 0.0) for c in COLUMNS} for n, m in maps.items() if n != reference}  # one seed each
    if others:
        bars(others, {n: [maps[n]] for n in others}, study / "stages.png", f"MAP change over {reference} (points)",
             {n: ref for n in others})
    val_curves(records, study / "val_curves.png", reference)
    return (markdown(rows) + "\n\n## Graded relevance (ESCO essential 2, optional 1; change over the reference)\n\n"
            + markdown(graded, graded_columns))


def with_graded(results: Path) -> dict:
    """A run's record, with the metrics of ``graded.results.json`` beside it joined to its tasks' own: an eval.py
    run of the run's tested checkpoint, for a run whose test predates the graded metrics."""
    record = json.loads(results.read_text())
    graded = results.parent / "graded.results.json"
    if graded.is_file():
        extra = json.loads(graded.read_text())
        if extra["config"].get("ckpt_path") != record["checkpoint"]["path"]:
            raise SystemExit(f"{graded} evaluated {extra['config'].get('ckpt_path')}, not the run's tested checkpoint "
                             f"{record['checkpoint']['path']}")
        for key, r in extra["tasks"].items():
            if key in record["tasks"]:
                record["tasks"][key]["metrics"] = {**r["metrics"], **record["tasks"][key]["metrics"]}
    return record


def best_step(record: dict) -> int:
    """The step of a run's best validation (its tested checkpoint); 0 without a curve."""
    return max(record["val_curve"], key=lambda p: p["macro_map"])["step"] if record.get("val_curve") else 0


def curve_offsets(records: dict[str, dict], reference: str | None = None) -> dict[str, int]:
    """Where each run's validation curve starts on a shared step axis: 0 for a first stage; for a second stage
    (``init_from``), its first stage's best validated step (the checkpoint its weights came from), that first
    stage found among ``records`` (else the reference's best step)."""
    fallback = best_step(records[reference]) if reference in records else 0
    offsets = {}
    for n, r in records.items():
        init_from = r["config"].get("init_from")
        first = first_stage(init_from, records.values(), look_on_disk=False) if init_from else None
        offsets[n] = 0 if not init_from or n == reference else best_step(first) if first else fallback
    return offsets


def val_curves(records: dict[str, dict], path: Path, reference: str | None = None) -> None:
    """Validation macro MAP and per-task MAP against the step, one line per run that recorded a curve; a second
    stage drawn from the step its weights came from (``curve_offsets``)."""
    curves = {n: r["val_curve"] for n, r in records.items() if r.get("val_curve")}
    if not curves:
        return
    offsets = curve_offsets(records, reference)
    tasks = [k for k in next(iter(curves.values()))[0] if k not in ("step", "macro_map", "macro_rp@10")]
    cols = 4
    rows = -(-(1 + len(tasks)) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 3.0 * rows), squeeze=False)
    panels = [ax for row in axes for ax in row]
    for n, curve in curves.items():
        steps = [offsets[n] + p["step"] for p in curve]
        panels[0].plot(steps, [100 * p["macro_map"] for p in curve], marker="o", ms=3, label=n)
        for ax, t in zip(panels[1:], tasks):
            ax.plot(steps, [100 * p[t] for p in curve if t in p], marker="o", ms=3)
    for ax, t in zip(panels, ["val macro MAP", *tasks]):
        ax.set_title(t, fontsize=9)
        ax.set_xlabel("step (a second stage: from its first stage's tested step)", fontsize=7)
        ax.tick_params(labelsize=7)
    for ax in panels[1 + len(tasks):]:
        ax.axis("off")
    legend_rows = -(-len(curves) // 2)
    fig.legend(*panels[0].get_legend_handles_labels(), loc="lower center", ncol=2, fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0.03 * legend_rows, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("collect", help="copy a sweep's finished results into <study>/runs/")
    c.add_argument("sweep", type=Path)
    c.add_argument("--into", type=Path, required=True)
    sub.add_parser("transfer").add_argument("study", type=Path)
    m = sub.add_parser("merging")
    m.add_argument("study", type=Path)
    m.add_argument("--compare", type=Path, nargs="*", default=[], help="results.json files of the trained models")
    a = sub.add_parser("ablation")
    a.add_argument("study", type=Path)
    a.add_argument("--by", choices=("loss", "head"), required=True)
    st = sub.add_parser("stages", help="runs that start from one reference run (e.g. a second stage)")
    st.add_argument("study", type=Path)
    st.add_argument("--reference", required=True, help="the reference run's folder name under <study>/runs/")
    args = p.parse_args()
    if args.command == "collect":
        for dest in collect(args.sweep, args.into):
            print(f"collected {dest}")
        return
    md = {"transfer": lambda: transfer(args.study), "merging": lambda: merging(args.study, args.compare),
          "ablation": lambda: ablation(args.study, getattr(args, "by", None)),
          "stages": lambda: stages(args.study, getattr(args, "reference", None))}[args.command]()
    title = (f"change over {args.reference}" if args.command == "stages" else "gain over MiniLM zero-shot")
    (args.study / "results.md").write_text(f"# MAP (%) per test task ({title})\n\n{md}\n")
    print(md)
    print(f"\nwrote {args.study / 'results.md'} and the plot beside it")


if __name__ == "__main__":
    main()
