#!/usr/bin/env bash
# One point of the data-scaling law (README.md beside this file): the cpu_long recipe with the vacancy_skill graph
# cut to FRACTION of its training titles (seeded by SEED, nested: 1/8 lies within 1/4), the other graphs whole,
# full test. The run's results.json goes to runs/vacancy_<FRACTION>_seed<SEED>/ and the plot is redrawn.
#   FRACTION=0.125 bash experiments/scaling/run.sh            # about 85 min on a 2-core CPU (bf16)
#   FRACTION=1 SEED=43 bash experiments/scaling/run.sh
#   RUN=outputs/cpu_long/2026-12-07_17-05-16 bash experiments/scaling/run.sh   # file a finished cpu_long run
set -euo pipefail
cd "$(dirname "$0")/../.."
SEED=${SEED:-42}
if [ -z "${RUN:-}" ]; then
  FRACTION=${FRACTION:?"set FRACTION (0.125, 0.25, 0.5 or 1) or RUN (a finished cpu_long run folder)"}
  python train.py experiment=cpu_long "task_mix.graphs.vacancy_skill.fraction=$FRACTION" "seed=$SEED"
  RUN=$(readlink -f outputs/cpu_long/latest)
fi
name=$(python - "$RUN/results.json" <<'PY'
import json, sys
record = json.load(open(sys.argv[1]))
graph = record["config"]["task_mix"]["graphs"]["vacancy_skill"]
print(f"vacancy_{graph.get('fraction', 1.0):g}_seed{record['config']['seed']}")
PY
)
mkdir -p "experiments/scaling/runs/$name"
cp "$RUN/results.json" "$RUN/results.md" "experiments/scaling/runs/$name/"
python experiments/scaling/plot.py
