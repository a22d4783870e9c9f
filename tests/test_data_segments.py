"""Segment sampling (data.sampling: segments, the TSN/TSM/Something-Something convention): one
frame from each of num_frames equal segments of the whole video."""
import numpy as np
import pytest

from gcvideo.cli import main
from gcvideo.data import sampling
from gcvideo.data.multiview import decode_views
from gcvideo.data.synth import write_video
from gcvideo.engine.datamodule import KineticsDataModule
from helpers import tiny_args
from videos import frame_index, ramp_frames


def test_segments_cover_the_whole_video():
    """8 segments of a 100-frame video: training takes one frame inside each (drawn per (seed,
    epoch, video)), testing the centres, test clip k of K at (k + 1/2)/K of each; a video with
    fewer frames than segments repeats frames instead of being refused."""
    duration, fps = 100 / 25, 25.0
    centres = sampling.segment_clips(duration, fps, 8, 1)[0]
    assert np.allclose(centres * fps, 12.5 * np.arange(8) + 6.25)
    for seed in range(20):
        drawn = sampling.random_segments(duration, fps, 8, np.random.default_rng(seed)) * fps
        assert np.all((drawn >= 12.5 * np.arange(8)) & (drawn < 12.5 * np.arange(1, 9)))
    clips = sampling.segment_clips(duration, fps, 8, 3)
    assert np.all(clips[0] < clips[1]) and np.all(clips[1] < clips[2]) and np.allclose(clips[1], centres)
    short = sampling.segment_clips(4 / 25, fps, 8, 1)[0] * fps             # 4 frames, 8 segments
    assert np.all(short < 4) and len(np.unique(np.floor(short))) == 4


def test_decoded_segments_are_the_frames_of_each_segment(tmp_path):
    path = str(tmp_path / "ramp.mp4")
    write_video(path, ramp_frames(200, 48, 64), fps=25)                     # 8 s
    frames = decode_views(path, 8, 8, clips=2, crops=1, short_side=48, crop=48, sampling="segments")["frames"]
    seen = [[frame_index(f.permute(1, 2, 0).numpy()) for f in clip] for clip in frames]
    assert seen == [[int(25 * (k + 0.25)) for k in range(8)], [int(25 * (k + 0.75)) for k in range(8)]]


def test_segments_train_and_test_on_videos_shorter_than_a_window(synth_root, tmp_path, capsys):
    """The generated videos are shorter than 8 frames x 8 at 30 fps: a window does not fit (refused
    before training), segments do; the sampling is stored with the run and printed with the test."""
    args = tiny_args(synth_root, tmp_path / "run", epochs=1)
    args[args.index("--data.sampling_rate") + 1] = "8"
    args[args.index("--data.num_frames") + 1] = "8"
    assert main(["fit", *args]) == 2
    assert "holds one clip" in capsys.readouterr().err
    assert main(["fit", *args, "--data.sampling", "segments"]) == 0
    ckpt = str(tmp_path / "run" / "checkpoints" / "last.ckpt")
    assert main(["test", *args, "--data.sampling", "segments", "--data.test_views", "2x1", "--ckpt_path", ckpt]) == 0
    assert "2x1 views of 8 frames, one per segment, short side" in capsys.readouterr().out
    with pytest.raises(ValueError, match="sampling segments takes frames its own way"):
        KineticsDataModule(synth_root, sampling="segments", protocol="pyslowfast", test_views="1x3")
    with pytest.raises(ValueError, match="data.sampling must be one of window, segments"):
        KineticsDataModule(synth_root, sampling="tsn")
