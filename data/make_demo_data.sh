#!/bin/sh
# The demo's generated dataset, as `gcvideo demo` makes it (gcvideo/demo.py: DEMO_DATA).
set -e
OUT=${1:-runs/demo/data}
exec gcvideo data synth "$OUT" --task order --classes 6 --videos-per-class 150 --seconds 2 --fps 30 \
    --size 80x64 --event-frames 4 --seed 0
