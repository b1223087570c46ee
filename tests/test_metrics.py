"""Ranking metrics: hand-computed values, ties, skipped queries, chunking, and a slow loop reference."""

from __future__ import annotations

import doctest
import math
import re

import numpy as np
import pytest
import torch

from uwe.eval import metrics as metrics_module
from uwe.eval.metrics import per_query_metrics, ranking_metrics

ALL = ("map", "mrr", "rp@1", "rp@3", "rp@10", "recall@1", "recall@3", "hit@1", "hit@3", "ndcg@1", "ndcg@3", "ndcg@10")


def approx(values: dict[str, float]) -> dict[str, float]:
    return {k: pytest.approx(v, abs=1e-12) for k, v in values.items()}


def test_doctests():
    assert doctest.testmod(metrics_module).failed == 0


def test_perfect_ranking_is_all_ones():
    """Scores 5 > 4 > 3 > 2 > 1 with R = {0, 1}: the relevant targets hold ranks 1 and 2.

    AP = (1/1 + 2/2) / 2 = 1; MRR = 1/1; rp@1 = 1/min(1, 2); rp@3 = rp@10 = 2/min(k, 2); recall@3 = 2/2;
    hit = 1; nDCG@3 = (1 + 1/log2 3) / (1 + 1/log2 3).
    """
    scores = torch.tensor([[5.0, 4.0, 3.0, 2.0, 1.0]])
    got = ranking_metrics(scores, [[0, 1]], ["map", "mrr", "rp@1", "rp@3", "rp@10", "recall@3", "hit@1", "ndcg@3"])
    assert got == approx(dict.fromkeys(got, 1.0))


def test_worst_ranking():
    """Scores 5 > 4 > 3 > 2 > 1 with R = {3, 4}: the relevant targets hold the last ranks 4 and 5.

    AP = (1/4 + 2/5) / 2 = 0.325; MRR = 1/4; rp@3 = 0/min(3, 2) = 0; recall@5 = 2/2 = 1;
    nDCG@5 = (1/log2 5 + 1/log2 6) / (1/log2 2 + 1/log2 3).
    """
    scores = torch.tensor([[5.0, 4.0, 3.0, 2.0, 1.0]])
    got = ranking_metrics(scores, [[3, 4]], ["map", "mrr", "rp@3", "recall@5", "hit@3", "ndcg@5"])
    ndcg = (1 / math.log2(5) + 1 / math.log2(6)) / (1 + 1 / math.log2(3))
    assert got == approx({"map": 0.325, "mrr": 0.25, "rp@3": 0.0, "recall@5": 1.0, "hit@3": 0.0, "ndcg@5": ndcg})


def test_ties_resolve_by_target_index():
    """Scores (0.5, 0.9, 0.5): the ranking is target 1, then 0 before 2 (equal scores, lower index first).

    R = {0}: rank 2, AP = MRR = 1/2.  R = {2}: rank 3, AP = MRR = 1/3.
    All four scores equal, R = {1, 3}: ranking is 0, 1, 2, 3, ranks 2 and 4, AP = (1/2 + 2/4) / 2 = 1/2.
    """
    tie = np.array([[0.5, 0.9, 0.5], [0.5, 0.9, 0.5]])
    got = per_query_metrics(tie, [[0], [2]], ["map", "mrr"])
    np.testing.assert_allclose(got["map"], [1 / 2, 1 / 3])
    np.testing.assert_allclose(got["mrr"], [1 / 2, 1 / 3])
    assert ranking_metrics(np.ones((1, 4)), [[1, 3]], ["map"]) == approx({"map": 0.5})


def test_negative_scores_count_normally():
    """Scores (-0.1, -5, -0.3, -2) rank targets 0, 2, 3, 1; R = {1, 2} sits at ranks 4 and 2.

    AP = (1/2 + 2/4) / 2 = 1/2; MRR = 1/2; rp@2 = 1/2. Nothing is dropped for being <= 0.
    """
    scores = torch.tensor([[-0.1, -5.0, -0.3, -2.0]])
    assert ranking_metrics(scores, [[1, 2]], ["map", "mrr", "rp@2"]) == approx({"map": 0.5, "mrr": 0.5, "rp@2": 0.5})


def test_query_without_labels_is_skipped():
    """Query 1 has no label: its per-query values are NaN and the mean runs over queries 0 and 2 only.

    q0: R = {0} at rank 1, AP = 1.  q2: R = {2} at rank 3, AP = 1/3.  MAP = (1 + 1/3) / 2 = 2/3 (not 4/9).
    """
    scores = torch.tensor([[3.0, 2.0, 1.0]] * 3)
    per = per_query_metrics(scores, [[0], [], [2]], ["map"])
    assert np.isnan(per["map"][1])
    assert ranking_metrics(scores, [[0], [], [2]], ["map", "mrr"]) == approx({"map": 2 / 3, "mrr": 2 / 3})


def test_more_relevant_than_k():
    """30 targets ranked 0..29 (score 30 - t); R = 15 targets: {0, 2, 4, 6, 8, 10} and {20, ..., 28}.

    Top 10 = {0..9} holds 5 relevant (0, 2, 4, 6, 8): rp@10 = 5 / min(10, 15) = 1/2; recall@10 = 5/15 = 1/3.
    """
    scores = torch.arange(30, 0, -1, dtype=torch.float32)[None]
    relevant = [0, 2, 4, 6, 8, 10, *range(20, 29)]
    assert len(relevant) == 15
    got = ranking_metrics(scores, [relevant], ["rp@10", "recall@10", "hit@10"])
    assert got == approx({"rp@10": 0.5, "recall@10": 1 / 3, "hit@10": 1.0})


def test_ndcg_by_hand():
    """Scores 4 > 3 > 2 > 1, R = {1, 3} at ranks 2 and 4.

    nDCG@3 = (1/log2 3) / (1/log2 2 + 1/log2 3) = 0.6309 / 1.6309 = 0.38685 (ideal over min(3, 2) = 2 gains).
    nDCG@1 = 0 / 1 = 0.  nDCG@4 = (1/log2 3 + 1/log2 5) / (1 + 1/log2 3) = (0.6309 + 0.4307) / 1.6309.
    """
    scores = torch.tensor([[4.0, 3.0, 2.0, 1.0]])
    got = ranking_metrics(scores, [[1, 3]], ["ndcg@1", "ndcg@3", "ndcg@4"])
    ideal = 1 + 1 / math.log2(3)
    at4 = (1 / math.log2(3) + 1 / math.log2(5)) / ideal
    expected = {"ndcg@1": 0.0, "ndcg@3": 1 / math.log2(3) / ideal, "ndcg@4": at4}
    assert got == approx(expected)
    assert expected["ndcg@3"] == pytest.approx(0.38685, abs=1e-5)


def test_mrr_uses_first_relevant_only():
    """Ranking 0, 1, 2, 3 for both queries. q0: R = {2, 3}, first at rank 3: 1/3. q1: R = {1}: 1/2.

    MRR = (1/3 + 1/2) / 2 = 5/12.
    """
    scores = torch.tensor([[4.0, 3.0, 2.0, 1.0]] * 2)
    assert ranking_metrics(scores, [[3, 2], [1]], ["mrr"]) == approx({"mrr": 5 / 12})


def test_duplicate_labels_count_once():
    """R = [1, 1] is the set {1}: rank 2, AP = 1/2 (a duplicate would wrongly give (1/2 + 2/2) / 2)."""
    assert ranking_metrics(torch.tensor([[2.0, 1.0]]), [[1, 1]], ["map"]) == approx({"map": 0.5})


def random_case(seed: int, n_queries: int = 40, n_targets: int = 30, max_labels: int = 12):
    """Integer-valued scores in [-3, 3] (many ties), 0..max_labels labels per query (some none)."""
    rng = np.random.default_rng(seed)
    scores = rng.integers(-3, 4, size=(n_queries, n_targets)).astype(np.float64)
    labels = [rng.choice(n_targets, rng.integers(0, max_labels + 1), replace=False).tolist() for _ in range(n_queries)]
    return scores, labels


def test_chunking_does_not_change_results():
    scores, labels = random_case(0)
    one = per_query_metrics(scores, labels, ALL, chunk_size=1)
    big = per_query_metrics(scores, labels, ALL, chunk_size=10_000)
    for name in ALL:
        np.testing.assert_allclose(one[name], big[name], rtol=1e-12, equal_nan=True)


def test_numpy_and_torch_inputs_agree():
    scores, labels = random_case(1)
    for dtype in (np.float32, np.float64):
        assert ranking_metrics(scores.astype(dtype), labels, ALL) == ranking_metrics(
            torch.from_numpy(scores.astype(dtype)), labels, ALL
        )


def reference(scores: np.ndarray, labels: list[list[int]], name: str) -> float:
    """Slow reference: sort (-score, index) per query in Python and apply each definition literally."""
    values = []
    for row, relevant in zip(scores.tolist(), labels):
        relevant = set(relevant)
        if not relevant:
            continue
        ranking = sorted(range(len(row)), key=lambda t: (-row[t], t))
        is_rel = [t in relevant for t in ranking]
        if name == "map":
            found, precisions = 0, []
            for rank, rel in enumerate(is_rel, start=1):
                if rel:
                    found += 1
                    precisions.append(found / rank)
            values.append(sum(precisions) / len(relevant))
        elif name == "mrr":
            values.append(1 / (is_rel.index(True) + 1))
        else:
            kind, k = name.split("@")
            k = int(k)
            hits = sum(is_rel[:k])
            if kind == "rp":
                values.append(hits / min(k, len(relevant)))
            elif kind == "recall":
                values.append(hits / len(relevant))
            elif kind == "hit":
                values.append(float(hits > 0))
            else:
                dcg = sum(1 / math.log2(rank + 1) for rank, rel in enumerate(is_rel[:k], start=1) if rel)
                values.append(dcg / sum(1 / math.log2(i + 1) for i in range(1, min(k, len(relevant)) + 1)))
    return sum(values) / len(values)


@pytest.mark.parametrize("seed", range(5))
def test_matches_slow_reference_with_ties(seed):
    scores, labels = random_case(seed)
    got = ranking_metrics(scores, labels, ALL, chunk_size=7)
    assert got == approx({name: reference(scores, labels, name) for name in ALL})


def test_matches_slow_reference_without_ties():
    rng = np.random.default_rng(9)
    scores = rng.standard_normal((25, 50)).astype(np.float32)
    labels = [rng.choice(50, rng.integers(1, 20), replace=False).tolist() for _ in range(25)]
    got = ranking_metrics(torch.from_numpy(scores), labels, ALL)
    assert got == approx({name: reference(scores, labels, name) for name in ALL})


@pytest.mark.parametrize(
    ("scores", "labels", "metrics", "message"),
    [
        (np.zeros((2, 3)), [[0], [1]], ["map@10"], "unknown metric 'map@10'"),
        (np.zeros((2, 3)), [[0], [1]], ["rp@0"], "unknown metric 'rp@0'"),
        (np.zeros((2, 3)), [[0], [1]], ["precision"], "valid: map, mrr, rp@k"),
        (np.zeros((2, 3)), [[0], [1]], "map", "list of names"),
        (np.zeros((2, 3)), [[0]], ["map"], "1 label lists for 2 score rows"),
        (np.zeros((2, 3)), [[0], [3]], ["map"], "label 3 of query 1 is out of range for 3 targets"),
        (np.zeros((2, 3)), [[-1], [0]], ["map"], "label -1 of query 0"),
        (np.array([[0.0, np.nan, 1.0]]), [[0]], ["map"], "NaN in the rows of queries [0]"),
        (np.zeros((2, 3), dtype=np.int64), [[0], [1]], ["map"], "floating point"),
        (np.zeros(3), [[0]], ["map"], "got shape (3,)"),
        (np.zeros((2, 3)), [[], []], ["map"], "none of the 2 queries has a label"),
    ],
)
def test_bad_inputs_raise(scores, labels, metrics, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        ranking_metrics(scores, labels, metrics)
