"""Evaluation end to end: the chunked pipeline equals the plain metric, records are complete, rules hold."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir

from uwe.eval.evaluate import TaskResult, evaluate_task, macro
from uwe.eval.metrics import ranking_metrics
from uwe.eval.run import run_eval
from uwe.eval.scorers import BaselineScorer

ROOT = Path(__file__).resolve().parents[1]


def compose_eval(*overrides: str):
    """The real eval config; ``paths.output_dir`` is Hydra's run folder, which compose() does not make."""
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose(config_name="eval", overrides=["paths.output_dir=unused", *overrides])


class Oracle:
    """Scores 1 for a query's labels and 0 elsewhere (ties broken by index): every metric is 1."""

    def __init__(self, task):
        self.labels = dict(zip(task.queries, task.labels))

    def score(self, queries, targets):
        s = torch.zeros(len(queries), len(targets))
        for i, q in enumerate(queries):
            s[i, self.labels[q]] = 1.0
        return s


def test_oracle_scores_one_and_chunks_cover_every_query(tiny_root):
    from uwe.data.catalog import Catalog

    task = Catalog(tiny_root, use_cache=False).task("job2skill")
    r = evaluate_task(BaselineScorer(Oracle(task), "oracle"), task, chunk=1, show_progress=False)
    assert r.metrics == {"map": 1.0, "rp@10": 1.0, "mrr": 1.0} and r.evaluated_queries == 2


def test_macro_averages_house_and_tech_first():
    def res(key, v):
        return TaskResult(key, {"map": v}, {}, 1, 0.0)

    groups = {"job2skill": 0.1, "skill2job": 0.2, "jobnorm": 0.3, "skillnorm": 0.5, "skillsim": 0.6}
    results = {f"{k}/test": res(f"{k}/test", v) for k, v in groups.items()}
    results["skill_extraction_house/test"] = res("skill_extraction_house/test", 0.3)
    results["skill_extraction_tech/test"] = res("skill_extraction_tech/test", 0.5)
    results["onet_jobnorm/test"] = res("onet_jobnorm/test", 0.99)  # reported apart, never in the macro
    # (0.1 + 0.2 + 0.3 + (0.3 + 0.5) / 2 + 0.5 + 0.6) / 6 = 2.1 / 6 = 0.35
    assert macro(results, metrics=("map",))["map"] == pytest.approx(0.35)
    del results["skillsim/test"]
    assert macro(results, metrics=("map",)) is None


def test_tiny_encoder_end_to_end_on_a_real_task(real_catalog, tmp_path):
    cfg = compose_eval("encoder=tiny", "tasks=[skill_extraction_house]", f"paths.cache_dir={tmp_path}",
                       f"data.root={real_catalog.root}", f"data.cache_dir={real_catalog.cache_dir}", "chunk=100")
    record = run_eval(cfg, out_dir=tmp_path / "out", show_progress=False)
    r = record["tasks"]["skill_extraction_house/test"]
    assert r["sizes"] == {"queries": 262, "targets": 13891, "pairs": 529}
    # The chunked, cached pipeline equals the plain metric on the full score matrix.
    from uwe.eval.models.encoder import build_encoder_scorer

    scorer = build_encoder_scorer(cfg)
    task = real_catalog.task("skill_extraction_house")
    full = scorer.head(scorer.encoder.encode(task.queries, show_progress=False),
                       scorer.encoder.encode(task.targets, show_progress=False))
    expected = ranking_metrics(full, task.labels)
    for m in ("map", "rp@10", "mrr"):
        assert r["metrics"][m] == pytest.approx(expected[m], abs=1e-6)
    assert 0 < r["metrics"]["mrr"] < 0.5  # a random tiny BERT is far from perfect
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    assert saved["protocol"] == "workbench-offline-v1" and saved["model"]["encoder"] == "tiny"
    assert "esco_v1.1.0_classification" in saved["data_sources"] and saved["libraries"]["torch"].startswith("2.13")
    assert saved["config"]["encoder"]["name"] == "tiny" and not saved["subsampled"]
    assert "| skill_extraction_house/test | 262 x 13,891 |" in (tmp_path / "out" / "results.md").read_text()
    assert list(tmp_path.glob("esco_v1.1.0_skills.*.safetensors"))  # the target space was cached


def test_subsampling_rules(tiny_root, tmp_path):
    base = [f"data.root={tiny_root}", "data.use_cache=false", "model=random", "tasks=[onet_jobnorm]"]
    with pytest.raises(ValueError, match="force_subsample=true"):
        run_eval(compose_eval(*base, "max_queries=1"), show_progress=False)
    forced = run_eval(compose_eval(*base, "max_queries=1", "force_subsample=true"), show_progress=False)
    assert forced["subsampled"] and forced["tasks"]["onet_jobnorm/test"]["evaluated_queries"] == 1


@pytest.mark.parametrize("setting, message", [("device=gpu", "device='gpu' is not one of auto, cpu, cuda"),
                                              ("precision=16", "precision=16 is not one of 32, bf16")])
def test_bad_device_or_precision_fails_before_any_work(tiny_root, setting, message):
    with pytest.raises(ValueError, match=message):
        run_eval(compose_eval(f"data.root={tiny_root}", "model=random", setting), show_progress=False)


def test_bf16_evaluation_runs_on_the_encoders_device_and_never_writes_the_disk_cache(tiny_root, tmp_path):
    base = ["encoder=tiny", f"data.root={tiny_root}", "data.use_cache=false", "tasks=[job2skill,jobnorm]"]
    full = run_eval(compose_eval(*base, f"paths.cache_dir={tmp_path / 'full'}"), show_progress=False)
    half = run_eval(compose_eval(*base, f"paths.cache_dir={tmp_path / 'half'}", "precision=bf16"), show_progress=False)
    auto = "cuda:0" if torch.cuda.is_available() else "cpu"
    assert (full["model"]["device"], full["model"]["precision"]) == (auto, "32")
    assert half["model"]["precision"] == "bf16" and not (tmp_path / "half").exists()
    assert len(list((tmp_path / "full").glob("*.safetensors"))) == 2
    for key, r in full["tasks"].items():
        assert half["tasks"][key]["metrics"] == pytest.approx(r["metrics"], abs=0.2), key


def test_unknown_task_fails_before_any_work(tiny_root):
    from uwe.data.errors import UnknownNameError

    with pytest.raises(UnknownNameError, match="unknown task 'jobnrom'"):
        run_eval(compose_eval(f"data.root={tiny_root}", "tasks=[jobnrom]", "model=random"), show_progress=False)


@pytest.mark.parametrize("model,logger", [("random", "csv"), ("bm25", "none")])
def test_eval_py_writes_results(tiny_root, tmp_path, model, logger):
    out = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "eval.py", f"model={model}", f"data.root={tiny_root}", f"data.cache_dir={tmp_path / 'c'}",
         f"hydra.run.dir={out}", f"logger={logger}"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    record = json.loads((out / "results.json").read_text())
    assert set(record["tasks"]) == {
        "job2skill/test", "skill2job/test", "jobnorm/test", "skill_extraction_house/test",
        "skill_extraction_tech/test", "skillnorm/test", "skillsim/test", "onet_job2skill/test",
        "onet_skill2job/test", "onet_jobnorm/test",
    }
    assert record["macro"] is not None and "| **macro (6 groups)** |" in proc.stdout
    values = np.array([r["metrics"]["map"] for r in record["tasks"].values()])
    assert np.all((values > 0) & (values <= 1))
    if logger == "csv":  # the same numbers reach the logger, namespaced test/<task>/<metric>
        import csv

        (row,) = csv.DictReader((next(out.glob("csv/*/metrics.csv"))).open())
        assert float(row["test/jobnorm/map"]) == pytest.approx(record["tasks"]["jobnorm/test"]["metrics"]["map"])
        assert float(row["test/macro_map"]) == pytest.approx(record["macro"]["map"])
