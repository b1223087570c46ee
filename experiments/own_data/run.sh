#!/usr/bin/env bash
# The own-data study end to end (README.md beside this file): O*NET split by occupation, the cpu_long recipe
# with and without the training half's pairs, each model evaluated on the held-out half. About 2.5 hours on the
# 2-core CPU; MODELS picks which models are trained and evaluated (default: all three).
set -euo pipefail
cd "$(dirname "$0")/../.."
MODELS=${MODELS:-"minilm_zero_shot cpu_long adapted"}
PAIRS=outputs/own_data/pairs
RUNS=experiments/own_data/runs
python experiments/own_data/make_pairs.py --out "$PAIRS"
for model in $MODELS; do
  case $model in
    minilm_zero_shot) path=minilm ;;
    cpu_long) python train.py experiment=cpu_long; path=outputs/cpu_long/latest/model ;;
    adapted) python train.py experiment=own_data; path=outputs/own_data/latest/model ;;
    *) echo "unknown model $model; valid: minilm_zero_shot cpu_long adapted" >&2; exit 2 ;;
  esac
  if [ "$model" != minilm_zero_shot ]; then
    run=$(dirname "$(readlink -f "$path")")
    mkdir -p "$RUNS/$model/train"
    cp "$run/results.json" "$run/results.md" "$RUNS/$model/train/"
  fi
  uwe evaluate --pairs "$PAIRS/heldout/title_occupation.csv" --targets "$PAIRS/targets/occupations.txt" \
    --model "$path" --name heldout_title_occupation --out "$RUNS/$model/title_occupation"
  uwe evaluate --pairs "$PAIRS/heldout/occupation_tech.csv" --targets "$PAIRS/targets/tech_skills.txt" \
    --model "$path" --name heldout_occupation_tech --out "$RUNS/$model/occupation_tech"
done
cp "$PAIRS/split.json" experiments/own_data/split.json
python experiments/own_data/plot.py
