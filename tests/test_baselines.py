"""Encoder-free scorers: BM25 by hand and against rank_bm25, the random floor's reproducibility."""

from __future__ import annotations

import doctest
import math
import random

import numpy as np
import pytest
import torch
from rank_bm25 import BM25Okapi

from uwe.eval import baselines
from uwe.eval.baselines import BM25Scorer, RandomScorer, tokenize

TARGETS = ["python", "bake bread", "write scripts"]


def test_doctests():
    assert doctest.testmod(baselines).failed == 0


def test_tokenize_lowercases_and_splits_on_non_alphanumerics():
    expected = ["data", "science", "machine", "learning", "ml", "café", "2"]
    assert tokenize("  Data_Science / Machine-learning (ML), Café 2 ") == expected
    assert tokenize("--") == []


def test_bm25_by_hand():
    """Query "bread" against TARGETS: only target 1 ("bake bread", |d| = 2) contains it.

    N = 3, n(bread) = 1: idf = ln(3 - 1 + 0.5) - ln(1 + 0.5) = ln(5/3) = 0.5108.
    avgdl = (1 + 2 + 2) / 3 = 5/3; norm = 1.5 * (1 - 0.75 + 0.75 * 2 / (5/3)) = 1.5 * 1.15 = 1.725.
    score = 0.5108 * 1 * 2.5 / (1 + 1.725) = 0.51083 * 0.91743 = 0.46865; the other targets score 0.
    """
    scores = BM25Scorer().score(["bread"], TARGETS)
    expected = math.log(5 / 3) * 2.5 / 2.725
    assert expected == pytest.approx(0.46865, abs=1e-5)
    torch.testing.assert_close(scores, torch.tensor([[0.0, expected, 0.0]]))


def test_bm25_query_without_shared_token_scores_zero():
    scores = BM25Scorer().score(["cooking pasta", "", "Python"], TARGETS)
    assert scores.shape == (3, 3) and scores.dtype == torch.float32
    assert (scores[:2] == 0).all()
    assert scores[2].argmax() == 0 and (scores[2, 1:] == 0).all()


def test_bm25_matches_rank_bm25_on_edge_cases():
    """Covers a term in more than half the targets (negative idf, floored to epsilon * mean idf), repeated
    query tokens (counted twice), unknown tokens, an empty query and an empty target."""
    targets = ["skill a", "skill b", "skill c", "b b c", "management of skill teams", ""]
    queries = ["skill", "skill skill b", "b unknown", "", "teams of management", "C"]
    assert_matches_rank_bm25(queries, targets, chunk_size=4)


@pytest.mark.parametrize("seed", range(3))
def test_bm25_matches_rank_bm25_on_random_corpus(seed):
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(30)]
    targets = [" ".join(rng.choices(words[:20], k=rng.randint(1, 8))) for _ in range(60)]
    queries = [" ".join(rng.choices(words, k=rng.randint(0, 6))) for _ in range(25)]
    assert_matches_rank_bm25(queries, targets, chunk_size=7)


def assert_matches_rank_bm25(queries: list[str], targets: list[str], chunk_size: int) -> None:
    reference = BM25Okapi([tokenize(t) for t in targets])
    expected = np.stack([reference.get_scores(tokenize(q)) for q in queries])
    got = BM25Scorer(chunk_size=chunk_size).score(queries, targets)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-6, atol=1e-6)


def test_bm25_refuses_targets_without_tokens():
    with pytest.raises(ValueError, match="none of the 2 targets has a token"):
        BM25Scorer().score(["a"], ["", "--"])


def test_bm25_without_queries_is_empty():
    assert BM25Scorer().score([], TARGETS).shape == (0, 3)


def test_bm25_reindexes_when_the_targets_change():
    """One scorer reused on two target spaces (the index of the last targets is kept) equals fresh scorers."""
    scorer, other = BM25Scorer(), ["bread", "sour dough bread", "python"]
    for targets in (TARGETS, other, TARGETS):
        expected = BM25Scorer().score(["bread python"], targets)
        torch.testing.assert_close(scorer.score(["bread python"], targets), expected)


def test_random_scorer_is_reproducible_and_seeded():
    queries, targets = [f"q{i}" for i in range(4)], ["t"] * 5
    a = RandomScorer(seed=0).score(queries, targets)
    assert a.shape == (4, 5) and a.dtype == torch.float32
    assert ((a >= 0) & (a < 1)).all()
    assert torch.equal(a, RandomScorer(seed=0).score(queries, targets))
    assert not torch.equal(a, RandomScorer(seed=1).score(queries, targets))
    assert not torch.equal(a[0], a[1])


def test_random_scorer_rows_do_not_depend_on_chunking():
    queries, targets = [f"q{i}" for i in range(6)], ["t"] * 7
    scorer = RandomScorer(seed=3)
    chunked = torch.cat([scorer.score(queries[:4], targets), scorer.score(queries[4:], targets)])
    assert torch.equal(chunked, scorer.score(queries, targets))
    assert torch.equal(scorer.score(queries[::-1], targets), scorer.score(queries, targets).flip(0))
