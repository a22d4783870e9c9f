"""30-view test preprocessing, videos/s: gcvideo's decode-once vs per-clip decoding.

gcvideo: one decoding pass for all 10 clips of a video, one uint8 resize, 30 crops
cut from that tensor and normalised. Per-clip (what pytorchvideo's clip samplers do):
``EncodedVideo.get_clip`` decodes each clip's window separately, converts it to
float, then each of the 3 crops is scaled, cropped and normalised (pytorchvideo's
transforms work on float tensors). Both produce the same 30 views of (3, 8, 256, 256).
The two alternate over the same videos in one run.

    python benchmarks/multiview.py [--videos 6 --rounds 2 --root DIR]
"""
import argparse
import glob
import os
import tempfile
import time

import torch
from torchvision.transforms.v2 import functional as TF

from gcvideo.data.multiview import decode_views, iter_views
from gcvideo.data.sampling import uniform_clips
from gcvideo.data.transforms import spatial_crop_boxes

MEAN, STD = 0.45, 0.225


def ours(path: str) -> int:
    out = decode_views(path, num_frames=8, sampling_rate=8, clips=10, crops=3, short_side=256, crop=256)
    return sum(v.shape[0] for v in iter_views(out["frames"], out["boxes"], chunk=30))


def per_clip(path: str) -> int:
    from pytorchvideo.data.encoded_video import EncodedVideo

    video = EncodedVideo.from_path(path, decode_audio=False, decoder="pyav")
    duration = float(video.duration)
    views = 0
    for times in uniform_clips(duration, 30.0, 8, 8, 10):
        clip = video.get_clip(times[0], times[-1] + 1 / 30)["video"]           # (C, T', H, W) float
        idx = torch.linspace(0, clip.shape[1] - 1, 8).long()
        clip = clip.index_select(1, idx).permute(1, 0, 2, 3)                   # (T, C, H, W)
        h, w = clip.shape[-2:]
        for top, left, bh, bw in spatial_crop_boxes(h, w, 256, 256, 3):
            size = [256, int(w * 256 / h)] if h <= w else [int(h * 256 / w), 256]
            scaled = TF.resize(clip, size, antialias=True)
            s = 256 / min(h, w)
            t, l = int(round(top * s)), int(round(left * s))
            view = scaled[..., t:t + 256, l:l + 256]
            view = ((view / 255.0 - MEAN) / STD).permute(1, 0, 2, 3)
            assert view.shape == (3, 8, 256, 256)
            views += 1
    video.close()
    return views


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--root", help="folder of generated 340x256 10 s videos to reuse")
    args = parser.parse_args()
    from gcvideo.data.synth import synthesize

    root = args.root or tempfile.mkdtemp(prefix="gcvideo-mv-")
    paths = sorted(glob.glob(os.path.join(root, "*", "*.mp4")))[: args.videos]
    if len(paths) < args.videos:
        synthesize(root, num_classes=2, videos_per_class=max(3, args.videos), seconds=10.0, size=(340, 256),
                   event_frames=12, seed=0, progress=False)
        paths = sorted(glob.glob(os.path.join(root, "*", "*.mp4")))[: args.videos]
    torch.set_num_threads(1)   # one process, one core each way: the comparison is per video
    totals = {"gcvideo decode-once": [0, 0.0], "per-clip decoding": [0, 0.0]}
    for r in range(args.rounds):
        for name, fn in (("gcvideo decode-once", ours), ("per-clip decoding", per_clip)):
            start = time.perf_counter()
            views = sum(fn(p) for p in paths)
            secs = time.perf_counter() - start
            assert views == 30 * len(paths)
            totals[name][0] += len(paths)
            totals[name][1] += secs
            print(f"round {r + 1}: {name:20s} {len(paths)} videos in {secs:6.2f}s", flush=True)
    rate = {k: n / s for k, (n, s) in totals.items()}
    print("\n30-view preprocessing (10 clips x 3 crops of 8x256x256), 340x256 10 s H.264 videos, 1 thread")
    for k, v in rate.items():
        print(f"{k:20s} {v:6.2f} videos/s")
    print(f"ratio: {rate['gcvideo decode-once'] / rate['per-clip decoding']:.2f}x")


if __name__ == "__main__":
    main()
