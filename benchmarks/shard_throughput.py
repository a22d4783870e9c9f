"""Files vs shards, side by side in one run: files opened per epoch and training clips per second.

The same generated videos (340x256, 10 s, 30 fps, H.264) are read as their Kinetics list and as
the folder `gcvideo data shard` writes from it; the same training loader (one random 8x8 clip per
video, 224 crops) runs on each in turn for ``--rounds`` rounds. Files opened: counted in one
epoch in this process (``--workers 0``): a list opens every video's file, shards open each shard
once per process. Clips/s: with ``--workers`` loader processes, of totals over the rounds. On a
local disk opening a file is cheap, so the rates differ little here; on a shared file system the
opens are what costs (the counts are the point).

    python benchmarks/shard_throughput.py [--videos 24 --workers 2 --rounds 2 --shard-mb 64]
"""
import argparse
import os
import tempfile
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=24)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--shard-mb", type=float, default=64.0)
    parser.add_argument("--root", help="reuse generated videos here (default: a temp folder)")
    args = parser.parse_args()

    from gcvideo.data import decode, shards
    from gcvideo.engine.datamodule import KineticsDataModule
    from gcvideo.tools.demo_data import kinetics_size_data

    root = args.root or tempfile.mkdtemp(prefix="gcvideo-shards-")
    kinetics_size_data(root, args.videos)
    packed = os.path.join(root, "train_shards")
    shards.write_shards(os.path.join(root, "train.csv"), packed, shard_size=int(args.shard_mb * (1 << 20)),
                        progress=False)
    sources = {"files": "train.csv", "shards": packed}

    def loader(source: str, workers: int):
        return KineticsDataModule(root, train=source, val=None, test=None, batch_size=args.batch,
                                  num_workers=workers, seed=0).train_dataloader()

    opened = {}
    for name, source in sources.items():
        before = decode.OPENED["files"] + shards.OPENED["shards"]
        shards._handles.clear()
        videos = sum(len(batch["video"]) for batch in loader(source, 0))
        opened[name] = (decode.OPENED["files"] + shards.OPENED["shards"] - before, videos)
    totals = {name: [0, 0.0] for name in sources}
    for r in range(args.rounds):
        for name, source in sources.items():
            start, clips = time.perf_counter(), 0
            for batch in loader(source, args.workers):
                clips += len(batch["video"])
            seconds = time.perf_counter() - start
            totals[name][0] += clips
            totals[name][1] += seconds
            print(f"round {r + 1}: {name:6s} {clips} clips in {seconds:6.2f} s = {clips / seconds:6.2f} clips/s", flush=True)
    count = sum(1 for n in os.listdir(packed) if n.endswith(".tar"))
    print(f"\n{opened['files'][1]} videos of 340x256, 10 s; {count} shard(s) of about {args.shard_mb:g} MB; "
          f"batch {args.batch}, {args.workers} workers")
    for name in sources:
        n, s = totals[name]
        print(f"{name:6s} files opened in one epoch (one process): {opened[name][0]:5d}   clips/s: {n / s:6.2f}")
    rate = {name: n / s for name, (n, s) in totals.items()}
    print(f"shards / files: {rate['shards'] / rate['files']:.2f}x clips/s, "
          f"{opened['shards'][0] / max(1, opened['files'][0]):.3f}x files opened")


if __name__ == "__main__":
    main()
