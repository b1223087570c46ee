"""Inference at a chosen depth and width (2D Matryoshka views): ``TextEncoder.set_view``, the Ranker, eval.py, ``uwe``.

A width is the full model's output sliced; a depth is the model cut to its first k layers; caches and ONNX files
never mix views; a bad view is one line, an untrained one a warning line.
"""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir

from tests.ranking import assert_top_k
from uwe import Ranker
from uwe.cli import main
from uwe.config import check_eval_config
from uwe.errors import ConfigError
from uwe.eval.run import run_eval
from uwe.models.encoder import TextEncoder
from uwe.models.export import load_exported

CONF = Path(__file__).resolve().parents[1] / "conf"
TEXTS = ["data scientist", "bake bread in a big oven", "python", "manage a team of nurses in a hospital ward"]
LABELS = [f"{verb} {thing}" for verb in ("bake", "manage", "analyse", "teach", "repair", "sell", "write")
          for thing in ("bread", "a team", "data", "children", "cars", "software", "reports", "python code")]


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def tiny(**view) -> TextEncoder:
    encoder = TextEncoder.from_name("tiny", pooling="tokens")
    encoder.set_view(**view)
    return encoder.eval()


def test_a_width_is_the_full_output_sliced():
    full = tiny().encode(TEXTS, show_progress=False)
    cut = tiny(dim=8).encode(TEXTS, show_progress=False)
    assert cut.pooled.shape == (len(TEXTS), 8) and cut.tokens.shape[-1] == 8
    assert torch.equal(cut.pooled, full.pooled[:, :8]) and torch.equal(cut.tokens, full.tokens[..., :8])
    assert torch.equal(cut.mask, full.mask)


def test_a_depth_runs_the_first_k_layers_alone_and_shares_the_weights():
    encoder = tiny(layers=1)
    reference = copy.deepcopy(TextEncoder.from_name("tiny", pooling="tokens")).eval()
    reference.model.encoder.layer = reference.model.encoder.layer[:1]
    got = encoder.encode(TEXTS, show_progress=False)
    expected = reference.encode(TEXTS, show_progress=False)
    assert torch.equal(got.pooled, expected.pooled) and torch.equal(got.tokens, expected.tokens)
    assert encoder.num_layers == 1 and encoder.full_shape == (32, 2) and len(encoder.model.encoder.layer) == 1
    # what 2D Matryoshka training pools as depth 1 (hidden_states[1] of the full model)
    ids = encoder.tokenize(TEXTS)
    full = TextEncoder.from_name("tiny", pooling="tokens").eval()
    with torch.no_grad():
        assert torch.allclose(full.forward_layers(**ids, layers=(1,))[1].pooled, encoder(**ids).pooled, atol=1e-6)


def test_views_compose_and_the_full_view_is_the_model_itself():
    encoder = tiny(layers=1, dim=16)
    encoder.set_view(dim=8)
    assert (encoder.num_layers, encoder.dim) == (1, 8)
    same = tiny(layers=2, dim=32)  # the full depth and width: no view, the full model's cache key
    assert same.view_layers is None and same.view_dim is None
    assert same.weights_fingerprint() == tiny().weights_fingerprint()


@pytest.mark.parametrize("view, message", [
    ({"dim": 33}, "dim=33 is not valid: expected a width between 1 and the model's 32"),
    ({"dim": 0}, "dim=0 is not valid: expected a width between 1 and the model's 32"),
    ({"layers": 0}, "layers=0 is not valid: expected a depth between 1 and the model's 2"),
    ({"layers": 3}, "layers=3 is not valid: expected a depth between 1 and the model's 2"),
])
def test_a_view_out_of_range_is_a_config_error(view, message):
    with pytest.raises(ConfigError, match=f"^{message}$"):
        tiny(**view)


def test_an_untrained_view_is_allowed_with_one_warning_line(caplog):
    caplog.set_level(logging.WARNING, logger="uwe.models.encoder")
    tiny(dim=16)
    assert [r.getMessage() for r in caplog.records] == [
        "dim=16: this model was not trained for truncation (train.py matryoshka=2d), only at its full width 32 and "
        "depth 2; using it anyway"]
    caplog.clear()
    encoder = TextEncoder.from_name("tiny")
    encoder.trained_views = {"widths": [32, 16, 8], "layers": [2, 1]}
    encoder.set_view(layers=1, dim=16)  # trained: silent
    assert not caplog.records
    encoder.set_view(dim=12)
    assert [r.getMessage() for r in caplog.records] == [
        "dim=12: this model was trained for widths 32, 16, 8 and layers 2, 1 (train.py matryoshka=2d), not this view; "
        "using it anyway"]


def test_each_view_has_its_own_space_cache_and_reloads_it(tmp_path):
    views = [{}, {"dim": 16}, {"layers": 1}]
    first = {}
    for view in views:
        ranker = Ranker.from_pretrained("tiny", cache_dir=tmp_path, backend="torch", show_progress=False, **view)
        first[str(view)] = ranker.add_space("skills", LABELS).embeddings
    files = sorted(p.name for p in tmp_path.glob("skills.*.safetensors"))
    assert sorted(f.split(".")[2:-2] for f in files) == [[], ["L1"], ["d16"]]
    for view in views:  # each reloads its own file: no stale-cache error, the same tensors
        ranker = Ranker.from_pretrained("tiny", cache_dir=tmp_path, backend="torch", show_progress=False, **view)
        again = ranker.add_space("skills", LABELS).embeddings
        assert torch.equal(again.pooled, first[str(view)].pooled)
        assert ranker.describe()["dim"] == view.get("dim", 32) and ranker.describe()["layers"] == view.get("layers", 2)
    assert first["{'dim': 16}"].pooled.shape[1] == 16
    assert torch.equal(first["{'dim': 16}"].pooled, first["{}"].pooled[:, :16])


def test_onnx_at_a_cut_depth_ranks_as_torch_from_its_own_file(tmp_path):
    pytest.importorskip("onnxruntime")
    torch_ranker = Ranker.from_pretrained("tiny", cache_dir=tmp_path, backend="torch", show_progress=False, layers=1)
    onnx_ranker = Ranker.from_pretrained("tiny", cache_dir=tmp_path, backend="onnx", show_progress=False, layers=1)
    full = Ranker.from_pretrained("tiny", cache_dir=tmp_path, backend="onnx", show_progress=False)
    assert onnx_ranker.describe()["backend"] == "onnx" and full.describe()["backend"] == "onnx"
    assert len(list((tmp_path / "onnx").iterdir())) == 2  # the cut depth's export is its own folder
    for ranker in (torch_ranker, onnx_ranker):
        ranker.add_space("skills", LABELS)
    got = onnx_ranker.rank(TEXTS, "skills", k=10, exhaustive=True)
    expected = torch_ranker.rank(TEXTS, "skills", k=10, exhaustive=True)
    for row, scores in zip(got, torch_ranker.scores(TEXTS, "skills")):  # a tie within rounding may fall either way
        assert_top_k(row, dict(zip(LABELS, scores.tolist())), tol=1e-5)
    for row, ref in zip(got, expected):
        assert [s for _, s in row] == pytest.approx([s for _, s in ref], abs=1e-5)


def test_uwe_export_layers_writes_the_cut_model(tmp_path, capsys):
    out = tmp_path / "cut"
    assert main(["export", "tiny", str(out), "--layers", "1", "--dim", "16"]) == 0
    assert TextEncoder.from_name(str(out)).num_layers == 1  # the saved transformer itself has one layer
    config = json.loads((out / "uwe_head.json").read_text())
    assert config["metadata"]["view"] == {"layers": 1, "dim": 16, "full_layers": 2, "full_dim": 32}
    encoder, _, _ = load_exported(out)
    assert (encoder.num_layers, encoder.dim) == (1, 16)
    expected = tiny(layers=1, dim=16).encode(TEXTS, show_progress=False)
    assert torch.allclose(encoder.eval().encode(TEXTS, show_progress=False).pooled, expected.pooled, atol=1e-6)


@pytest.mark.parametrize("command, extra, message", [
    ("rank", ["--dim", "9999"], "uwe rank: error: dim=9999 is not valid: expected a width between 1 and the model's 32"),
    ("rank", ["--layers", "0"], "uwe rank: error: layers=0 is not valid: expected a depth between 1 and the model's 2"),
    ("export", ["--layers", "5"], "uwe export: error: layers=5 is not valid: expected a depth between 1 and the "
                                  "model's 2"),
])
def test_a_bad_view_on_the_command_line_is_one_line_exit_2(tmp_path, capsys, command, extra, message):
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(LABELS))
    args = (["rank", "python", "--model", "tiny", "--labels", f"demo={labels}", "--space", "demo", "--cache-dir",
             str(tmp_path)] if command == "rank" else ["export", "tiny", str(tmp_path / "out")])
    assert main([*args, *extra]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [message] and not (tmp_path / "out").exists()


def test_uwe_rank_exhaustive_and_a_view(tmp_path, capsys):
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(LABELS))
    args = ["rank", *TEXTS[:2], "--model", "tiny", "--labels", f"demo={labels}", "--space", "demo", "--cache-dir",
            str(tmp_path), "-k", "3", "--format", "json", "--exhaustive", "--layers", "1", "--dim", "16"]
    assert main(args) == 0
    got = [[r["label"] for r in item["results"]] for item in json.loads(capsys.readouterr().out)]
    ranker = Ranker.from_pretrained("tiny", cache_dir=tmp_path, show_progress=False, layers=1, dim=16)
    ranker.add_space("demo", LABELS)
    assert got == [[label for label, _ in row] for row in ranker.rank(TEXTS[:2], "demo", k=3, exhaustive=True)]


def compose_eval(*overrides: str):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="eval", overrides=["paths.output_dir=unused", *overrides])


@pytest.mark.parametrize("overrides, message", [
    (["layers=0"], "layers=0 is not valid: expected an integer >= 1 or null"),
    (["dim=abc"], "dim='abc' is not valid: expected an integer >= 1 or null"),
    (["encoder=tiny", "dim=64"], "dim=64 is not valid: expected a width between 1 and the model's 32"),
    (["encoder=minilm", "layers=7"], "layers=7 is not valid: expected a depth between 1 and the model's 6"),
    (["model=bm25", "layers=2"], "layers=2 is not valid with model=bm25: a view cuts an encoder"),
])
def test_eval_config_refuses_a_bad_view_before_any_work(overrides, message):
    with pytest.raises(ConfigError, match=message):
        check_eval_config(compose_eval(*overrides))


def test_eval_py_evaluates_a_view_and_records_it(tiny_root, tmp_path):
    cfg = compose_eval("encoder=tiny", "layers=1", "dim=16", "tasks=[jobnorm]", f"data.root={tiny_root}",
                       "data.use_cache=false", f"paths.cache_dir={tmp_path}", "backend=torch", "device=cpu")
    record = run_eval(cfg, show_progress=False)
    assert (record["model"]["layers"], record["model"]["dim"]) == (1, 16)
    assert any(".L1.d16." in p.name for p in tmp_path.glob("*.safetensors"))
