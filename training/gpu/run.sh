#!/bin/bash
# One GPU lease, run in the repository's root on the GPU machine, with the folder `python -m
# training.gpu.prepare` made carried along (default .gpu): the eraser's segmenter and inpainter and the
# scene world's generator (the layout way) and captioner, trained side by side, the results tarred into
# $OUT in pieces of 15 MB (a lease brings back at most 8 files of 16 MiB).
#   ERASER_MIN, SCENES_MIN  minutes of each training (keep the whole inside the call's limit)
#   POOL                    scenes rendered for the scene models (10 processes: 40,000 in about 30 s)
#   EXTRA                   more arguments for every training (e.g. "--device cpu --threads 1" to try it here)
#   LIMIT                   seconds after which a training still running is stopped (its results lost)
set -u
CARRIED=${CARRIED:-.gpu}
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 TRANSMODAL_FONT_DIRS=$PWD/$CARRIED/fonts OMP_NUM_THREADS=2 MPLBACKEND=Agg
ERASER_MIN=${ERASER_MIN:-7} SCENES_MIN=${SCENES_MIN:-6} POOL=${POOL:-40000} EXTRA=${EXTRA:-} LIMIT=${LIMIT:-540}
R=$PWD/$CARRIED/runs
mkdir -p "$R"
PHOTOS=$(python3 -c 'import os, skimage; print(os.path.join(os.path.dirname(skimage.__file__), "data"))')
cp -n "$CARRIED"/photos/* "$PHOTOS"/ 2>/dev/null
train() { timeout "$LIMIT" python3 -m training.gpu.train "$@"; }
train eraser segmenter --config gpu --minutes "$ERASER_MIN" $EXTRA --out "$R/eraser" > "$R/segmenter.log" 2>&1 &
train eraser inpainter --config gpu --minutes "$ERASER_MIN" $EXTRA --out "$R/eraser" > "$R/inpainter.log" 2>&1 &
python3 -c "
from training.scenes import data
data.scene_pool(0, $POOL, processes=10); data.scene_pool(0, $POOL, processes=10, canonical=True)
data.scene_pool(data.VALIDATION_SEED, 500); data.scene_pool(data.VALIDATION_SEED, 500, canonical=True)" > "$R/pool.log" 2>&1
SCENES=(--config gpu --minutes "$SCENES_MIN" --scenes "$POOL" --threads 2 $EXTRA)
train scenes text-to-image "${SCENES[@]}" --method layout --out "$R/layout" > "$R/layout.log" 2>&1 &
train scenes image-to-text "${SCENES[@]}" --out "$R/scenes" > "$R/image-to-text.log" 2>&1 &
wait
tar czf /tmp/runs.tgz -C "$CARRIED" runs && split -b 15M /tmp/runs.tgz "${OUT:-/tmp}/runs.tgz.part-"
ls -la "${OUT:-/tmp}"
