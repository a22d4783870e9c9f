"""Training clips per second: gcvideo's pipeline vs pytorchvideo's stock ``Kinetics`` dataset.

Both read the same generated Kinetics-size videos (340x256, 10 s, 30 fps, H.264)
with the same DataLoader workers and produce the same thing: one random 8x8 clip
per video, short side random in [256, 320], random 224 crop, flip, /255,
normalise. pytorchvideo's own transforms cannot be imported with current
torchvision, so its side uses the equivalent tensor ops applied the way
pytorchvideo's transforms do (float frames, full-frame resize, then crop).
The two pipelines alternate over several rounds in one run; the ratio is of totals.

    python benchmarks/data_throughput.py [--videos 24 --workers 2 --rounds 2]
"""
import argparse
import os
import tempfile
import time

import torch
from torch.utils.data import DataLoader

MEAN, STD = 0.45, 0.225


def stock_transform(sample: dict) -> dict:
    """pytorchvideo-style: UniformTemporalSubsample(8), RandomShortSideScale(256, 320),
    RandomCrop(224), RandomHorizontalFlip, Div255, Normalize -- on float (C, T, H, W)."""
    from torchvision.transforms.v2 import functional as TF

    video = sample["video"]                                                     # (C, T, H, W) float
    idx = torch.linspace(0, video.shape[1] - 1, 8).long()
    video = video.index_select(1, idx).permute(1, 0, 2, 3)                      # (T, C, H, W)
    short = int(torch.randint(256, 321, (1,)))
    h, w = video.shape[-2:]
    size = [short, int(w * short / h)] if h < w else [int(h * short / w), short]
    video = TF.resize(video, size, antialias=True)
    top = int(torch.randint(0, video.shape[-2] - 224 + 1, (1,)))
    left = int(torch.randint(0, video.shape[-1] - 224 + 1, (1,)))
    video = video[..., top:top + 224, left:left + 224]
    if torch.rand(1) < 0.5:
        video = video.flip(-1)
    video = (video / 255.0 - MEAN) / STD
    return {"video": video.permute(1, 0, 2, 3), "label": sample["label"]}


def make_loaders(root: str, workers: int, batch: int):
    from pytorchvideo.data import Kinetics, make_clip_sampler

    from gcvideo.data import KineticsDataModule

    ours = KineticsDataModule(root, batch_size=batch, num_workers=workers, seed=0)
    from gcvideo.data.records import load_records
    listing = os.path.join(root, "train_list.txt")
    with open(listing, "w") as f:
        for r in load_records(os.path.join(root, "train.csv"), root):
            f.write(f"{r.path} {sorted(os.listdir(root)).index(r.label)}\n")
    stock = Kinetics(data_path=listing, clip_sampler=make_clip_sampler("random", 64 / 30),
                     transform=stock_transform, decode_audio=False, decoder="pyav")
    # a new DataLoader (and new worker processes) per round on both sides
    return {"gcvideo": ours.train_dataloader,
            "pytorchvideo": lambda: DataLoader(stock, batch_size=batch, num_workers=workers)}


def run(loader_fn, clips: int) -> tuple:
    start, seen = time.perf_counter(), 0
    for batch in loader_fn():
        assert batch["video"].shape[1:] == (3, 8, 224, 224), batch["video"].shape
        seen += batch["video"].shape[0]
        if seen >= clips:
            break
    return seen, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=24, help="training videos to generate")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--root", help="reuse generated videos here (default: a temp folder)")
    args = parser.parse_args()

    from gcvideo.data.synth import synthesize

    root = args.root or tempfile.mkdtemp(prefix="gcvideo-bench-")
    if not os.path.exists(os.path.join(root, "train.csv")):
        per_class = max(3, round(args.videos / 0.6 / 4))
        synthesize(root, num_classes=4, videos_per_class=per_class, seconds=10.0, size=(340, 256),
                   event_frames=12, seed=0)
    loaders = make_loaders(root, args.workers, args.batch)
    n_train = sum(1 for _ in open(os.path.join(root, "train.csv"))) - 1
    totals = {name: [0, 0.0] for name in loaders}
    for r in range(args.rounds):
        for name, fn in loaders.items():
            seen, secs = run(fn, n_train)
            totals[name][0] += seen
            totals[name][1] += secs
            print(f"round {r + 1}: {name:13s} {seen} clips in {secs:6.2f}s = {seen / secs:6.2f} clips/s", flush=True)
    rate = {name: n / s for name, (n, s) in totals.items()}
    print(f"\ntraining clips/s ({args.workers} workers, batch {args.batch}, 340x256 10 s videos, 8x8 clips, 224 crops)")
    for name, value in rate.items():
        print(f"{name:13s} {value:7.2f} clips/s")
    print(f"ratio gcvideo / pytorchvideo: {rate['gcvideo'] / rate['pytorchvideo']:.2f}x")


if __name__ == "__main__":
    main()
