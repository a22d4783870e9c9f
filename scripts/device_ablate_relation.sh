#!/bin/bash
# The relation-task ablation (gcvideo ablate's default set of models/*.yaml, 3 seeds) on one GPU machine:
# one `gcvideo ablate` process per config, side by side; results (ablate_result.json per run)
# and each config's log tail land in $OUT. Expects the generated data in runs/demo_relation/data.
set -u
OUT=${OUT:-runs/device_out}; mkdir -p "$OUT" logs
make .venv-gpu/.installed-stamp WHEELS=.whl > "$OUT/install.log" 2>&1 || { tail -5 "$OUT/install.log"; exit 1; }
EXTRA='--trainer.accelerator gpu --trainer.devices 1 --data.num_workers 1 --trainer.enable_progress_bar false'
start=$(date +%s)
for n in plain gc gc_avg_pool gc_mul_fusion gc_no_layernorm gc_r4 gc_r64 gc_c3 gc_c5 gc_after_add se snl nl; do
  c=models/$n.yaml
  timeout "${BUDGET:-330}" .venv-gpu/bin/gcvideo ablate "$c" --base demo/relation.yaml --seeds 3 \
    --out runs/ablate_relation --extra "$EXTRA" > "logs/$n.log" 2>&1 &
done
wait
echo "ablation wall time: $(( $(date +%s) - start )) s"
.venv-gpu/bin/python - "$OUT" <<'PY'
import glob, json, os, sys
runs = {p: json.load(open(p)) for p in sorted(glob.glob("runs/ablate_relation/*/seed*/ablate_result.json"))}
json.dump(runs, open(os.path.join(sys.argv[1], "ablate_relation_runs.json"), "w"), indent=1)
for p, r in runs.items():
    print(p.split("/")[2], p.split("/")[3], f"top1 {100 * r['top1']:.1f}")
PY
for f in logs/*.log; do echo "== $f"; grep -v -i warn "$f" | tail -3; done > "$OUT/logs_tail.txt"
