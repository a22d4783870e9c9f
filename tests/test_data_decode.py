import numpy as np
import pytest

from gcvideo.data.decode import VideoError, decode_at, probe
from videos import BAD, UNUSUAL_GOOD, frame_index


@pytest.mark.parametrize("kind", UNUSUAL_GOOD)
def test_backends_give_the_same_frames(bad_videos, kind):
    path = bad_videos[kind]
    times = [0.0, 0.4, 1.0, 1.5, 2.5]
    a, b = decode_at(path, times, "pyav"), decode_at(path, times, "decord")
    assert a.shape == b.shape and a.dtype == np.uint8 and a.shape[-1] == 3
    assert [frame_index(f) for f in a] == [frame_index(f) for f in b]
    assert np.abs(a.astype(int) - b.astype(int)).mean() < 2.0


@pytest.mark.parametrize("backend", ["pyav", "decord"])
def test_frames_are_the_ones_on_screen_at_each_time(bad_videos, backend):
    times = [0.0, 1 / 30, 0.5, 1.0 - 1e-3, 1.0, 2.95]
    got = [frame_index(f) for f in decode_at(bad_videos["good"], times, backend)]
    assert got == [0, 1, 15, 29, 30, 88]
    # variable frame rate: frames at 0, .02, .1, .13, .5, .55, .9, 1.4, 1.45, 2.0, 2.6, 3.0, 3.1 s
    got = [frame_index(f) for f in decode_at(bad_videos["vfr"], [0.01, 0.12, 0.6, 1.42, 2.99], backend)]
    assert got == [0, 2, 5, 7, 10]


def test_probe_reads_headers(bad_videos):
    info = probe(bad_videos["odd_size"])
    assert (info.width, info.height, info.fps, info.duration) == (341, 257, 30.0, 3.0)
    assert decode_at(bad_videos["odd_size"], [0.5])[0].shape == (257, 341, 3)
    assert probe(bad_videos["webm"]).duration == pytest.approx(3.0, abs=0.05)


@pytest.mark.parametrize("backend", ["pyav", "decord"])
@pytest.mark.parametrize("kind", BAD)
def test_bad_videos_raise_a_named_error(bad_videos, kind, backend):
    path = bad_videos[kind]
    with pytest.raises(VideoError) as info:
        probe(path)
        decode_at(path, [0.0, 2.5], backend)
    assert path in str(info.value)
    expected = {"missing": "missing", "zero_byte": "empty file", "audio_only": "no video stream",
                "too_short": "truncated", "not_video": "unreadable"}
    if kind in expected:
        assert info.value.reason == expected[kind]
    if kind == "truncated" and backend == "pyav":
        assert info.value.reason == "truncated" and "frames end at" in info.value.detail


def test_decord_global_bridge_is_left_alone(bad_videos):
    import decord
    import torch

    decord.bridge.set_bridge("torch")          # as pytorchvideo's decord backend does
    try:
        frames = decode_at(bad_videos["good"], [0.0, 1.0], "decord")
        assert isinstance(frames, np.ndarray)
        assert isinstance(decord.VideoReader(bad_videos["good"])[0], torch.Tensor)   # still torch
    finally:
        decord.bridge.set_bridge("native")
    decode_at(bad_videos["good"], [0.0], "decord")
    assert not isinstance(decord.VideoReader(bad_videos["good"])[0], torch.Tensor)


def test_bad_requests():
    with pytest.raises(ValueError, match="sorted"):
        decode_at("x.mp4", [1.0, 0.5])
    with pytest.raises(ValueError, match="unknown video backend"):
        decode_at("x.mp4", [0.0], backend="opencv")
