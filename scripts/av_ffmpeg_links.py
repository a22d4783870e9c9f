"""Print a folder of FFmpeg library links into PyAV's wheel (``av.libs``), for torchcodec.

PyAV's manylinux wheels bundle FFmpeg's seven shared libraries under hashed names
(``libavcodec-5e6b81c2.so.62.28.102``); torchcodec asks the dynamic loader for the plain
sonames (``libavcodec.so.62``). A folder of links from one to the other, put on
``LD_LIBRARY_PATH``, gives torchcodec that FFmpeg on a machine that has none installed
(the GPU machine of ``scripts/device_gpu_check.sh``). Every other library of ``av.libs`` is
linked under its own (hashed) name too: a library opened through a link looks for its own
dependencies in the link's folder (``$ORIGIN``), so without them torchcodec loads only in a
process that imported PyAV first -- and a torchcodec imported before that keeps stand-ins for
its operators that fail later ("the JSON object must be str, bytes or bytearray, not tuple",
seen on the H200). Measuring only: a machine that decodes for real installs FFmpeg's shared
libraries from its package manager.

    export LD_LIBRARY_PATH=$(python scripts/av_ffmpeg_links.py DIR)${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
"""
import glob
import os
import re
import sys

import av


def main(out: str) -> None:
    libs = os.path.join(os.path.dirname(os.path.dirname(av.__file__)), "av.libs")
    os.makedirs(out, exist_ok=True)
    for path in glob.glob(os.path.join(libs, "lib*.so*")):
        name = os.path.basename(path)
        m = re.match(r"(lib(?:av\w+|sw\w+))-[0-9a-f]{8}\.so\.(\d+)", name)
        for link in [name] + ([f"{m.group(1)}.so.{m.group(2)}"] if m else []):
            link = os.path.join(out, link)
            if os.path.lexists(link):
                os.remove(link)
            os.symlink(path, link)
    print(os.path.abspath(out))


if __name__ == "__main__":
    main(sys.argv[1])
