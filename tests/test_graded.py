"""Graded relevance: hand-computed nDCG@10 and graded MAP, workrb 0.6's nDCG, ESCO gains on the tiny root."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from uwe.data.catalog import Catalog
from uwe.eval.graded import graded_per_query
from uwe.eval.metrics import per_query_metrics


def test_hand_computed_ranking():
    # scores rank targets 3, 0, 4, 1, 2. R = {0: gain 1 (rank 2), 2: gain 2 (rank 5), 3: gain 2 (rank 1)}.
    scores = np.array([[0.8, 0.3, 0.1, 0.9, 0.5]])
    m = graded_per_query(scores, [[0, 2, 3]], [[1, 2, 2]], k=3)
    dcg = 3 / math.log2(2) + 1 / math.log2(3)            # rank 1 (gain 2), rank 2 (gain 1); rank 5 > k
    ideal = 3 / math.log2(2) + 3 / math.log2(3) + 1 / math.log2(4)
    assert m["ndcg@3_graded"][0] == pytest.approx(dcg / ideal)
    # P@1 = 1 (target 3), P@2 = 1 (target 0), P@5 = 3/5 (target 2): (2*1 + 1*1 + 2*0.6) / 5
    assert m["map_graded"][0] == pytest.approx((2 + 1 + 2 * 0.6) / 5)


def test_equal_gains_give_the_binary_metrics():
    rng = np.random.default_rng(0)
    scores = torch.tensor(rng.normal(size=(20, 50)))
    labels = [sorted(rng.choice(50, size=int(rng.integers(1, 12)), replace=False).tolist()) for _ in range(20)]
    graded = graded_per_query(scores, labels, [[1.0] * len(x) for x in labels])
    binary = per_query_metrics(scores, labels, ["map", "ndcg@10"])
    assert graded["map_graded"] == pytest.approx(binary["map"])
    assert graded["ndcg@10_graded"] == pytest.approx(binary["ndcg@10"])


def test_graded_ndcg_equals_workrb_on_random_rankings():
    from workrb.metrics.ranking import _calculate_ndcg

    rng = np.random.default_rng(1)
    scores = rng.normal(size=(30, 40))
    labels = [sorted(rng.choice(40, size=int(rng.integers(1, 15)), replace=False).tolist()) for _ in range(30)]
    gains = [rng.choice([1.0, 2.0], size=len(x)).tolist() for x in labels]
    ours = graded_per_query(scores, labels, gains)["ndcg@10_graded"]
    order = np.argsort(-scores, axis=1, kind="stable")  # no ties in random normals
    assert ours.mean() == pytest.approx(_calculate_ndcg(order, labels, gains, 10), abs=1e-12)


def test_moving_an_essential_target_up_raises_graded_but_not_binary_map():
    # Two relevant targets, essential (gain 2) and optional (gain 1), at ranks 1 and 3 in either order.
    essential_first = graded_per_query(np.array([[0.9, 0.5, 0.7]]), [[0, 1]], [[2, 1]])
    optional_first = graded_per_query(np.array([[0.5, 0.9, 0.7]]), [[0, 1]], [[2, 1]])
    assert essential_first["map_graded"][0] > optional_first["map_graded"][0]
    binary = [per_query_metrics(np.array(s), [[0, 1]], ["map"])["map"][0] for s in ([[0.9, 0.5, 0.7]], [[0.5, 0.9, 0.7]])]
    assert binary[0] == binary[1]


def test_bad_gains_are_refused():
    with pytest.raises(ValueError, match="align"):
        graded_per_query(np.zeros((1, 3)), [[0, 1]], [[1.0]])
    with pytest.raises(ValueError, match="not > 0"):
        graded_per_query(np.zeros((1, 3)), [[0]], [[0.0]])


def test_esco_gains_of_the_tiny_root(tiny_root):
    # conftest: data scientist -> python essential, statistics optional; baker -> bake bread essential,
    # knead dough optional.
    catalog = Catalog(tiny_root, use_cache=False)
    job2skill = catalog.task("job2skill", "test")
    gains = catalog.gains(job2skill)
    by_pair = {(q, job2skill.targets[j]): g for q, labs, gs in zip(job2skill.queries, job2skill.labels, gains)
               for j, g in zip(labs, gs)}
    assert by_pair == {("data scientist", "python"): 2.0, ("data scientist", "statistics"): 1.0,
                       ("baker", "bake bread"): 2.0, ("baker", "knead dough"): 1.0}
    skill2job = catalog.task("skill2job", "test")
    assert sorted(g for gs in catalog.gains(skill2job) for g in gs) == [1.0, 1.0, 2.0, 2.0]
    assert catalog.gains(catalog.task("jobnorm", "test")) is None
    assert catalog.gains(catalog.task("job2skill", "val")) is None


@pytest.mark.data
def test_real_job2skill_gains_count_essential_and_optional(real_catalog):
    task = real_catalog.task("job2skill", "test")
    flat = [g for gs in real_catalog.gains(task) for g in gs]
    assert len(flat) == task.n_pairs == 123_788
    assert (flat.count(2.0), flat.count(1.0)) == (64_891, 58_897)  # essential, optional
