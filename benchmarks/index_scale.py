"""Indexing a Kinetics-size list: seconds and file-system calls to build the records.

Generates (once, under --dir) a 400-class, 240k-row Kinetics CSV whose videos are empty
placeholder files in class folders, 5 % of them missing, then builds the records
(``load_records``) cold-ish (first run) and warm (best of --rounds), counting ``stat``
calls (``os.stat``, which ``os.path.exists``/``isfile``/``isdir`` use) and folder listings.
It also times the dataset fingerprint (rows, present, hash of (video id, size); one stat
per present video) that checkpoints and test reports carry.

    python benchmarks/index_scale.py [--classes 400 --rows 240000 --missing 0.05 --dir /tmp/index_scale]
"""
import argparse
import os
import time
from contextlib import contextmanager

import numpy as np


def generate(folder: str, classes: int, rows: int, missing: float) -> str:
    csv_path = os.path.join(folder, f"train_{classes}x{rows}_{missing}.csv")
    if os.path.exists(csv_path):
        return csv_path
    rng = np.random.default_rng(0)
    names = [f"class {i:03d}" for i in range(classes)]
    lines = ["label,youtube_id,time_start,time_end,split\n"]
    for i in range(rows):
        label = names[i % classes]
        vid = f"v{i:010d}"
        start = int(rng.integers(0, 300))
        lines.append(f"{label},{vid},{start},{start + 10},train\n")
        if rng.random() >= missing:
            path = os.path.join(folder, label, f"{vid}_{start:06d}_{start + 10:06d}.mp4")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            open(path, "wb").close()
    with open(csv_path + ".tmp", "w") as f:
        f.writelines(lines)
    os.replace(csv_path + ".tmp", csv_path)
    return csv_path


@contextmanager
def counting():
    counts = {"stat": 0, "listdir": 0}
    saved = os.stat, os.listdir, os.scandir

    def stat(*a, **k):
        counts["stat"] += 1
        return saved[0](*a, **k)

    def listdir(*a, **k):
        counts["listdir"] += 1
        return saved[1](*a, **k)

    def scandir(*a, **k):
        counts["listdir"] += 1
        return saved[2](*a, **k)

    os.stat, os.listdir, os.scandir = stat, listdir, scandir
    try:
        yield counts
    finally:
        os.stat, os.listdir, os.scandir = saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--classes", type=int, default=400)
    parser.add_argument("--rows", type=int, default=240_000)
    parser.add_argument("--missing", type=float, default=0.05)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", default="/tmp/gcvideo_index_scale")
    args = parser.parse_args()
    from gcvideo.data.records import load_records

    os.makedirs(args.dir, exist_ok=True)
    t = time.perf_counter()
    csv_path = generate(args.dir, args.classes, args.rows, args.missing)
    print(f"list: {csv_path} ({time.perf_counter() - t:.1f} s to generate or find)")
    times = []
    for _ in range(args.rounds + 1):
        with counting() as counts:
            t = time.perf_counter()
            records = load_records(csv_path, args.dir)
            times.append(time.perf_counter() - t)
    present = getattr(records, "present", None)
    print(f"records: {len(records)} rows" + (f", {int(np.sum(present))} present" if present is not None else ""))
    print(f"load_records: first {times[0]:.2f} s, warm {min(times[1:]):.2f} s; "
          f"{counts['stat']} stat calls, {counts['listdir']} folder listings per build")
    try:
        from gcvideo.data.records import fingerprint
    except ImportError:
        return
    with counting() as counts:
        t = time.perf_counter()
        print_fp = fingerprint(records)
        took = time.perf_counter() - t
    print(f"fingerprint: {took:.2f} s, {counts['stat']} stat calls: {print_fp}")


if __name__ == "__main__":
    main()
