"""Evaluation protocols: which frames and which crops a codebase's test loader takes from a video.

Two codebases scoring the same checkpoint on the same videos differ by the frames and pixels their
test loaders take. ``data.protocol`` chooses whose loader gcvideo reproduces (the decode, the
short-side scaling and the cropping stay gcvideo's: one pass per video, antialiased uint8 resizing):

============  ==========================================  ==========================================
protocol      clip k of K (T frames, stride r at 30 fps)  short side S and crop j of C
============  ==========================================  ==========================================
gcvideo       starts ``k (D - 1/fps - span) / (K - 1)``    long side ``round(L S / s)``; offsets
              seconds: the first to the last possible      ``round((L' - S) j / (C - 1))``
              start; the frames exactly r/30 s apart
pyslowfast    PySlowFast 1.0's ``decoder.decode``: a        PySlowFast's ``random_short_side_scale_
              window of ``w = r T fps / 30`` frames starts  jitter`` and ``uniform_crop``: long side
              at ``k (N - w) / K`` (it never reaches the    ``floor(L S / s)``; offsets 0,
              end), the frames that start inside it are     ``ceil((L' - S) / 2)``, ``L' - S``
              decoded and T of them taken at
              ``long(linspace(0, w - 1, T))``
============  ==========================================  ==========================================

(``D`` duration, ``N`` frames, ``L``/``s`` the long and short side.) Measured on a 10 s 25 fps video,
PySlowFast's clip 9 of 10 starts 25 frames before gcvideo's, and its 8 frames are 9 frames apart
where gcvideo's are 8 (6.67) apart (``tests/test_data_protocols.py`` checks the frame indices and crop
boxes against PySlowFast's own functions). A video shorter than one clip is refused by both (PySlowFast
would repeat its last frame).
"""
import math
from typing import Sequence

import numpy as np

PROTOCOLS = ("gcvideo", "pyslowfast")


def check_protocol(protocol: str, where: str = "data.protocol") -> str:
    if protocol not in PROTOCOLS:
        raise ValueError(f"{where} must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    return protocol


def pyslowfast_frame_indices(num_frames_video: int, fps: float, pts_per_frame: float, num_frames: int,
                             sampling_rate: int, clips: int, target_fps: float = 30.0) -> list[np.ndarray]:
    """Frame indices of PySlowFast 1.0's ``clips`` test clips (``decoder.decode`` with selective
    decoding): the window of clip k starts at frame ``k (N - w) / K`` and ends ``w - 1`` later
    (``get_start_end_idx``), both turned into presentation times by truncation (``int(index * pts
    per frame)``); the frames whose times fall in it are decoded and ``num_frames`` of them taken at
    ``long(clamp(linspace(0, w - 1, T)))`` (``temporal_sampling``)."""
    window = sampling_rate * num_frames / target_fps * fps
    delta = max(num_frames_video - window, 0)
    out = []
    for k in range(clips):
        start = delta * k / clips
        end = start + window - 1
        start_pts, end_pts = int(start * pts_per_frame), int(end * pts_per_frame)
        first = max(0, math.ceil(start_pts / pts_per_frame - 1e-9))
        last = min(num_frames_video - 1, math.floor(end_pts / pts_per_frame + 1e-9))
        taken = np.linspace(0, window - 1, num_frames, dtype=np.float32)   # torch.linspace is float32
        offsets = np.clip(taken, 0, max(last - first, 0)).astype(np.int64)
        out.append(first + offsets)
    return out


def scaled_size(protocol: str, height: int, width: int, short_side: int) -> tuple[int, int]:
    """(height, width) of a frame scaled to ``short_side`` under ``protocol``."""
    if protocol == "pyslowfast":
        if width <= height:
            return (int(math.floor(height / width * short_side)) if width != short_side else height), short_side
        return short_side, (int(math.floor(width / height * short_side)) if height != short_side else width)
    scale = short_side / min(height, width)
    return int(round(height * scale)), int(round(width * scale))


def crop_offsets(protocol: str, height: int, width: int, crop: int, crops: int) -> list[tuple[int, int]]:
    """(top, left) of each of ``crops`` ``crop``-square crops of a (height, width) frame: spread
    along its long side (left/centre/right, or top/centre/bottom for portrait frames)."""
    if protocol == "pyslowfast":
        if crops not in (1, 3):
            raise ValueError(f"the pyslowfast protocol takes 1 or 3 crops (uniform_crop), not {crops}")
        centre = (int(math.ceil((height - crop) / 2)), int(math.ceil((width - crop) / 2)))
        if crops == 1:
            return [centre]
        if height > width:
            return [(0, centre[1]), centre, (height - crop, centre[1])]
        return [(centre[0], 0), centre, (centre[0], width - crop)]
    out = []
    for i in range(crops):
        frac = 0.5 if crops == 1 else i / (crops - 1)
        out.append((max(0, int(round((height - crop) * (frac if height > width else 0.5)))),
                    max(0, int(round((width - crop) * (frac if width >= height else 0.5))))))
    return out


def frame_times(indices: Sequence[int], fps: float) -> np.ndarray:
    """Times at which frames ``indices`` of a constant-rate video are on screen (their middles)."""
    return (np.asarray(indices, np.float64) + 0.5) / fps
