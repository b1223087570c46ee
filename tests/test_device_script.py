"""bench/device_paper_run.sh end to end on the CPU (--smoke), and its bundle (bench/device_bundle.py): each call
checks the parts it holds, the last one unpacks them."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("device_bundle", ROOT / "bench" / "device_bundle.py")
device_bundle = importlib.util.module_from_spec(spec)
spec.loader.exec_module(device_bundle)
pytestmark = pytest.mark.slow


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def bash(script: str, *args: str, env: dict, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(ROOT / "bench" / script), *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1",
                                                "MKL_NUM_THREADS": "1", **env})


def test_smoke_run_trains_validates_tests_and_writes_its_files_to_out(tiny_root, tmp_path):
    out, run = tmp_path / "out", tmp_path / "run"
    proc = bash("device_paper_run.sh", "--smoke", env={
        "OUT": str(out), "UWE_DEVICE_RUN_DIR": str(run), "UWE_DATA_DIR": str(tiny_root),
        "UWE_CACHE_DIR": str(tmp_path / "cache")})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert sorted(p.name for p in out.iterdir()) == ["config.yaml", "device_run.log", "env.txt", "metrics.csv",
                                                     "results.json", "results.md"]
    record = json.loads((out / "results.json").read_text())
    config = record["config"]
    # The paper's experiment, shrunk: its head and loss, the tiny encoder, 4 steps, a sub-sampled test.
    setup = (config["head"]["name"], config["loss"]["name"], config["encoder"]["name"])
    assert setup == ("soft_li", "m2m_infonce", "tiny")
    assert record["checkpoint"]["global_step"] == 4 and record["macro"] is not None
    assert (config["max_queries"], config["force_subsample"], config["val"]["max_queries"]) == (30, True, 20)
    assert config["trainer"]["max_time"] == "00:00:10:00" and config["paths"]["cache_dir"] == str(run / "spaces")
    log = (out / "device_run.log").read_text()
    assert "val/macro_map" in log and "train.py exited 0" in log and "| **macro (6 groups)** |" in log
    assert "test/macro_map" in (out / "metrics.csv").read_text().splitlines()[0]
    assert "train.py experiment=paper_uwe encoder=tiny" in (out / "env.txt").read_text()
    assert (run / "model" / "uwe_head.json").is_file() and (run / "checkpoints" / "last.ckpt").is_file()


def test_each_call_checks_the_parts_it_holds_and_the_last_unpacks_the_bundle(tiny_root, tmp_path, monkeypatch):
    monkeypatch.setattr(device_bundle, "PACKAGES", ("rank-bm25",))  # small: tests/test_device_bundle.py packs all
    bundle = tmp_path / "bundle"
    device_bundle.build(bundle, "fp32", ["minilm"], tiny_root, part_bytes=1500, preset=0)
    folders = sorted((p.name for p in bundle.iterdir()), key=lambda name: int(name[1:]))
    assert len(folders) >= 2
    env = {"UWE_DEVICE_BUNDLE": str(bundle), "UWE_DATA_DIR": "", "OUT": str(tmp_path / "out")}

    last = bundle / folders[-1]
    shutil.move(last, tmp_path / "later")  # not carried yet
    check = bash("device_paper_run.sh", "--check", env=env)
    assert check.returncode == 0 and f"still to carry, one folder a call: {last}" in check.stdout
    early = bash("device_paper_run.sh", "--assemble-only", env=env)
    assert early.returncode != 0 and f"missing on this machine: {folders[-1]}/part-" in early.stdout

    shutil.move(tmp_path / "later", last)
    check = bash("device_paper_run.sh", "--check", env=env)
    assert f"{len(folders)} of {len(folders)} part(s) here and checked by sha256" in check.stdout
    done = bash("device_paper_run.sh", "--assemble-only", env=env)
    assert done.returncode == 0 and "unpacked into" in done.stdout, done.stdout[-3000:]
    assert tree(bundle / "unpacked" / "data") == tree(tiny_root)
    assert (bundle / "unpacked" / "site" / "rank_bm25.py").is_file()
