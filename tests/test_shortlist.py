"""Two-stage ranking (uwe.models.shortlist): the pooled shortlist, exact scores on it, ties by row, and the
exhaustive answer whenever the shortlist holds the exhaustive top k."""

from __future__ import annotations

import pytest
import torch

from uwe import Ranker
from uwe.errors import UserError
from uwe.models.embeddings import Embeddings
from uwe.models.encoder import TextEncoder
from uwe.models.heads import CosineHead, SoftLateInteractionHead
from uwe.models.retriever import Retriever
from uwe.models.shortlist import rerank_top_k, shortlist, unit_rows

SKILLS = ["python", "statistics", "bake bread in a wood fired oven", "sql", "manage a team of nurses", "java",
          "negotiate contracts", "drive a forklift", "teach children to read", "cook pasta"]
QUERIES = ["python programming", "bread", "lead people in a hospital ward at night", "sql", "data"]


def test_shortlist_is_the_n_best_cosines():
    targets = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.0]])
    rows = shortlist(torch.tensor([[2.0, 0.1], [0.0, -3.0]]), unit_rows(targets), 2)
    # query 1 ~ (1, 0.05): cosines 0.999, 0.05, 0.74, -0.999 -> rows 0, 2; query 2 = (0, -1): 0, -1, -0.71, 0 -> 0 and 3
    assert rows[0].tolist() == [0, 2]
    assert sorted(rows[1].tolist()) == [0, 3]


def test_rerank_scores_only_each_querys_own_candidates_and_breaks_ties_by_row():
    head = CosineHead()
    targets = Embeddings(torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [2.0, 0.0]]))
    queries = Embeddings(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    rows = torch.tensor([[3, 1, 2], [2, 0, 1]])  # query 0 never sees row 0, query 1 never sees row 3
    best = rerank_top_k(head, queries, targets, rows, k=2)
    assert best[0] == [(1, pytest.approx(1.0)), (3, pytest.approx(1.0))]  # rows 1 and 3 tie at 1.0: by row
    assert best[1] == [(2, pytest.approx(1.0)), (0, pytest.approx(0.0))]  # 0 and 1 tie at 0.0: row 0 first


@pytest.mark.parametrize("head_name", ["cosine", "soft_li"])
def test_two_stage_equals_exhaustive_when_the_shortlist_holds_the_top_k(head_name):
    keep = head_name == "soft_li"
    encoder = TextEncoder.from_name("tiny", keep_tokens=keep)
    head = SoftLateInteractionHead(tau_a=0.2) if keep else CosineHead()
    retriever = Retriever(encoder, head, None, show_progress=False, query_chunk=2)
    retriever.encode_space("skills", SKILLS)
    exhaustive = retriever.top_k(QUERIES, "skills", k=3)
    assert retriever.top_k(QUERIES, "skills", k=3, candidates=len(SKILLS)) == exhaustive  # all: exhaustive path
    two_stage = retriever.top_k(QUERIES, "skills", k=3, candidates=6)
    queries = retriever.encode_queries(QUERIES)
    unit = unit_rows(retriever.space("skills").embeddings.pooled)
    for q, (got, want) in enumerate(zip(two_stage, exhaustive)):
        listed = set(shortlist(queries.pooled[q:q + 1], unit, 6)[0].tolist())
        assert {row for row, _ in got} <= listed
        if {row for row, _ in want} <= listed:  # the shortlist held the exhaustive top 3: the same answer
            assert [row for row, _ in got] == [row for row, _ in want]
            assert [s for _, s in got] == pytest.approx([s for _, s in want], abs=1e-5)


def test_candidates_below_k_or_not_an_integer_are_refused():
    ranker = Ranker(TextEncoder.from_name("tiny"), CosineHead(), cache_dir=None)
    ranker.add_space("skills", SKILLS)
    assert ranker.rank("sql", "skills", k=2, candidates=4)[0][0][0] == ranker.rank("sql", "skills", k=2)[0][0][0]
    for bad in (1, 2.5, True):
        with pytest.raises(UserError, match="candidates must be an integer from k=2"):
            ranker.rank("sql", "skills", k=2, candidates=bad)


def test_score_once_equals_score_chunked_and_leaves_the_memo_alone():
    encoder = TextEncoder.from_name("tiny", keep_tokens=True)
    head = SoftLateInteractionHead(tau_a=0.2)
    space = encoder.encode(SKILLS, show_progress=False)
    queries = encoder.encode(QUERIES, show_progress=False)
    whole = head.score_chunked(queries, space)  # memoises the whole space's token blocks
    entries = len(head._spaces)
    subset = space[torch.tensor([1, 4, 7])]
    assert torch.allclose(head.score_once(queries, subset), whole[:, [1, 4, 7]], atol=1e-6)
    assert len(head._spaces) == entries
    cosine = CosineHead()
    assert torch.allclose(cosine.score_once(queries, subset), cosine.score_chunked(queries, space)[:, [1, 4, 7]],
                          atol=1e-6)
