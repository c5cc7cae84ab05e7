#!/usr/bin/env bash
# Compile and step time of the two spatial-token layouts (JetConfig.spatial_tokens), alternating
# in one run on one machine, on compare-cpu's configuration (digits, 8 couplings of depth 1,
# width 64, batch 128). Usage: bash benchmarks/spatial_tokens_cpu.sh [rounds] > LOG
set -euo pipefail
rounds=${1:-3}
cfg=(--preset digits --set patch_size=2 --set num_couplings=8 --set vit_depth=1 --set vit_width=64 --set vit_heads=2 --batch 128 --steps 10)
echo "## $(date -u '+%F %H:%M UTC') | $(lscpu | grep 'Model name' | sed 's/  */ /g') | $(nproc) cores | $(git log --oneline -1)"
out=$(mktemp)
for _ in $(seq "$rounds"); do
  for tokens in patches half_patches; do
    python -m jetbook.bench "${cfg[@]}" --set spatial_tokens=$tokens 2>/dev/null | tail -1 \
      | python -c "import json, sys; r = json.loads(sys.stdin.read()); r['spatial_tokens'] = '$tokens'; print(json.dumps(r))" | tee -a "$out"
  done
done
python - "$out" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
med = lambda tokens, key: statistics.median(r[key] for r in rows if r["spatial_tokens"] == tokens)
print(json.dumps({"compile_s": {t: round(med(t, "compile_s"), 2) for t in ("patches", "half_patches")},
                  "step_s": {t: round(med(t, "step_s_median"), 4) for t in ("patches", "half_patches")},
                  "compile_ratio_half_over_whole": round(med("half_patches", "compile_s") / med("patches", "compile_s"), 2),
                  "step_ratio_half_over_whole": round(med("half_patches", "step_s_median") / med("patches", "step_s_median"), 2)}))
PY
