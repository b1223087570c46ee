#!/usr/bin/env bash
# The depth x width grid of issue #18 on the full WorkBench test split (the six task groups; O*NET left out):
# zero-shot MiniLM and the plain cpu_long model, each cut to its first LAYERS layers and DIM dimensions.
#
#   bash experiments/matryoshka/grid.sh                  # CKPT=path/to/best.ckpt to pick another cpu_long model
#   python bench/bench_depth_width.py --views 6:128 4:256 3:128 2:64 --out experiments/matryoshka/latency.json
#   python experiments/matryoshka/plot.py
#
# Each run writes outputs/matryoshka/<model>_L<layers>_d<dim>/results.json; plot.py reads them, the full models'
# own test runs (RUNS below) and latency.json. A Matryoshka-trained cpu_long model (train.py experiment=cpu_long
# matryoshka=2d) joins the grid with MODELS="... matryoshka=$(ls outputs/.../best-*.ckpt)".
set -euo pipefail
CKPT=${CKPT:-$(ls outputs/cpu_long/latest/checkpoints/best-*.ckpt)}
VIEWS=${VIEWS:-"6:128 4:256 3:128 2:64"}
TASKS="[job2skill,skill2job,jobnorm,skill_extraction_house,skill_extraction_tech,skillnorm,skillsim]"
for view in $VIEWS; do
  layers=${view%%:*} dim=${view##*:}
  python eval.py encoder=minilm layers="$layers" dim="$dim" tasks="$TASKS" \
      hydra.run.dir="outputs/matryoshka/minilm_L${layers}_d${dim}"
  python eval.py ckpt_path="$CKPT" layers="$layers" dim="$dim" tasks="$TASKS" \
      hydra.run.dir="outputs/matryoshka/cpu_long_L${layers}_d${dim}"
done
