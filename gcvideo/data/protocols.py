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
              end), the frames that start inside it (and    ``ceil((L' - S) / 2)``, ``L' - S``
              the next) are decoded and T of them taken at
              ``long(linspace(0, w - 1, T))``
============  ==========================================  ==========================================

(``D`` duration, ``N`` frames, ``L``/``s`` the long and short side.) On a 10 s 25 fps video
PySlowFast's clip 9 of 10 starts 25 frames before gcvideo's; on a 30 fps video its 8 frames are 9
frames apart (linspace over the 64-frame window) where gcvideo's are 8. ``tests/test_data_protocols.py``
checks the frame indices and crop boxes against PySlowFast's own functions, on generated videos and
on a real one (B-frames, a stream that starts at 0.125 s). A video shorter than one clip is refused by both (PySlowFast
would repeat its last frame).
"""
import math
import numpy as np

PROTOCOLS = ("gcvideo", "pyslowfast")


def check_protocol(protocol: str, crops: int, where: str = "data") -> None:
    """``ValueError`` naming ``where.protocol`` when it is unknown or cannot take ``crops`` crops."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"{where}.protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    if protocol == "pyslowfast" and crops not in (1, 3):
        raise ValueError(f"{where}.protocol pyslowfast takes 1 or 3 crops per clip (its uniform_crop), not {crops}")


def pyslowfast_frame_indices(num_frames_video: int, fps: float, pts_per_frame: float, num_frames: int,
                             sampling_rate: int, clips: int, target_fps: float = 30.0,
                             first_pts: int = 0) -> list[np.ndarray]:
    """Frame indices of PySlowFast 1.0's ``clips`` test clips (``decoder.decode`` with selective
    decoding): the window of clip k starts at frame ``k (N - w) / K`` and ends ``w - 1`` later
    (``get_start_end_idx``), both turned into presentation times by truncation (``int(index * pts
    per frame)``); the frames whose times fall in it, and the one after it, are decoded
    (``pyav_decode_stream``) and ``num_frames`` of them taken at ``long(clamp(linspace(0, w - 1,
    T)))`` (``temporal_sampling``). PySlowFast compares those times with the frames' own: frame i
    is at ``first_pts + i * pts_per_frame`` (``first_pts``: the first frame's)."""
    window = sampling_rate * num_frames / target_fps * fps
    delta = max(num_frames_video - window, 0)
    out = []
    for k in range(clips):
        start = delta * k / clips
        end = start + window - 1
        window_start, window_end = int(start * pts_per_frame), int(end * pts_per_frame)
        first = max(0, math.ceil((window_start - first_pts) / pts_per_frame - 1e-9))
        # its pyav_decode_stream keeps the first frame after the window too (buffer_size 0 still adds one)
        last = min(num_frames_video - 1, math.floor((window_end - first_pts) / pts_per_frame + 1e-9) + 1)
        taken = np.linspace(0, window - 1, num_frames, dtype=np.float32)   # torch.linspace is float32
        offsets = np.clip(taken, 0, max(last - first, 0)).astype(np.int64)
        out.append(first + offsets)
    return out


def first_frame_pts(path: str) -> int:
    """The presentation time of a video's first decoded frame (one frame is decoded): a stream's
    declared start, and its first packet, can be earlier (a packet the decoder drops)."""
    import av

    with av.open(path) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            if frame.pts is not None:
                return int(frame.pts)
    return int(stream.start_time or 0)


def scaled_size(protocol: str, height: int, width: int, short_side: int) -> tuple[int, int]:
    """(height, width) of a frame scaled to ``short_side`` under ``protocol``."""
    if protocol == "pyslowfast":
        if width <= height:
            return (int(math.floor(height / width * short_side)) if width != short_side else height), short_side
        return short_side, (int(math.floor(width / height * short_side)) if height != short_side else width)
    scale = short_side / min(height, width)
    return int(round(height * scale)), int(round(width * scale))


def view_times(protocol: str, info, num_frames: int, sampling_rate: int, clips: int,
               target_fps: float = 30.0) -> list[np.ndarray]:
    """The frame times (seconds) of a video's ``clips`` test clips under ``protocol``."""
    from . import sampling

    if protocol == "pyslowfast":
        from .decode import VideoError

        if info.num_frames <= 0 or info.pts_per_frame <= 0:
            raise VideoError(info.path or "video", "unreadable", "the pyslowfast protocol needs the stream's frame "
                             "count and duration in its header (PySlowFast cannot sample it either)")
        first_pts = first_frame_pts(info.path) if info.path else info.start_pts
        shift = first_pts - info.start_pts           # gcvideo's times count from the stream's start
        return [(shift + (indices + 0.5) * info.pts_per_frame) * info.time_base    # the middle of each frame
                for indices in pyslowfast_frame_indices(info.num_frames, info.fps, info.pts_per_frame, num_frames,
                                                        sampling_rate, clips, target_fps, first_pts)]
    return sampling.uniform_clips(info.duration, info.fps, num_frames, sampling_rate, clips, target_fps)


def crop_boxes(protocol: str, height: int, width: int, crop: int, crops: int) -> list[tuple[int, int, int, int]]:
    """(top, left, crop, crop) of each of ``crops`` square crops of a frame already scaled to the
    test's short side (``scaled_size``): spread along its long side (left/centre/right, or
    top/centre/bottom for portrait frames)."""
    if protocol != "pyslowfast":
        from .transforms import spatial_crop_boxes

        return spatial_crop_boxes(height, width, min(height, width), crop, crops)
    centre = (int(math.ceil((height - crop) / 2)), int(math.ceil((width - crop) / 2)))
    if crops == 1:
        offsets = [centre]
    elif height > width:
        offsets = [(0, centre[1]), centre, (height - crop, centre[1])]
    else:
        offsets = [(centre[0], 0), centre, (centre[0], width - crop)]
    return [(top, left, crop, crop) for top, left in offsets]
