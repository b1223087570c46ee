"""experiments/study.py: run names from configs, mean and spread of seeds, gains over the baseline, collect."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("study", ROOT / "experiments" / "study.py")
study = importlib.util.module_from_spec(spec)
spec.loader.exec_module(study)

GRAPHS = {g: {"name": g} for g in study.DEFAULT_GRAPHS}


def config(graphs=GRAPHS, loss=None, head=None, seed=42) -> dict:
    return {"task_mix": {"graphs": graphs}, "loss": loss or {"name": "m2m_infonce", "denominator": "all"},
            "head": head or {"name": "cosine"}, "seed": seed}


def record(cfg: dict, maps: dict[str, float], macro: float, split="test") -> dict:
    return {"split": split, "subsampled": False, "config": cfg, "macro": {"map": macro},
            "tasks": {f"{t}/test": {"metrics": {"map": m}} for t, m in maps.items()}}


def test_mix_names():
    assert study.mix_name(config()) == "all"
    assert study.mix_name(config({"skill_alias": {}})) == "skill_alias"
    loo = {g: {} for g in study.DEFAULT_GRAPHS if g != "skill_alias"}
    assert study.mix_name(config(loo)) == "all - skill_alias"
    assert study.mix_name(config({"skill_alias": {}, "vacancy_skill": {}})) == "skill_alias+vacancy_skill"
    assert study.mix_name(config({**GRAPHS, "skill_group": {}})) == \
        "occupation_alias+skill_alias+skill_description+skill_group+vacancy_skill"


def test_run_names_are_folder_safe_and_distinguish_loss_head_and_seed():
    loo = {g: {} for g in study.DEFAULT_GRAPHS if g != "skill_alias"}
    assert study.run_name(config(loo, seed=43)) == "all-minus-skill_alias_m2m_infonce_cosine_seed43"
    masked = config(loss={"name": "m2m_infonce", "denominator": "mask_other_positives"})
    assert study.run_name(masked) == "all_m2m_infonce-mask-other-positives_cosine_seed42"
    assert study.run_name(config(head={"name": "soft_li", "tau_a": 0.5})) == "all_m2m_infonce_soft_li-tau_a0.5_seed42"


def test_mean_and_spread_of_seeds():
    assert study.mean_spread([36.0, 37.0, 38.5]) == (pytest.approx(37.1666666), 1.25)
    assert study.mean_spread([40.0]) == (40.0, 0.0)


def test_transfer_table_gains_are_differences_to_the_baseline(tmp_path, monkeypatch):
    tasks = [c for c in study.COLUMNS if c != "macro"]
    base = tmp_path / "base.json"
    base.write_text(json.dumps(record(config(), {t: 0.30 for t in tasks}, 0.35)))
    monkeypatch.setattr(study, "BASELINE", base)
    for name, cfg, m in [("a", config(), 0.32), ("b", config({"skill_alias": {}}), 0.29)]:
        (tmp_path / "s" / "runs" / name).mkdir(parents=True)
        run = record(cfg, {t: m for t in tasks}, m + 0.05)
        (tmp_path / "s" / "runs" / name / "results.json").write_text(json.dumps(run))
    md = study.transfer(tmp_path / "s")
    assert "| all | 32.00 (+2.00) |" in md
    assert "| skill_alias | 29.00 (-1.00) |" in md
    assert "34.00 (-1.00)" in md  # skill_alias's macro 0.34 against 0.35
    assert (tmp_path / "s" / "transfer_heatmap.png").stat().st_size > 10_000


def test_collect_copies_finished_test_runs_under_their_names(tmp_path):
    sweep = tmp_path / "sweep"
    for job, split in [("0_x", "test"), ("1_y", "val")]:
        (sweep / job / "csv").mkdir(parents=True)
        (sweep / job / "results.json").write_text(json.dumps(record(config(seed=7), {"jobnorm": 0.5}, 0.5, split)))
        (sweep / job / "csv" / "metrics.csv").write_text("step\n1\n")
    (sweep / "2_running").mkdir()  # a job without results yet
    copied = study.collect(sweep, tmp_path / "study")
    assert copied == [tmp_path / "study" / "runs" / "all_m2m_infonce_cosine_seed7"]
    assert (copied[0] / "metrics.csv").read_text() == "step\n1\n"


def eval_config(head: dict, ckpt_path=None) -> dict:
    """An eval.py config: no training mix."""
    return {"model": {"name": "encoder"}, "head": head, "seed": 42, "ckpt_path": ckpt_path}


def test_collect_files_zero_shot_eval_runs_by_head_and_skips_checkpoint_evals(tmp_path):
    sweep = tmp_path / "sweep"
    jobs = {"0_zs": eval_config({"name": "soft_li", "tau_a": 0.1}),
            "1_ckpt": eval_config({"name": "cosine"}, ckpt_path="run/last.ckpt"),
            "2_bm25": {**eval_config({"name": "cosine"}), "model": {"name": "bm25"}}}
    for job, cfg in jobs.items():
        (sweep / job).mkdir(parents=True)
        (sweep / job / "results.json").write_text(json.dumps(record(cfg, {"jobnorm": 0.5}, 0.5)))
    assert study.collect(sweep, tmp_path / "study") == [tmp_path / "study" / "zero_shot" / "soft_li-tau_a0.1"]


def test_head_ablation_compares_each_head_with_its_own_zero_shot(tmp_path, monkeypatch):
    tasks = [c for c in study.COLUMNS if c != "macro"]
    base = tmp_path / "base.json"
    base.write_text(json.dumps(record(eval_config({"name": "cosine"}), {t: 0.30 for t in tasks}, 0.35)))
    monkeypatch.setattr(study, "BASELINE", base)
    s = tmp_path / "s"
    soft = {"name": "soft_li", "tau_a": 0.1}
    for name, head, seed, m in [("c42", {"name": "cosine"}, 42, 0.32), ("c43", {"name": "cosine"}, 43, 0.34),
                                ("s42", soft, 42, 0.31), ("s43", soft, 43, 0.31)]:
        (s / "runs" / name).mkdir(parents=True)
        (s / "runs" / name / "results.json").write_text(json.dumps(record(config(head=head, seed=seed),
                                                                          {t: m for t in tasks}, m)))
    (s / "zero_shot" / "soft_li").mkdir(parents=True)
    (s / "zero_shot" / "soft_li" / "results.json").write_text(
        json.dumps(record(eval_config(soft), {t: 0.28 for t in tasks}, 0.27)))
    md = study.ablation(s, "head")
    assert "| cosine (seeds: 2) | 33.00 ± 1.00 |" in md  # mean of 32 and 34, half their range
    assert "| soft_li tau_a=0.1 zero-shot | 28.00 |" in md
    assert "| cosine trained (seeds: 2) | 33.00 (+3.00) |" in md  # against the baseline, cosine's own zero-shot
    assert "| soft_li tau_a=0.1 trained (seeds: 2) | 31.00 (+3.00) |" in md
    assert md.rstrip().endswith("31.00 (+4.00) | 31.00 (+3.00) | 31.00 (+3.00) | 31.00 (+3.00) |")  # macro 27 -> 31
    for png in ("ablation_head.png", "ablation_head_vs_own_zero_shot.png"):
        assert (s / png).stat().st_size > 10_000
    assert "own zero-shot" not in study.ablation(s, "loss")


def test_collect_leaves_a_run_alone_that_a_restarted_sweep_reused_from_the_study_itself(tmp_path):
    study_dir = tmp_path / "study"
    dest = study_dir / "runs" / "all_m2m_infonce_cosine_seed7"
    dest.mkdir(parents=True)
    original = json.dumps(record(config(seed=7), {"jobnorm": 0.5}, 0.5))
    (dest / "results.json").write_text(original)
    reused = {**json.loads(original), "reused_from": str(dest / "results.json")}
    (tmp_path / "sweep" / "0_x").mkdir(parents=True)
    (tmp_path / "sweep" / "0_x" / "results.json").write_text(json.dumps(reused))
    assert study.collect(tmp_path / "sweep", study_dir) == []
    assert (dest / "results.json").read_text() == original


def test_second_stage_and_mined_runs_get_their_own_names():
    rankpo = {**config(loss={"name": "rankpo"}), "preferences": {"sources": {"occurrence": {}, "hard_negatives": None}}}
    assert study.run_name(rankpo) == "all_rankpo-occurrence_cosine_seed42"
    mined = {**config(), "mining": {"negatives": 1}}
    assert study.run_name(mined) == "all_m2m_infonce+mined1_cosine_seed42"
    two_d = {**config(), "matryoshka": {"name": "2d"}}
    assert study.run_name(two_d) == "all_m2m_infonce+matryoshka-2d_cosine_seed42"
    assert study.run_name({**config(), "matryoshka": {"name": "none"}}) == "all_m2m_infonce_cosine_seed42"


def test_second_stages_from_differently_trained_first_stages_get_different_names(tmp_path, monkeypatch):
    """Two RankPO runs with one config, one from a plain stage 1 and one from a mined-negative stage 1 (the sweep
    copied elsewhere: init_from names the folder where they ran), must not land in one folder."""
    rankpo = {**config(loss={"name": "rankpo"}), "preferences": {"sources": {"occurrence": {}}}}
    mined = {**config(), "mining": {"negatives": 1}}
    runs = {"P": (config(), None), "H": (mined, None),
            "P2": (rankpo, "outputs/h200/P/checkpoints/best-400.ckpt"),
            "H2": (rankpo, "outputs/h200/H/checkpoints/best-200.ckpt")}
    for name, (cfg, init_from) in runs.items():
        rec = {**record({**cfg, "init_from": init_from}, {"jobnorm": 0.5}, 0.5),
               "checkpoint": {"path": f"/work/main/outputs/h200/{name}/checkpoints/best-100.ckpt"}}
        (tmp_path / "sweep" / name).mkdir(parents=True)
        (tmp_path / "sweep" / name / "results.json").write_text(json.dumps(rec))
    records = [json.loads(p.read_text()) for p in sorted((tmp_path / "sweep").glob("*/results.json"))]
    assert study.first_stage("outputs/h200/H/checkpoints/last.ckpt", records)["config"]["mining"] == {"negatives": 1}
    assert study.first_stage("h200/H/model", records)["config"]["mining"] == {"negatives": 1}  # an exported model
    assert study.first_stage("outputs/h200/Q/checkpoints/best-1.ckpt", records, look_on_disk=False) is None
    assert study.run_name(rankpo, mined) == "all_rankpo-occurrence-from-m2m_infonce+mined1_cosine_seed42"
    assert study.run_name(rankpo, config()) == "all_rankpo-occurrence_cosine_seed42"  # a plain first stage
    copied = study.collect(tmp_path / "sweep", tmp_path / "study")
    assert sorted(p.name for p in copied) == [
        "all_m2m_infonce+mined1_cosine_seed42", "all_m2m_infonce_cosine_seed42",
        "all_rankpo-occurrence-from-m2m_infonce+mined1_cosine_seed42", "all_rankpo-occurrence_cosine_seed42"]
    # a second stage whose first stage is not in the sweep is named as P2 is: collect stops instead of overwriting
    x2 = {**record({**rankpo, "init_from": "elsewhere/Q/model"}, {"jobnorm": 0.4}, 0.4), "checkpoint": {"path": "x"}}
    (tmp_path / "sweep" / "X2").mkdir()
    (tmp_path / "sweep" / "X2" / "results.json").write_text(json.dumps(x2))
    with pytest.raises(SystemExit, match="X2/results.json and another run"):
        study.collect(tmp_path / "sweep", tmp_path / "study2")
    # collected one job at a time (H2's own folder), the first stage is read where init_from says it ran
    monkeypatch.chdir(tmp_path)
    (tmp_path / "outputs" / "h200").mkdir(parents=True)
    (tmp_path / "sweep" / "H").rename(tmp_path / "outputs" / "h200" / "H")
    assert [p.name for p in study.collect(tmp_path / "sweep" / "H2", tmp_path / "study3")] == [
        "all_rankpo-occurrence-from-m2m_infonce+mined1_cosine_seed42"]


def test_a_second_stage_curve_starts_where_its_own_first_stage_was_tested():
    def run(init_from, best, name):
        curve = [{"step": step, "macro_map": 0.3 + (0.1 if step == best else 0.0)} for step in (100, 200, 300, 400)]
        return {"config": {"init_from": init_from}, "val_curve": curve,
                "checkpoint": {"path": f"/w/outputs/h200/{name}/checkpoints/best-{best}.ckpt"}}
    records = {"P": run(None, 400, "P"), "S": run(None, 300, "S"), "H": run(None, 200, "H"),
               "P2": run("outputs/h200/P/checkpoints/best-400.ckpt", 100, "P2"),
               "S2": run("outputs/h200/S/checkpoints/best-300.ckpt", 200, "S2"),
               "X2": run("elsewhere/Q/checkpoints/best-1.ckpt", 100, "X2")}  # its first stage is not in the study
    assert study.curve_offsets(records, "P") == {"P": 0, "S": 0, "H": 0, "P2": 400, "S2": 300, "X2": 400}
    assert study.curve_offsets(records) == {"P": 0, "S": 0, "H": 0, "P2": 400, "S2": 300, "X2": 0}


def test_gpu_runs_are_collected_beside_the_cpu_runs_of_their_recipe(tmp_path):
    cpu = record(config(), {"jobnorm": 0.4}, 0.4)
    gpu = {**record(config(), {"jobnorm": 0.5}, 0.5), "libraries": {"accelerator": "NVIDIA H200"}}
    assert study.hardware_suffix(cpu) == ""
    assert study.hardware_suffix({"libraries": {"accelerator": "cpu (x86_64)"}}) == ""
    assert study.hardware_suffix(gpu) == "_h200"
    for name, rec in (("cpu", cpu), ("gpu", gpu)):
        (tmp_path / "sweep" / name).mkdir(parents=True)
        (tmp_path / "sweep" / name / "results.json").write_text(json.dumps(rec))
    copied = study.collect(tmp_path / "sweep", tmp_path / "study")
    assert sorted(p.name for p in copied) == ["all_m2m_infonce_cosine_seed42", "all_m2m_infonce_cosine_seed42_h200"]


def test_stages_table_gives_changes_over_the_reference_and_graded_metrics(tmp_path, monkeypatch):
    tasks = [c for c in study.COLUMNS if c != "macro"]
    base = tmp_path / "base.json"
    base.write_text(json.dumps(record(config(), {t: 0.30 for t in tasks}, 0.35)))
    monkeypatch.setattr(study, "BASELINE", base)
    for name, m, graded in [("stage1", 0.32, 0.20), ("stage2", 0.33, 0.25)]:
        run = record(config(), {t: m for t in tasks}, m + 0.05)
        run["tasks"]["job2skill/test"]["metrics"].update({"ndcg@10": 0.1, "ndcg@10_graded": graded, "map_graded": 0.3})
        run["val_curve"] = [{"step": 50, "macro_map": 0.3, "jobnorm": 0.3}, {"step": 100, "macro_map": 0.31,
                                                                              "jobnorm": 0.32}]
        (tmp_path / "s" / "runs" / name).mkdir(parents=True)
        (tmp_path / "s" / "runs" / name / "results.json").write_text(json.dumps(run))
    # stage 1's graded figures come from an eval.py run of its tested checkpoint beside it
    stage1 = tmp_path / "s" / "runs" / "stage1"
    run = json.loads((stage1 / "results.json").read_text())
    del run["tasks"]["job2skill/test"]["metrics"]["ndcg@10_graded"]
    run["checkpoint"] = {"path": "best.ckpt"}
    (stage1 / "results.json").write_text(json.dumps(run))
    graded = {"config": {"ckpt_path": "best.ckpt"},
              "tasks": {"job2skill/test": {"metrics": {"map": 0.99, "ndcg@10_graded": 0.20}}}}
    (stage1 / "graded.results.json").write_text(json.dumps(graded))
    md = study.stages(tmp_path / "s", "stage1")
    assert "| stage2 | 33.00 (+1.00) |" in md and "| stage1 | 32.00 |" in md
    assert "25.00 (+5.00)" in md  # job2skill graded nDCG@10 of stage 2 against stage 1's (from graded.results.json)
    assert "| stage1 | 32.00 |" in md  # the run's own MAP, not the eval's
    assert (tmp_path / "s" / "stages.png").is_file() and (tmp_path / "s" / "val_curves.png").is_file()
    with pytest.raises(SystemExit, match="no run 'nope'"):
        study.stages(tmp_path / "s", "nope")
