"""bench/device_paper_run.sh end to end on the CPU (--smoke) and its bundle: split, carried, joined, checked."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
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
        "UWE_CACHE_DIR": str(tmp_path / "cache"), "UWE_DEVICE_INSTALL": "auto"})  # importable here: no install
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


def test_bundle_is_split_per_carry_folder_and_joined_back_or_names_what_is_missing(tiny_root, tmp_path):
    bundle = tmp_path / "bundle"
    env = {"UWE_DEVICE_BUNDLE": str(bundle), "UWE_DATA_DIR": str(tiny_root), "OUT": str(tmp_path / "out")}
    made = bash("device_prepare.sh", env={**env, "UWE_PREPARE_WHEELS": "0", "UWE_PART_BYTES": "1500"})
    assert made.returncode == 0, made.stderr
    folders = sorted(p.name for p in bundle.iterdir())
    assert len(folders) >= 2 and folders == [f"c{i}" for i in range(1, len(folders) + 1)]
    for folder in folders:  # one part and the same manifest in each carry folder
        assert sorted(p.name for p in (bundle / folder).iterdir())[0] == "manifest.txt"
        assert (bundle / folder / "manifest.txt").read_text() == (bundle / "c1" / "manifest.txt").read_text()
        assert max(p.stat().st_size for p in (bundle / folder).glob("part-*")) <= 1500

    env = {**env, "UWE_DEVICE_INSTALL": "skip", "UWE_DATA_DIR": ""}
    last = bundle / folders[-1]
    shutil.move(last, tmp_path / "later")  # not carried yet
    check = bash("device_paper_run.sh", "--check", env=env)
    assert check.returncode == 0 and f"still to carry: {folders[-1]}/part-" in check.stdout
    early = bash("device_paper_run.sh", "--assemble-only", env=env)
    assert early.returncode != 0 and f"missing on this machine: {folders[-1]}/part-" in early.stdout
    assert f"Carry {last} in this call" in early.stdout

    shutil.move(tmp_path / "later", last)
    assert "bundle complete" in bash("device_paper_run.sh", "--check", env=env).stdout
    done = bash("device_paper_run.sh", "--assemble-only", env=env)
    assert done.returncode == 0, done.stderr
    assert tree(bundle / "stage" / "data") == tree(tiny_root)

    part = next(last.glob("part-*"))
    part.write_bytes(part.read_bytes()[:-1] + b"x")
    (bundle / "stage" / ".bundle-sha256").unlink()
    bad = bash("device_paper_run.sh", "--assemble-only", env=env)
    assert bad.returncode != 0 and f"{part} does not match its sha256" in bad.stdout
