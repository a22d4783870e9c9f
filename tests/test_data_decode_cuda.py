"""data.backend torchcodec-cuda: NVDEC decoding on the GPU (torchcodec's CUDA build).

Where CUDA or that build is missing the decoding tests skip, saying which; the refusal itself,
and the loaders' spawn start that CUDA decoding needs, are tested everywhere. NVDEC converts
colours with its own kernels, so frames are compared by content (the frame shown, mean level
differences of a few units), not bit for bit as the CPU backends are. That a broken file gets
PyAV's reason is tested beside the CPU torchcodec's, in test_data_decode.py.
"""
import numpy as np
import pytest

from gcvideo.data import decode
from gcvideo.data.decode import backend_missing, decode_at, probe
from videos import UNUSUAL_GOOD, frame_index

MISSING = backend_missing("torchcodec-cuda")
needs_nvdec = pytest.mark.skipif(MISSING is not None, reason=str(MISSING))


def test_torchcodec_cuda_is_refused_in_one_line_where_it_cannot_run(monkeypatch):
    import torch

    if backend_missing("torchcodec") is not None:
        pytest.skip(str(backend_missing("torchcodec")))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    message = backend_missing("torchcodec-cuda")
    assert message.startswith("data.backend torchcodec-cuda decodes on a CUDA GPU") and "\n" not in message
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    import torchcodec

    monkeypatch.setattr(torchcodec, "__version__", "0.11.1")          # PyPI's CPU builds
    assert "needs a CUDA build of torchcodec" in backend_missing("torchcodec-cuda")
    monkeypatch.setattr(torchcodec, "__version__", "0.16.0+cu130")
    monkeypatch.setattr(decode, "_torchcodec_self_test", lambda cuda: None)   # no GPU to decode on here
    assert backend_missing("torchcodec-cuda") is None


def test_fit_with_torchcodec_cuda_stops_in_one_line_without_cuda(synth_root, tmp_path, capsys, monkeypatch):
    import torch

    from gcvideo.cli import main
    from helpers import tiny_args

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main(["fit", *tiny_args(synth_root, tmp_path / "run"), "--data.backend", "torchcodec-cuda"]) == 2
    err = capsys.readouterr().err
    assert "data.backend torchcodec-cuda" in err and "Traceback" not in err


def test_loaders_start_their_workers_by_spawn_for_cuda_decoding(synth_root, monkeypatch):
    """CUDA cannot run in a forked child of a process that used it: torchcodec-cuda's loaders spawn
    their workers. Here the spawn start is forced on PyAV's loader: the datasets travel to spawned
    workers and the batches are those of forked ones."""
    import torch

    from gcvideo.engine.datamodule import KineticsDataModule

    assert decode.worker_context("torchcodec-cuda") == "spawn" and decode.worker_context("pyav") is None
    batches = {}
    for context in (None, "spawn"):
        dm = KineticsDataModule(synth_root, batch_size=2, num_workers=1, seed=0, num_frames=4, sampling_rate=2,
                                train_short_side=(32, 40), crop_size=32)
        monkeypatch.setattr(dm, "_worker_context", lambda context=context: context)
        loader = dm.train_dataloader()
        started = loader.multiprocessing_context
        assert (started is None) if context is None else started.get_start_method() == "spawn"
        batches[context] = next(iter(loader))
    assert torch.equal(batches[None]["video"], batches["spawn"]["video"])
    assert torch.equal(batches[None]["label"], batches["spawn"]["label"])


@needs_nvdec
@pytest.mark.parametrize("kind", UNUSUAL_GOOD)
def test_nvdec_shows_the_frames_the_cpu_shows(bad_videos, kind):
    path = bad_videos[kind]
    times = [0.0, 0.4, 1.0, 1.5, 2.5]
    a, b = decode_at(path, times, "torchcodec"), decode_at(path, times, "torchcodec-cuda")
    assert a.shape == b.shape and b.dtype == np.uint8
    assert [frame_index(f) for f in a] == [frame_index(f) for f in b]
    assert np.abs(a.astype(int) - b.astype(int)).mean() < 3.0


@needs_nvdec
def test_nvdec_frames_are_the_ones_on_screen_at_each_time(bad_videos):
    times = [0.0, 1 / 30, 0.5, 1.0 - 1e-3, 1.0, 2.95]
    assert [frame_index(f) for f in decode_at(bad_videos["good"], times, "torchcodec-cuda")] == [0, 1, 15, 29, 30, 88]
    got = decode_at(bad_videos["vfr"], [0.01, 0.12, 0.6, 1.42, 2.99], "torchcodec-cuda")
    assert [frame_index(f) for f in got] == [0, 2, 5, 7, 10]


@needs_nvdec
def test_nvdec_on_a_real_video_scaled_on_the_gpu():
    """The 720p trailer (B-frames, long GOPs): the same pictures as PyAV's, scaled or not, within a
    few levels (NVDEC's colour conversion; the GPU's antialiased resize)."""
    path = "tests/data/bbb_trailer_720p.mp4"
    info = probe(path)
    times = np.linspace(0, info.duration - info.frame_duration, 41)
    for short_side in (None, 128):
        a = decode_at(path, times, "pyav", short_side=short_side)
        b = decode_at(path, times, "torchcodec-cuda", short_side=short_side)
        assert a.shape == b.shape, short_side
        per_frame = np.abs(a.astype(int) - b.astype(int)).mean(axis=(1, 2, 3))
        assert per_frame.max() < 4.0, (short_side, per_frame.max())


@needs_nvdec
def test_training_with_nvdec_in_spawned_workers(synth_root, tmp_path):
    """One epoch on the GPU with two loader workers that decode with NVDEC: it ends, and its
    checkpoint holds finite weights."""
    import torch

    from gcvideo.cli import main
    from helpers import tiny_args

    run = tmp_path / "run"
    assert main(["fit", *tiny_args(synth_root, run, epochs=1), "--data.backend", "torchcodec-cuda",
                 "--data.num_workers", "2", "--trainer.accelerator", "gpu", "--trainer.devices", "1",
                 "--trainer.limit_val_batches", "0"]) == 0
    state = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)["state_dict"]
    assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())
