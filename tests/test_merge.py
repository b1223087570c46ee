"""Merging fine-tuned models: the math on hand-made tensors, the checks, and the folder ``uwe merge`` writes."""

from __future__ import annotations

import hashlib
import json
import shlex
from pathlib import Path

import lightning as L
import pytest
import torch
from hydra import compose, initialize_config_dir
from sentence_transformers import SentenceTransformer
from transformers import AutoModel, BertConfig

from uwe import Ranker
from uwe.cli import main
from uwe.models.encoder import TINY_CONFIG, TextEncoder
from uwe.models.export import HEAD_CONFIG, export_model, load_exported
from uwe.models.heads import SoftLateInteractionHead
from uwe.models.merge import average_state_dicts, check_same_tensors, eval_command, merge_models, task_arithmetic
from uwe.train.module import UWEModule

ROOT = Path(__file__).resolve().parents[1]
TEXTS = ["python programming", "knead dough", "manage a team of nurses"]
LABELS = ["python", "statistics", "bake bread", "knead dough", "sql"]
SOFT_LI = {"name": "soft_li", "tau_a": 0.2}
TENSOR = "encoder.layer.0.attention.self.query.weight"


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def perturb(encoder: TextEncoder, seed: int) -> TextEncoder:
    """``encoder`` with its weights moved off the tiny init by a seeded step: a stand-in for fine-tuning."""
    with torch.no_grad(), torch.random.fork_rng():
        torch.manual_seed(seed)
        for p in encoder.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return encoder


def make_checkpoint(path: Path, seed: int, head: dict = SOFT_LI) -> Path:
    """A UWEModule on the tiny encoder (max_length 32), fine-tuned by :func:`perturb`, saved by Lightning."""
    module = UWEModule(encoder={"name": "tiny", "max_length": 32}, pooling={"name": "mean"}, head=head,
                       loss={"name": "infonce"}, graphs={f"g{seed}": {"alpha": 1.0, "tau": 0.05}},
                       optimizer={"_target_": "torch.optim.AdamW", "_partial_": True, "lr": 1e-4})
    perturb(module.encoder, seed)
    trainer = L.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, accelerator="cpu")
    trainer.strategy.connect(module)
    trainer.save_checkpoint(path)
    return path


def weights(source) -> dict[str, torch.Tensor]:
    """The encoder's HF state dict of a checkpoint or an export folder."""
    source = Path(source)
    encoder = UWEModule.load_trained(source).encoder if source.suffix == ".ckpt" else load_exported(source)[0]
    return encoder.model.state_dict()


def assert_same_weights(a: dict, b: dict) -> None:
    assert list(a) == list(b)
    for key in a:
        assert torch.equal(a[key], b[key]), key


@pytest.fixture
def two(tmp_path) -> tuple[Path, Path]:
    return make_checkpoint(tmp_path / "a.ckpt", seed=1), make_checkpoint(tmp_path / "b.ckpt", seed=2)


# the math ----------------------------------------------------------------------------------------------------

def test_average_is_the_elementwise_mean_and_keeps_integer_tensors():
    a = {"w": torch.tensor([[1.0, 2.0], [3.0, 4.0]]), "ids": torch.tensor([0, 1])}
    b = {"w": torch.tensor([[3.0, 2.0], [1.0, 0.0]]), "ids": torch.tensor([0, 1])}
    c = {"w": torch.tensor([[2.0, 5.0], [2.0, -1.0]]), "ids": torch.tensor([0, 1])}
    # (1 + 3 + 2) / 3 = 2, (2 + 2 + 5) / 3 = 3, (3 + 1 + 2) / 3 = 2, (4 + 0 - 1) / 3 = 1
    out = average_state_dicts([a, b, c])
    assert torch.equal(out["w"], torch.tensor([[2.0, 3.0], [2.0, 1.0]])) and torch.equal(out["ids"], a["ids"])
    w = torch.randn(5, 7)
    assert torch.equal(average_state_dicts([{"w": w}] * 3)["w"], w)  # summed in float64: copies come back exactly
    with pytest.raises(ValueError, match="non-float tensor 'ids' of model 1 differs"):
        average_state_dicts([a, {**b, "ids": torch.tensor([1, 0])}])


def test_task_arithmetic_by_hand():
    base, ft = {"w": torch.tensor([1.0, 0.0])}, [{"w": torch.tensor([2.0, 1.0])}, {"w": torch.tensor([4.0, -3.0])}]
    # 1 + 0.5 * ((2 - 1) + (4 - 1)) = 3;  0 + 0.5 * ((1 - 0) + (-3 - 0)) = -1
    assert torch.equal(task_arithmetic(base, ft, 0.5)["w"], torch.tensor([3.0, -1.0]))
    assert torch.equal(task_arithmetic(base, ft, 0.5)["w"], average_state_dicts(ft)["w"])  # scale 1/n = average
    assert torch.equal(task_arithmetic(base, ft, 0.0)["w"], base["w"])
    assert torch.equal(task_arithmetic(base, ft[:1], 1.0)["w"], ft[0]["w"])


def test_mismatched_tensors_name_the_first_one_and_the_file():
    a = {"x": torch.zeros(2), "w": torch.zeros(3, 4), "v": torch.zeros(1)}
    with pytest.raises(ValueError, match=r"tensor 'w' of b.ckpt is \(4, 3\) torch.float32, but \(3, 4\) "
                                         r"torch.float32 in a.ckpt"):
        average_state_dicts([a, {**a, "w": torch.zeros(4, 3), "v": torch.zeros(2)}], ["a.ckpt", "b.ckpt"])
    with pytest.raises(ValueError, match="b.ckpt has no tensor 'w' \\(which a.ckpt has\\)"):
        check_same_tensors([a, {"x": a["x"], "v": a["v"]}], ["a.ckpt", "b.ckpt"])
    with pytest.raises(ValueError, match="b.ckpt has tensor 'u' that a.ckpt lacks"):
        check_same_tensors([a, {**a, "u": torch.zeros(1)}], ["a.ckpt", "b.ckpt"])
    with pytest.raises(ValueError, match="tensor 'w' of model 1 is \\(3, 4\\) torch.float16"):
        task_arithmetic(a, [a, {**a, "w": torch.zeros(3, 4, dtype=torch.float16)}], names=None)


# merging files -----------------------------------------------------------------------------------------------

def test_average_of_two_copies_is_that_model(tmp_path, two):
    ckpt = two[0]
    export = UWEModule.load_trained(ckpt).export(tmp_path / "exported", checkpoint=str(ckpt))
    out = merge_models([ckpt, export], tmp_path / "merged")  # a checkpoint and its own export
    assert_same_weights(weights(out), weights(ckpt))


def test_average_of_two_models_is_their_elementwise_mean(tmp_path, two):
    a, b = (weights(p) for p in two)
    merged = weights(merge_models(list(two), tmp_path / "merged"))
    assert not torch.equal(a[TENSOR], b[TENSOR])
    assert torch.equal(merged[TENSOR], (a[TENSOR] + b[TENSOR]) / 2)
    i, j = 3, 5  # one weight by hand: the mean of the two models' values
    assert merged[TENSOR][i, j].item() == pytest.approx((a[TENSOR][i, j].item() + b[TENSOR][i, j].item()) / 2, abs=1e-7)
    assert_same_weights(merged, average_state_dicts([a, b]))


def test_task_arithmetic_scale_one_gives_the_model_and_scale_zero_the_base(tmp_path, two):
    ckpt = two[0]
    one = merge_models([ckpt], tmp_path / "one", method="task_arithmetic", scale=1.0, base="tiny")
    assert_same_weights(weights(one), weights(ckpt))
    zero = merge_models([ckpt], tmp_path / "zero", method="task_arithmetic", scale=0.0, base="tiny")
    assert_same_weights(weights(zero), TextEncoder.from_name("tiny").model.state_dict())
    # scale 1/2 over two models is their average
    half = merge_models(list(two), tmp_path / "half", method="task_arithmetic", scale=0.5, base="tiny")
    average = merge_models(list(two), tmp_path / "average")
    assert_same_weights(weights(half), weights(average))
    meta = json.loads((half / HEAD_CONFIG).read_text())["metadata"]["merge"]
    assert (meta["method"], meta["scale"]) == ("task_arithmetic", 0.5)
    assert meta["base"] == {"name": "tiny", "kind": "encoder"}


def test_the_merged_folder_loads_in_ranker_and_sentence_transformers(tmp_path, two):
    out = merge_models(list(two), tmp_path / "merged")
    in_memory = TextEncoder.from_name("tiny", max_length=32, pooling="tokens")
    in_memory.model.load_state_dict(average_state_dicts([weights(p) for p in two]))
    expected = in_memory.encode(TEXTS, show_progress=False)

    got = SentenceTransformer(str(out), device="cpu").encode(TEXTS, normalize_embeddings=False, convert_to_tensor=True)
    assert torch.allclose(got, expected.pooled, atol=1e-5)
    ranker = Ranker.from_pretrained(out, cache_dir=tmp_path / "spaces", show_progress=False, backend="torch")
    assert isinstance(ranker.head, SoftLateInteractionHead) and ranker.head.tau_a == 0.2
    from_ranker = ranker.encoder.encode(TEXTS, show_progress=False)
    assert torch.equal(from_ranker.pooled, expected.pooled) and torch.equal(from_ranker.tokens, expected.tokens)
    ranker.add_space("demo", LABELS)
    assert ranker.rank("knead dough", "demo", k=1)[0][0][0] in LABELS


def test_different_heads_or_backbones_are_refused(tmp_path, two):
    cosine = make_checkpoint(tmp_path / "cosine.ckpt", seed=3, head={"name": "cosine"})
    with pytest.raises(ValueError, match=rf"heads differ: {two[0]} has soft_li {{'tau_a': 0.2}}, {cosine} has "
                                         r"cosine {}"):
        merge_models([two[0], cosine], tmp_path / "out")
    tau = make_checkpoint(tmp_path / "tau.ckpt", seed=3, head={"name": "soft_li", "tau_a": 0.5})
    with pytest.raises(ValueError, match="heads differ: .* has soft_li {'tau_a': 0.5}"):
        merge_models([two[0], tau], tmp_path / "out")

    base = TextEncoder.from_name("tiny")
    wider = TextEncoder(AutoModel.from_config(BertConfig(vocab_size=base.tokenizer.vocab_size,
                                                         **{**TINY_CONFIG, "hidden_size": 16})), base.tokenizer,
                        max_length=32, keep_tokens=True)
    other = export_model(wider, "soft_li", {"tau_a": 0.2}, tmp_path / "other")
    with pytest.raises(ValueError, match=f"{two[0]} and {other} have different model configs "
                                         r"\(hidden_size: 32 vs 16\)"):
        merge_models([two[0], other], tmp_path / "out")
    with pytest.raises(ValueError, match="have different model configs"):
        merge_models([two[0]], tmp_path / "out", method="task_arithmetic", base="minilm")
    assert not (tmp_path / "out").exists()


# the command -------------------------------------------------------------------------------------------------

def test_uwe_merge_writes_the_folder_and_records_the_merge(tmp_path, two, capsys):
    out = tmp_path / "merged"
    assert main(["merge", str(two[0]), str(two[1]), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == str(out)
    assert captured.err.splitlines()[-1] == f"evaluate it: {eval_command(out)}"  # after the save's progress bar
    assert SentenceTransformer(str(out), device="cpu").encode(TEXTS).shape == (3, 32)
    meta = json.loads((out / HEAD_CONFIG).read_text())["metadata"]["merge"]
    assert (meta["method"], meta["scale"], meta["base"]) == ("average", None, None)
    assert meta["inputs"] == [{"path": str(p.resolve()), "kind": "checkpoint",
                               "sha256": hashlib.sha256(p.read_bytes()).hexdigest(), "task_mix": [g]}
                              for p, g in zip(two, ["g1", "g2"])]

    assert main(["merge", str(two[0]), "--out", str(tmp_path / "solo")]) == 2
    assert "uwe merge: error: averaging needs at least two models, got 1" in capsys.readouterr().err
    assert main(["merge", *map(str, two), "--out", str(tmp_path / "x"), "--scale", "0.5"]) == 2
    assert "--scale and --base apply to --method task_arithmetic only" in capsys.readouterr().err
    assert main(["merge", str(two[0]), "--out", str(tmp_path / "x"), "--method", "task_arithmetic"]) == 2
    assert "task_arithmetic needs --base" in capsys.readouterr().err
    assert main(["merge", *map(str, two), "--out", str(out)]) == 2
    assert "FileExistsError" in capsys.readouterr().err
    assert main(["merge", str(two[0]), "--out", str(out), "--overwrite", "--method", "task_arithmetic",
                 "--base", "tiny", "--scale", "0.3"]) == 0
    assert json.loads((out / HEAD_CONFIG).read_text())["metadata"]["merge"]["scale"] == 0.3


def test_the_printed_eval_command_evaluates_the_merged_model(tmp_path, two, tiny_root):
    out = merge_models(list(two), tmp_path / "merged")
    words = shlex.split(eval_command(out))
    assert words[:2] == ["python", "eval.py"]
    from uwe.eval.run import build_scorer, run_eval

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(config_name="eval", overrides=[
            "paths.output_dir=unused", f"paths.cache_dir={tmp_path / 'spaces'}", f"data.root={tiny_root}",
            "data.use_cache=false", "tasks=[jobnorm]", "device=cpu", *words[2:]])
    scorer = build_scorer(cfg)
    assert isinstance(scorer.head, SoftLateInteractionHead) and scorer.head.tau_a == 0.2
    assert scorer.encoder.max_length == 32 and scorer.encoder.pooling == "mean"
    assert_same_weights(scorer.encoder.model.state_dict(), weights(out))
    record = run_eval(cfg, scorer=scorer, show_progress=False)
    assert 0.0 <= record["tasks"]["jobnorm/test"]["metrics"]["map"] <= 1.0
