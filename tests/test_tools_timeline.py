"""``gcvideo predict VIDEO --timeline``: the model slid over a whole video."""
import csv
import json
import os

import numpy as np
import pytest
import torch
from torch import nn

from gcvideo.cli import main
from gcvideo.data.spec import InputSpec
from gcvideo.tools import predict
from gcvideo.tools.timeline import window_starts
from videos import write_two_halves

DATA = {"num_frames": 4, "sampling_rate": 2, "target_fps": 30.0, "eval_short_side": 48, "test_crop_size": 48,
        "crop_size": 48, "backend": "pyav"}


class ColourNet(nn.Module):
    """Logits of "red" and "green" from the clip's mean colour: a network whose answer is known."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        red, green = x[:, 0].mean((1, 2, 3)), x[:, 1].mean((1, 2, 3))
        return torch.stack([red - green, green - red], -1) * 5


@pytest.fixture
def colour_classifier(monkeypatch):
    from gcvideo.engine.module import VideoClassifier

    module = VideoClassifier("slow_r50", {"depths": [1, 1, 1, 1], "width": 4}, num_classes=2,
                             classes=["red", "green"], view_batch=4)
    module.model = ColourNet()
    spec = InputSpec.from_options(DATA)
    monkeypatch.setattr(predict, "load_classifier", lambda path, trust=False: (module.eval(), spec))
    return module


def test_windows_cover_the_video():
    assert window_starts(1.0, 2.0, 1.0) == [0.0]
    assert window_starts(4.0, 1.0, 1.0) == [0.0, 1.0, 2.0, 3.0]
    assert window_starts(4.5, 1.0, 2.0) == [0.0, 2.0, 3.5]                 # the last window ends at the end


def test_a_change_of_class_is_found_within_one_window(colour_classifier, tmp_path, capsys):
    video = str(tmp_path / "halves.mp4")
    change = write_two_halves(video, seconds=4.0)
    out = tmp_path / "timeline"
    assert main(["predict", video, "--ckpt_path", "unused.ckpt", "--timeline", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "top class from: 0.0 s red" in printed and "green" in printed
    from gcvideo.data.decode import probe

    rows = list(csv.DictReader(open(out / "timeline.csv")))
    window, duration = 4 * 2 / 30, probe(video).duration
    assert len(rows) == len(window_starts(duration, window, window)) >= 15
    assert float(rows[-1]["end"]) == pytest.approx(duration, abs=1e-3)
    first_green = next(float(r["start"]) for r in rows if r["top1"] == "green")
    assert abs(first_green - change) <= window
    assert all(r["top1"] == "red" for r in rows if float(r["end"]) <= change)
    data = json.load(open(out / "timeline.json"))
    assert data["window"] == pytest.approx(window) and len(data["windows"]) == len(rows)
    from PIL import Image

    assert Image.open(out / "timeline.png").size[0] >= 800


def test_720p_with_audio_and_a_variable_frame_rate(colour_classifier, tmp_path, capsys):
    video = str(tmp_path / "phone.mp4")
    write_two_halves(video, seconds=2.0, height=720, width=1280, audio=True, vfr=True)
    out = tmp_path / "t"
    assert main(["predict", video, "--ckpt_path", "unused.ckpt", "--timeline", "--window", "0.5",
                 "--stride", "0.25", "--out", str(out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    starts = [w["start"] for w in result["windows"]]
    assert starts == sorted(starts) and len(starts) == len(window_starts(result["duration"], 0.5, 0.25)) >= 7
    assert result["windows"][0]["top"][0][0] == "red"
    assert result["windows"][-1]["top"][0][0] == "green"


def test_timeline_options_are_checked(colour_classifier, tmp_path):
    video = str(tmp_path / "v.mp4")
    write_two_halves(video, seconds=1.0)
    assert main(["predict", video, "--ckpt_path", "x", "--window", "1"]) == 2               # needs --timeline
    assert main(["predict", video, "--ckpt_path", "x", "--timeline", "--window", "-1"]) == 2
    assert main(["predict", str(tmp_path / "missing.mp4"), "--ckpt_path", "x", "--timeline",
                 "--out", str(tmp_path / "o")]) == 1


REAL_VIDEO = os.path.join(os.path.dirname(__file__), "data", "bbb_trailer_720p.mp4")


def frames_in_order(path: str) -> tuple[np.ndarray, list]:
    """Every frame's display time and RGB array, decoded front to back with PyAV (no seeking)."""
    import av

    with av.open(path) as container:
        stream = container.streams.video[0]
        base = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
        shown = sorted((float(f.pts * f.time_base) - base, f.to_ndarray(format="rgb24"))
                       for f in container.decode(stream) if f.pts is not None)
    return np.array([t for t, _ in shown]), [a for _, a in shown]


@pytest.mark.parametrize("backend", ["pyav", "decord"])
def test_a_real_video_gets_the_frames_on_screen_in_every_window(colour_classifier, tmp_path, monkeypatch, backend):
    """A real 720p H.264 file (B-frames, key frames seconds apart, an audio track): each window's
    scores are those of the frames on screen at its clip's times, found here by decoding the whole
    file front to back, and the windows cover the video to its end."""
    if backend == "decord":
        pytest.importorskip("decord")
    from gcvideo.data import transforms
    from gcvideo.data.decode import probe
    from gcvideo.tools.timeline import window_clip_times

    # short side 360: the 720p frames are decoded at full size (within twice the short side), as the
    # front-to-back decode below sees them
    data = InputSpec.from_options(dict(DATA, backend=backend, eval_short_side=360, test_crop_size=64))
    monkeypatch.setattr(predict, "load_classifier", lambda path, trust=False: (colour_classifier.eval(), data))
    out = tmp_path / "t"
    assert main(["predict", REAL_VIDEO, "--ckpt_path", "unused.ckpt", "--timeline", "--window", "1",
                 "--stride", "0.75", "--out", str(out)]) == 0
    rows = list(csv.DictReader(open(out / "timeline.csv")))
    info = probe(REAL_VIDEO)
    assert (info.width, info.height) == (1280, 720) and info.duration > 9
    assert len(rows) == len(window_starts(info.duration, 1.0, 0.75)) == 12
    assert float(rows[0]["start"]) == 0 and float(rows[-1]["end"]) == pytest.approx(info.duration, abs=1e-3)
    times, frames = frames_in_order(REAL_VIDEO)
    for row in rows:
        at = window_clip_times(float(row["start"]), 1.0, data, info.duration, info.fps)
        shown = np.stack([frames[max(0, np.searchsorted(times, t + 1e-6, side="right") - 1)] for t in at])
        clip = transforms.to_cthw(transforms.center_crop(shown, 360, 64)).unsqueeze(0)
        probs = ColourNet()(transforms.normalize_clips(clip)).softmax(-1)[0]
        top = int(probs.argmax())
        assert row["top1"] == ["red", "green"][top], row
        assert float(row["score1"]) == pytest.approx(float(probs[top]), abs=1e-5), row
    assert {r["top1"] for r in rows} == {"red", "green"}         # the scenes differ in colour


def test_the_timeline_keeps_no_decoded_window(colour_classifier, tmp_path):
    """What the timeline holds between windows is its rows and small thumbnails of their own, never
    a view into a decoded window (which would keep all its frames alive: memory would grow with
    the video up to 64 windows' frames)."""
    from gcvideo.tools.timeline import timeline

    video = str(tmp_path / "v.mp4")
    write_two_halves(video, seconds=3.0, height=360, width=640)
    result = timeline(video, colour_classifier.eval(), InputSpec.from_options(DATA), window=0.1, stride=0.1, progress=False)
    assert len(result["windows"]) >= 30
    assert 8 <= len(result["thumbnails"]) <= 64
    for _, image in result["thumbnails"]:
        assert image.base is None and image.nbytes <= 64 * 64 * 3 * 4, image.shape


def test_timeline_options_are_taken_as_given_or_refused(colour_classifier, tmp_path, capsys):
    """--window 0 / --stride 0 / nan are refused (not silently the defaults), --views is refused
    with --timeline, a video shorter than one clip is refused as plain predict refuses it, and
    an earlier timeline is not replaced without --overwrite."""
    from gcvideo.data.synth import write_video

    video = str(tmp_path / "halves.mp4")
    write_two_halves(video, seconds=1.0)
    out = str(tmp_path / "timeline")
    base = ["predict", video, "--ckpt_path", "unused.ckpt", "--timeline", "--out", out]
    for extra in (["--window", "0"], ["--stride", "0"], ["--window", "nan"], ["--stride", "-1"]):
        assert main([*base, *extra]) == 2
        assert "--window and --stride must be seconds > 0" in capsys.readouterr().err
    assert main([*base, "--views", "10x3"]) == 2
    assert "--views does not apply to --timeline" in capsys.readouterr().err
    assert not os.path.exists(out)
    assert main(base) == 0
    assert main(base) == 2
    assert "exists: it is not replaced unless you add --overwrite" in capsys.readouterr().err
    assert main([*base, "--overwrite"]) == 0
    short = str(tmp_path / "one_frame.mp4")
    write_video(short, np.zeros((1, 48, 64, 3), np.uint8))
    assert main(["predict", short, "--ckpt_path", "unused.ckpt", "--timeline", "--out", str(tmp_path / "s")]) == 1
    assert "too short" in capsys.readouterr().err
