"""Peak memory of the 30-view decode (what ``predict`` and ``test`` do per video) by source size.

Each case runs in a fresh process and reports how far its peak RSS rises above its RSS
after imports (Linux: the peak is reset through /proc/self/clear_refs): ``per frame`` is today's ``decode_views`` (each
frame scaled to the short side as it is decoded), ``whole stack`` the former way (all
requested frames decoded at the source resolution, then scaled together). Videos are
generated here (2.5 s, H.264: one 8x8 clip needs 2.1 s), 10 clips x 8 frames x 3 crops at short side 256.

    python benchmarks/decode_memory.py [--sizes 640x360 1920x1080 3840x2160 --seconds 2.5]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

CHILD = r"""
import json, sys
import numpy as np, torch
from torchvision.transforms.v2 import functional as TF
from gcvideo.data import decode, multiview, sampling
def status(key):   # kB
    return int(next(line.split()[1] for line in open("/proc/self/status") if line.startswith(key)))
path, mode = sys.argv[1], sys.argv[2]
open("/proc/self/clear_refs", "w").write("5")     # reset the peak (VmHWM) to the current RSS
base = status("VmRSS:")
options = dict(num_frames=8, sampling_rate=8, clips=10, crops=3, short_side=256, crop=256)
if mode == "per frame":
    out = multiview.decode_views(path, **options)["frames"]
else:
    info = decode.probe(path)
    times = np.sort(np.concatenate(multiview.view_times(info, 8, 8, 10)))
    stack = torch.from_numpy(decode.decode_at(path, times)).permute(0, 3, 1, 2)
    out = TF.resize(stack, list(decode.scaled_size(*stack.shape[-2:], 256)), antialias=True)
peak = status("VmHWM:")
print(json.dumps({"mb": (peak - base) / 1024, "shape": list(out.shape)}))
"""


def make_video(path: str, width: int, height: int, seconds: float) -> None:
    from gcvideo.data.synth import write_video

    n = int(round(30 * seconds))
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :, None]
    frames = np.empty((n, height, width, 3), np.uint8)
    for i in range(n):
        frames[i] = ((x + 8 * i) % 256).astype(np.uint8)
    write_video(path, frames, options={"preset": "ultrafast"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=["640x360", "1920x1080", "3840x2160"])
    parser.add_argument("--seconds", type=float, default=2.5)
    args = parser.parse_args()
    print(f"{'source':>10s} {'whole stack MB':>15s} {'per frame MB':>13s} {'ratio':>6s}")
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            width, height = (int(v) for v in size.split("x"))
            path = os.path.join(tmp, f"{size}.mp4")
            make_video(path, width, height, args.seconds)
            mb = {}
            for mode in ("whole stack", "per frame"):
                out = subprocess.run([sys.executable, "-c", CHILD, path, mode], capture_output=True, text=True)
                if out.returncode:
                    sys.exit(f"{mode} on {size} failed:\n{out.stderr}")
                mb[mode] = json.loads(out.stdout.strip().splitlines()[-1])["mb"]
            print(f"{size:>10s} {mb['whole stack']:15.0f} {mb['per frame']:13.0f} "
                  f"{mb['whole stack'] / max(mb['per frame'], 1):5.1f}x", flush=True)


if __name__ == "__main__":
    main()
