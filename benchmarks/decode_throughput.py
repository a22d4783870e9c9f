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


def clip_jobs(paths, clips: int, frames: int = 8) -> list:
    """(path, clip times) for ``clips`` training clips of each video (``frames`` frames 8 apart at
    30 fps), each drawn from the seed [0, video, k] as the training dataset draws a clip."""
    from gcvideo.data import decode, sampling

    jobs = []
    for i, path in enumerate(paths):
        info = decode.probe(path)
        jobs += [(path, sampling.random_clip(info.duration, info.fps, frames, 8, np.random.default_rng([0, i, k]), 30.0))
                 for k in range(clips)]
    return jobs


def decode_rates(jobs, backends, rounds: int, short_side=None, report=None) -> dict:
    """{backend: decode-only clips/s} over ``rounds`` rounds of every job, the backends alternating
    within each round (a busy moment hits all); ``report(round, backend, clips, seconds)`` after each."""
    from gcvideo.data import decode

    totals = {b: [0, 0.0] for b in backends}
    for r in range(rounds):
        for b in backends:
            start = time.perf_counter()
            for path, times in jobs:
                decode.decode_at(path, times, b, short_side=short_side)
            seconds = time.perf_counter() - start
            totals[b][0] += len(jobs)
            totals[b][1] += seconds
            if report:
                report(r, b, len(jobs), seconds)
    return {b: n / sec for b, (n, sec) in totals.items()}


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
    backends, missing = decode.usable_backends()
    for why in missing.values():
        print(f"left out: {why}")
    jobs = clip_jobs(paths, args.clips)

    def report(r: int, b: str, clips: int, seconds: float) -> None:
        print(f"round {r + 1}: {b:15s} {clips} clips in {seconds:6.2f} s = {clips / seconds:7.1f} clips/s", flush=True)

    rate = decode_rates(jobs, backends, args.rounds, report=report)
    print(f"\ndecode-only clips/s, one process ({len(paths)} videos of 340x256, 10 s; 8x8 clips at 30 fps)")
    for b, value in rate.items():
        print(f"{b:15s} {value:7.1f} clips/s  {value / rate['pyav']:5.2f}x pyav")


if __name__ == "__main__":
    main()
