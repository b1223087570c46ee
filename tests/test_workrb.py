"""The WorkRB adapter against the real ``workrb`` package: its model interface, scores and a full evaluate run.

WorkRB's own tasks download their data from the Hugging Face hub, so the benchmark run here uses a WorkRB
ranking task whose dataset is built in memory; everything else (prediction matrix, metrics, results) is
WorkRB's code. Skipped where workrb is not installed (it is not a uwe dependency: pip install workrb==0.6.0).
"""

from __future__ import annotations

import doctest

import pytest
import torch
import torch.nn.functional as F

workrb = pytest.importorskip("workrb", reason="the WorkRB adapter is tested against workrb: pip install workrb==0.6.0")

from workrb.models.base import ModelInterface  # noqa: E402
from workrb.registry import ModelRegistry  # noqa: E402
from workrb.tasks.abstract.ranking_base import RankingDataset  # noqa: E402
from workrb.tasks.ranking.jobnorm import JobBERTJobNormRanking  # noqa: E402

import uwe.integrations.workrb as adapter  # noqa: E402
from uwe import Ranker  # noqa: E402
from uwe.integrations.workrb import UWEWorkRBModel  # noqa: E402

LABELS = ["python", "statistics", "bake bread", "knead dough", "manage a team", "data analysis", "nursing", "sql"]


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> UWEWorkRBModel:
    ranker = Ranker.from_pretrained("tiny", cache_dir=tmp_path_factory.mktemp("spaces"), show_progress=False)
    return UWEWorkRBModel(ranker)


class InMemoryJobNorm(JobBERTJobNormRanking):
    """WorkRB's job normalisation task on a given dataset instead of the hub's: each label is its own query."""

    def load_dataset(self, dataset_id, split):
        return RankingDataset(query_texts=LABELS, target_indices=[[i] for i in range(len(LABELS))],
                              target_space=LABELS, dataset_id=dataset_id)


def test_doctests():
    assert doctest.testmod(adapter).failed == 0


def test_is_a_registered_workrb_model(model):
    assert isinstance(model, ModelInterface)
    assert ModelRegistry.get("UWE") is UWEWorkRBModel
    assert model.name == "UWE-tiny"
    assert model.description == "uwe bi-encoder tiny with the CosineHead scoring head (mean pooling)"
    assert model.classification_label_space is None


def test_rankings_are_cosines_with_one_column_per_listed_target(model):
    queries, targets = ["python code", "bread"], ["python", "sql ", "bake bread", "python", "sql"]
    scores = model.compute_rankings(queries, targets, None, None)
    encoder = model.ranker.encoder
    unique = ["python", "sql", "bake bread"]
    direct = F.normalize(encoder.encode(queries, show_progress=False).pooled, dim=-1) @ \
        F.normalize(encoder.encode(unique, show_progress=False).pooled, dim=-1).T
    assert scores.shape == (2, 5)
    assert torch.allclose(scores, direct[:, [0, 1, 2, 0, 1]], atol=1e-6)
    again = model.compute_classification(queries, targets, None)  # the target list is now a cached space
    assert torch.equal(again, scores)
    assert sum(name.startswith("workrb-") for name in model.ranker.spaces()) == 1


def test_workrb_evaluate_scores_a_perfect_run(model, tmp_path):
    task = InMemoryJobNorm(split="test", languages=["en"])
    assert task.evaluate(model, metrics=["map", "mrr"]) == pytest.approx({"map": 1.0, "mrr": 1.0})
    results = workrb.evaluate(model, tasks=[task], output_folder=str(tmp_path / "results"))
    summary = results.get_summary_metrics()
    assert summary["mean_benchmark/map/mean"] == pytest.approx(1.0)
    assert summary["mean_per_task/Job Normalization/rp@10/mean"] == pytest.approx(1.0)
