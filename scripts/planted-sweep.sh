#!/usr/bin/env bash
# The controlled sample-efficiency experiment of issue #10 (item 4): on planted exchangeable
# markets (every task the same MDP up to relabelling, ε = 0), the gain of MTL and P-MTL over STL
# as a function of the signal strength (per-day regime drift d) and of the training days per
# task (market length), with 95 % t intervals and sign tests over experiments.
#
#   bash scripts/planted-sweep.sh [OUT_DIR]          # default results/planted-sweep
#
# Environment: DRIFTS, DAYS, EXPERIMENTS, TASKS, THREADS override the grid. Each cell is one
# `pimtl portfolio --data planted:…` run (its own complete result folder); the table of paired
# differences is collected from the cells' summary.json into OUT_DIR/sweep.csv.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-results/planted-sweep}
drifts=${DRIFTS:-"0 0.001 0.0025 0.005"}
days=${DAYS:-"750 1500 3000"}
experiments=${EXPERIMENTS:-5}
tasks=${TASKS:-10}
threads=${THREADS:-1}
cargo build --release --quiet
mkdir -p "$out"
csv="$out/sweep.csv"
tmp="$csv.tmp.$$"
echo "drift,days,comparison,task_set,mean,lo,hi,positive,negative,sign_p,stl_gain,mtl_gain,pmtl_gain,momentum_gain" > "$tmp"
for d in $drifts; do
  for n in $days; do
    cell="$out/drift${d}_days${n}"
    if [ ! -f "$cell/summary.json" ]; then
      rm -rf "$cell"
      target/release/pimtl portfolio --data "planted:drift=$d,days=$n,seed=1" \
        --experiments "$experiments" --tasks "$tasks" --window 30 --lr 3e-4 \
        --threads "$threads" --out "$cell" > "$cell.log" 2>&1
    fi
    python3 - "$cell/summary.json" "$d" "$n" >> "$tmp" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
gain = {(r["method"], r["task_set"]): r["gain"]["mean"] for r in s["summary"]}
for p in s["paired"]:
    if p["task_set"] != "train":
        continue
    i, t = p["gain"]["interval"], p["gain"]["sign"]
    print(",".join(str(x) for x in [sys.argv[2], sys.argv[3], p["comparison"], p["task_set"],
          i["mean"], i["lo"], i["hi"], t["positive"], t["negative"], t["p_value"],
          gain.get(("STL", "train")), gain.get(("MTL", "train")), gain.get(("P-MTL", "train")),
          gain.get(("Momentum (20 days)", "train"))]))
EOF
  done
done
mv "$tmp" "$csv"
echo "wrote $csv"
