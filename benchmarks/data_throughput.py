"""Training clips per second: gcvideo's pipeline vs pytorchvideo's stock ``Kinetics`` dataset.

Both read the same generated Kinetics-size videos (340x256, 10 s, 30 fps, H.264)
with the same DataLoader workers and produce the same thing: one random 8x8 clip
per video, short side random in [256, 320], random 224 crop, flip, /255,
normalise. pytorchvideo's own transforms cannot be imported with current
torchvision, so its side uses the equivalent tensor ops applied the way
pytorchvideo's transforms do (float frames, full-frame resize, then crop).
The two pipelines alternate over several rounds in one run; the ratio is of totals.

A third loader gives the bound: with the same workers and videos, only seeking and
decoding the frames each training clip needs (the same random clip times as gcvideo's
pipeline, no resize, crop or normalisation); the full pipeline's share of it is printed. With
workers, a fourth runs gcvideo's pipeline with FFmpeg's automatic threads in every worker (as
gcvideo 0.3 did) against one decoding thread per worker (now), and prints the ratio.
With ``--prepared DIR`` (a copy of the videos written by ``gcvideo data prepare``) the
gcvideo pipeline also runs on that copy, side by side. With ``--clips-per-video K`` gcvideo's
pipeline also runs with repeated augmentation (K clips per decoded video), side by side, and the
ratio of clips/s with K to clips/s with one clip per video is printed.

    python benchmarks/data_throughput.py [--videos 24 --workers 2 --rounds 2 --prepared DIR --clips-per-video 2]
"""
import argparse
import gc
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


class DecodeOnly(torch.utils.data.Dataset):
    """The decoding a training clip needs, nothing else: the clip's times drawn as the
    training dataset draws them (same seed, epoch and index), frames decoded, a number returned."""

    def __init__(self, dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: int) -> int:
        import numpy as np

        from gcvideo.data import decode, sampling

        d = self.dataset
        epoch, index = divmod(int(key), len(d))
        rng = np.random.default_rng([d.seed, epoch, index])

        def times(info):
            sampling.require_clip(d.records.path(index), info, d.num_frames, d.sampling_rate, d.target_fps)
            return sampling.random_clip(info.duration, info.fps, d.num_frames, d.sampling_rate, rng, d.target_fps)

        return int(decode.decode_clip(d.records.path(index), times, d.backend).shape[0])


def make_loaders(root: str, workers: int, batch: int, prepared: str = None, clips_per_video: int = 1):
    from pytorchvideo.data import Kinetics, make_clip_sampler

    from gcvideo.engine.datamodule import KineticsDataModule, worker_init

    ours = KineticsDataModule(root, batch_size=batch, num_workers=workers, seed=0)
    from gcvideo.data.records import load_records
    listing = os.path.join(root, "train_list.txt")
    with open(listing, "w") as f:
        for r in load_records(os.path.join(root, "train.csv"), root):
            f.write(f"{r.path} {sorted(os.listdir(root)).index(r.label)}\n")
    stock = Kinetics(data_path=listing, clip_sampler=make_clip_sampler("random", 64 / 30),
                     transform=stock_transform, decode_audio=False, decoder="pyav")
    def decode_only():
        loader = ours.train_dataloader()
        return DataLoader(DecodeOnly(ours.dataset("train")), batch_size=batch, sampler=loader.sampler,
                          num_workers=workers, collate_fn=lambda frames: {"clips": len(frames)},
                          worker_init_fn=worker_init)

    def ffmpeg_threads():
        # gcvideo 0.3's workers: PyAV with FFmpeg's automatic threads (one per core) in every worker
        loader = ours.train_dataloader()
        loader.worker_init_fn = lambda _: gc.freeze()
        return loader

    # a new DataLoader (and new worker processes) per round on every side
    loaders = {"gcvideo": ours.train_dataloader, "decode only": decode_only,
               "pytorchvideo": lambda: DataLoader(stock, batch_size=batch, num_workers=workers)}
    if workers > 0:
        loaders["gcvideo, FFmpeg threads"] = ffmpeg_threads
    if clips_per_video > 1:
        loaders[f"gcvideo K={clips_per_video}"] = KineticsDataModule(
            root, batch_size=max(1, batch // clips_per_video), num_workers=workers, seed=0,
            clips_per_video=clips_per_video).train_dataloader
    if prepared:
        loaders["gcvideo prepared"] = KineticsDataModule(prepared, batch_size=batch, num_workers=workers,
                                                         seed=0).train_dataloader
    return loaders


def run(loader_fn, clips: int) -> tuple:
    start, seen = time.perf_counter(), 0
    for batch in loader_fn():
        if "clips" in batch:
            seen += batch["clips"]
        else:
            assert batch["video"].shape[-4:] == (3, 8, 224, 224), batch["video"].shape
            seen += batch["video"].shape[:-4].numel()                  # K clips per video: (N, K, ...)
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
    parser.add_argument("--prepared", help="the same videos after `gcvideo data prepare ROOT PREPARED`")
    parser.add_argument("--clips-per-video", type=int, default=1, help="also run repeated augmentation with K clips")
    args = parser.parse_args()

    from gcvideo.tools.demo_data import kinetics_size_data

    root = args.root or tempfile.mkdtemp(prefix="gcvideo-bench-")
    kinetics_size_data(root, args.videos)
    loaders = make_loaders(root, args.workers, args.batch, args.prepared, args.clips_per_video)
    n_train = sum(1 for _ in open(os.path.join(root, "train.csv"))) - 1
    totals = {name: [0, 0.0] for name in loaders}
    for r in range(args.rounds):
        for name, fn in loaders.items():
            seen, secs = run(fn, n_train)
            totals[name][0] += seen
            totals[name][1] += secs
            print(f"round {r + 1}: {name:23s} {seen} clips in {secs:6.2f}s = {seen / secs:6.2f} clips/s", flush=True)
    rate = {name: n / s for name, (n, s) in totals.items()}
    print(f"\ntraining clips/s ({args.workers} workers, batch {args.batch}, 340x256 10 s videos, 8x8 clips, 224 crops)")
    for name, value in rate.items():
        print(f"{name:23s} {value:7.2f} clips/s")
    print(f"ratio gcvideo / pytorchvideo: {rate['gcvideo'] / rate['pytorchvideo']:.2f}x")
    print(f"gcvideo's share of the decode-only bound: {rate['gcvideo'] / rate['decode only']:.2f}")
    repeated = f"gcvideo K={args.clips_per_video}"
    if repeated in rate:
        print(f"repeated augmentation, clips/s with {args.clips_per_video} clips per decoded video / one: "
              f"{rate[repeated] / rate['gcvideo']:.2f}x")
    if "gcvideo, FFmpeg threads" in rate:
        print(f"one decoding thread per worker / FFmpeg's threads in every worker: "
              f"{rate['gcvideo'] / rate['gcvideo, FFmpeg threads']:.2f}x")
    if "gcvideo prepared" in rate:
        print(f"prepared copy / original: {rate['gcvideo prepared'] / rate['gcvideo']:.2f}x")


if __name__ == "__main__":
    main()
