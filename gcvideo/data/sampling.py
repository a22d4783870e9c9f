"""Where clips are taken in a video: times (seconds) of each clip's frames.

A clip is ``num_frames`` frames ``sampling_rate`` frames apart at ``target_fps``
(the paper's 8x8 at 30 fps: 8 frames spanning 56/30 s). Sampling by time makes a
25 fps or variable-rate video give the same temporal extent as a 30 fps one.

A video is usable when one clip fits: its last frame starts at ``duration - 1/fps``,
so the clip's span must be <= ``duration - 1/fps``.
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
    to the last possible start (SlowFast's convention); one clip = the centre clip."""
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
