#!/usr/bin/env bash
# Continue the shipped transformer on one GPU (same tokenizer, fresh optimizer and
# learning-rate schedule), for the minutes a lent GPU session can spare; the result lands
# in $RUN/export, to be compared with checkpoints/ on val before it replaces anything.
# Usage: DATA=/path/cat_face RUN=runs/gpu-more TR_MIN=9 bash scripts/gpu_continue.sh
set -u
DATA=${DATA:?folder with train/ and val/}
RUN=${RUN:-runs/gpu-more}
TR_MIN=${TR_MIN:-9}
PY=${PY:-python3}
mkdir -p "$RUN"
$PY train.py transformer --data-root "$DATA" --vqgan checkpoints --init-from checkpoints \
    --out "$RUN/tr" --minutes "$TR_MIN" --batch-size 256 --lr ${LR:-3e-4} --val-every 1000 \
    --log-seconds 20 --export-to "$RUN/export" ${EXTRA_TR:-} > "$RUN/tr.log" 2>&1
