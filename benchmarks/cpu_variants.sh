#!/usr/bin/env bash
# Issue 26's CPU questions in one run: where the step's time goes, whether the second core
# helps, and which layout of the layer loop compiles or steps fastest. Each variant is
# `python -m jetbook.bench`, one fresh process per variant and round, the variants alternating
# so that they share the machine's load. Two sets of variants:
#   compare  compare-cpu's configuration (digits, 8 couplings of depth 1, width 64, heads 2,
#            batch 128, 4 microbatches): the layouts of the layer loop, threads and devices;
#   digits   the `digits` preset itself (16 couplings, batch 128): microbatches and XLA's
#            optimisation level.
# Usage: bash benchmarks/cpu_variants.sh [rounds] [compare|digits] > benchmarks/cpu-variants-$(date +%F).log
set -euo pipefail
rounds=${1:-3}
set_name=${2:-compare}
# label | extra bench arguments | prefix command | XLA_FLAGS
if [ "$set_name" = digits ]; then
cfg=(--preset digits --batch 128 --steps 20)
variants=(
  "1 microbatch, unrolled (the preset)|--microbatches 1||"
  "4 microbatches, unrolled (the preset before)|--microbatches 4||"
  "1 microbatch, unrolled, XLA optimisation level 1|--microbatches 1||--xla_backend_optimization_level=1"
)
else
cfg=(--preset digits --set patch_size=2 --set num_couplings=8 --set vit_depth=1 --set vit_width=64 --set vit_heads=2 --batch 128 --microbatches 4 --steps 10)
variants=(
  "unrolled (default)|||"
  "unrolled, one core||taskset -c 0|"
  "unrolled, two CPU devices, batch split|||--xla_force_host_platform_device_count=2"
  "unrolled, XNNPACK off|||--xla_cpu_use_xnnpack=false"
  "unrolled, oneDNN|||--xla_cpu_use_onednn=true"
  "unrolled, concurrency-optimised scheduler|||--xla_cpu_enable_concurrency_optimized_scheduler=true"
  "unrolled, no scan (Python loop)|--set scan=false||"
  "rolled scan|--set scan_unroll=1||"
  "rolled scan, remat|--set scan_unroll=1 --set remat=true||"
  "half patches, unrolled|--set spatial_tokens=half_patches||"
  "half patches, rolled scan|--set spatial_tokens=half_patches --set scan_unroll=1||"
  "half patches, rolled scan, remat|--set spatial_tokens=half_patches --set scan_unroll=1 --set remat=true||"
)
fi
echo "## $(date -u '+%F %H:%M UTC') | variants: $set_name | $(lscpu | grep 'Model name' | sed 's/  */ /g') | $(nproc) cores | $(git log --oneline -1 | cut -c1-60)"
out=$(mktemp)
for _ in $(seq "$rounds"); do
  for v in "${variants[@]}"; do
    IFS='|' read -r label args prefix flags <<< "$v"
    XLA_FLAGS="$flags" $prefix python -m jetbook.bench "${cfg[@]}" $args 2>/dev/null | tail -1 \
      | LABEL="$label" python -c "import json, os, sys; r = json.loads(sys.stdin.read()); r['variant'] = os.environ['LABEL']; print(json.dumps(r))" | tee -a "$out"
  done
done
python - "$out" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
labels = list(dict.fromkeys(r["variant"] for r in rows))
med = lambda label, key: statistics.median(r[key] for r in rows if r["variant"] == label)
base_step, base_compile = med(labels[0], "step_s_median"), med(labels[0], "compile_s")
for label in labels:
    print(json.dumps({"variant": label, "step_s": round(med(label, "step_s_median"), 4),
                      "compile_s": round(med(label, "compile_s"), 2),
                      "step_vs_default": round(med(label, "step_s_median") / base_step, 2),
                      "compile_vs_default": round(med(label, "compile_s") / base_compile, 2)}))
PY
