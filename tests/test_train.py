"""Training end to end on the tiny encoder and the hand-made data root: every loss x head, resume, NaN, CLI."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import lightning as L
import pytest
import torch
from hydra import compose, initialize_config_dir
from lightning.pytorch.callbacks import model_checkpoint

from uwe.models.heads import HEADS
from uwe.models.losses import LOSSES
from uwe.train.batches import MixBatches
from uwe.train.module import NonFiniteLossError, UWEModule
from uwe.train.precision import resolve_precision
from uwe.train.run import train

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def compose_train(tmp_path: Path, root: Path, *overrides: str):
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose(config_name="train", overrides=[
            "experiment=smoke", "logger=none", f"data.root={root}", "data.use_cache=false",
            f"paths.output_dir={tmp_path / 'run'}", f"paths.cache_dir={tmp_path / 'spaces'}",
            "max_queries=null", "force_subsample=false", "export=false", "trainer.enable_progress_bar=false",
            "trainer.enable_model_summary=false", *overrides])


@pytest.mark.parametrize("loss", [name for name, cls in LOSSES.items() if not getattr(cls, "triples", False)])
@pytest.mark.parametrize("head", HEADS)
def test_five_steps_of_every_loss_and_head(tiny_root, tmp_path, loss, head):
    """Every registered contrastive loss and head (each has its conf/<group>/<name>.yaml), a new one included;
    the preference losses, a second stage, train in tests/test_rankpo.py."""
    record = train(compose_train(tmp_path, tiny_root, f"loss={loss}", f"head={head}", "trainer.max_steps=5",
                                 "val.every_n_steps=5"))
    assert record["checkpoint"]["global_step"] == 5
    assert record["model"]["head"] == HEADS[head].__name__
    assert 0.0 < record["macro"]["map"] <= 1.0
    assert record["precision"] == resolve_precision("auto", "cpu")  # what auto became on this CPU
    metrics = (tmp_path / "run" / "checkpoints")
    assert (metrics / "last.ckpt").is_file()


class KillAt(L.Callback):
    """Stands in for a killed process: dies when training reaches ``step``."""

    def __init__(self, step: int):
        self.step = step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.global_step == self.step:
            raise KeyboardInterrupt


def test_killed_and_resumed_run_ends_like_an_uninterrupted_one(tiny_root, tmp_path, recwarn):
    steps = ["trainer.max_steps=6", "val.every_n_steps=2"]
    whole = train(compose_train(tmp_path / "a", tiny_root, *steps))
    # last.ckpt follows every validation, whether or not it improved (a resume loses at most one interval).
    assert torch.load(tmp_path / "a" / "run" / "checkpoints" / "last.ckpt", weights_only=False)["global_step"] == 6
    with pytest.raises((KeyboardInterrupt, SystemExit)):
        train(compose_train(tmp_path / "b", tiny_root, *steps), callbacks_extra=[KillAt(3)])
    last = tmp_path / "b" / "run" / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=False)["global_step"] == 2
    # As from the command line after a restart: a new Hydra folder; the run must continue in its own.
    model_checkpoint.warning_cache.clear()  # Lightning warns once per process
    recwarn.clear()
    resumed = train(compose_train(tmp_path / "c", tiny_root, *steps, f"ckpt_path={last}"))
    # last.ckpt was written at a validation's end: the restart passes that validation without rerunning it, and
    # the best-model checkpoint's "could not find the monitored key" warning would only alarm the user
    assert not [w for w in recwarn if "could not find the monitored key" in str(w.message)]
    assert resumed["checkpoint"]["global_step"] == whole["checkpoint"]["global_step"] == 6
    assert resumed["checkpoint"]["val_macro_map"] == pytest.approx(whole["checkpoint"]["val_macro_map"], abs=1e-9)
    # The same best checkpoint (by name: best-<step>) is tested, in the original run folder.
    assert Path(resumed["checkpoint"]["path"]).name == Path(whole["checkpoint"]["path"]).name
    assert Path(resumed["checkpoint"]["path"]).parent == last.parent
    assert (tmp_path / "b" / "run" / "results.json").is_file() and not (tmp_path / "c" / "run").exists()
    # The validation curve survives the restart: every validation of the uninterrupted run, same values.
    assert [v["step"] for v in resumed["val_curve"]] == [v["step"] for v in whole["val_curve"]] == [2, 4, 6]
    for a, b in zip(resumed["val_curve"], whole["val_curve"]):
        assert a == pytest.approx(b, abs=1e-9)
    for key, r in whole["tasks"].items():
        assert resumed["tasks"][key]["metrics"] == pytest.approx(r["metrics"], abs=1e-9), key
    # the CSV log of the interrupted part is kept beside the resumed part's
    csv = tmp_path / "b" / "run" / "csv"
    assert "val/macro_map" in (csv / "metrics.csv").read_text()
    (resumed_log,) = csv.glob("resumed_*/metrics.csv")
    assert "test/macro_map" in resumed_log.read_text()


def test_a_run_killed_between_validations_resumes_at_the_step_it_reached(tiny_root, tmp_path, monkeypatch):
    """save_every_n_steps writes last.ckpt between validations; the resumed epoch skips the steps already trained
    (the loader's state is in the checkpoint), so the run draws the batches, and ends, like an uninterrupted one."""
    drawn, draw = [], MixBatches.__getitem__
    monkeypatch.setattr(MixBatches, "__getitem__", lambda self, step: drawn.append((self.epoch, step)) or draw(self, step))
    steps = ["trainer.max_steps=8", "val.every_n_steps=4"]
    whole = train(compose_train(tmp_path / "a", tiny_root, *steps))
    assert drawn == [(0, 0), (0, 1), (0, 2), (0, 3), (1, 0), (1, 1), (1, 2), (1, 3)]
    drawn.clear()
    with pytest.raises((KeyboardInterrupt, SystemExit)):
        train(compose_train(tmp_path / "b", tiny_root, *steps, "save_every_n_steps=1"), callbacks_extra=[KillAt(6)])
    last = tmp_path / "b" / "run" / "checkpoints" / "last.ckpt"
    ckpt = torch.load(last, weights_only=False)
    assert ckpt["global_step"] == 6  # two steps into the second epoch of four
    assert ckpt["loops"]["fit_loop"]["state_dict"]["combined_loader"] == [{"epoch": 1, "next": 2}]
    drawn.clear()
    resumed = train(compose_train(tmp_path / "c", tiny_root, *steps, "save_every_n_steps=1", f"ckpt_path={last}"))
    assert drawn == [(1, 2), (1, 3)]  # the steps the killed run did not train, and no others
    assert [v["step"] for v in resumed["val_curve"]] == [v["step"] for v in whole["val_curve"]] == [4, 8]
    for a, b in zip(resumed["val_curve"], whole["val_curve"]):
        assert a == pytest.approx(b, abs=1e-9)
    for key, r in whole["tasks"].items():
        assert resumed["tasks"][key]["metrics"] == pytest.approx(r["metrics"], abs=1e-9), key


def test_the_record_names_the_code_training_started_with(tiny_root, tmp_path, monkeypatch):
    """A long run's tree may move on before its test is recorded: the commit is read when training starts."""
    import uwe.eval.report
    import uwe.train.run

    monkeypatch.setattr(uwe.train.run, "code_version", lambda: {"commit": "at-start", "dirty": False})
    monkeypatch.setattr(uwe.eval.report, "code_version", lambda: {"commit": "at-test", "dirty": True})
    record = train(compose_train(tmp_path, tiny_root, "trainer.max_steps=2", "val.every_n_steps=2"))
    assert record["code"] == {"commit": "at-start", "dirty": False}
    assert json.loads((tmp_path / "run" / "results.json").read_text())["code"]["commit"] == "at-start"


def test_nan_loss_stops_with_a_clear_message_and_keeps_the_last_good_checkpoint(tiny_root, tmp_path, monkeypatch):
    real = UWEModule.graph_loss

    def poisoned(self, name, batch, *embedded):
        loss = real(self, name, batch, *embedded)
        return loss * float("nan") if self.global_step >= 2 else loss

    monkeypatch.setattr(UWEModule, "graph_loss", poisoned)
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    with pytest.raises(NonFiniteLossError, match="step 2: the loss is nan") as err:
        train(compose_train(tmp_path, tiny_root, "trainer.max_steps=6", "val.every_n_steps=2"))
    assert f"the checkpoints kept are {last} (last written) and {last.with_name('best-2.ckpt')} (best)" in str(err.value)
    ckpt = torch.load(last, weights_only=False)
    assert ckpt["global_step"] == 2
    assert all(torch.isfinite(v).all() for v in ckpt["state_dict"].values() if v.is_floating_point())


def test_m2m_loss_decreases_on_a_fixed_batch(tiny_root, tmp_path):
    cfg = compose_train(tmp_path, tiny_root, "optimizer.lr=1e-3")
    from uwe.data.catalog import Catalog
    from uwe.data.mix import load_mix
    from uwe.train.run import build_module

    mix = load_mix(Catalog(tiny_root, use_cache=False), {"vacancy_skill": {"alpha": 1.0, "tau": 0.05}})
    module = build_module(cfg, mix)
    module.attach(mix, [])
    batch = module._batches[0]["vacancy_skill"]
    opt = torch.optim.AdamW(module.parameters(), lr=1e-3)
    module.encoder.eval()  # no dropout: the same batch must give a falling loss
    losses = []
    for _ in range(8):
        loss = module.graph_loss("vacancy_skill", batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0], losses


def test_packed_step_gives_the_plain_path_losses(tiny_root, tmp_path):
    """One packed, length-sorted pass over every graph's token ids = two padded passes per graph (fp32)."""
    from uwe.data.catalog import Catalog
    from uwe.data.mix import load_mix
    from uwe.train.run import build_module

    graphs = {g: {"alpha": 1.0, "tau": 0.05} for g in ("vacancy_skill", "occupation_alias", "skill_description")}
    mix = load_mix(Catalog(tiny_root, use_cache=False), graphs)
    for head in ("cosine", "soft_li"):
        cfg = compose_train(tmp_path, tiny_root, f"head={head}", "batch.max_tokens=24",  # several chunks
                            *(["pooling=tokens"] if head == "soft_li" else []))
        module = build_module(cfg, mix)
        module.attach(mix, [])
        module.encoder.eval()  # no dropout: both paths must see the same network
        batch = module._batches[0]
        assert all(b.left_tokens is not None for b in batch.values())
        packed = module.embed_step(batch)
        for name, b in batch.items():
            plain = module.graph_loss(name, b)
            fast = module.graph_loss(name, b, packed[name])
            assert fast.item() == pytest.approx(plain.item(), abs=1e-5), (head, name)


def run_cli(args: list[str], tmp_path: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def test_multirun_sweeps_task_mix_and_loss_one_wandb_run_each(tiny_root, tmp_path):
    sweep = tmp_path / "sweep"
    run_cli(["train.py", "-m", "task_mix=job2skill,jobnorm", "loss=infonce,m2m_infonce", "experiment=smoke",
             "logger=wandb", f"data.root={tiny_root}", "data.use_cache=false", f"paths.cache_dir={tmp_path / 's'}",
             "export=false", f"hydra.sweep.dir={sweep}"], tmp_path)
    results = sorted(sweep.glob("*/results.json"))
    assert len(results) == 4
    mixes = {tuple(json.loads(r.read_text())["config"]["task_mix"]["graphs"]) for r in results}
    assert mixes == {("vacancy_skill",), ("occupation_alias",)}
    assert len(list(sweep.glob("*/wandb/offline-run-*"))) == 4  # wandb.finish() per job: four separate runs


def test_ddp_two_cpu_processes(tiny_root, tmp_path):
    out = tmp_path / "ddp"
    run_cli(["train.py", "experiment=smoke", "trainer=ddp", f"data.root={tiny_root}", "data.use_cache=false",
             f"paths.cache_dir={tmp_path / 's'}", "export=false", f"hydra.run.dir={out}"], tmp_path)
    record = json.loads((out / "results.json").read_text())
    assert record["checkpoint"]["global_step"] == 4 and record["config"]["trainer"]["devices"] == 2


def test_eval_py_evaluates_a_checkpoint_with_its_own_head(tiny_root, tmp_path):
    record = train(compose_train(tmp_path, tiny_root, "head=soft_li", "trainer.max_steps=2", "val.every_n_steps=2"))
    out = tmp_path / "eval"
    run_cli(["eval.py", f"ckpt_path={record['checkpoint']['path']}", f"data.root={tiny_root}", "data.use_cache=false",
             f"paths.cache_dir={tmp_path / 'spaces'}", f"hydra.run.dir={out}"], tmp_path)
    again = json.loads((out / "results.json").read_text())
    assert again["model"]["head"] == "SoftLateInteractionHead"
    for key, r in record["tasks"].items():
        assert again["tasks"][key]["metrics"] == pytest.approx(r["metrics"], abs=1e-6), key
    assert not math.isnan(again["macro"]["map"])


def test_runs_go_to_outputs_experiment_with_a_latest_link(tiny_root, tmp_path):
    """README commands name outputs/<experiment>/latest/...: the default run folder and the link must exist."""
    env = {**os.environ, "WANDB_MODE": "offline", "HF_HUB_OFFLINE": "1"}
    args = [sys.executable, str(ROOT / "train.py"), "experiment=smoke", f"data.root={tiny_root}", "data.use_cache=false",
            f"paths.cache_dir={tmp_path / 's'}", "trainer.max_steps=2", "val.every_n_steps=2"]
    proc = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    latest = tmp_path / "outputs" / "smoke" / "latest"
    assert latest.is_symlink() and (latest / "results.json").is_file() and (latest / "model" / "uwe_head.json").is_file()
    assert (latest / "checkpoints" / "last.ckpt").is_file()
    # Resuming from latest/checkpoints/last.ckpt continues in the same run folder, not in a new one.
    run = latest.resolve()
    proc = subprocess.run(args + ["trainer.max_steps=4", f"ckpt_path={latest / 'checkpoints' / 'last.ckpt'}"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert [p.name for p in (tmp_path / "outputs" / "smoke").iterdir() if p.name != "latest"] == [run.name]
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)["global_step"] == 4


def test_a_finished_run_with_the_same_config_is_reused_not_retrained(tiny_root, tmp_path):
    steps = ["trainer.max_steps=2", "val.every_n_steps=2"]
    first = train(compose_train(tmp_path / "a", tiny_root, *steps))
    csv = (tmp_path / "a" / "run" / "csv" / "metrics.csv").read_text().splitlines()
    assert "test/macro_map" in csv[0].split(",")  # the CSV log beside any other logger
    assert len(first["code"]["commit"]) == 40

    again = train(compose_train(tmp_path / "b", tiny_root, *steps, f"reuse=[{tmp_path / 'a'}]", "logger=csv"))
    assert again["reused_from"] == str((tmp_path / "a" / "run" / "results.json").resolve())
    assert again["macro"] == first["macro"]
    assert json.loads((tmp_path / "b" / "run" / "results.json").read_text())["macro"] == first["macro"]
    assert not (tmp_path / "b" / "run" / "checkpoints").exists()  # nothing trained

    other_seed = train(compose_train(tmp_path / "c", tiny_root, *steps, "seed=7", f"reuse=[{tmp_path / 'a'}]"))
    assert "reused_from" not in other_seed
    assert (tmp_path / "c" / "run" / "checkpoints" / "last.ckpt").is_file()


def test_the_o_net_rows_are_not_reported_when_an_o_net_graph_was_trained_on(tiny_root, tmp_path):
    record = train(compose_train(tmp_path, tiny_root, "task_mix=all_onet", "trainer.max_steps=2", "val.every_n_steps=2"))
    assert "onet_job2skill/test" not in record["tasks"] and "onet_skill2job/test" not in record["tasks"]
    assert "job2skill/test" in record["tasks"]
    leave_one_out = train(compose_train(tmp_path / "b", tiny_root, "task_mix=no_skill_alias", "trainer.max_steps=2",
                                        "val.every_n_steps=2"))
    assert {"onet_job2skill/test", "onet_skill2job/test", "onet_jobnorm/test"} <= set(leave_one_out["tasks"])
    assert "skill_alias" not in leave_one_out["config"]["task_mix"]["graphs"] or \
        leave_one_out["config"]["task_mix"]["graphs"]["skill_alias"] is None
