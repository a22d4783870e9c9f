import numpy as np
import pytest

from gcvideo.data.sampling import clip_span, random_clip, too_short, uniform_clips


def indices(times, fps):
    return [int(np.floor(t * fps + 1e-4)) for t in times]


def test_ten_clips_of_a_300_frame_30fps_video():
    clips = uniform_clips(duration=10.0, fps=30.0, num_frames=8, sampling_rate=8, num_clips=10)
    # last usable start: 300 frames - 1 - 56 = frame 243; starts spaced 243/9 = 27 frames
    assert [indices(c, 30)[0] for c in clips] == [27 * i for i in range(10)]
    assert indices(clips[0], 30) == [0, 8, 16, 24, 32, 40, 48, 56]
    assert indices(clips[-1], 30) == [243, 251, 259, 267, 275, 283, 291, 299]
    centre = uniform_clips(10.0, 30.0, 8, 8, 1)[0]
    assert indices(centre, 30) == [121 + 8 * k for k in range(8)]   # start 243/2 = 121.5


def test_other_frame_rates_keep_the_temporal_extent():
    clip = uniform_clips(duration=10.0, fps=25.0, num_frames=8, sampling_rate=8, num_clips=1)[0]
    assert clip_span(8, 8) == pytest.approx(56 / 30)
    assert clip[-1] - clip[0] == pytest.approx(56 / 30)
    assert indices(clip, 25)[1] - indices(clip, 25)[0] in (6, 7)   # 8/30 s at 25 fps = 6.67 frames


def test_random_clips_stay_inside_and_vary():
    rng = np.random.default_rng(0)
    starts = []
    for _ in range(200):
        t = random_clip(3.0, 30.0, 8, 8, rng)
        assert t[0] >= 0 and t[-1] <= 3.0 - 1 / 30 + 1e-9
        starts.append(t[0])
    assert max(starts) - min(starts) > 0.8


def test_too_short():
    assert too_short(10.0, 30.0, 8, 8) is None
    assert too_short(57 / 30, 30.0, 8, 8) is None            # frames 0, 8, ..., 56: 57 frames fit
    assert "one clip" in too_short(56 / 30, 30.0, 8, 8)
