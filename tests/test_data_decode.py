import numpy as np
import pytest

from gcvideo.data.decode import VideoError, backend_missing, decode_at, probe
from videos import BAD, UNUSUAL_GOOD, frame_index

# torchcodec needs FFmpeg's shared libraries (.ci/run installs them where it can): its tests say why they skip
TORCHCODEC = pytest.param("torchcodec", marks=pytest.mark.skipif(backend_missing("torchcodec") is not None,
                                                                 reason=str(backend_missing("torchcodec"))))
# NVDEC needs CUDA and torchcodec's CUDA build: tests/test_data_decode_cuda.py holds the rest of its tests
TORCHCODEC_CUDA = pytest.param("torchcodec-cuda", marks=pytest.mark.skipif(
    backend_missing("torchcodec-cuda") is not None, reason=str(backend_missing("torchcodec-cuda"))))
BACKENDS = ["pyav", "decord", TORCHCODEC]


@pytest.mark.parametrize("other", ["decord", TORCHCODEC])
@pytest.mark.parametrize("kind", UNUSUAL_GOOD)
def test_backends_give_the_same_frames(bad_videos, kind, other):
    path = bad_videos[kind]
    times = [0.0, 0.4, 1.0, 1.5, 2.5]
    a, b = decode_at(path, times, "pyav"), decode_at(path, times, other)
    assert a.shape == b.shape and a.dtype == np.uint8 and a.shape[-1] == 3
    assert [frame_index(f) for f in a] == [frame_index(f) for f in b]
    assert np.abs(a.astype(int) - b.astype(int)).mean() < 2.0


@pytest.mark.parametrize("backend", BACKENDS)
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


@pytest.mark.parametrize("backend", BACKENDS)
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


@pytest.mark.parametrize("degrees", [90, -90, 180])
@pytest.mark.parametrize("backend", BACKENDS)
def test_rotated_videos_come_out_as_a_player_shows_them(tmp_path, degrees, backend):
    """Phone videos (display matrix) come out upright in both backends."""
    from videos import ramp_frames, write_rotated

    source = ramp_frames(45, 48, 64)
    path = str(tmp_path / f"rot{degrees}.mp4")
    write_rotated(path, source, degrees)
    frames = decode_at(path, [0.0, 0.5, 1.0], backend)
    expected = np.stack([np.rot90(source[i], degrees // 90) for i in (0, 15, 30)])
    assert frames.shape == expected.shape
    assert np.abs(frames.astype(int) - expected.astype(int)).mean() < 3.0
    shown = decode_at(path, [0.5], backend, short_side=24)[0]        # scaled after turning
    assert min(shown.shape[:2]) == 24 and (shown.shape[0] > shown.shape[1]) == (abs(degrees) == 90)


def test_decord_falls_back_to_pyav_with_a_logged_reason(tmp_path, caplog):
    """Where decord cannot read a valid video (16 pixels wide), pyav decodes it and the reason is logged."""
    from gcvideo.data.synth import write_video
    from videos import ramp_frames

    path = str(tmp_path / "narrow.mp4")
    write_video(path, ramp_frames(30, 48, 64)[:, :16, :16].copy())
    with caplog.at_level("WARNING", logger="gcvideo.data"):
        a, b = decode_at(path, [0.0, 0.5], "decord"), decode_at(path, [0.0, 0.5], "pyav")
        decode_at(path, [0.0], "decord")
    assert np.array_equal(a, b) and a.shape == (2, 16, 16, 3)
    assert sum(f"decord cannot decode {path}" in r.message for r in caplog.records) == 1   # once per file


def test_backends_agree_at_ntsc_frame_boundaries(tmp_path):
    """On a 30000/1001 fps video (t = 0.1 s lies 1e-4 s before frame 3) every 30 fps sampling time
    picks the same frame in both backends."""
    from videos import write_ntsc

    path = str(tmp_path / "ntsc.mp4")
    write_ntsc(path, n=255)
    times = np.arange(250) / 30.0
    expected = [int(np.floor(t * 30000 / 1001 + 1e-9)) for t in times]    # last frame started at t
    for backend in ("pyav", "decord") + (("torchcodec",) if backend_missing("torchcodec") is None else ()):
        got = [frame_index(f) for f in decode_at(path, times, backend)]
        assert got == expected, backend
    assert expected[3] == 2


@pytest.mark.parametrize("backend", BACKENDS)
def test_frames_scaled_one_by_one_equal_the_scaled_stack(bad_videos, backend):
    """Scaling each frame as it is decoded (memory bounded by one source frame) gives
    exactly the pixels of scaling the decoded stack."""
    import torch
    from torchvision.transforms.v2 import functional as TF

    path, times = bad_videos["odd_size"], [0.0, 0.2, 0.2, 1.0, 2.5]
    full = torch.from_numpy(decode_at(path, times, backend)).permute(0, 3, 1, 2)
    expected = TF.resize(full, [64, 85], antialias=True).permute(0, 2, 3, 1).numpy()
    assert np.array_equal(decode_at(path, times, backend, short_side=64), expected)


@pytest.mark.parametrize("backend", BACKENDS)
def test_frames_larger_than_needed_are_shrunk_while_decoding(tmp_path, backend):
    """max_short_side: a source above it comes out at that short side (aspect kept: memory is
    bounded for any resolution); a source at or below it comes out untouched, pixel for pixel."""
    from gcvideo.data.decode import decode_at, working_size
    from gcvideo.data.synth import write_video

    path = str(tmp_path / "big.mp4")
    rng = np.random.default_rng(0)
    write_video(path, rng.integers(0, 255, (3, 480, 640, 3), dtype=np.uint8))
    small = decode_at(path, [0.0, 0.05], backend, max_short_side=120)
    assert small.shape == (2, 120, 160, 3)
    whole = decode_at(path, [0.0, 0.05], backend)
    assert np.array_equal(decode_at(path, [0.0, 0.05], backend, max_short_side=480), whole)
    assert abs(small.astype(float).mean() - whole.astype(float).mean()) < 3      # the same picture, smaller
    assert working_size(320) == 640


@pytest.mark.skipif(backend_missing("torchcodec") is not None, reason=str(backend_missing("torchcodec")))
def test_torchcodec_gives_pyavs_pixels_on_a_real_video():
    """The 720p trailer (B-frames, long GOPs, a stream that starts at 0.125 s): every frame time of the
    gcvideo protocol's range decodes to PyAV's pixels, scaled or not."""
    path = "tests/data/bbb_trailer_720p.mp4"
    info = probe(path)
    times = np.linspace(0, info.duration - info.frame_duration, 41)
    for short_side in (None, 128):
        a = decode_at(path, times, "pyav", short_side=short_side)
        b = decode_at(path, times, "torchcodec", short_side=short_side)
        assert np.array_equal(a, b), short_side


def test_a_backend_that_cannot_load_is_refused_in_one_line(monkeypatch):
    import builtins

    real = builtins.__import__

    def no_torchcodec(name, *args, **kwargs):
        if name.startswith("torchcodec"):
            raise RuntimeError("Could not load libtorchcodec. Likely causes:\n 1. FFmpeg is not properly installed")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_torchcodec)
    message = backend_missing("torchcodec")
    assert message.startswith("data.backend torchcodec cannot load (Could not load libtorchcodec") and "\n" not in message
    assert "pip install torchcodec" in message and "libavcodec" in message
    assert backend_missing("pyav") is None


@pytest.mark.skipif(backend_missing("torchcodec") is not None, reason=str(backend_missing("torchcodec")))
def test_a_torchcodec_that_imports_but_cannot_decode_is_refused_once(monkeypatch):
    """An imported torchcodec whose FFmpeg did not load keeps stand-in operators that fail at the
    first decode (seen on the H200: "the JSON object must be str ... not tuple" for every video of
    a fit): the check decodes a generated video, so the backend is refused in one line instead of
    every video being reported unreadable."""
    from torchcodec.decoders import VideoDecoder

    from gcvideo.data import decode

    def broken(self, index):
        raise TypeError("the JSON object must be str, bytes or bytearray, not tuple")

    decode._torchcodec_self_test.cache_clear()
    monkeypatch.setattr(VideoDecoder, "get_frame_at", broken)
    try:
        message = backend_missing("torchcodec")
        assert message.startswith("data.backend torchcodec cannot decode a test video in this process (TypeError: "
                                  "the JSON object must be str") and "\n" not in message
    finally:
        decode._torchcodec_self_test.cache_clear()


@pytest.mark.parametrize("other", [TORCHCODEC, TORCHCODEC_CUDA])
@pytest.mark.parametrize("kind", BAD)
def test_torchcodec_names_a_broken_file_as_pyav_does(bad_videos, kind, other):
    """Decoded directly (no probe first), each broken file gets PyAV's reason (NVDEC's too: a file it
    cannot decode goes to the CPU decoder, which names it)."""
    reasons = []
    for backend in ("pyav", other):
        with pytest.raises(VideoError) as caught:
            decode_at(bad_videos[kind], [0.0, 2.5], backend)
        reasons.append(caught.value.reason)
    assert reasons[0] == reasons[1]


@pytest.mark.skipif(backend_missing("torchcodec") is not None, reason=str(backend_missing("torchcodec")))
def test_training_with_torchcodec_is_training_with_pyav(synth_root, tmp_path):
    """The same frames: one epoch with data.backend torchcodec ends with PyAV's weights, bit for bit."""
    import torch

    from gcvideo.cli import main
    from helpers import tiny_args

    weights = {}
    for backend in ("pyav", "torchcodec"):
        run = tmp_path / backend
        assert main(["fit", *tiny_args(synth_root, run, epochs=1), "--data.backend", backend,
                     "--trainer.limit_val_batches", "0"]) == 0
        weights[backend] = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)["state_dict"]
    assert weights["pyav"].keys() == weights["torchcodec"].keys()
    assert all(torch.equal(weights["pyav"][k], weights["torchcodec"][k]) for k in weights["pyav"])


def test_a_backend_that_cannot_load_stops_the_command_in_one_line(synth_root, tmp_path, capsys, monkeypatch):
    from gcvideo.cli import main
    from gcvideo.data import decode
    from helpers import tiny_args

    monkeypatch.setattr(decode, "backend_missing", lambda b: None if b != "torchcodec" else
                        "data.backend torchcodec cannot load (no FFmpeg); it needs " + decode.TORCHCODEC_NEEDS)
    monkeypatch.setattr("gcvideo.engine.datamodule.backend_missing", decode.backend_missing)
    assert main(["fit", *tiny_args(synth_root, tmp_path / "run"), "--data.backend", "torchcodec"]) == 2
    err = capsys.readouterr().err
    assert "data.backend torchcodec cannot load (no FFmpeg)" in err and "Traceback" not in err


def test_loader_workers_decode_with_one_thread_and_the_same_frames(synth_root, monkeypatch):
    """In loader workers PyAV decodes with one thread (the workers already fill the cores; FFmpeg's
    automatic threads on top oversubscribe them): the workers' flag is set by worker_init, the
    main process keeps FFmpeg's threads, and the frames are the same either way."""
    import av
    import torch

    from gcvideo.data import decode
    from gcvideo.engine.datamodule import worker_init

    class Flag(torch.utils.data.Dataset):
        def __len__(self):
            return 2

        def __getitem__(self, i):
            return decode._THREADS["one"]

    loader = torch.utils.data.DataLoader(Flag(), batch_size=None, num_workers=1, worker_init_fn=worker_init)
    assert list(loader) == [True, True] and decode._THREADS["one"] is False
    path = "tests/data/bbb_trailer_720p.mp4"
    times = [0.5, 1.0, 3.0, 3.1]
    threaded = decode_at(path, times)
    monkeypatch.setitem(decode._THREADS, "one", True)
    with av.open(path) as container:
        stream = container.streams.video[0]
        decode._set_threads(stream)
        assert stream.codec_context.thread_count == 1
    assert np.array_equal(decode_at(path, times), threaded)
