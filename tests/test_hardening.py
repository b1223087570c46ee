"""Caches cannot run code or lie; training and export lose nothing (issue 12), on the tiny data and encoder.

- Data cache: a data format, never pickle; another entry's file, changed bytes or a torn file are rebuilt with
  one warning line naming the file; a crafted pickle where the cache looks is never executed.
- Space cache: another space's file under this name and changed bytes are refused, naming the file and the
  fix in the words of the entry point (Python ``refresh=True``, eval.py ``refresh_cache=true``, CLI ``--refresh``).
- Checkpoints are written atomically; non-finite weights stop training with a message true about which
  checkpoints exist.
- ``--overwrite`` replaces only uwe exports; temporary folders are unique and never a user's.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import shutil
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch

from tests.test_cli import save_tiny_checkpoint
from tests.test_train import compose_train
from uwe.cli import build_parser, main
from uwe.data.cache import FORMAT as DATA_FORMAT
from uwe.data.catalog import Catalog
from uwe.eval.scorers import EncoderScorer
from uwe.models.encoder import TextEncoder
from uwe.models.export import HEAD_CONFIG, export_model, is_export
from uwe.models.heads import build_head
from uwe.models.space_cache import CacheError, StaleCacheError, cache_name, load_or_encode
from uwe.ranker import Ranker
from uwe.train.checkpoint_io import AtomicCheckpointIO
from uwe.train.module import NonFiniteLossError, NonFiniteWeightsError, UWEModule
from uwe.train.run import build_trainer, train

LABELS = ["python", "statistics", "bake bread", "knead dough", "sql"]


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


class Payload:
    """Unpickling this creates the folder ``marker``: the proof that a pickle ran."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.mkdir, (str(self.marker),)


def crafted_pickle(marker: Path) -> bytes:
    return pickle.dumps(Payload(marker))


def cache_warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "uwe.data.cache" and r.levelno == logging.WARNING]


# data cache ---------------------------------------------------------------------------------------------------
def entry(cache: Path, kind: str, stem: str) -> Path:
    (path,) = (cache / kind).glob(f"{stem}-*.safetensors")
    return path


def test_data_cache_entries_are_safetensors_with_key_and_checksum_and_round_trip(tiny_root, tmp_path):
    from safetensors import safe_open

    cold = Catalog(tiny_root, cache_dir=tmp_path / "c")
    task, graph = cold.task("jobnorm"), cold.graph("skill_alias")
    warm = Catalog(tiny_root, cache_dir=tmp_path / "c")
    assert warm.task("jobnorm") == task
    again = warm.graph("skill_alias")
    assert (again.name, again.left, again.right, again.sources, again.dropped) == \
        (graph.name, graph.left, graph.right, graph.sources, graph.dropped)
    assert np.array_equal(again.edges, graph.edges) and again.edges.dtype == np.int64
    with safe_open(entry(tmp_path / "c", "tasks", "jobnorm-test"), "np") as f:
        meta = f.metadata()
    assert meta["format"] == DATA_FORMAT and meta["kind"] == "RankingTask"
    assert len(meta["key"]) == 64 and len(meta["sha256"]) == 64
    assert not list((tmp_path / "c").rglob("*.pkl")) and not list((tmp_path / "c").rglob("*.tmp"))


def test_a_crafted_pickle_where_the_data_cache_looks_is_never_run(tiny_root, tmp_path, caplog):
    cache = tmp_path / "c"
    fresh = Catalog(tiny_root, cache_dir=cache).task("jobnorm")
    path = entry(cache, "tasks", "jobnorm-test")
    marker = tmp_path / "pwned"
    path.write_bytes(crafted_pickle(marker))
    path.with_suffix(".pkl").write_bytes(crafted_pickle(marker))  # where the old pickle cache looked
    with caplog.at_level(logging.WARNING):
        got = Catalog(tiny_root, cache_dir=cache).task("jobnorm")
    assert not marker.exists()
    assert got == fresh
    (warning,) = cache_warnings(caplog)
    assert str(path) in warning and "rebuilding" in warning and "\n" not in warning
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert Catalog(tiny_root, cache_dir=cache).task("jobnorm") == fresh  # the rebuilt entry is clean
    assert cache_warnings(caplog) == []
    pickle.loads(path.with_suffix(".pkl").read_bytes())
    assert marker.is_dir()  # the payload was live: reading it as a pickle would have run it


def test_another_entrys_valid_file_under_this_name_is_rebuilt(tiny_root, tmp_path, caplog):
    cache = tmp_path / "c"
    catalog = Catalog(tiny_root, cache_dir=cache)
    jobnorm, skillnorm = catalog.task("jobnorm"), catalog.task("skillnorm")
    assert jobnorm.sizes() != skillnorm.sizes()
    path = entry(cache, "tasks", "jobnorm-test")
    shutil.copyfile(entry(cache, "tasks", "skillnorm-test"), path)  # a valid file, of another task
    with caplog.at_level(logging.WARNING):
        got = Catalog(tiny_root, cache_dir=cache).task("jobnorm")
    assert got == jobnorm
    (warning,) = cache_warnings(caplog)
    assert str(path) in warning and "holds another entry" in warning


@pytest.mark.parametrize("damage", ["bytes changed inside", "torn"])
def test_a_changed_or_torn_data_cache_file_is_rebuilt(tiny_root, tmp_path, caplog, damage):
    cache = tmp_path / "c"
    fresh = Catalog(tiny_root, cache_dir=cache).graph("skill_alias")
    path = entry(cache, "graphs", "skill_alias")
    data = bytearray(path.read_bytes())
    if damage == "torn":
        data = data[: len(data) // 2]
    else:
        data[-8:] = bytes(b ^ 0xFF for b in data[-8:])  # inside the last array's bytes; the header is intact
    path.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING):
        got = Catalog(tiny_root, cache_dir=cache).graph("skill_alias")
    assert got.left == fresh.left and got.right == fresh.right and np.array_equal(got.edges, fresh.edges)
    (warning,) = cache_warnings(caplog)
    assert str(path) in warning
    if damage != "torn":
        assert "checksum mismatch" in warning


# space cache --------------------------------------------------------------------------------------------------
@pytest.fixture
def encoder():
    return TextEncoder.from_name("tiny")


def space(encoder, cache, texts=LABELS, name="skills", **kwargs):
    return load_or_encode(encoder, texts, cache, name, show_progress=False, **kwargs)


def test_another_spaces_valid_file_under_this_name_is_refused(encoder, tmp_path):
    cache = tmp_path / "s"
    space(encoder, cache)
    space(encoder, cache, texts=LABELS[::-1], name="other")
    (mine,) = cache.glob("skills.*.safetensors")
    (theirs,) = cache.glob("other.*.safetensors")
    shutil.copyfile(theirs, mine)  # same shape, valid safetensors, another key
    with pytest.raises(CacheError, match=f"cache file {mine} holds the space of key .*pass refresh=True"):
        space(encoder, cache)
    assert torch.equal(space(encoder, cache, refresh=True).pooled, encoder.encode(LABELS, show_progress=False).pooled)


def test_bytes_overwritten_inside_a_space_file_are_caught(encoder, tmp_path):
    cache = tmp_path / "s"
    good = space(encoder, cache)
    (path,) = cache.glob("skills.*.safetensors")
    data = bytearray(path.read_bytes())
    data[-64:] = bytes(64)  # inside the tensors: the file still parses
    path.write_bytes(bytes(data))
    with pytest.raises(CacheError, match=f"cache file {path} is corrupt.*checksum.*pass refresh=True"):
        space(encoder, cache)
    assert torch.equal(space(encoder, cache, refresh=True).pooled, good.pooled)


def test_a_crafted_pickle_where_the_space_cache_looks_is_refused_and_never_run(encoder, tmp_path):
    cache = tmp_path / "s"
    space(encoder, cache)
    (path,) = cache.glob("skills.*.safetensors")
    marker = tmp_path / "pwned"
    path.write_bytes(crafted_pickle(marker))
    with pytest.raises(CacheError, match=f"cache file {path} is unreadable"):
        space(encoder, cache)
    assert not marker.exists()


def test_a_space_file_without_checksum_is_refused(encoder, tmp_path):
    import safetensors.torch

    cache = tmp_path / "s"
    space(encoder, cache)
    (path,) = cache.glob("skills.*.safetensors")
    safetensors.torch.save_file(safetensors.torch.load_file(path), path)  # as written before checksums
    with pytest.raises(CacheError, match=f"cache file {path} has no checksum"):
        space(encoder, cache)


def test_stale_space_errors_name_the_fix_of_each_entry_point(encoder, tmp_path, capsys):
    cache = tmp_path / "s"
    space(encoder, cache)
    with pytest.raises(StaleCacheError, match="pass refresh=True"):  # Python
        space(encoder, cache, texts=LABELS[:3])
    EncoderScorer(encoder, build_head("cosine"), cache, show_progress=False).space(LABELS, "skills")
    with pytest.raises(StaleCacheError) as err:  # eval.py and train.py
        EncoderScorer(encoder, build_head("cosine"), cache, show_progress=False).space(LABELS[:3], "skills")
    assert "set refresh_cache=true" in str(err.value) and "refresh=True" not in str(err.value)

    labels = tmp_path / "labels.txt"
    args = ["rank", "sql", "--model", "tiny", "--space", "demo", "--cache-dir", str(cache), "-k", "1",
            "--labels", f"demo={labels}"]
    labels.write_text("\n".join(LABELS))
    assert main(args) == 0
    labels.write_text("\n".join(LABELS[:3] + ["sql"]))
    capsys.readouterr()
    assert main(args) == 2
    message = capsys.readouterr().err.splitlines()[-1]
    assert "stale cache" in message and "pass --refresh" in message and "refresh=True" not in message
    assert main([*args, "--refresh"]) == 0
    assert capsys.readouterr().out.split()[-1] == "sql"
    assert main(args) == 0  # refreshed for good


def test_serve_has_refresh_and_it_reencodes_a_stale_builtin_space(tiny_root, tmp_path, monkeypatch):
    import uvicorn

    import uwe.serve

    served = []  # the ranker of each `uwe serve`, as the app gets it
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: None)
    monkeypatch.setattr(uwe.serve, "create_app", lambda ranker, *a, **kw: served.append(ranker))
    monkeypatch.setenv("UWE_CACHE_DIR", str(tmp_path / "built"))
    cache = tmp_path / "s"
    target_space = Catalog(tiny_root).task("job2skill").target_space
    tiny = TextEncoder.from_name("tiny")
    space(tiny, cache, texts=["not", "the", "skills"], name=cache_name(target_space, tiny))  # a stale file
    args = ["serve", "--model", "tiny", "--data-root", str(tiny_root), "--cache-dir", str(cache)]
    assert build_parser().parse_args([*args, "--refresh"]).refresh
    assert main(args) == 0
    with pytest.raises(StaleCacheError, match="pass --refresh") as err:
        served[-1].space("esco_skills")
    assert "refresh=True" not in str(err.value)
    assert main([*args, "--refresh"]) == 0
    assert served[-1].rank("python", "esco_skills", k=1)[0][0][0] == "python"  # re-encoded: the real space
    assert Ranker.from_pretrained("tiny", cache_dir=cache, data_root=tiny_root).space("esco_skills")  # and kept


# checkpoints --------------------------------------------------------------------------------------------------
def half_then_fail(obj, f, *args, **kwargs):
    """torch.save on a full disk: half the bytes land, then the write fails."""
    import io

    buffer = io.BytesIO()
    REAL_SAVE(obj, buffer)
    data = buffer.getvalue()
    with open(f, "wb") as out:
        out.write(data[: len(data) // 2])
    raise OSError(28, "No space left on device")


REAL_SAVE = torch.save


def test_a_failed_checkpoint_write_leaves_the_previous_file_whole_and_no_other(tmp_path, monkeypatch):
    folder = tmp_path / "checkpoints"
    io = AtomicCheckpointIO()
    first = {"state_dict": {"w": torch.arange(1000.0)}, "global_step": 2}
    io.save_checkpoint(first, folder / "last.ckpt")
    monkeypatch.setattr(torch, "save", half_then_fail)
    with pytest.raises(OSError, match="No space left"):
        io.save_checkpoint({"state_dict": {"w": torch.zeros(1000)}, "global_step": 4}, folder / "last.ckpt")
    with pytest.raises(OSError, match="No space left"):
        io.save_checkpoint(first, folder / "best-4.ckpt")
    assert sorted(p.name for p in folder.iterdir()) == ["last.ckpt"]  # no best-4.ckpt, no temporary
    kept = torch.load(folder / "last.ckpt", weights_only=True)
    assert kept["global_step"] == 2 and torch.equal(kept["state_dict"]["w"], first["state_dict"]["w"])


@pytest.mark.parametrize("trainer", ["cpu", "ddp"])
def test_the_trainer_writes_checkpoints_atomically_under_every_strategy(tiny_root, tmp_path, trainer):
    cfg = compose_train(tmp_path, tiny_root, f"trainer={trainer}")
    built = build_trainer(cfg, False, [], tmp_path)
    assert isinstance(built.strategy.checkpoint_io, AtomicCheckpointIO)


def test_a_full_disk_during_training_leaves_only_whole_checkpoints(tiny_root, tmp_path, monkeypatch):
    saves = []

    def second_save_fails(obj, f, *args, **kwargs):
        saves.append(Path(f).name)
        if len(saves) == 2:  # best-2 is written, then last.ckpt dies half written
            return half_then_fail(obj, f)
        return REAL_SAVE(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", second_save_fails)
    with pytest.raises(OSError, match="No space left"):
        train(compose_train(tmp_path, tiny_root, "trainer.max_steps=4", "val.every_n_steps=2"))
    folder = tmp_path / "run" / "checkpoints"
    assert [Path(s).name.split(".")[1] for s in saves] == ["best-2", "last"]  # through the atomic writer
    assert sorted(p.name for p in folder.iterdir()) == ["best-2.ckpt"]  # no truncated last.ckpt, no temporary
    assert torch.load(folder / "best-2.ckpt", weights_only=False)["global_step"] == 2


# non-finite weights -------------------------------------------------------------------------------------------
def test_a_huge_learning_rate_stops_at_once_and_says_no_checkpoint_exists(tiny_root, tmp_path):
    with pytest.raises(NonFiniteWeightsError, match=r"step 0: the optimizer step made .* weight tensor\(s\) NaN, "
                                                    r"infinite or too large.*no checkpoint was written yet"):
        train(compose_train(tmp_path, tiny_root, "optimizer.lr=1e30", "trainer.max_steps=4", "val.every_n_steps=1"))
    assert not list(tmp_path.rglob("*.ckpt"))


def test_diverged_but_finite_weights_stop_at_validation_with_a_clear_error(tiny_root, tmp_path):
    # 1e15 keeps the weights finite (their norm too), but their outputs are NaN: validation says so.
    with pytest.raises(NonFiniteWeightsError, match="step 1: validation found the model's outputs NaN.*no checkpoint"):
        train(compose_train(tmp_path, tiny_root, "optimizer.lr=1e15", "trainer.max_steps=4", "val.every_n_steps=1"))


class NaNGradientsAt(L.Callback):
    """Poisons one gradient before the optimizer step of ``step``: the weights become NaN, the loss was finite."""

    def __init__(self, step: int):
        self.step = step

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        if trainer.global_step == self.step:
            next(pl_module.parameters()).grad.fill_(float("nan"))


def test_nan_weights_stop_training_and_name_the_checkpoints_that_exist(tiny_root, tmp_path):
    with pytest.raises(NonFiniteWeightsError) as err:
        train(compose_train(tmp_path, tiny_root, "trainer.max_steps=6", "val.every_n_steps=2"),
              callbacks_extra=[NaNGradientsAt(3)])
    folder = tmp_path / "run" / "checkpoints"
    message = str(err.value)
    assert message.startswith("step 3: the optimizer step made ") and "weight tensor(s) NaN" in message
    assert f"{folder / 'last.ckpt'} (last written)" in message and f"{folder / 'best-2.ckpt'} (best)" in message
    assert sorted(p.name for p in folder.iterdir()) == ["best-2.ckpt", "last.ckpt"]
    ckpt = torch.load(folder / "last.ckpt", weights_only=False)
    assert all(torch.isfinite(v).all() for v in ckpt["state_dict"].values() if v.is_floating_point())


def test_a_nan_loss_before_any_checkpoint_says_none_was_written(tiny_root, tmp_path, monkeypatch):
    real = UWEModule.graph_loss
    monkeypatch.setattr(UWEModule, "graph_loss", lambda self, *a: real(self, *a) * float("nan"))
    with pytest.raises(NonFiniteLossError, match="step 0: the loss is nan.*no checkpoint was written yet"):
        train(compose_train(tmp_path, tiny_root, "trainer.max_steps=4", "val.every_n_steps=2"))


# export -------------------------------------------------------------------------------------------------------
@pytest.fixture
def checkpoint(tmp_path) -> Path:
    return save_tiny_checkpoint(tmp_path / "best.ckpt", {"name": "cosine"}, perturb=False)


def test_overwrite_refuses_a_folder_that_is_not_a_uwe_export(tmp_path, checkpoint, capsys):
    source = tmp_path / "my_project"
    source.mkdir()
    (source / "notes.txt").write_text("precious")
    assert main(["export", str(checkpoint), str(source), "--overwrite"]) == 2
    message = capsys.readouterr().err.splitlines()[-1]
    assert f"export folder {source} is not a uwe export" in message
    assert [p.name for p in source.iterdir()] == ["notes.txt"] and (source / "notes.txt").read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.ckpt", "my_project"]  # no temporary left


def test_overwrite_replaces_a_uwe_export(tmp_path, checkpoint, capsys):
    out = tmp_path / "model"
    assert main(["export", str(checkpoint), str(out)]) == 0
    assert is_export(out)
    (out / "stale.txt").write_text("from the old export")
    assert main(["export", str(checkpoint), str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err.splitlines()[-1]
    assert main(["export", str(checkpoint), str(out), "--overwrite"]) == 0
    assert is_export(out) and not (out / "stale.txt").exists()


def test_a_users_tmp_and_old_siblings_survive_every_export(tmp_path):
    encoder = TextEncoder.from_name("tiny")
    out = tmp_path / "model"
    for sibling in ("model.tmp", "model.old"):
        (tmp_path / sibling).mkdir()
        (tmp_path / sibling / "mine.txt").write_text("mine")
    export_model(encoder, "cosine", {}, out)
    export_model(encoder, "maxsim", {}, out, overwrite=True)
    assert json.loads((out / HEAD_CONFIG).read_text())["head"] == "maxsim"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model", "model.old", "model.tmp"]
    assert all((tmp_path / s / "mine.txt").read_text() == "mine" for s in ("model.tmp", "model.old"))


def test_a_failed_export_leaves_the_previous_export_and_no_temporary(tmp_path, monkeypatch):
    encoder = TextEncoder.from_name("tiny")
    out = export_model(encoder, "cosine", {}, tmp_path / "model")

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(encoder.tokenizer, "save_pretrained", disk_full)
    with pytest.raises(OSError, match="No space left"):
        export_model(encoder, "maxsim", {}, out, overwrite=True)
    assert json.loads((out / HEAD_CONFIG).read_text())["head"] == "cosine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
