"""ONNX Runtime query encoding: equal to torch (fp32), auto's choice, refusals, the missing-package error, the CLI."""

from __future__ import annotations

import logging
import sys

import pytest
import torch

from tests.ranking import assert_top_k
from tests.test_cli import save_tiny_checkpoint
from uwe import Ranker
from uwe.cli import main
from uwe.errors import UserError
from uwe.models.encoder import TextEncoder
from uwe.models.heads import CosineHead
from uwe.models.onnx_backend import INSTALL, ONNX_FILES, available
from uwe.models.onnx_export import export_onnx

needs_onnxruntime = pytest.mark.skipif(not available(), reason=f"onnxruntime is not installed ({INSTALL})")

# One batch of different lengths: padding in every row but the longest; the last is truncated to MAX_LENGTH.
TEXTS = ["sql", "python programming", "manage a team of nurses in a hospital ward", " ".join(["bake bread"] * 20)]
MAX_LENGTH = 16
LABELS = ["python", "statistics", "bake bread", "knead dough", "manage a team", "data analysis", "nursing", "sql"]


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def onnx_folder(tmp_path_factory):
    """The tiny encoder's model.onnx and model.int8.onnx (its weights are seeded: every build is the same)."""
    if not available():
        pytest.skip(f"onnxruntime is not installed ({INSTALL})")
    folder = tmp_path_factory.mktemp("onnx")
    export_onnx(TextEncoder.from_name("tiny", max_length=MAX_LENGTH), folder)
    return folder


def tiny(pooling: str = "mean") -> TextEncoder:
    return TextEncoder.from_name("tiny", max_length=MAX_LENGTH, pooling=pooling)


@needs_onnxruntime
@pytest.mark.parametrize("pooling", ["mean", "cls", "tokens"])
def test_onnx_equals_torch_on_a_padded_batch(onnx_folder, pooling):
    encoder = tiny(pooling)
    encoder.set_backend("onnx", onnx_folder)
    assert encoder.backend == "onnx"
    expected = encoder.encode(TEXTS, show_progress=False, use_backend=False)
    got = encoder.encode(TEXTS, show_progress=False)
    assert torch.allclose(got.pooled, expected.pooled, atol=1e-5, rtol=0)
    assert expected.pooled.abs().max() > 0.1  # not a comparison of zeros
    if pooling == "tokens":
        assert got.tokens.shape == expected.tokens.shape == (4, MAX_LENGTH, 32)
        assert torch.equal(got.mask, expected.mask) and got.mask.sum(1).tolist() == [3, 4, 11, MAX_LENGTH]
        assert torch.allclose(got.tokens, expected.tokens, atol=1e-5, rtol=0)
        assert not got.tokens[~got.mask].any()  # padding zeroed, as torch's
    alone = encoder.encode(TEXTS[:1], show_progress=False)  # a batch of one: no padding, L = 3
    assert torch.allclose(alone.pooled, expected.pooled[:1], atol=1e-5, rtol=0)


@needs_onnxruntime
def test_int8_is_close_but_not_equal(onnx_folder):
    encoder = tiny()
    encoder.set_backend("onnx-int8", onnx_folder)
    expected = encoder.encode(TEXTS, show_progress=False, use_backend=False).pooled
    got = encoder.encode(TEXTS, show_progress=False).pooled
    cosine = torch.nn.functional.cosine_similarity(got, expected)
    assert encoder.backend == "onnx-int8"
    assert cosine.min() > 0.99 and (got - expected).abs().max() > 1e-4


@needs_onnxruntime
def test_auto_picks_onnx_only_when_the_file_is_there(onnx_folder, tmp_path, monkeypatch):
    encoder = tiny()
    encoder.set_backend("auto", onnx_folder)
    assert encoder.backend == "onnx"
    encoder.set_backend("auto", tmp_path)  # no model.onnx
    assert encoder.backend == "torch"
    encoder.set_backend("auto")  # tiny is built in memory: no folder
    assert encoder.backend == "torch"
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime now raises ImportError
    encoder.set_backend("auto", onnx_folder)
    assert encoder.backend == "torch"


@needs_onnxruntime
def test_files_of_other_weights_or_missing_are_refused(onnx_folder, tmp_path, caplog):
    encoder = tiny()
    with torch.no_grad():
        encoder.model.embeddings.word_embeddings.weight[0, 0] += 1.0
    for backend in ONNX_FILES:
        with pytest.raises(UserError, match="exported from other weights"):
            encoder.set_backend(backend, onnx_folder)
    encoder.set_backend("auto", onnx_folder)  # a checkpoint trained from a folder holding its start weights' files
    assert encoder.backend == "torch" and "backend auto: torch, not" in caplog.text
    with pytest.raises(UserError, match=r"needs model\.onnx, but .* does not exist; write it with `uwe export"):
        encoder.set_backend("onnx", tmp_path)
    with pytest.raises(UserError, match="unknown backend 'onnx-fp16'"):
        encoder.set_backend("onnx-fp16", onnx_folder)


@needs_onnxruntime
def test_bf16_is_refused_with_onnx(onnx_folder):
    encoder = tiny()
    encoder.set_backend("onnx", onnx_folder)
    with pytest.raises(UserError, match="runs in fp32"):
        encoder.encode(TEXTS, show_progress=False, precision="bf16")


def test_missing_onnxruntime_is_one_line_naming_the_extra(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(UserError) as err:
        tiny().set_backend("onnx", tmp_path)
    assert str(err.value) == f"the ONNX backend needs onnxruntime, which is not installed: {INSTALL}"
    assert INSTALL == 'pip install "uwe[onnx]"'
    assert main(["export", "tiny", str(tmp_path / "out"), "--onnx"]) == 2
    stderr = capsys.readouterr().err
    assert stderr.count("\n") == 1 and 'pip install "uwe[onnx]"' in stderr
    assert not (tmp_path / "out").exists()  # nothing half-written


@needs_onnxruntime
def test_cli_export_onnx_serves_onnx_queries_against_torch_spaces(tmp_path, capsys):
    out = tmp_path / "model"
    assert main(["export", "tiny", str(out), "--onnx"]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert (out / "model.onnx").is_file() and (out / "model.int8.onnx").is_file()
    assert (out / "model.int8.onnx").stat().st_size < (out / "model.onnx").stat().st_size

    rankers = {backend: Ranker.from_pretrained(out, cache_dir=tmp_path / backend, show_progress=False, backend=backend)
               for backend in ("torch", "auto", "onnx-int8")}
    assert {b: r.describe()["backend"] for b, r in rankers.items()} == {"torch": "torch", "auto": "onnx",
                                                                       "onnx-int8": "onnx-int8"}
    for ranker in rankers.values():
        ranker.add_space("demo", LABELS)
    spaces = [r.space("demo").embeddings.pooled for r in rankers.values()]
    assert all(torch.equal(s, spaces[0]) for s in spaces)  # spaces are always encoded by torch
    expected = rankers["torch"].scores(TEXTS, "demo")
    assert torch.allclose(rankers["auto"].scores(TEXTS, "demo"), expected, atol=1e-5, rtol=0)
    assert not torch.allclose(rankers["onnx-int8"].scores(TEXTS, "demo"), expected, atol=1e-4, rtol=0)


@needs_onnxruntime
def test_cli_export_onnx_of_a_checkpoint_keeps_its_trained_weights_and_head(tmp_path):
    checkpoint = save_tiny_checkpoint(tmp_path / "best.ckpt", {"name": "soft_li", "tau_a": 0.2})
    out = tmp_path / "model"
    assert main(["export", str(checkpoint), str(out), "--onnx"]) == 0
    onnx = Ranker.from_pretrained(out, cache_dir=tmp_path / "a", show_progress=False)
    trained = Ranker.from_pretrained(checkpoint, cache_dir=tmp_path / "b", show_progress=False, backend="torch")
    assert (onnx.encoder.backend, trained.encoder.backend) == ("onnx", "torch")
    assert not (tmp_path / "a" / "onnx").exists()  # the export folder's own file, stamped with these weights
    assert onnx.head.tau_a == 0.2 and onnx.encoder.keep_tokens  # soft_li: token states come from ONNX Runtime
    for ranker in (onnx, trained):
        ranker.add_space("demo", LABELS)
    assert torch.allclose(onnx.scores(TEXTS, "demo"), trained.scores(TEXTS, "demo"), atol=1e-5, rtol=0)


@needs_onnxruntime
def test_eval_backend_onnx_exports_once_into_the_cache_and_ranks_like_torch(tmp_path):
    """eval.py backend=onnx: the ONNX file is written once under <cache>/onnx/<weights>, and the queries it
    encodes score as torch's within 1e-5."""
    from omegaconf import OmegaConf

    from uwe.eval.models.encoder import encoder_scorer
    from uwe.models.heads import CosineHead

    cfg = OmegaConf.create({"paths": {"cache_dir": str(tmp_path)}, "encoder": {"batch_size": 8}, "score_chunk": None,
                            "refresh_cache": False, "precision": "32", "device": "cpu", "backend": "onnx"})
    texts = ["python", "bake bread in a wood fired oven", "sql"]
    torch_encoder = TextEncoder.from_name("tiny")
    want = torch_encoder.encode(texts, show_progress=False).pooled
    encoder = TextEncoder.from_name("tiny")
    encoder_scorer(cfg, encoder, CosineHead())
    assert encoder.backend == "onnx"
    (folder,) = (tmp_path / "onnx").iterdir()
    stamp = (folder / "model.onnx").stat().st_mtime_ns
    assert torch.allclose(encoder.encode(texts, show_progress=False).pooled, want, atol=1e-5)
    again = TextEncoder.from_name("tiny")
    encoder_scorer(cfg, again, CosineHead())  # the same weights: the file is reused, not exported again
    assert (folder / "model.onnx").stat().st_mtime_ns == stamp and again.backend == "onnx"


@needs_onnxruntime
def test_eval_backend_auto_is_onnx_in_fp32_and_torch_for_bf16(tmp_path):
    from omegaconf import OmegaConf

    from uwe.eval.models.encoder import encoder_scorer
    from uwe.models.heads import CosineHead

    def backend_for(precision: str) -> str:
        cfg = OmegaConf.create({"paths": {"cache_dir": str(tmp_path)}, "encoder": {"batch_size": 8},
                                "score_chunk": None, "refresh_cache": False, "precision": precision,
                                "device": "cpu", "backend": "auto"})
        scorer = encoder_scorer(cfg, TextEncoder.from_name("tiny"), CosineHead())
        return scorer.describe()["query_backend"]

    assert backend_for("32") == "onnx"
    assert backend_for("bf16") == "torch"  # bf16 is a torch autocast


# Thirty labels and a fixed set of queries: the default ranker's top 10 must be torch's.
SPACE_LABELS = [f"{verb} {noun}" for verb in ("manage", "bake", "teach", "analyse", "repair")
                for noun in ("bread", "data", "children", "engines", "teams", "contracts")]
QUERIES = ["python programming", "bread", "lead people in a hospital ward at night", "sql", "car mechanic",
           "primary school teacher", "data scientist"]


@needs_onnxruntime
@pytest.mark.parametrize("head", ["cosine", "soft_li"])
def test_the_default_ranker_is_onnx_exported_once_into_the_cache_with_torchs_top_10(tmp_path, head):
    """``Ranker.from_pretrained`` (backend="auto"): the first ranker exports the model into <cache>/onnx/<weights>,
    a second one reuses the file; its top 10 equal torch's on a fixed set of queries."""
    handlers = logging.getLogger().handlers[:]
    ranker = Ranker.from_pretrained("tiny", head=head, cache_dir=tmp_path, show_progress=False)
    assert ranker.describe()["backend"] == "onnx"
    (folder,) = (tmp_path / "onnx").iterdir()
    stamp = (folder / "model.onnx").stat().st_mtime_ns
    again = Ranker.from_pretrained("tiny", head=head, cache_dir=tmp_path, show_progress=False)
    assert again.describe()["backend"] == "onnx" and (folder / "model.onnx").stat().st_mtime_ns == stamp
    assert logging.getLogger().handlers == handlers  # onnxruntime.quantization's basicConfig undone
    reference = Ranker.from_pretrained("tiny", head=head, cache_dir=tmp_path, show_progress=False, backend="torch")
    assert reference.describe()["backend"] == "torch"
    for r in (ranker, reference):
        r.add_space("demo", SPACE_LABELS)
    got, want = ranker.rank(QUERIES, "demo", k=10), reference.rank(QUERIES, "demo", k=10)
    for row, scores in zip(got, reference.scores(QUERIES, "demo")):  # a tie within rounding may fall either way
        assert_top_k(row, dict(zip(SPACE_LABELS, scores.tolist())), tol=1e-5)
    assert [[s for _, s in row] for row in got] == [[pytest.approx(s, abs=1e-5) for _, s in row] for row in want]


def test_auto_is_torch_without_onnxruntime_and_for_bf16(tmp_path, monkeypatch):
    from uwe.models.retriever import Retriever

    bf16 = Retriever(tiny(), CosineHead(), tmp_path, precision="bf16", show_progress=False, backend="auto")
    assert bf16.encoder.backend == "torch"
    monkeypatch.setattr("uwe.models.onnx_export.available", lambda: False)
    ranker = Ranker.from_pretrained("tiny", cache_dir=tmp_path, show_progress=False)
    assert ranker.describe()["backend"] == "torch" and not (tmp_path / "onnx").exists()


@needs_onnxruntime
def test_a_checkpoint_trained_from_an_onnx_export_gets_its_own_export(tmp_path):
    """The export folder's model.onnx holds the start weights: auto exports the trained ones into the cache."""
    start = TextEncoder.from_name("tiny", max_length=MAX_LENGTH)
    (tmp_path / "start").mkdir()
    export_onnx(start, tmp_path / "start")
    trained = TextEncoder.from_name("tiny", max_length=MAX_LENGTH)
    with torch.no_grad():
        next(trained.model.parameters()).add_(0.01)
    trained.folder = tmp_path / "start"
    ranker = Ranker(trained, CosineHead(), cache_dir=tmp_path / "cache", show_progress=False, backend="auto")
    assert ranker.describe()["backend"] == "onnx"
    assert ranker.encoder._runtime.path.parent.parent == tmp_path / "cache" / "onnx"


@needs_onnxruntime
def test_the_int8_export_keeps_the_quantizers_per_tensor_chatter_out_of_the_log(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    export_onnx(tiny(), tmp_path)
    assert (tmp_path / ONNX_FILES["onnx-int8"]).is_file()
    assert [r for r in caplog.records if "Quantization parameters" in r.getMessage()] == []
