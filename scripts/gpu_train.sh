#!/usr/bin/env bash
# Both stages on one GPU inside a fixed wall-clock budget: the transformer starts as soon
# as the tokenizer's encoder is frozen (phase B of stage 1) and trains beside it.
# Usage: DATA=/path/cat_face RUN=runs/gpu bash scripts/gpu_train.sh
set -u
DATA=${DATA:?folder with train/ and val/}
RUN=${RUN:-runs/gpu}
VQ_MIN=${VQ_MIN:-4.3}
TR_MIN=${TR_MIN:-5.0}
PY=${PY:-python3}
mkdir -p "$RUN"
$PY train.py vqgan --data-root "$DATA" --out "$RUN/vq" --minutes "$VQ_MIN" --gan-start 0.55 \
    --batch-size 128 --lr 3e-4 --val-every 1000 --log-seconds 20 ${EXTRA_VQ:-} > "$RUN/vq.log" 2>&1 &
vq=$!
until [ -f "$RUN/vq/vqgan_pregan.json" ] || ! kill -0 $vq 2>/dev/null; do sleep 2; done
$PY train.py transformer --data-root "$DATA" --vqgan "$RUN/vq" --vqgan-name vqgan_pregan \
    --out "$RUN/tr" --minutes "$TR_MIN" --batch-size 256 --lr 5e-4 --val-every 1000 \
    --log-seconds 20 ${EXTRA_TR:-} > "$RUN/tr.log" 2>&1
wait $vq
