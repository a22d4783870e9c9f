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
pytorchvideo  ``ConstantClipsPerVideoSampler``: clip k     as pyslowfast (its ``short_side_scale``
              starts ``k max(D' - d, 0) / K`` seconds      and ``uniform_crop`` are PySlowFast's)
              (``d = T r / 30``; ``D'`` its duration, the
              stream's minus its start time), the frames
              in ``[start, start + d)`` decoded and T of
              them taken at ``long(linspace(0, n - 1, T))``
              (``UniformTemporalSubsample``)
mmaction2     ``SampleFrames(T, r, K, test_mode=True)``:   ``Resize(scale=(-1, S))``: sides
              clip k starts at frame ``round(k (N - m) /    ``int(x S / s + 0.5)``; ``CenterCrop``
              (K - 1))``, ``m = (T - 1) r + 1``: the first  at ``(L' - S) // 2``, ``ThreeCrop`` at
              to the last possible start in the video's     0, ``(L' - S) // 2``, ``2 ((L' - S)
              own frames (no fps: r counts source frames),  // 2)``
              past the end wrapped (``loop``)
============  ==========================================  ==========================================

(``D`` duration, ``N`` frames, ``L``/``s`` the long and short side.) The pytorchvideo protocol is
its Kinetics recipe's ``decode_audio=False`` (a decoded audio stream can lengthen its duration). On a 10 s 25 fps video
PySlowFast's clip 9 of 10 starts 25 frames before gcvideo's; on a 30 fps video its 8 frames are 9
frames apart (linspace over the 64-frame window) where gcvideo's are 8. ``tests/test_data_protocols.py``
checks the frame indices and crop boxes against each peer's own functions (PySlowFast's decoder and
transforms, pytorchvideo's clip sampler, ``EncodedVideo`` and temporal subsampling, mmaction2's
``SampleFrames``, ``Resize``, ``CenterCrop`` and ``ThreeCrop``), on generated videos and on a real one
(B-frames, a stream that starts at 0.125 s). The pixels' resampling stays gcvideo's (antialiased);
mmaction2 resizes with OpenCV, PySlowFast and pytorchvideo without antialiasing. Where a header
counts more frames than decode, mmaction2's index past the last decoded frame wraps to the video's
first (``imgs[i % len(imgs)]``); gcvideo takes the last decoded frame there. A video shorter than one clip is refused by both (PySlowFast
would repeat its last frame).
"""
import math
import numpy as np

PROTOCOLS = ("gcvideo", "pyslowfast", "pytorchvideo", "mmaction2")
_CROPS = {"pyslowfast": "its uniform_crop", "pytorchvideo": "its uniform_crop", "mmaction2": "CenterCrop or ThreeCrop"}


def check_protocol(protocol: str, crops: int, where: str = "data", crop: int = 0, short_side: int = 0) -> None:
    """``ValueError`` naming ``where.protocol`` when it is unknown or cannot take ``crops`` crops
    (of ``crop`` pixels from frames of short side ``short_side``, where given)."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"{where}.protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    if protocol in _CROPS and crops not in (1, 3):
        raise ValueError(f"{where}.protocol {protocol} takes 1 or 3 crops per clip ({_CROPS[protocol]}), not {crops}")
    if protocol == "mmaction2" and crops == 3 and crop and short_side and crop != short_side:
        raise ValueError(f"{where}.protocol mmaction2's ThreeCrop takes crops of the short side: "
                         f"{where}.test_crop_size {crop} must equal {where}.eval_short_side {short_side}")


def _linspace_taken(count: int, num_frames: int) -> np.ndarray:
    """``long(clamp(linspace(0, count - 1, T)))`` as torch computes it (float32)."""
    taken = np.linspace(0, count - 1, num_frames, dtype=np.float32)
    return np.clip(taken, 0, max(count - 1, 0)).astype(np.int64)


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


def pytorchvideo_frame_indices(duration_pts: int, num_frames_video: int, pts_per_frame: float, time_base,
                               start_pts: int, first_pts: int, num_frames: int, sampling_rate: int, clips: int,
                               target_fps: float = 30.0) -> list[np.ndarray]:
    """Frame indices of pytorchvideo 0.1.5's test clips: ``ConstantClipsPerVideoSampler(T r / fps,
    clips)`` over ``EncodedVideoPyAV``'s duration (``(duration - start) * time base``: it subtracts
    the stream's start from its length), each clip's frames with times in ``[start, end)``
    (``get_clip``, times turned into pts by ``ceil``: exactly for the start, in floating point for
    the end), T of them taken by
    ``uniform_temporal_subsample``. Frame i is at ``first_pts + i * pts_per_frame``."""
    from fractions import Fraction

    clip = num_frames * sampling_rate / target_fps
    time_base = Fraction(time_base).limit_denominator(1 << 30)    # PyAV's exact time base
    duration = int(duration_pts - start_pts) * time_base
    step = Fraction(max(duration - clip, 0)) / clips
    out = []
    for k in range(clips):
        start = step * k                          # exact (a Fraction), as its sampler keeps it
        end = start + clip                        # a float, as its ClipInfo's end
        lo = math.ceil(start / time_base) + start_pts
        hi = math.ceil(end / time_base) + start_pts
        first = max(0, math.ceil((lo - first_pts) / pts_per_frame - 1e-9))
        last = min(num_frames_video - 1, math.ceil((hi - first_pts) / pts_per_frame - 1e-9) - 1)
        out.append(first + _linspace_taken(last - first + 1, num_frames))
    return out


def mmaction2_frame_indices(num_frames_video: int, num_frames: int, sampling_rate: int, clips: int) -> list[np.ndarray]:
    """Frame indices of mmaction2 1.2.0's ``SampleFrames(clip_len=T, frame_interval=r,
    num_clips=K, test_mode=True)``: a clip spans ``m = (T - 1) r + 1`` frames; clip k starts at
    ``round(k max(N - m, 0) / (K - 1))`` (numpy's round half to even; one clip: ``max(N - m, 0) //
    2``), its frames ``r`` apart in the video's own frames, indices past the end wrapped around
    (``out_of_bound_opt="loop"``)."""
    span = (num_frames - 1) * sampling_rate + 1
    room = max(num_frames_video - span, 0)
    starts = np.round(np.arange(clips) * (room / float(clips - 1))) if clips > 1 else np.array([room // 2])
    return [np.mod(int(start) + np.arange(num_frames) * sampling_rate, num_frames_video) for start in starts]


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
    if protocol == "mmaction2":                  # mmcv's rescale_size: int(x * scale + 0.5)
        scale = short_side / min(height, width)
        return int(height * scale + 0.5), int(width * scale + 0.5)
    if protocol in ("pyslowfast", "pytorchvideo"):
        if width <= height:
            return (int(math.floor(height / width * short_side)) if width != short_side else height), short_side
        return short_side, (int(math.floor(width / height * short_side)) if height != short_side else width)
    scale = short_side / min(height, width)
    return int(round(height * scale)), int(round(width * scale))


def view_times(protocol: str, info, num_frames: int, sampling_rate: int, clips: int,
               target_fps: float = 30.0) -> list[np.ndarray]:
    """The frame times (seconds) of a video's ``clips`` test clips under ``protocol``."""
    from . import sampling

    if protocol == "gcvideo":
        return sampling.uniform_clips(info.duration, info.fps, num_frames, sampling_rate, clips, target_fps)
    from .decode import VideoError

    if info.num_frames <= 0 or info.pts_per_frame <= 0:
        raise VideoError(info.path or "video", "unreadable", f"the {protocol} protocol needs the stream's frame "
                         f"count and duration in its header ({protocol} cannot sample it either)")
    first_pts = first_frame_pts(info.path) if info.path else info.start_pts
    if protocol == "pyslowfast":
        indices = pyslowfast_frame_indices(info.num_frames, info.fps, info.pts_per_frame, num_frames,
                                           sampling_rate, clips, target_fps, first_pts)
    elif protocol == "pytorchvideo":
        duration_pts = round(info.pts_per_frame * info.num_frames)
        indices = pytorchvideo_frame_indices(duration_pts, info.num_frames, info.pts_per_frame, info.time_base,
                                             info.start_pts, first_pts, num_frames, sampling_rate, clips, target_fps)
    else:
        indices = mmaction2_frame_indices(info.num_frames, num_frames, sampling_rate, clips)
    shift = first_pts - info.start_pts               # gcvideo's times count from the stream's start
    return [(shift + (i + 0.5) * info.pts_per_frame) * info.time_base for i in indices]   # each frame's middle


def crop_boxes(protocol: str, height: int, width: int, crop: int, crops: int) -> list[tuple[int, int, int, int]]:
    """(top, left, crop, crop) of each of ``crops`` square crops of a frame already scaled to the
    test's short side (``scaled_size``): spread along its long side (left/centre/right, or
    top/centre/bottom for portrait frames)."""
    if protocol == "gcvideo":
        from .transforms import spatial_crop_boxes

        return spatial_crop_boxes(height, width, min(height, width), crop, crops)
    if protocol == "mmaction2":                  # CenterCrop; ThreeCrop's steps of (L' - S) // 2
        step_y, step_x = (height - crop) // 2, (width - crop) // 2
        if crops == 1:
            return [(step_y, step_x, crop, crop)]
        if height > width:
            return [(j * step_y, 0, crop, crop) for j in range(3)]
        return [(0, j * step_x, crop, crop) for j in range(3)]
    centre = (int(math.ceil((height - crop) / 2)), int(math.ceil((width - crop) / 2)))
    if crops == 1:
        offsets = [centre]
    elif height > width:
        offsets = [(0, centre[1]), centre, (height - crop, centre[1])]
    else:
        offsets = [(centre[0], 0), centre, (centre[0], width - crop)]
    return [(top, left, crop, crop) for top, left in offsets]
