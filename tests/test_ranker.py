"""Ranker: top-k values against a direct encode + score, disk cache reuse and refusal, validation, spaces."""

from __future__ import annotations

import doctest
import re
import time

import pytest
import torch
import torch.nn.functional as F

import uwe.ranker
from tests.ranking import assert_top_k
from uwe import Ranker
from uwe.models.encoder import TextEncoder
from uwe.models.export import export_model
from uwe.models.heads import CosineHead, SoftLateInteractionHead, build_head
from uwe.models.space_cache import StaleCacheError
from uwe.ranker import UnknownSpaceError, top_k

LABELS = ["python", "statistics", "bake bread", "knead dough", "manage a team", "data analysis", "nursing", "sql"]
TEXTS = ["python programming", "bread", "lead people in a hospital"]


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("UWE_CACHE_DIR", str(tmp_path / "default-cache"))  # built tasks of tiny roots go here


@pytest.fixture(scope="module")
def encoder() -> TextEncoder:
    return TextEncoder.from_name("tiny")


@pytest.fixture(scope="module")
def token_encoder() -> TextEncoder:
    return TextEncoder.from_name("tiny", keep_tokens=True)


def ranker_of(encoder, tmp_path, head="cosine", **kwargs) -> Ranker:
    return Ranker(encoder, build_head(head), cache_dir=tmp_path / "spaces", show_progress=False, **kwargs)


def test_doctests():
    assert doctest.testmod(uwe.ranker).failed == 0


def test_a_label_in_the_space_ranks_itself_first_with_cosine_one(encoder, tmp_path):
    ranker = ranker_of(encoder, tmp_path)
    ranker.add_space("demo", LABELS)
    ranked = ranker.rank(LABELS, "demo", k=3)
    assert [rows[0][0] for rows in ranked] == LABELS
    assert [rows[0][1] for rows in ranked] == pytest.approx([1.0] * len(LABELS), abs=1e-5)
    assert all(len(rows) == 3 and rows[0][1] >= rows[1][1] >= rows[2][1] for rows in ranked)


def test_scores_and_top_k_equal_a_direct_encode_and_cosine(encoder, tmp_path):
    ranker = ranker_of(encoder, tmp_path)
    ranker.add_space("demo", LABELS)
    direct = F.normalize(encoder.encode(TEXTS, show_progress=False).pooled, dim=-1) @ \
        F.normalize(encoder.encode(LABELS, show_progress=False).pooled, dim=-1).T
    assert torch.allclose(ranker.scores(TEXTS, "demo"), direct, atol=1e-6)
    ranked = ranker.rank(TEXTS, "demo", k=len(LABELS))
    for rows, expected in zip(ranked, direct):  # two paths: a tie within rounding may fall either way
        assert_top_k(rows, dict(zip(LABELS, expected.tolist())))
    (alone,) = ranker.rank("bread", "demo", k=2)  # one string is a batch of one
    assert_top_k(alone, dict(zip(LABELS, direct[1].tolist())))


def test_soft_li_scores_equal_the_head_on_direct_embeddings(token_encoder, tmp_path):
    ranker = ranker_of(token_encoder, tmp_path, head="soft_li")
    ranker.add_space("demo", LABELS)
    head = SoftLateInteractionHead()
    direct = head.score_chunked(token_encoder.encode(TEXTS, show_progress=False),
                                token_encoder.encode(LABELS, show_progress=False))
    # cached token states are float16 on disk: about 1e-3 relative
    assert torch.allclose(ranker.scores(TEXTS, "demo"), direct, atol=5e-3)
    assert [rows[0][0] for rows in ranker.rank(LABELS, "demo", k=1)] == LABELS


def test_top_k_breaks_ties_by_position_even_across_the_kth_place():
    scores = torch.tensor([[0.5, 0.5, 0.5, 1.0], [0.0, 0.0, 0.0, 0.0]])
    assert top_k(scores, 2) == [[(3, 1.0), (0, 0.5)], [(0, 0.0), (1, 0.0)]]
    ties = torch.randint(0, 4, (20, 50)).float()  # many ties
    for k in (1, 7, 50):
        for row, got in zip(ties, top_k(ties, k)):
            order = row.sort(descending=True, stable=True).indices[:k]
            assert got == list(zip(order.tolist(), row[order].tolist()))


def test_cache_is_written_then_reused_without_encoding(encoder, tmp_path, monkeypatch):
    calls = []
    real_encode = encoder.encode
    monkeypatch.setattr(encoder, "encode",
                        lambda texts, *a, **kw: calls.append(len(texts)) or real_encode(texts, *a, **kw))
    first = ranker_of(encoder, tmp_path).add_space("demo", LABELS)
    assert calls == [len(LABELS)]
    files = sorted(p.name for p in (tmp_path / "spaces").iterdir())
    assert len(files) == 2 and files[0].startswith("demo.tiny.") and files[1].endswith(".safetensors")

    start = time.perf_counter()
    second = ranker_of(encoder, tmp_path).add_space("demo", LABELS)
    assert time.perf_counter() - start < 1.0
    assert calls == [len(LABELS)]  # read back, not encoded
    assert torch.equal(first.embeddings.pooled, second.embeddings.pooled)


def test_a_stale_cache_is_refused_and_refresh_replaces_it(encoder, tmp_path):
    ranker_of(encoder, tmp_path).add_space("demo", LABELS)
    with pytest.raises(StaleCacheError, match="stale cache for 'demo.tiny'"):
        ranker_of(encoder, tmp_path).add_space("demo", LABELS[:-1])
    space = ranker_of(encoder, tmp_path).add_space("demo", LABELS[:-1], refresh=True)
    assert space.labels == LABELS[:-1]


def test_pooled_and_token_caches_of_one_model_coexist(encoder, token_encoder, tmp_path):
    ranker_of(encoder, tmp_path).add_space("demo", LABELS)
    ranker_of(token_encoder, tmp_path, head="soft_li").add_space("demo", LABELS)  # not stale: another file
    names = sorted(p.name.rsplit(".", 2)[0] for p in (tmp_path / "spaces").glob("*.safetensors"))
    assert names == ["demo.tiny", "demo.tokens.tiny"]


@pytest.mark.parametrize("labels, message", [
    ([], "labels is empty"),
    ("python", "must be a list"),
    (["python", "  "], r"labels\[1\] is empty"),
    (["python", 3], r"labels\[1\] is a int"),
    (["sql", "python", " python"], r"labels\[2\] ' python' duplicates labels\[1\] 'python'"),
])
def test_add_space_rejects_bad_labels(encoder, tmp_path, labels, message):
    with pytest.raises(ValueError, match=message):
        ranker_of(encoder, tmp_path).add_space("demo", labels)


@pytest.mark.parametrize("name, message", [("a/b", "space name 'a/b'"), ("esco_skills", "is a built-in space")])
def test_add_space_rejects_bad_names(encoder, tmp_path, name, message):
    with pytest.raises(ValueError, match=message):
        ranker_of(encoder, tmp_path).add_space(name, LABELS)


def test_rank_validates_texts_space_and_k(encoder, tmp_path):
    ranker = ranker_of(encoder, tmp_path)
    ranker.add_space("demo", LABELS)
    with pytest.raises(ValueError, match=r"texts\[1\] is empty"):
        ranker.rank(["python", " "], "demo")
    with pytest.raises(ValueError, match="non-empty list"):
        ranker.rank([], "demo")
    with pytest.raises(UnknownSpaceError, match="unknown space 'nope'; valid: demo, esco_occupations, esco_skills"):
        ranker.rank("python", "nope")
    for k in (0, len(LABELS) + 1, True, 2.0):
        with pytest.raises(ValueError, match=f"k must be an integer from 1 to {len(LABELS)}"):
            ranker.rank("python", "demo", k=k)


def test_builtin_spaces_load_lazily_from_the_data_root(encoder, tmp_path, tiny_root):
    ranker = ranker_of(encoder, tmp_path, data_root=tiny_root)
    assert ranker.spaces() == {"esco_skills": None, "esco_occupations": None, "onet_tech_skills": None}
    assert ranker.rank("python", "esco_skills", k=1)[0][0] == pytest.approx(("python", 1.0), abs=1e-5)
    assert ranker.spaces()["esco_skills"] == 4
    assert ranker.space("esco_skills").labels == ["bake bread", "knead dough", "python", "statistics"]
    # named as evaluation names the target space, so eval.py and the ranker share the file
    files = [p.name.rsplit(".", 2)[0] for p in (tmp_path / "spaces").glob("*.safetensors")]
    assert files == ["esco_v1.1.1_skills.tiny"]


def test_from_pretrained_resolves_exports_and_encoder_names(tmp_path):
    folder = export_model(TextEncoder.from_name("tiny", pooling="tokens"), "soft_li", {"tau_a": 0.3}, tmp_path / "m")
    exported = Ranker.from_pretrained(folder, cache_dir=tmp_path)
    assert isinstance(exported.head, SoftLateInteractionHead) and exported.head.tau_a == 0.3
    assert exported.encoder.keep_tokens and not exported.encoder.training
    with pytest.raises(ValueError, match="brings its own head"):
        Ranker.from_pretrained(folder, head="cosine")
    zero_shot = Ranker.from_pretrained("tiny", cache_dir=tmp_path)
    assert isinstance(zero_shot.head, CosineHead) and not zero_shot.encoder.keep_tokens
    assert zero_shot.describe() == {"model": "tiny", "head": "CosineHead", "pooling": "mean", "max_length": 64,
                                    "layers": 2, "dim": 32, "device": "cpu", "backend": "onnx"}  # auto: exported into the cache
    with pytest.raises(FileNotFoundError, match="does not exist"):
        Ranker.from_pretrained(tmp_path / "missing")


def test_an_added_space_cannot_take_the_cache_name_of_a_builtin_one(encoder, tmp_path, tiny_root):
    from uwe.data.catalog import Catalog

    stem = Catalog(tiny_root).task("job2skill").target_space  # the file name esco_skills shares with evaluation
    ranker = ranker_of(encoder, tmp_path, data_root=tiny_root)
    ranker.add_space(stem, LABELS)
    with pytest.raises(ValueError, match=re.escape(f"spaces '{stem}' and 'esco_skills' would share the cache name")):
        ranker.rank("python", "esco_skills")
    ranker = ranker_of(encoder, tmp_path / "other", data_root=tiny_root)  # (on disk, the same clash is stale)
    assert ranker.rank("python", "esco_skills", k=1)[0][0][0] == "python"
    with pytest.raises(ValueError, match=re.escape(f"spaces 'esco_skills' and '{stem}' would share the cache name")):
        ranker.add_space(stem, LABELS)
    assert ranker.space("esco_skills").labels == ["bake bread", "knead dough", "python", "statistics"]
