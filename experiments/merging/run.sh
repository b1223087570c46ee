#!/usr/bin/env bash
# The merging study (experiments/merging/README.md): merge the four single-graph models of the transfer study
# (uniform averaging; task arithmetic with its scale chosen on val), then test the merges on the full test split.
#   bash experiments/merging/run.sh [TRANSFER_SWEEP] [OUT]
set -euo pipefail
SWEEP=${1:-outputs/studies/transfer}
OUT=${2:-outputs/studies/merging}
BASE=${3:-minilm}   # the backbone the models were fine-tuned from (task arithmetic)
ckpts=()
for g in vacancy_skill occupation_alias skill_alias skill_description; do
  for job in "$SWEEP"/*; do  # the sweep's job folder of the single-graph mix g
    case "$job" in *task_mix="$g"|*task_mix="$g",*) ckpts+=("$job/checkpoints/last.ckpt") ;; esac
  done
done
[ "${#ckpts[@]}" -eq 4 ] || { echo "expected the 4 single-graph runs in $SWEEP, found ${#ckpts[@]}" >&2; exit 2; }
mkdir -p "$OUT"
uwe merge "${ckpts[@]}" --out "$OUT/average" --overwrite
for s in 0.5 1.0; do
  uwe merge "${ckpts[@]}" --method task_arithmetic --base "$BASE" --scale "$s" --out "$OUT/task_arithmetic_$s" --overwrite
done
# The backbone's settings (MiniLM: max_length 64, mean pooling, cosine head); EVAL_ARGS: more eval.py overrides.
same=(encoder=hf encoder.max_length=64 encoder.batch_size=256 pooling=mean head=cosine ${EVAL_ARGS:-})
python eval.py -m "${same[@]}" encoder.name="$OUT/task_arithmetic_0.5,$OUT/task_arithmetic_1.0" split=val \
  max_queries=300 hydra.sweep.dir="$OUT/val"
best=$(python - "$OUT/val" <<'PY'
import json, sys
from pathlib import Path
def score(r):  # val macro MAP (the mean of the tasks' MAP when a task subset has no macro)
    return (r["macro"] or {}).get("map") or sum(t["metrics"]["map"] for t in r["tasks"].values()) / len(r["tasks"])
runs = {r["config"]["encoder"]["name"]: score(r)
        for r in (json.loads(p.read_text()) for p in Path(sys.argv[1]).rglob("results.json"))}
for name, m in sorted(runs.items()):
    print(f"val MAP {100 * m:.2f} {name}", file=sys.stderr)
print(max(runs, key=runs.get))
PY
)
echo "task arithmetic scale chosen on val: $best"
python eval.py -m "${same[@]}" encoder.name="$OUT/average,$best" hydra.sweep.dir="$OUT/test"
