"""The ``uwe`` command: rank output (json and table), one-line errors, and export of a checkpoint round trip."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import lightning as L
import pytest
import torch
from sentence_transformers import SentenceTransformer

from uwe import Ranker
from uwe.cli import main
from uwe.models.heads import SoftLateInteractionHead
from uwe.train.module import UWEModule

LABELS = ["python", "statistics", "bake bread", "knead dough", "manage a team", "data analysis", "nursing", "sql"]
TEXTS = ["python programming", "knead dough", "manage a team of nurses"]


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture
def labels_file(tmp_path) -> Path:
    path = tmp_path / "labels.txt"
    path.write_text("\n".join(LABELS) + "\n\n")
    return path


def rank_args(tmp_path, labels_file, *extra) -> list[str]:
    return ["rank", "--model", "tiny", "--labels", f"demo={labels_file}", "--space", "demo",
            "--cache-dir", str(tmp_path / "spaces"), *extra]


def test_rank_json_gives_the_rankers_results(tmp_path, labels_file, capsys):
    assert main(rank_args(tmp_path, labels_file, *TEXTS, "-k", "3", "--format", "json")) == 0
    got = json.loads(capsys.readouterr().out)
    ranker = Ranker.from_pretrained("tiny", cache_dir=tmp_path / "spaces", show_progress=False)
    ranker.add_space("demo", LABELS)
    expected = ranker.rank(TEXTS, "demo", k=3)
    assert [item["text"] for item in got] == TEXTS
    assert [[(r["label"], r["score"]) for r in item["results"]] for item in got] == expected
    assert got[1]["results"][0]["label"] == "knead dough"
    assert got[1]["results"][0]["score"] == pytest.approx(1.0, abs=1e-5)


def test_rank_candidates_ranks_in_two_stages(tmp_path, labels_file, capsys):
    assert main(rank_args(tmp_path, labels_file, *TEXTS, "-k", "2", "--candidates", "4", "--format", "json")) == 0
    got = json.loads(capsys.readouterr().out)
    ranker = Ranker.from_pretrained("tiny", cache_dir=tmp_path / "spaces", show_progress=False)
    ranker.add_space("demo", LABELS)
    expected = ranker.rank(TEXTS, "demo", k=2, candidates=4)
    assert [[(r["label"], r["score"]) for r in item["results"]] for item in got] == expected
    assert got[1]["results"][0]["label"] == "knead dough"  # its own label is in its shortlist


def test_rank_reads_an_input_file_and_prints_a_table(tmp_path, labels_file, capsys):
    texts = tmp_path / "texts.txt"
    texts.write_text("sql\n\n  nursing  \n")
    assert main(rank_args(tmp_path, labels_file, "--input", str(texts), "-k", "2")) == 0
    blocks = capsys.readouterr().out.strip().split("\n\n")
    assert [block.splitlines()[0] for block in blocks] == ["sql", "nursing"]
    first = blocks[0].splitlines()[1].split()
    assert first[0] == "1" and float(first[1]) == pytest.approx(1.0, abs=1e-4) and first[2] == "sql"
    assert len(blocks[1].splitlines()) == 3


@pytest.mark.parametrize("extra, message", [
    (["python", "--space", "nope"], "uwe rank: error: unknown space 'nope'; valid: demo, "),
    (["python", "-k", "0"], "uwe rank: error: k must be an integer from 1 to 8"),
    ([], "uwe rank: error: no text to rank: give texts as arguments or --input FILE"),
])
def test_errors_exit_2_with_one_line(tmp_path, labels_file, capsys, extra, message):
    assert main(rank_args(tmp_path, labels_file, *extra)) == 2
    err = capsys.readouterr().err  # the encoding progress bar of the space, then the error in one line
    assert err.endswith("\n") and err.splitlines()[-1].startswith(message) and "Traceback" not in err


def test_the_module_entry_point_prints_no_traceback(tmp_path, labels_file):
    proc = subprocess.run([sys.executable, "-m", "uwe.cli", *rank_args(tmp_path, labels_file, "x", "--space", "nope")],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("uwe rank: error: unknown space 'nope'")


def test_serve_runs_the_app_with_custom_and_preloaded_spaces(tmp_path, labels_file, tiny_root, monkeypatch):
    import uvicorn
    from fastapi.testclient import TestClient

    served = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: served.update(app=app, **kw))
    monkeypatch.setenv("UWE_CACHE_DIR", str(tmp_path / "built"))  # the tiny root's built tasks
    assert main(["serve", "--model", "tiny", "--labels", f"demo={labels_file}", "--data-root", str(tiny_root),
                 "--preload", "esco_skills", "--cache-dir", str(tmp_path / "spaces"), "--port", "8123"]) == 0
    assert (served["host"], served["port"]) == ("127.0.0.1", 8123)
    with TestClient(served["app"]) as client:
        deadline = time.monotonic() + 30  # the preloading runs in the background; /health says when it is done
        while client.get("/health").status_code == 503 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert client.get("/health").json()["status"] == "ok"
        sizes = {s["name"]: s["size"] for s in client.get("/spaces").json()["spaces"]}
        assert sizes == {"esco_skills": 4, "esco_occupations": None, "onet_tech_skills": None, "demo": len(LABELS)}
        response = client.post("/rank", json={"texts": ["sql"], "space": "demo", "k": 1})
        assert response.json()["results"][0][0]["label"] == "sql"


def save_tiny_checkpoint(path: Path, head: dict, perturb: bool = True) -> Path:
    """A UWEModule on the tiny encoder with ``head``, its weights moved off the seeded init (``perturb``),
    saved by Lightning at ``path``."""
    module = UWEModule(encoder={"name": "tiny", "max_length": 32}, pooling={"name": "mean"}, head=head,
                       loss={"name": "infonce"}, graphs={"g": {"alpha": 1.0, "tau": 0.05}},
                       optimizer={"_target_": "torch.optim.AdamW", "_partial_": True, "lr": 1e-4})
    if perturb:
        with torch.no_grad(), torch.random.fork_rng():
            torch.manual_seed(1)
            for p in module.encoder.parameters():
                p.add_(0.05 * torch.randn_like(p))
    trainer = L.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, accelerator="cpu")
    trainer.strategy.connect(module)
    trainer.save_checkpoint(path)
    return path


@pytest.fixture
def checkpoint(tmp_path) -> Path:
    """A soft_li model on the tiny encoder, off its seeded init."""
    return save_tiny_checkpoint(tmp_path / "best.ckpt", {"name": "soft_li", "tau_a": 0.2})


def test_export_round_trip(tmp_path, checkpoint, capsys):
    out = tmp_path / "model"
    assert main(["export", str(checkpoint), str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)

    trained = UWEModule.load_trained(checkpoint)
    expected = trained.encoder.encode(TEXTS, show_progress=False).pooled
    got = SentenceTransformer(str(out), device="cpu").encode(TEXTS, normalize_embeddings=False, convert_to_tensor=True)
    assert torch.allclose(got, expected, atol=1e-5)

    exported = Ranker.from_pretrained(out, cache_dir=tmp_path / "a", show_progress=False)
    from_ckpt = Ranker.from_pretrained(checkpoint, cache_dir=tmp_path / "b", show_progress=False)
    assert isinstance(exported.head, SoftLateInteractionHead) and exported.head.tau_a == 0.2
    assert exported.encoder.max_length == 32 and exported.encoder.keep_tokens
    for ranker in (exported, from_ckpt):
        ranker.add_space("demo", LABELS)
    assert torch.equal(exported.scores(TEXTS, "demo"), from_ckpt.scores(TEXTS, "demo"))
    meta = json.loads((out / "uwe_head.json").read_text())["metadata"]
    assert meta == {"checkpoint": str(checkpoint.resolve()), "task_mix": ["g"]}

    assert main(["export", str(checkpoint), str(out)]) == 2
    assert "FileExistsError" in capsys.readouterr().err
    assert main(["export", str(checkpoint), str(out), "--overwrite"]) == 0
