#!/usr/bin/env bash
# Every CPU figure of BENCHMARKS.md in one run, this checkout beside an older one, so that
# only ratios taken on the same machine at the same time are compared.
# Usage (from the project root, jetbook installed):
#   git worktree add /tmp/jetbook-before <older commit>
#   bash benchmarks/cpu_side_by_side.sh BIG_VISION_GIT_DIR /tmp/jetbook-before COMPARE_CPU_SH > benchmarks/cpu-$(date +%F).log
# BIG_VISION_GIT_DIR and COMPARE_CPU_SH: the reference Jet's git copy and the script that times
# it beside `python -m jetbook.bench` (kept outside the project).
set -u
BV=${1:?big_vision git dir}; BEFORE=$(cd "${2:?older checkout}" && pwd); REF=${3:?compare-cpu.sh}
AFTER=$(pwd)
checkout() { if [ "$1" = before ]; then echo "$BEFORE"; else echo "$AFTER"; fi; }
echo "## $(date -u +%F) | $(lscpu | grep 'Model name' | sed 's/  */ /g') | $(nproc) cores | jax $(python -c 'import jax; print(jax.__version__)')"
echo "## before: $(git -C "$BEFORE" log --oneline -1) | after: $(git log --oneline -1)"
for side in before after; do
  echo "## compare-cpu $side"; (cd "$(checkout $side)" && bash "$REF" "$BV" 2 2>&1 | tail -5)
done
echo "## startup (after, with before as baseline)"
python -m jetbook.bench --startup --preset digits --rounds 3 --baseline-src "$BEFORE" 2>/dev/null | tail -1
for p in "digits 128" "patches 64"; do
  set -- $p
  for side in before after; do
    echo "## preset $1 $side"; (cd "$(checkout $side)" && python -m jetbook.bench --preset "$1" --batch "$2" --steps 10 2>/dev/null | tail -1)
  done
done
for side in before after; do
  out=$(mktemp -d)
  echo "## main job $side"; (cd "$out" && PYTHONPATH="$(checkout $side)" jetbook train --out "$out/run" --no-progress 2>&1 | tail -1; cat "$out/run/result.json")
done
