"""Decode-only clips per second of each backend, side by side in one run: pyav, decord, torchcodec.

Every backend decodes the same training clips (8 frames 8 apart at 30 fps, random start drawn
as the training dataset draws it) of the same generated Kinetics-size videos (340x256, 10 s,
30 fps, H.264), in this process, nothing else done with the frames: the bound each backend
puts on a loader worker. Backends alternate within every round (a busy moment hits all); the
rates are of totals, with their ratio to PyAV's. A backend that cannot load here (torchcodec
without FFmpeg's shared libraries) is named and left out.

    python benchmarks/decode_throughput.py [--videos 12 --clips 4 --rounds 3 --root DIR]
"""
import argparse
import os
import tempfile
import time

import numpy as np


def clip_times(path: str, rng: np.random.Generator) -> np.ndarray:
    from gcvideo.data import decode, sampling

    info = decode.probe(path)
    return sampling.random_clip(info.duration, info.fps, 8, 8, rng, 30.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=12, help="videos to generate")
    parser.add_argument("--clips", type=int, default=4, help="clips per video per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--root", help="reuse generated videos here (default: a temp folder)")
    args = parser.parse_args()

    from gcvideo.data import decode
    from gcvideo.data.records import load_records
    from gcvideo.tools.demo_data import kinetics_size_data

    root = args.root or tempfile.mkdtemp(prefix="gcvideo-decode-")
    kinetics_size_data(root, args.videos)
    paths = [r.path for r in load_records(os.path.join(root, "train.csv"), root)][:args.videos]
    backends = [b for b in decode.BACKENDS if not decode.backend_missing(b)]
    for b in set(decode.BACKENDS) - set(backends):
        print(f"left out: {decode.backend_missing(b)}")
    jobs = [(p, clip_times(p, np.random.default_rng([0, i, k]))) for i, p in enumerate(paths) for k in range(args.clips)]
    totals = {b: [0, 0.0] for b in backends}
    for r in range(args.rounds):
        for b in backends:
            start = time.perf_counter()
            for path, times in jobs:
                decode.decode_at(path, times, b)
            seconds = time.perf_counter() - start
            totals[b][0] += len(jobs)
            totals[b][1] += seconds
            print(f"round {r + 1}: {b:11s} {len(jobs)} clips in {seconds:6.2f} s = {len(jobs) / seconds:7.1f} clips/s",
                  flush=True)
    rate = {b: n / s for b, (n, s) in totals.items()}
    print(f"\ndecode-only clips/s, one process ({len(paths)} videos of 340x256, 10 s; 8x8 clips at 30 fps)")
    for b, value in rate.items():
        print(f"{b:11s} {value:7.1f} clips/s  {value / rate['pyav']:5.2f}x pyav")


if __name__ == "__main__":
    main()
