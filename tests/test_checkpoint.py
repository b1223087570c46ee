"""Checkpoints for inference without Lightning: a train.py checkpoint loads with torch alone, gives exactly the
model ``UWEModule.load_trained`` gives, and every bad file is one clear error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.test_train import compose_train
from uwe.cli import main
from uwe.errors import CheckpointError
from uwe.models.checkpoint import load_checkpoint, non_finite_tensors
from uwe.models.heads import SoftLateInteractionHead
from uwe.ranker import Ranker
from uwe.train.module import UWEModule
from uwe.train.run import train

TEXTS = ["data scientist", "bake bread and knead dough", "python"]
HEAVY = ("lightning", "lightning_fabric", "pytorch_lightning", "hydra")


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """The best checkpoint of 2 train.py steps of the tiny encoder with the soft_li head on the tiny data root."""
    from tests.conftest import write_root

    tmp = tmp_path_factory.mktemp("train")
    record = train(compose_train(tmp, write_root(tmp / "data"), "head=soft_li", "trainer.max_steps=2",
                                 "val.every_n_steps=2"))
    return Path(record["checkpoint"]["path"])


INFERENCE_ONLY = """
import json, sys
from uwe import Ranker
import uwe.eval.evaluate, uwe.serve
from uwe.cli import main

ranker = Ranker.from_pretrained(sys.argv[1], cache_dir=sys.argv[2], show_progress=False)
ranker.add_space("demo", ["python", "bake bread", "statistics"])
ranked = ranker.rank(["data scientist"], "demo", k=2)
code = main(["evaluate", "--pairs", sys.argv[3], "--model", sys.argv[1], "--cache-dir", sys.argv[2], "--device", "cpu",
             "--format", "json"])
heavy = sorted(m for m in sys.modules if m.split(".")[0] in {heavy})
print(json.dumps({{"heavy": heavy, "ranked": len(ranked[0]), "code": code, "name": ranker.name}}))
""".format(heavy=HEAVY)


def test_a_train_py_checkpoint_ranks_and_evaluates_without_lightning_or_hydra(trained, tmp_path):
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("query,label\ndata scientist,python\nbaker,bake bread\n")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-c", INFERENCE_ONLY, str(trained), str(tmp_path / "spaces"), str(pairs)],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["heavy"] == [] and result["ranked"] == 2 and result["code"] == 0
    assert result["name"].startswith(f"uwe-{trained.stem}-")


def test_the_loader_gives_exactly_the_model_of_load_trained(trained, tmp_path):
    encoder, head, hparams = load_checkpoint(trained)
    module = UWEModule.load_trained(trained)
    assert hparams == dict(module.hparams) and encoder.name == module.encoder.name
    assert isinstance(head, SoftLateInteractionHead) and head.tau_a == module.head.tau_a == 0.1
    assert not encoder.training and not head.training
    ours, theirs = encoder.encode(TEXTS, show_progress=False), module.encoder.encode(TEXTS, show_progress=False)
    assert torch.equal(ours.pooled, theirs.pooled) and torch.equal(ours.tokens, theirs.tokens)
    assert torch.equal(head.score_chunked(ours, ours), module.head.score_chunked(theirs, theirs))
    # The module really holds the trained weights, not the seeded init: 2 steps moved them.
    fresh = UWEModule(**hparams).encoder.encode(TEXTS, show_progress=False)
    assert not torch.equal(fresh.pooled, ours.pooled)
    assert module.val_history and module.val_history[-1]["step"] == 2  # the checkpoint's curve is restored


@pytest.fixture(scope="module")
def state(trained) -> dict:
    return torch.load(trained, map_location="cpu", weights_only=True)


class Payload:
    """Unpickling it would write a file: a checkpoint is never unpickled."""

    def __init__(self, mark: Path):
        self.mark = mark

    def __reduce__(self):
        return (Path.write_text, (self.mark, "unpickled"))


def bad_files(tmp: Path, state: dict, trained: Path) -> dict[str, tuple[Path, type, str]]:
    """name -> (file, error type, message regex)."""
    truncated = tmp / "truncated.ckpt"
    truncated.write_bytes(trained.read_bytes()[:4000])
    pickled = tmp / "pickled.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": Payload(tmp / "PWNED")}, pickled)
    foreign = tmp / "foreign.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(2)}}, foreign)
    name = "encoder.model.encoder.layer.0.attention.self.query.weight"
    nan = tmp / "nan.ckpt"
    weights = dict(state["state_dict"])
    weights[name] = torch.full_like(weights[name], float("nan"))
    torch.save({**state, "state_dict": weights}, nan)
    partial = tmp / "partial.ckpt"
    torch.save({**state, "state_dict": {k: v for k, v in state["state_dict"].items() if k != name}}, partial)
    damaged = r"checkpoint {} is not a uwe checkpoint or is damaged \({}\); pass a .ckpt written by train.py"
    unread = "it holds objects other than tensors and plain data, which are not loaded for safety"
    return {
        "missing": (tmp / "missing.ckpt", FileNotFoundError, r"checkpoint .*missing.ckpt not found; pass the .ckpt"),
        "truncated": (truncated, CheckpointError, damaged.format(".*truncated.ckpt", ".*")),
        "pickled": (pickled, CheckpointError, damaged.format(".*pickled.ckpt", unread)),
        "foreign": (foreign, CheckpointError, damaged.format(".*foreign.ckpt", "it has no hyper_parameters")),
        "nan": (nan, CheckpointError, rf"nan.ckpt holds 1 NaN or infinite weight tensor\(s\) \(e.g. {name}\).*earlier"),
        "partial": (partial, CheckpointError, r"partial.ckpt does not fit the model its hyper_parameters describe "
                                              r"\(.*Missing key.*layer.0.attention.self.query.weight"),
    }


@pytest.mark.parametrize("case", ["missing", "truncated", "pickled", "foreign", "nan", "partial"])
def test_bad_checkpoints_are_one_clear_error_at_every_entry(trained, state, tmp_path, capsys, case):
    path, error, message = bad_files(tmp_path, state, trained)[case]
    for load in (load_checkpoint, UWEModule.load_trained, lambda p: Ranker.from_pretrained(p, cache_dir=tmp_path)):
        with pytest.raises(error, match=message):
            load(path)
    assert main(["export", str(path), str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("uwe export: error: ") and "Traceback" not in err[0]
    assert not (tmp_path / "PWNED").exists()


def test_non_finite_tensors_counts_overflowing_norms_too():
    assert non_finite_tensors({"a": torch.ones(3), "ids": torch.arange(3)}) == []
    # c's norm is sqrt(1000 * 1e38) ~ 3e20 but its squares sum past float32's 3.4e38: no working model has such weights.
    assert non_finite_tensors({"a": torch.ones(3), "b": torch.tensor([float("inf")]),
                               "c": torch.full((1000,), 1e19)}) == ["b", "c"]
