#!/usr/bin/env bash
# Side-by-side comparison of pimtl's hot loops with PyTorch and cpprb (issue #11's targets).
#
#   scripts/compare.sh            # everything, 2 interleaved rounds, pinned to core 1
#   CORE=0 ROUNDS=3 scripts/compare.sh
#   ONLY=policy scripts/compare.sh   # policy | gru | cnn | sampler | sgemm | olps
#   ONLY=olps OLPS=OLMAR,PAMR scripts/compare.sh   # the OLPS family against universal-portfolios
#
# ONLY=olps (not in the default set: universal-portfolios needs about 10 minutes for the fast
# strategies and 8 more for CORN on NYSE(O)) installs benches/compare/requirements-olps.txt into
# $OLPS_VENV (default target/olps-venv), then per strategy runs universal-portfolios' algo.run on
# NYSE(O) (olps_universal.py, one process pinned to $CORE) and pimtl's criterion bench
# olps/<name>/nyse_o on the same core, one after the other.
#
# Installs torch, cpprb and numpy from PyPI into a virtual environment ($VENV, default
# target/compare-venv; about 5 GB, since torch's PyPI wheel brings CUDA libraries it does not use
# here), builds the criterion benches, then for each round runs every pimtl bench and its Python
# counterpart one after the other on the same core, one thread each. The fastest round of each
# counts. Prints the CPU model and flags and the ratio table (benches/compare/table.py); the raw
# log is kept in target/compare/log.txt. Not part of `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
CORE=${CORE:-1}
ROUNDS=${ROUNDS:-2}
VENV=${VENV:-target/compare-venv}
ONLY=${ONLY:-policy,gru,cnn,sampler,sgemm}
OUT=target/compare
mkdir -p "$OUT"
LOG=$OUT/log.txt
: > "$LOG"

want() { [[ ",$ONLY," == *",$1,"* ]]; }
if want olps; then
    OLPS_VENV=${OLPS_VENV:-target/olps-venv}
    [ -x "$OLPS_VENV/bin/python" ] || python3 -m venv "$OLPS_VENV"
    "$OLPS_VENV/bin/pip" install -q --disable-pip-version-check -r benches/compare/requirements-olps.txt
    OLPS_PY="$(cd "$OLPS_VENV" && pwd)/bin/python"
    [ -f data/nyse_o.csv ] || bash scripts/fetch-data.sh
fi
OLPS=${OLPS:-CRP,BAH,BCRP,UP,EG,ONS,Anticor,OLMAR,PAMR,RMR,WMAMR,CWMR,RPRT,TCO1,TCO2,CORN}

if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install -q --disable-pip-version-check -r benches/compare/requirements.txt
PY="$(cd "$VENV" && pwd)/bin/python"

echo "CPU: $(lscpu | sed -n 's/^Model name: *//p') (family $(lscpu | sed -n 's/^CPU family: *//p'), model $(lscpu | sed -n 's/^Model: *//p'))" | tee -a "$LOG"
echo "SIMD flags: $(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx|avx2|fma|avx512f|avx512bw|avx512vl|avx512_bf16|amx_tile|neon|asimd)$' | tr '\n' ' ')" | tee -a "$LOG"
echo "pinned core: $CORE; rounds: $ROUNDS; pimtl kernels: ${PIMTL_ISA:-best available}; $(rustc --version); torch $("$PY" -c 'import torch; print(torch.__version__)')" | tee -a "$LOG"

cargo bench --no-run -q 2>/dev/null || cargo bench --no-run
pin() { taskset -c "$CORE" "$@"; }
crit() { # bench filter ids...
    local bench=$1 filter=$2
    shift 2
    pin cargo bench -q --bench "$bench" -- "$filter" > "$OUT/$bench.txt" 2>&1
    for id in "$@"; do
        "$PY" benches/compare/table.py --criterion target "$id" | tee -a "$LOG"
    done
}

for round in $(seq "$ROUNDS"); do
    echo "round $round" | tee -a "$LOG"
    if want policy; then
        crit policy 'policy_f32/' \
            policy_f32/infer/paper_b50_m10 policy_f32/forward_backward/paper_b50_m10 \
            policy_f32/infer/b256_m100 policy_f32/forward_backward/b256_m100
        (cd benches/compare && pin "$PY" policy_torch.py --case paper_b50_m10) | tee -a "$LOG"
        (cd benches/compare && pin "$PY" policy_torch.py --case b256_m100 --modes forward,forward_backward) | tee -a "$LOG"
    fi
    if want gru; then
        crit policy 'policy_f32_gru/(infer|forward_backward)/' \
            policy_f32_gru/infer/paper_b50_m10 policy_f32_gru/forward_backward/paper_b50_m10
        (cd benches/compare && pin "$PY" policy_torch.py --cell gru --case paper_b50_m10 --modes forward,forward_backward) | tee -a "$LOG"
    fi
    if want cnn; then
        crit federated 'client/cnn' client/cnn_fwd_bwd_b20 client/cnn_fwd_b1000
        (cd benches/compare && pin "$PY" cnn_torch.py) | tee -a "$LOG"
    fi
    if want sampler; then
        crit sampler 'task_sampler(_batch256)?/draw_(weight_)?update' \
            task_sampler/draw_update/100000 task_sampler/draw_update/10000000 \
            task_sampler_batch256/draw_weight_update_many/100000 task_sampler_batch256/draw_weight_update_many/10000000
        (cd benches/compare && pin "$PY" sampler_cpprb.py) | tee -a "$LOG"
        (cd benches/compare && pin "$PY" sampler_cpprb.py --tasks 10000000 --batches 256) | tee -a "$LOG"
    fi
    if want olps; then
        for up in ${OLPS//,/ }; do
            name=$(echo "$up" | tr 'A-Z' 'a-z')
            [ "$name" = crp ] && name=ucrp
            PIMTL_OLPS_ONLY=$name crit olps "olps/$name/" "olps/$name/nyse_o"
            rm -f "$OUT/olps-$up.json"
            "$OLPS_PY" benches/compare/olps_universal.py --sets nyse_o --strategies "$up" --seeds 0 \
                --cpu "$CORE" --out "$OUT/olps-$up.json" > "$OUT/olps-$up.txt" 2>&1
            "$OLPS_PY" -c "import json,sys; e=json.load(open(sys.argv[1]))['nyse_o'][sys.argv[2]]; print(f'RESULT olps/{sys.argv[2]} {1e3 * e[\"seconds\"]:.3f}')" \
                "$OUT/olps-$up.json" "$up" | tee -a "$LOG"
        done
    fi
    if want sgemm; then
        (cd benches/compare && pin "$PY" sgemm_torch.py) | tee -a "$LOG"
    fi
done
echo
"$PY" benches/compare/table.py "$LOG" | tee "$OUT/table.txt"
