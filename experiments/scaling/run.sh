#!/usr/bin/env bash
# One run of the scaling study (README.md beside this file): the cpu_long recipe with the vacancy_skill graph cut
# to FRACTION of its training titles (seeded by SEED, nested: 1/8 lies within 1/4), the other graphs whole, full
# test; ENCODER, NODES, LR, STEPS and VAL_EVERY change the backbone or the recipe (unset: cpu_long's); SAVE_EVERY
# also writes last.ckpt every that many steps (for a resume, CKPT=). The run's results.json goes to runs/<name>/
# (variant.py names it: cut, seed, then what differs) and the plots are redrawn.
#   FRACTION=0.125 bash experiments/scaling/run.sh            # about 85 min on a 2-core CPU (bf16)
#   FRACTION=1 SEED=43 bash experiments/scaling/run.sh
#   FRACTION=1 LR=8e-5 bash experiments/scaling/run.sh        # the paper's learning rate (10% warm-up, as all)
#   FRACTION=1 NODES=512 STEPS=125 VAL_EVERY=25 bash experiments/scaling/run.sh   # 512 nodes, the same pairs seen
#   FRACTION=1 ENCODER=mpnet SAVE_EVERY=10 bash experiments/scaling/run.sh   # the paper's backbone (~8x the time)
#   CKPT=outputs/cpu_long/<run>/checkpoints/last.ckpt FRACTION=1 ENCODER=mpnet SAVE_EVERY=10 bash ...   # resume
#   RUN=outputs/cpu_long/2026-12-07_17-05-16 bash experiments/scaling/run.sh   # file a finished cpu_long run
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ -z "${RUN:-}" ]; then
  FRACTION=${FRACTION:?"set FRACTION (0.125, 0.25, 0.5 or 1) or RUN (a finished cpu_long run folder)"}
  overrides=("task_mix.graphs.vacancy_skill.fraction=$FRACTION" "seed=${SEED:-42}")
  [ -n "${ENCODER:-}" ] && overrides+=("encoder=$ENCODER")
  [ -n "${NODES:-}" ] && overrides+=("batch.nodes=$NODES")
  [ -n "${LR:-}" ] && overrides+=("optimizer.lr=$LR")
  [ -n "${STEPS:-}" ] && overrides+=("trainer.max_steps=$STEPS")
  [ -n "${VAL_EVERY:-}" ] && overrides+=("val.every_n_steps=$VAL_EVERY")
  [ -n "${SAVE_EVERY:-}" ] && overrides+=("save_every_n_steps=$SAVE_EVERY")
  if [ -n "${CKPT:-}" ]; then
    [ -f "$CKPT" ] || { echo "CKPT=$CKPT: no such checkpoint (a run's checkpoints/last.ckpt)" >&2; exit 2; }
    overrides+=("ckpt_path=$CKPT")
  fi
  python train.py experiment=cpu_long "${overrides[@]}"
  if [ -n "${CKPT:-}" ]; then RUN=$(dirname "$(dirname "$(readlink -f "$CKPT")")"); else
    RUN=$(readlink -f outputs/cpu_long/latest); fi
fi
[ -f "$RUN/results.json" ] || { echo "RUN=$RUN has no results.json: is it a finished train.py run?" >&2; exit 2; }
name=$(python experiments/scaling/variant.py "$RUN/results.json")
mkdir -p "experiments/scaling/runs/$name"
cp "$RUN/results.json" "$RUN/results.md" "experiments/scaling/runs/$name/"
python experiments/scaling/plot.py
