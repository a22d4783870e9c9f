"""Peak memory of ``predict --timeline`` by the video's length: it should not grow.

Videos of each length are generated here (H.264, 30 fps, key frames every 250 frames as libx264
sets them, a moving bar over changing colours), streamed to the encoder frame by frame. Each
timeline runs in a fresh process (a tiny slow_r50_gc, the checkpoint's clip: 8 frames 8 apart,
1 s windows every second, crops of 224 as in ``test``) and reports how far its peak RSS rises
above its RSS just before the timeline starts (Linux: the peak is reset through
/proc/self/clear_refs), the windows done and the time. The last line gives the ratio of the
longest video's peak to the shortest's, beside what holding the decoded video would take.

    python benchmarks/timeline_memory.py [--seconds 30 120 480] [--size 640x360]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

CHILD = r"""
import json, sys, time
import torch
from gcvideo.engine.module import VideoClassifier
from gcvideo.tools.timeline import timeline
def status(key):   # kB
    return int(next(line.split()[1] for line in open("/proc/self/status") if line.startswith(key)))
torch.manual_seed(0)
module = VideoClassifier("slow_r50_gc", {"depths": [1, 1, 1, 1], "width": 8}, num_classes=10, view_batch=4).eval()
data = {"num_frames": 8, "sampling_rate": 8, "target_fps": 30.0, "eval_short_side": 256, "test_crop_size": 224,
        "crop_size": 224, "backend": "pyav"}
open("/proc/self/clear_refs", "w").write("5")     # reset the peak (VmHWM) to the current RSS
base = status("VmRSS:")
start = time.perf_counter()
result = timeline(sys.argv[1], module, data, window=1.0, stride=1.0, progress=False)
print(json.dumps({"peak_mib": (status("VmHWM:") - base) / 1024, "windows": len(result["windows"]),
                  "seconds": time.perf_counter() - start}))
"""


def write_long_video(path: str, seconds: float, width: int, height: int, fps: int = 30) -> int:
    """A ``seconds``-long H.264 video, one frame at a time (never the whole video in memory)."""
    import av

    frames = int(seconds * fps)
    with av.open(path, "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "28"}
        frame = np.empty((height, width, 3), np.uint8)
        for i in range(frames):
            frame[:] = ((i // fps) * 37 % 256, (i // fps) * 91 % 256, 128)          # a colour per second
            frame[:, (4 * i) % width] = 255
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, nargs="+", default=[30, 120, 480], help="video lengths")
    parser.add_argument("--size", default="640x360", help="WIDTHxHEIGHT of the generated videos")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    results = []
    with tempfile.TemporaryDirectory() as folder:
        for seconds in sorted(args.seconds):
            path = os.path.join(folder, f"{seconds:g}s.mp4")
            frames = write_long_video(path, seconds, width, height)
            out = subprocess.run([sys.executable, "-c", CHILD, path], capture_output=True, text=True, check=True)
            result = json.loads(out.stdout.strip().splitlines()[-1])
            result.update(length=seconds, decoded_mib=frames * width * height * 3 / 2 ** 20)
            results.append(result)
            print(f"{seconds:6.0f} s ({frames} frames of {args.size}): {result['windows']:4d} windows in "
                  f"{result['seconds']:6.1f} s, peak +{result['peak_mib']:6.1f} MiB "
                  f"(the decoded video: {result['decoded_mib']:8.0f} MiB)", flush=True)
    short, long = results[0], results[-1]
    print(f"peak memory, {long['length']:g} s vs {short['length']:g} s video: "
          f"{long['peak_mib'] / short['peak_mib']:.2f}x for a {long['length'] / short['length']:.0f}x longer video")


if __name__ == "__main__":
    main()
