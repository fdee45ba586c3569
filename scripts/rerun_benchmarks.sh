#!/usr/bin/env bash
# Rerun every FID table of docs/benchmarks.md on the weights in $CHECKPOINTS (after they
# change), as two one-thread processes side by side (on 2 CPU cores about 1.3 times the
# throughput of one two-thread process: about 85-90 minutes here), then combine them into
# $OUT/fid_results.json (the previous weights' report becomes fid_results_previous.json),
# redraw the plots and regenerate docs/benchmarks.md.
# Usage: TEST_DIR=../shared/data/cat_face_test bash scripts/rerun_benchmarks.sh
# The halves are balanced by decoding steps over the 747 faces: A runs the seven schedules
# (70 steps) and the cubic FID-vs-iterations curve on 256 faces (about 22); B the (8,8),
# (12,12) and (s,20) cells (8 + 12 + 12: the (s,20) cells share one run) and the cosine,
# linear and square curves (about 65).
# Progress:
# $WORK/{a,b}/fid_results.partial.json; logs: $WORK/{a,b}.log.
set -eu
[ -f maskgit/bench/tables.py ] || { echo "run this from the repository root" >&2; exit 2; }
TEST_DIR=${TEST_DIR:-../shared/data/cat_face_test}
CHECKPOINTS=${CHECKPOINTS:-checkpoints}
WORK=${WORK:-/tmp/bench-rerun}
OUT=${OUT:-docs/bench}
MD=${MD:-docs/benchmarks.md}
EXTRA=${EXTRA:-}  # more arguments for both halves, e.g. EXTRA="--limit 16" for a smoke run
PY=${PY:-python3}
mkdir -p "$WORK"
bench() { OMP_NUM_THREADS=1 "$PY" -m maskgit.bench fid --test-dir "$TEST_DIR" --checkpoints "$CHECKPOINTS" $EXTRA "$@"; }
bench --out "$WORK/a" --skip-sweet --curve-totals 1 2 4 8 12 16 20 --curve-schedules cubic \
    --curve-limit 256 > "$WORK/a.log" 2>&1 &
a=$!
bench --out "$WORK/b" --schedules --sweet-totals 8 12 20 --curve-totals 1 2 4 8 12 16 20 \
    --curve-schedules cosine linear square --curve-limit 256 > "$WORK/b.log" 2>&1 &
b=$!
trap 'kill $a $b 2>/dev/null' INT TERM  # an interrupted rerun must not leave the halves running
status=0
wait $a || { echo "half A failed: $WORK/a.log" >&2; status=1; }
wait $b || { echo "half B failed: $WORK/b.log" >&2; status=1; }
[ $status = 0 ] || exit 1
"$PY" scripts/combine_fid_results.py "$WORK/a" "$WORK/b" --out "$OUT"
"$PY" scripts/benchmarks_md.py --bench "$OUT" --out "$MD"
echo "done; new weights need a hand-written note on their curves (CURVE_NOTES in scripts/benchmarks_md.py)"
