#!/usr/bin/env bash
# The paper's six ablations, small, on this machine's CPUs:
#
#   nice -n 19 nohup bash benchmarks/run_ablations.sh > /dev/null 2>&1 &
#
# One study at a time (they would only slow each other down), seed by seed: every study gets
# its first seed before any gets a second, so a sweep stopped early still covers them all.
# Each pass resumes the study's folder (finished runs are skipped, a half-finished run goes on
# from its checkpoint), so after an interruption the same command picks up where it stopped.
# Results: results/ablate/STUDY/{runs.jsonl,summary.md,summary.png}; log.txt is the output.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
STUDIES=${STUDIES:-"coupling_ratio pairing_masking depth_tradeoff vit_vs_cnn actnorm_invdense dequantization"}
SEEDS=${SEEDS:-3}
for seeds in $(seq 1 "$SEEDS"); do
    for study in $STUDIES; do
        mkdir -p "results/ablate/$study"
        echo "== $(date -u) python -m jetbook.ablate --study $study --seeds $seeds" \
            >> "results/ablate/$study/log.txt"
        python -m jetbook.ablate --study "$study" --seeds "$seeds" \
            >> "results/ablate/$study/log.txt" 2>&1
    done
done
