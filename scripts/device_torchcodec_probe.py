"""Which import breaks torchcodec? Each context runs in a fresh process: its imports, then one
torchcodec decode of the test trailer (CPU, and CUDA where torch sees a GPU). Prints one line per
context: ok, or the error and where it came from.

    python scripts/device_torchcodec_probe.py
"""
import subprocess
import sys

CONTEXTS = {
    "plain": "",
    "pytest": "import pytest",
    "pytorch_lightning": "import pytorch_lightning",
    "tensorboard": "import tensorboard",
    "torch.onnx": "import torch.onnx",
    "jsonargparse": "import jsonargparse",
    "gcvideo engine": "import gcvideo.engine.lightning_cli",
    "gcvideo fit --help": "from gcvideo.cli import main\ntry:\n    main(['fit', '--help'])\nexcept SystemExit:\n    pass",
}
DECODE = r"""
import sys, traceback, torch
from torchcodec.decoders import VideoDecoder
from torchcodec._core import ops
for device in ["cpu"] + (["cuda:0"] if torch.cuda.is_available() else []):
    try:
        d = VideoDecoder("tests/data/bbb_trailer_720p.mp4", device=device, seek_mode="exact")
        f = d.get_frames_played_at([1.0, 2.0]).data
        print("RESULT", device, "ok", tuple(f.shape), f.device)
    except Exception as err:
        tb = traceback.extract_tb(err.__traceback__)[-3:]
        print("RESULT", device, "ERR", type(err).__name__, str(err)[:150], [f"{t.filename.split('/')[-1]}:{t.lineno}" for t in tb])
"""

for name, code in CONTEXTS.items():
    out = subprocess.run([sys.executable, "-c", code + "\n" + DECODE], capture_output=True, text=True, timeout=120)
    lines = [l for l in out.stdout.splitlines() if l.startswith("RESULT")]
    print(f"{name:20s}", " | ".join(l[7:] for l in lines) or f"exit {out.returncode}: {out.stderr.strip().splitlines()[-1:]}",
          flush=True)
