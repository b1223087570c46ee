#!/usr/bin/env bash
# The GPU runs of issues #17 and #18 in one call on one H200 (bash experiments/h200/run.sh; README.md beside this):
# the cpu_long recipe trained five ways at once, each lineage going on as soon as its stage 1 ends:
#   Z  zero-shot MiniLM (eval.py)                         P  plain stage 1 (cosine)  -> P2 RankPO (both) -> P views
#   M  stage 1 + 2D Matryoshka (matryoshka=2d) -> views   H  stage 1 + mined negatives (mining=hard) -> H2 RankPO (both)
#   S  stage 1 on soft_li (head=soft_li pooling=tokens)  -> S2 RankPO (both) on soft_li
#   P43, M43: P and M with seed 43 (stage 1 and its test only)
# LINEAGES picks some (default all: "Z P M H S P43 M43"), e.g. LINEAGES="S H" for the two second stages that the
# first call (call.log) did not finish.
# Views: the depth x width grid of experiments/matryoshka (6x128, 4x256, 3x128, 2x64) on the six WorkBench groups.
# Every run writes outputs/h200/<name>/ (config, results.json, csv/metrics.csv) and outputs/h200/<name>.log;
# $OUT/runs.tar.gz holds them all but checkpoints, rewritten every 20 s, so a cut-off call still returns what ended.
#
# Environment: BUNDLE (default .device: the carry folders of `python bench/device_bundle.py build`, fp16 MiniLM in
# one part; unpacked into BUNDLE/unpacked unless SKIP_BUNDLE is set; with no part carried, the bundle an earlier
# call on a warm machine unpacked is used), PY (python3), THREADS (2 per process), SMOKE=1 (a few steps on the CPU:
# checks this script end to end here before a GPU call).
set -uo pipefail
LINEAGES=${LINEAGES:-Z P M H S P43 M43}
for name in $LINEAGES; do
  case $name in Z|P|M|H|S|P43|M43) ;; *) echo "run.sh: unknown lineage '$name' in LINEAGES; expected some of: Z P M H S P43 M43" >&2; exit 2 ;; esac
done
PY=${PY:-python3}
OUT=${OUT:-outputs/h200_out}
RUNS=outputs/h200
THREADS=${THREADS:-2}
mkdir -p "$OUT" "$RUNS"

if [ -z "${SKIP_BUNDLE:-}" ]; then
  "$PY" bench/device_bundle.py unpack --out "${BUNDLE:-.device}" || exit 1  # names any part still to carry
  source "${BUNDLE:-.device}/unpacked/env.sh"  # PYTHONPATH (the packages), UWE_DATA_DIR, UWE_MPNET_PATH
  # a cache of its own: target spaces cached from the fp32 MiniLM elsewhere are stale for the fp16-rounded one
  export PYTHONPATH=$PYTHONPATH:$PWD/src UWE_CACHE_DIR=/tmp/uwe_cache
fi
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1 OMP_NUM_THREADS=$THREADS MKL_NUM_THREADS=$THREADS

COMMON=(logger=csv export=false trainer.enable_progress_bar=false)
EVAL=()
if [ -n "${SMOKE:-}" ]; then
  COMMON+=(trainer.accelerator=cpu batch.nodes=8 batch.triples=8 trainer.max_steps=2 val.every_n_steps=1
           val.max_queries=5 "tasks=[jobnorm]" max_queries=10 force_subsample=true)
  EVAL=(device=cpu max_queries=10 force_subsample=true)
  VIEW_TASKS="[jobnorm]"
else
  COMMON+=(trainer.accelerator=gpu)
  VIEW_TASKS="[job2skill,skill2job,jobnorm,skill_extraction_house,skill_extraction_tech,skillnorm,skillsim]"
fi

train() {  # train NAME OVERRIDES...: one train.py run into outputs/h200/NAME
  local name=$1; shift
  local t0=$SECONDS
  "$PY" train.py "$@" "${COMMON[@]}" hydra.run.dir="$RUNS/$name" >"$RUNS/$name.log" 2>&1
  echo "$name: rc=$? in $((SECONDS - t0)) s"
}
best() { ls "$RUNS/$1"/checkpoints/best-*.ckpt 2>/dev/null | head -1; }
views() {  # views NAME CKPT: the depth x width grid of one checkpoint
  local name=$1 ckpt=$2 view
  for view in 6:128 4:256 3:128 2:64; do
    local l=${view%%:*} d=${view##*:} t0=$SECONDS
    "$PY" eval.py ckpt_path="$ckpt" layers="$l" dim="$d" tasks="$VIEW_TASKS" "${EVAL[@]}" \
        hydra.run.dir="$RUNS/${name}_L${l}_d${d}" >"$RUNS/${name}_L${l}_d${d}.log" 2>&1
    echo "${name}_L${l}_d${d}: rc=$? in $((SECONDS - t0)) s"
  done
}
second() {  # second NAME FROM OVERRIDES...: RankPO (both preference sources) from FROM's best checkpoint
  local name=$1 from=$2; shift 2
  local ckpt; ckpt=$(best "$from")
  [ -n "$ckpt" ] || { echo "$name: no best checkpoint in $RUNS/$from"; return; }
  train "$name" experiment=rankpo init_from="$ckpt" preferences=both "$@"
}
pack() {
  tar czf "$OUT/runs.tmp" --exclude='*.ckpt' --exclude='*/model' "$RUNS" 2>/dev/null && mv "$OUT/runs.tmp" "$OUT/runs.tar.gz"
}

{ while true; do sleep 20; pack; done; } &
packer=$!
[ -n "${SMOKE:-}" ] || nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader

lineage() {  # one lineage of the header's list, its runs in order
  case $1 in
    Z)   local t0=$SECONDS; "$PY" eval.py encoder=minilm "${EVAL[@]}" hydra.run.dir="$RUNS/Z" >"$RUNS/Z.log" 2>&1
         echo "Z: rc=$? in $((SECONDS - t0)) s" ;;
    P)   train P experiment=cpu_long; second P2 P; [ -n "$(best P)" ] && views P "$(best P)" ;;
    M)   train M experiment=cpu_long matryoshka=2d; [ -n "$(best M)" ] && views M "$(best M)" ;;
    H)   train H experiment=cpu_long mining=hard; second H2 H ;;
    S)   train S experiment=cpu_long head=soft_li pooling=tokens; second S2 S head=soft_li pooling=tokens ;;
    P43) train P43 experiment=cpu_long seed=43 ;;
    M43) train M43 experiment=cpu_long matryoshka=2d seed=43 ;;
  esac
}
for name in $LINEAGES; do lineage "$name" & done
for job in $(jobs -p); do [ "$job" = "$packer" ] || wait "$job"; done
kill "$packer" 2>/dev/null
pack
grep -h "macro\b\|Error\|error:" "$RUNS"/*.log | tail -40
