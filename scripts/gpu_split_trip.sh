#!/usr/bin/env bash
# Continue the transformer and tune the decoder on one lent GPU whose working-tree copy is
# limited (64 MiB here): the transformer's weights (44 MB) and the images (25 MB of distinct
# faces) do not travel together, so they go in two calls on the same warm machine. Session 15.
#
#   start   (call 1; carry the transformer's weights and its gzipped tokens): starts the
#           transformer continuation in a process session of its own, so it outlives the
#           call, and returns after TR_CHECK seconds with the first lines of its log.
#   finish  (call 2, at once: a machine stays warm about 30 s; carry the images and the base
#           tokenizer): tunes one decoder per DECODERS entry beside it, waits for all runs,
#           keeps only the decoder tensors that changed (scripts/changed_tensors.py) and
#           writes everything as <=16 MB parts of one archive into $OUT.
#
# Prepared here (all under .data/, which git ignores):
#   .data/tr/transformer.{json,safetensors}    the transformer to continue
#   .data/tokgz/tokens-*.safetensors.gz        train.py transformer --tokenize-only, gzipped
#   .data/img/{train,val}/                     the distinct train faces and val
#   .data/dec-base/vqgan.{json,safetensors}    the tokenizer whose decoder is tuned
# Back here: cat all.tgz.part-* | tar xzf - -C runs/NAME, then per decoder
#   python scripts/changed_tensors.py apply .data/dec-base/vqgan.safetensors \
#       runs/NAME/d/D/changed.safetensors runs/NAME/d/D/vqgan.safetensors
# TR_BATCH, DEC_BATCH: smaller batches for a smoke run on a CPU (256 sequences need ~20 GB there).
# DEC_FLAGS: more train.py vqgan flags for every decoder run, e.g. session 17's feature matching,
# the first adversarial recipe that beat L1 + L2 here (CPU, docs/training.md):
# DECODERS="fm:0.1" DEC_LR=5e-5 DEC_FLAGS="--gan-start 0 --disc-augment translation,cutout --feature-matching 0.5"
# (the flags come last, so --gan-start 0 overrides the 0.1 below, as in session 17).
# Measured in session 15 (H200): three decoders beside the transformer cut it from 12 to 4
# steps/s; with fewer decoders (DECODERS="l2:0") it keeps more of its speed.
set -u
PY=${PY:-python3}
WORK=${WORK:-/tmp/trip}   # outside the repository copy, which the second call replaces
case "${1:-}" in
start)
    TR_MIN=${TR_MIN:-8.7}
    rm -rf "$WORK"  # a retry on the same machine must not resume the last attempt's run
    mkdir -p "$WORK/tr" "$WORK/init" "$WORK/vq"
    cp .data/tr/transformer.* "$WORK/init/" && cp checkpoints/vqgan.* "$WORK/vq/" || exit 3
    for f in .data/tokgz/*.gz; do
        gunzip -c "$f" > "$WORK/tr/$(basename "${f%.gz}")" || exit 4
    done
    PYTHONUNBUFFERED=1 setsid nohup $PY train.py transformer --data-root /nonexistent --vqgan "$WORK/vq" \
        --init-from "$WORK/init" --distinct --out "$WORK/tr" --minutes "$TR_MIN" --batch-size ${TR_BATCH:-256} \
        --lr ${TR_LR:-3e-4} --val-every 1000 --log-seconds 20 --export-to "$WORK/export" \
        > "$WORK/tr.log" 2>&1 < /dev/null &
    sleep ${TR_CHECK:-30}
    tr '\r' '\n' < "$WORK/tr.log" | tail -5
    if ! pgrep -f "train.py transformer" > /dev/null && [ ! -f "$WORK/export/transformer.json" ]; then
        echo "the transformer run stopped (log above)" >&2
        exit 6
    fi
    ;;
finish)
    DEC_MIN=${DEC_MIN:-7.3}
    deadline=$((SECONDS + ${TR_WAIT:-560}))  # pack what exists before the call's limit, whatever hangs
    fail=0
    for spec in ${DECODERS:-l2:0}; do
        case "$spec" in *?:?*) ;; *) echo "DECODERS: '$spec' is not name:disc_weight" >&2; exit 2 ;; esac
    done
    rm -rf "$WORK/d"; mkdir -p "$WORK/d"
    pids=()
    for spec in ${DECODERS:-l2:0}; do  # name:disc_weight (0: L1 + L2 only)
        name=${spec%%:*}; weight=${spec#*:}
        PYTHONUNBUFFERED=1 $PY train.py vqgan --data-root .data/img --out "$WORK/d/$name" \
            --init-from .data/dec-base --decoder-only --distinct --minutes "$DEC_MIN" --batch-size ${DEC_BATCH:-128} \
            --lr ${DEC_LR:-1e-4} --disc-weight "$weight" --gan-start 0.1 --val-every 1000 \
            --log-seconds 20 ${DEC_FLAGS:-} > "$WORK/d/$name.log" 2>&1 &
        pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p" || { echo "a decoder run failed (pid $p)" >&2; fail=1; }; done
    while pgrep -f "train.py transformer" > /dev/null && [ $SECONDS -lt $deadline ]; do sleep 3; done
    tr '\r' '\n' < "$WORK/tr.log" | grep -v '^transformer:' | tail -6
    [ -f "$WORK/export/transformer.json" ] || { echo "no transformer export (log above)" >&2; fail=1; }
    keep=(tr.log)
    [ -d "$WORK/export" ] && keep+=(export)
    [ -f "$WORK/tr/log.jsonl" ] && keep+=(tr/log.jsonl)
    for spec in ${DECODERS:-l2:0}; do
        name=${spec%%:*}
        tr '\r' '\n' < "$WORK/d/$name.log" | grep -v '^vqgan:' | tail -2
        keep+=("d/$name.log")
        if $PY scripts/changed_tensors.py extract .data/dec-base/vqgan.safetensors \
                "$WORK/d/$name/vqgan.safetensors" "$WORK/d/$name/changed.safetensors"; then
            keep+=("d/$name/changed.safetensors" "d/$name/vqgan.json" "d/$name/log.jsonl")
        else
            fail=1
        fi
    done
    (cd "$WORK" && tar czf all.tgz "${keep[@]}") || exit 5
    # what comes back from a lent machine: at most 8 files of 16 MiB, 64 MiB in all
    size=$(stat -c %s "$WORK/all.tgz")
    [ "$size" -le $((60 * 1024 * 1024)) ] || { echo "archive of $size bytes: too large to come back" >&2; exit 7; }
    split -b 16000000 "$WORK/all.tgz" "$OUT/all.tgz.part-" || exit 7
    ls -la "$OUT"
    exit $fail
    ;;
*)
    echo "usage: bash scripts/gpu_split_trip.sh start|finish (see the comments at the top)" >&2
    exit 2
    ;;
esac
