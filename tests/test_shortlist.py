"""Two-stage ranking (uwe.models.shortlist): the pooled shortlist, exact scores on it, ties by row, and the
exhaustive answer whenever the shortlist holds the exhaustive top k."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tests.ranking import assert_top_k
from uwe import Ranker
from uwe.errors import UserError
from uwe.models.embeddings import Embeddings
from uwe.models.encoder import TextEncoder
from uwe.models.heads import CosineHead, MaxSimHead, SoftLateInteractionHead
from uwe.models.retriever import Retriever
from uwe.models.top_k import top_k
from uwe.models.shortlist import approx_cosines, bounded_rows, pooled_index, rerank_top_k, shortlist

SKILLS = ["python", "statistics", "bake bread in a wood fired oven", "sql", "manage a team of nurses", "java",
          "negotiate contracts", "drive a forklift", "teach children to read", "cook pasta"]
QUERIES = ["python programming", "bread", "lead people in a hospital ward at night", "sql", "data"]


def test_shortlist_is_the_n_best_cosines():
    targets = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.0]])
    rows = shortlist(torch.tensor([[2.0, 0.1], [0.0, -3.0]]), pooled_index(targets), 2)
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
    exhaustive = retriever.top_k(QUERIES, "skills", k=3, exhaustive=True)
    assert retriever.top_k(QUERIES, "skills", k=3, candidates=len(SKILLS)) == exhaustive  # all: exhaustive path
    two_stage = retriever.top_k(QUERIES, "skills", k=3, candidates=6)
    queries = retriever.encode_queries(QUERIES)
    index = pooled_index(retriever.space("skills").embeddings.pooled)
    scores = retriever.scores(queries, "skills")
    for q, (got, want) in enumerate(zip(two_stage, exhaustive)):
        listed = set(shortlist(queries.pooled[q:q + 1], index, 6)[0].tolist())
        assert {row for row, _ in got} <= listed
        if {row for row, _ in want} <= listed:  # the shortlist held the exhaustive top 3: the same answer
            assert_top_k([(SKILLS[row], s) for row, s in got], dict(zip(SKILLS, scores[q].tolist())), tol=1e-5)


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


def test_the_bf16_bound_holds_and_bounded_rows_hold_the_exhaustive_top_k():
    """Clustered vectors (many near ties): every approximate cosine is within its bound of the exact one, and the
    bounded rows hold every target that reaches the exhaustive k-th best, so the bounded top k is the exhaustive one."""
    generator = torch.Generator().manual_seed(0)
    centres = torch.randn(5, 64, generator=generator)
    targets = centres[torch.randint(0, 5, (3000,), generator=generator)] + 0.05 * torch.randn(3000, 64, generator=generator)
    queries = centres[:3] + 0.05 * torch.randn(3, 64, generator=generator)
    index = pooled_index(targets)
    exact = F.normalize(queries, dim=-1) @ F.normalize(targets, dim=-1).T
    approx, bound = approx_cosines(queries, index)
    assert ((approx - exact).abs() <= bound[:, None]).all()
    for k in (1, 10, 100):
        for row, kept in zip(exact, bounded_rows(queries, index, k)):
            reaching = (row >= row.topk(k).values[-1]).nonzero().squeeze(1)
            assert set(reaching.tolist()) <= set(kept.tolist())
            assert len(kept) < 3000  # it does prune
    head = CosineHead()
    for got, want in zip(rerank_top_k(head, Embeddings(queries), Embeddings(targets), bounded_rows(queries, index, 10), 10),
                         top_k(head.score_chunked(Embeddings(queries), Embeddings(targets)), 10)):
        assert [s for _, s in got] == pytest.approx([s for _, s in want], abs=1e-6)


@pytest.mark.parametrize("head", [SoftLateInteractionHead(tau_a=0.2), MaxSimHead()])
def test_score_rows_gathers_only_the_shortlist_and_scores_as_score_once(head):
    encoder = TextEncoder.from_name("tiny", keep_tokens=True)
    space = encoder.encode(SKILLS, show_progress=False)
    queries = encoder.encode(QUERIES, show_progress=False)
    rows = torch.tensor([7, 1, 4, 2])
    assert torch.allclose(head.score_rows(queries, space, rows), head.score_once(queries, space[rows]), atol=1e-6)
    # real tokens that are not a prefix of the row: the index follows the mask
    holes = Embeddings(space.pooled, space.tokens, space.mask.clone())
    holes.mask[1, 1] = False
    assert torch.allclose(head.score_rows(queries, holes, rows), head.score_once(queries, holes[rows]), atol=1e-6)


@pytest.mark.data
@pytest.mark.slow
def test_the_default_soft_li_shortlist_keeps_the_exhaustive_top_10_on_a_small_space(tmp_path):
    """The agreement of soft_li's default two stages, measured on a small space: MiniLM, 3,000 ESCO skills and 200
    job2skill val queries, the shortlist scaled to the space (2,048 of 13,896 -> 442 of 3,000). The full figure
    (500 val queries against all 13,896 skills) is bench/bench_default_path.py's."""
    import random

    from tests.conftest import require_real_data
    from uwe.data.catalog import Catalog
    from uwe.models.heads.soft_li import DEFAULT_CANDIDATES

    catalog = Catalog(require_real_data())
    task = catalog.task("job2skill", "val")
    labels = random.Random(1).sample(task.targets, 3000)
    queries = random.Random(0).sample(task.queries, 200)
    ranker = Ranker.from_pretrained("minilm", head="soft_li", cache_dir=tmp_path, show_progress=False)
    ranker.add_space("skills", labels)
    shortlist_size = round(DEFAULT_CANDIDATES * len(labels) / 13_896)
    exhaustive = ranker.rank(queries, "skills", k=10, exhaustive=True)
    two_stage = ranker.rank(queries, "skills", k=10, candidates=shortlist_size)
    agree = sum([a for a, _ in x] == [b for b, _ in y] for x, y in zip(exhaustive, two_stage)) / len(queries)
    assert agree >= 0.99
