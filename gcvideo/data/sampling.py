"""Where clips are taken in a video: times (seconds) of each clip's frames.

A clip is ``num_frames`` frames ``sampling_rate`` frames apart at ``target_fps``
(the paper's 8x8 at 30 fps: 8 frames spanning 56/30 s). Sampling by time makes a
25 fps or variable-rate video give the same temporal extent as a 30 fps one.

A video is usable when one clip fits: its last frame starts at ``duration - 1/fps``,
so the clip's span must be <= ``duration - 1/fps``.

``sampling="segments"`` (TSN/TSM and the Something-Something convention, PySlowFast's ``ssv2``
loader) replaces the window: the whole video is cut into ``num_frames`` equal segments and one
frame is taken in each -- at a random point of it in training, at its centre in testing, at
``(k + 1/2) / K`` of it for test clip k of K. Any video of one frame or more is usable (a video
with fewer frames than segments repeats frames, as PySlowFast's does).
"""
from typing import Optional

import numpy as np


def clip_span(num_frames: int, sampling_rate: int, target_fps: float = 30.0) -> float:
    """Seconds from the first to the last frame of a clip."""
    return (num_frames - 1) * sampling_rate / target_fps


def clip_times(start: float, num_frames: int, sampling_rate: int, target_fps: float = 30.0) -> np.ndarray:
    return start + np.arange(num_frames) * (sampling_rate / target_fps)


def free_span(duration: float, fps: float, num_frames: int, sampling_rate: int,
              target_fps: float = 30.0) -> float:
    """Range of valid clip starts, in seconds; negative when the video is too short."""
    return duration - 1.0 / fps - clip_span(num_frames, sampling_rate, target_fps)


def random_clip(duration: float, fps: float, num_frames: int, sampling_rate: int,
                rng: np.random.Generator, target_fps: float = 30.0) -> np.ndarray:
    """Training: one clip at a uniformly random start."""
    free = max(0.0, free_span(duration, fps, num_frames, sampling_rate, target_fps))
    return clip_times(rng.uniform(0.0, free), num_frames, sampling_rate, target_fps)


def uniform_clips(duration: float, fps: float, num_frames: int, sampling_rate: int,
                  num_clips: int, target_fps: float = 30.0) -> list[np.ndarray]:
    """Testing: ``num_clips`` clips with starts uniformly spaced from the first possible
    to the last possible start (gcvideo's convention; PySlowFast's spacing differs, see
    :mod:`gcvideo.data.protocols`); one clip = the centre clip."""
    free = max(0.0, free_span(duration, fps, num_frames, sampling_rate, target_fps))
    if num_clips == 1:
        starts = [free / 2]
    else:
        starts = [free * i / (num_clips - 1) for i in range(num_clips)]
    return [clip_times(s, num_frames, sampling_rate, target_fps) for s in starts]


def too_short(duration: float, fps: float, num_frames: int, sampling_rate: int,
              target_fps: float = 30.0) -> Optional[str]:
    """A reason string when one clip does not fit, else None."""
    if free_span(duration, fps, num_frames, sampling_rate, target_fps) < -1e-6:
        need = clip_span(num_frames, sampling_rate, target_fps) + 1.0 / fps
        return f"{duration:.2f}s < one clip ({need:.2f}s)"
    return None


def require_clip(path: str, info, num_frames: int, sampling_rate: int, target_fps: float = 30.0) -> None:
    """``VideoError(path, "too short")`` when one clip does not fit in the video ``info`` describes."""
    from .decode import VideoError

    short = too_short(info.duration, info.fps, num_frames, sampling_rate, target_fps)
    if short:
        raise VideoError(path, "too short", short)


SAMPLINGS = ("window", "segments")


def segment_times(duration: float, fps: float, num_frames: int, position) -> np.ndarray:
    """One frame time in each of ``num_frames`` equal segments of ``[0, duration)``, at
    ``position`` of its segment (a number in [0, 1), or one per segment), kept inside the video
    (before its last frame's end)."""
    edges = np.linspace(0.0, duration, num_frames + 1)
    times = edges[:-1] + np.asarray(position, dtype=np.float64) * (edges[1:] - edges[:-1])
    return np.minimum(times, max(0.0, duration - 0.5 / fps))


def random_segments(duration: float, fps: float, num_frames: int, rng: np.random.Generator) -> np.ndarray:
    """Training: a uniformly random time in each segment."""
    return segment_times(duration, fps, num_frames, rng.uniform(size=num_frames))


def segment_clips(duration: float, fps: float, num_frames: int, num_clips: int) -> list[np.ndarray]:
    """Testing: clip k of ``num_clips`` takes each segment at ``(k + 1/2) / num_clips`` (one clip:
    the segments' centres)."""
    return [segment_times(duration, fps, num_frames, (k + 0.5) / num_clips) for k in range(num_clips)]


def train_times(info, num_frames: int, sampling_rate: int, rng: np.random.Generator, target_fps: float = 30.0,
                sampling: str = "window", path: str = "") -> np.ndarray:
    """A training clip's frame times in the video ``info`` describes, under ``sampling``
    (``VideoError`` "too short" when a window does not fit)."""
    if sampling == "segments":
        return random_segments(info.duration, info.fps, num_frames, rng)
    require_clip(path, info, num_frames, sampling_rate, target_fps)
    return random_clip(info.duration, info.fps, num_frames, sampling_rate, rng, target_fps)


def test_times(info, num_frames: int, sampling_rate: int, num_clips: int, target_fps: float = 30.0,
               sampling: str = "window", path: str = "") -> list[np.ndarray]:
    """The ``num_clips`` test clips' frame times under ``sampling`` (gcvideo's protocol)."""
    if sampling == "segments":
        return segment_clips(info.duration, info.fps, num_frames, num_clips)
    require_clip(path, info, num_frames, sampling_rate, target_fps)
    return uniform_clips(info.duration, info.fps, num_frames, sampling_rate, num_clips, target_fps)
