#!/usr/bin/env bash
# The GPU benchmark: jetbook's training step beside the reference Jet's (big_vision's model code)
# on the paper's three ImageNet configurations, in bfloat16 with no rematerialisation on both
# sides, each measured in this one run on this one machine. About 8 minutes on one GPU.
#
# Usage (from the project root, jetbook installed with a CUDA jax):
#   bash benchmarks/gpu.sh BV_ROOT BV_JET_BENCH [OUT]
# BV_ROOT: a folder holding the `big_vision` package (models/vit.py, models/proj/jet/jet.py);
# BV_JET_BENCH: the script that times the reference step (kept outside the project, like
# BV_ROOT); OUT: the JSON Lines file to write (default benchmarks/gpu-DATE.jsonl), one line per
# measurement and a first line naming the machine. PEAK_TFLOPS overrides the device's dense
# bf16 peak, which MFU (model FLOPs / step time / peak) is taken against; STEPS the timed steps.
set -uo pipefail
BV_ROOT=${1:?a folder holding the big_vision package}
BV_BENCH=${2:?the reference step benchmark script}
OUT=${3:-benchmarks/gpu-$(date -u +%F).jsonl}
STEPS=${STEPS:-10}

gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)
if [ -z "$gpu" ]; then echo "gpu.sh: no NVIDIA GPU (nvidia-smi found none)" >&2; exit 2; fi
if [ -z "${PEAK_TFLOPS:-}" ]; then      # dense bf16 tensor-core peaks, from the vendors' sheets
    case "$gpu" in
        *H200*|*H100*SXM*|*"H100 80GB HBM3"*) PEAK_TFLOPS=989 ;;
        *H100*) PEAK_TFLOPS=756 ;;                      # PCIe
        *A100*) PEAK_TFLOPS=312 ;;
        *L4*) PEAK_TFLOPS=121 ;;
        *T4*) PEAK_TFLOPS=65 ;;
        *) echo "gpu.sh: no known bf16 peak for '$gpu'; set PEAK_TFLOPS" >&2; exit 2 ;;
    esac
fi
mkdir -p "$(dirname "$OUT")"
python - "$gpu" "$PEAK_TFLOPS" > "$OUT" <<'EOF'
import json, sys, time, jax
print(json.dumps({"benchmark": "gpu", "gpu": sys.argv[1], "peak_tflops": float(sys.argv[2]),
                  "jax": jax.__version__, "devices": [d.device_kind for d in jax.devices()],
                  "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}))
EOF

# "jetbook preset, the reference's name for the same model, batch (the reference's)"; ROWS
# replaces them (e.g. ROWS="digits digits 128" to try this script on a small model)
ROWS=${ROWS:-"imagenet32 in32_table3 256;imagenet64 in64_table3 128;in64_ablation in64_ablation 256"}
IFS=';' read -ra rows <<< "$ROWS"
for row in "${rows[@]}"; do
    set -- $row
    echo "== $1 (jetbook)" >&2
    timeout 150 python -m jetbook.bench --preset "$1" --batch "$3" --steps "$STEPS" --dtype bfloat16 \
        --peak-tflops "$PEAK_TFLOPS" | tail -1 \
        | python -c 'import json, sys; r = json.loads(sys.stdin.read()); r["impl"] = "jetbook"; print(json.dumps(r))' \
        >> "$OUT" || echo "gpu.sh: jetbook $1 failed" >&2
    echo "== $2 (reference)" >&2
    timeout 150 python "$BV_BENCH" "$BV_ROOT" "$2" --steps "$STEPS" --batch "$3" --variant bf16_noremat | tail -1 \
        | python -c '
# MFU from the model FLOPs count that jetbook uses (the same model), not from XLA cost analysis
import json, sys
from jetbook.experiments.bench import model_flops_per_step
from jetbook.training.presets import get_preset
preset, peak = sys.argv[1], float(sys.argv[2])
r = json.loads(sys.stdin.read())
r.update(impl="reference", preset=preset,
         model_flops_per_step=model_flops_per_step(get_preset(preset).model, r["batch"]))
r["mfu"] = r["model_flops_per_step"] / r["step_s_median"] / (peak * 1e12)
print(json.dumps(r))' "$1" "$PEAK_TFLOPS" >> "$OUT" || echo "gpu.sh: reference $2 failed" >&2
done
echo "wrote $OUT" >&2
