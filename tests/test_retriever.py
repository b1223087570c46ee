"""Retriever: exhaustive scores equal the plain formulas, top_k equals sorting them, spaces are encoded once and
shared by evaluation and the Ranker, and the device is resolved once and a space moved to it once."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from uwe import Ranker
from uwe.data.task import RankingTask
from uwe.errors import ConfigError
from uwe.eval.evaluate import evaluate_task
from uwe.eval.scorers import EncoderScorer
from uwe.models.embeddings import Embeddings
from uwe.models.encoder import TextEncoder
from uwe.models.heads import CosineHead, SoftLateInteractionHead, soft_li_scores
from uwe.models.retriever import Retriever

# Different token lengths (padding inside every batch) and a repeated label (a tie in every row).
LABELS = ["python", "statistics", "bake bread in a wood fired oven", "sql", "python", "manage a team of nurses"]
SKILLS = [label for i, label in enumerate(LABELS) if i != 4]  # unique, as a Ranker's labels must be
QUERIES = ["python programming", "bread", "lead people in a hospital ward at night", "sql", "data"]


@pytest.fixture(scope="module")
def encoder() -> TextEncoder:
    return TextEncoder.from_name("tiny")


@pytest.fixture(scope="module")
def token_encoder() -> TextEncoder:
    return TextEncoder.from_name("tiny", keep_tokens=True)


def plain_scores(head, q: Embeddings, t: Embeddings) -> torch.Tensor:
    """The head's formula written out on all pairs at once: no chunks, no memo, no bucketed token space."""
    if isinstance(head, SoftLateInteractionHead):
        return soft_li_scores(q.tokens, q.mask, t.tokens, t.mask, head.tau_a, head.normalize_query_tokens)
    return F.normalize(q.pooled, dim=-1) @ F.normalize(t.pooled, dim=-1).T


@pytest.fixture(params=["cosine", "soft_li"])
def model(request, encoder, token_encoder):
    return (encoder, CosineHead()) if request.param == "cosine" else (token_encoder, SoftLateInteractionHead(tau_a=0.2))


@pytest.mark.parametrize("cached", [False, True], ids=["memory", "disk"])
def test_scores_equal_the_plain_formula_with_ties_and_padding(model, cached, tmp_path):
    encoder, head = model
    retriever = Retriever(encoder, head, tmp_path if cached else None, query_chunk=2, score_chunk=3,
                          show_progress=False)
    space = retriever.encode_space("skills", LABELS)
    scores = retriever.scores(QUERIES, "skills")
    assert scores.shape == (len(QUERIES), len(LABELS)) and scores.device.type == "cpu"
    # the formula on the retriever's own embeddings (a disk space's tokens are float16 on disk, read as float32)
    expected = plain_scores(head, retriever.encode_queries(QUERIES), space.embeddings)
    assert torch.allclose(scores, expected, atol=1e-6, rtol=0)
    # the repeated label: one embedding, equal scores up to rounding (its columns sit elsewhere in the matmul)
    assert torch.allclose(scores[:, 0], scores[:, 4], atol=1e-6, rtol=0)
    # ... and on each text encoded alone, without padding
    alone = torch.cat([plain_scores(head, encoder.encode([q], show_progress=False),
                                    encoder.encode(LABELS, show_progress=False)) for q in QUERIES])
    assert torch.allclose(scores, alone, atol=5e-3 if cached and head.needs_tokens else 1e-5, rtol=0)


def test_chunk_sizes_do_not_change_the_scores(model):
    encoder, head = model
    queries = encoder.encode(QUERIES, show_progress=False)
    reference = Retriever(encoder, head, None, show_progress=False)
    reference.encode_space("skills", LABELS)
    for query_chunk, score_chunk in ((1, 1), (2, 4), (100, None)):
        retriever = Retriever(encoder, head, None, query_chunk=query_chunk, score_chunk=score_chunk,
                              show_progress=False)
        retriever.encode_space("skills", LABELS)
        assert torch.allclose(retriever.scores(queries, "skills"), reference.scores(queries, "skills"), atol=1e-6)


def test_top_k_equals_sorting_the_exhaustive_scores(model):
    encoder, head = model
    retriever = Retriever(encoder, head, None, query_chunk=2, show_progress=False)
    retriever.encode_space("skills", LABELS)
    queries = retriever.encode_queries(QUERIES + LABELS)  # every label scores its twin's exact tie
    scores = retriever.scores(queries, "skills")
    for k in (1, 2, 5, len(LABELS)):
        ranked = retriever.top_k(queries, "skills", k, exhaustive=True)
        default = retriever.top_k(queries, "skills", k)  # cosine: the bounded two stages; soft_li: all 10 labels
        for row, got, fast in zip(scores, ranked, default):
            order = row.sort(descending=True, stable=True).indices[:k]  # ties: the lower column first
            assert got == list(zip(order.tolist(), row[order].tolist()))
            # The same top k up to float32 rounding: a twin's exact tie may fall either way.
            assert [float(row[j]) for j, _ in fast] == pytest.approx(row[order].tolist(), abs=1e-6)
            assert [s for _, s in fast] == pytest.approx(row[order].tolist(), abs=1e-6)


class RoundedCosineHead(CosineHead):
    """Cosine rounded to one decimal: many exact ties in every row."""

    default_candidates = None  # its scores are not the pooled cosine that the bound of the default path is on

    def score_chunked(self, q, t, chunk_size=None):
        return (super().score_chunked(q, t, chunk_size) * 10).round() / 10


def test_top_k_breaks_exact_ties_by_label_row(encoder):
    retriever = Retriever(encoder, RoundedCosineHead(), None, query_chunk=2, show_progress=False)
    retriever.encode_space("skills", LABELS)
    scores = retriever.scores(QUERIES, "skills")
    assert all(len(set(row.tolist())) < len(LABELS) for row in scores)  # ties in every row
    for k in (1, 3, len(LABELS)):
        for row, got in zip(scores, retriever.top_k(QUERIES, "skills", k)):
            order = row.sort(descending=True, stable=True).indices[:k]
            assert got == list(zip(order.tolist(), row[order].tolist()))


def test_a_space_is_encoded_once_and_its_derived_tensors_are_reused(model, monkeypatch):
    encoder, head = model
    calls = []
    real_encode = encoder.encode
    monkeypatch.setattr(encoder, "encode", lambda texts, **kw: calls.append(list(texts)) or real_encode(texts, **kw))
    retriever = Retriever(encoder, head, None, show_progress=False)
    space = retriever.encode_space("skills", LABELS)
    for _ in range(3):
        assert retriever.encode_space("skills", LABELS) is space
        retriever.scores(QUERIES, "skills")
        retriever.top_k(QUERIES, "skills", 2)
    assert calls.count(LABELS) == 1
    memo = head._spaces if isinstance(head, SoftLateInteractionHead) else head._normalized
    assert len(memo) == 1  # the normalised targets or the bucketed token space: built once for the space
    assert retriever.encode_space("skills", LABELS[:3]).labels == LABELS[:3]  # other labels: encoded again
    assert calls.count(LABELS[:3]) == 1 and list(retriever.spaces) == ["skills"]


def test_evaluation_and_the_ranker_share_one_encoded_space(encoder, tmp_path, monkeypatch):
    calls = []
    real_encode = encoder.encode
    monkeypatch.setattr(encoder, "encode", lambda texts, **kw: calls.append(list(texts)) or real_encode(texts, **kw))
    task = RankingTask("demo", "val", QUERIES, SKILLS, [[0], [2], [4], [3], [1]], target_space="skills")
    scorer = EncoderScorer(encoder, CosineHead(), tmp_path, show_progress=False)
    first = evaluate_task(scorer, task, chunk=2, show_progress=False)
    again = evaluate_task(scorer, task, chunk=2, show_progress=False)
    assert first.metrics == again.metrics and calls.count(SKILLS) == 1  # one encoding for both evaluations

    ranker = Ranker(encoder, CosineHead(), cache_dir=tmp_path, show_progress=False)
    ranker.add_space("skills", SKILLS)  # eval's file, read back: same name, weights and labels
    assert calls.count(SKILLS) == 1
    assert torch.equal(ranker.space("skills").embeddings.pooled, scorer.space(SKILLS, "skills").pooled)
    assert torch.equal(ranker.scores(QUERIES, "skills"),
                       torch.cat([s for _, s in scorer.iter_scores(QUERIES, SKILLS, "skills", 256)]))


def test_the_device_is_resolved_once_and_a_space_moved_to_it_once(tmp_path, monkeypatch):
    encoder = TextEncoder.from_name("tiny")  # its own: it moves to the GPU where there is one
    moves = []
    real_to = Embeddings.to
    monkeypatch.setattr(Embeddings, "to", lambda self, *a, **kw: moves.append(a or kw) or real_to(self, *a, **kw))
    retriever = Retriever(encoder, CosineHead(), tmp_path, device="auto", show_progress=False)
    expected = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    assert retriever.device.type == expected.type
    assert next(encoder.parameters()).device.type == expected.type  # the encoder and head were moved there
    retriever.encode_space("skills", LABELS)
    assert moves == [(retriever.device,)]  # the space read from disk, moved once
    for _ in range(3):
        scores = retriever.scores(QUERIES, "skills")
        retriever.top_k(QUERIES, "skills", 3)
    assert len(moves) == 1 and scores.device.type == "cpu"
    space = retriever.space("skills").embeddings.pooled
    assert space.device.type == expected.type and retriever.encode_queries(QUERIES).pooled.device == space.device


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_a_missing_gpu_is_an_error_before_any_work(encoder, tmp_path):
    for build in (lambda: Retriever(encoder, CosineHead(), tmp_path, device="cuda"),
                  lambda: Ranker(encoder, CosineHead(), cache_dir=tmp_path, device="cuda:1")):
        with pytest.raises(ConfigError, match="torch sees no CUDA GPU"):
            build()
    assert not list(tmp_path.iterdir())


def test_bf16_spaces_stay_in_memory(encoder, tmp_path):
    retriever = Retriever(encoder, CosineHead(), tmp_path / "cache", precision="bf16", show_progress=False)
    space = retriever.encode_space("skills", LABELS).embeddings.pooled
    assert space.dtype == torch.float32 and not (tmp_path / "cache").exists()
    full = Retriever(encoder, CosineHead(), None, show_progress=False).encode_space("skills", LABELS)
    assert torch.allclose(space, full.embeddings.pooled, atol=0.1) and not torch.equal(space, full.embeddings.pooled)


def test_an_unknown_space_names_the_fix(encoder):
    with pytest.raises(KeyError, match=r"no space 'nope' in memory; encode_space\('nope', labels\) first"):
        Retriever(encoder, CosineHead(), None).scores(QUERIES, "nope")
