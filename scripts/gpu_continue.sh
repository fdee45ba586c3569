#!/usr/bin/env bash
# Continue the shipped checkpoints on one GPU for the minutes a lent session can spare:
# the transformer (same tokenizer, fresh optimizer and learning-rate schedule) and, beside
# it on the same GPU, the tokenizer's decoder alone (encoder frozen, so the tokens and the
# transformer stay valid; L1 + L2, no adversarial term unless DEC_DISC > 0). Results land in
# $RUN/export (transformer) and $RUN/dec (vqgan.*), to be compared with checkpoints/ on val
# (scripts/compare_tokenizers.py, scripts/tune_decoding.py) before they replace anything.
# The two share the GPU (both are far from its peak: small kernels), so each runs slower
# than alone.
# Usage: DATA=/path/cat_face RUN=runs/gpu-more TR_MIN=9 DEC_MIN=9 bash scripts/gpu_continue.sh
#        (DEC_MIN=0 skips the decoder)
# When the copy sent to the GPU machine is size-limited (64 MiB where this project borrows one,
# and checkpoints/ alone is 60 MB), the images (50 MB) do not fit beside the weights, but the
# transformer's tokens do, with under 1 MB to spare since checkpoints/ holds the discriminator
# too. Make them here and send them instead (the decoder then cannot run):
#   python train.py transformer --data-root DATA --vqgan checkpoints --out .data/tok --distinct --tokenize-only
#   gzip -9 -k .data/tok/tokens-*.safetensors         # 7.6 MB -> 5.4 MB; .data/ is git-ignored
#   (there) DATA=/tmp/none RUN=... TOKENS=".data/tok/tokens-*.gz" EXTRA_TR=--distinct DEC_MIN=0 \
#           bash scripts/gpu_continue.sh
# To tune the decoder on the same trip, send the transformer and the images in two calls:
# scripts/gpu_split_trip.sh.
set -u
DATA=${DATA:?folder with train/ and val/}
RUN=${RUN:-runs/gpu-more}
TR_MIN=${TR_MIN:-9}
DEC_MIN=${DEC_MIN:-$TR_MIN}
PY=${PY:-python3}
mkdir -p "$RUN/tr"
for f in ${TOKENS:-}; do  # a tokens cache made elsewhere (--tokenize-only), maybe gzipped
    [ -f "$f" ] || { echo "TOKENS: no file $f" >&2; exit 2; }
    name="$RUN/tr/$(basename "${f%.gz}")"
    case "$f" in  # written under another name first: a broken copy must not look like a cache
        *.gz) gunzip -c "$f" > "$name.part" ;;
        *) cp "$f" "$name.part" ;;
    esac || exit 2
    mv "$name.part" "$name"
done
dec=
if [ "$DEC_MIN" != 0 ]; then
    $PY train.py vqgan --data-root "$DATA" --out "$RUN/dec" --init-from checkpoints --decoder-only \
        --disc-weight ${DEC_DISC:-0} --gan-start 0.5 --minutes "$DEC_MIN" --batch-size 128 \
        --lr ${DEC_LR:-1e-4} --val-every 1000 --log-seconds 20 > "$RUN/dec.log" 2>&1 &
    dec=$!
fi
$PY train.py transformer --data-root "$DATA" --vqgan checkpoints --init-from checkpoints \
    --out "$RUN/tr" --minutes "$TR_MIN" --batch-size 256 --lr ${LR:-3e-4} --val-every 1000 \
    --log-seconds 20 --export-to "$RUN/export" ${EXTRA_TR:-} > "$RUN/tr.log" 2>&1
tr=$?
if [ -n "$dec" ]; then wait "$dec" || exit $?; fi
exit $tr
