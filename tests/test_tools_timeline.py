"""``gcvideo predict VIDEO --timeline``: the model slid over a whole video."""
import csv
import json

import pytest
import torch
from torch import nn

from gcvideo.cli import main
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
    monkeypatch.setattr(predict, "load_classifier", lambda path, trust=False: (module.eval(), dict(DATA)))
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
