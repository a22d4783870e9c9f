"""A decode that never returns (data.decode_timeout): the video is abandoned -- replaced in
training, reported as `timeout` in evaluation, predict and data check -- and the job goes on."""
import csv
import os
import shutil
import threading
import time

import pytest

from gcvideo.cli import main
from gcvideo.data import decode
from helpers import tiny_args


def test_bounded_abandons_work_that_never_returns():
    release = threading.Event()
    try:
        start = time.monotonic()
        with pytest.raises(decode.VideoError, match="timeout") as caught:
            decode.bounded("stuck.mp4", 0.5, release.wait)           # blocks until released
        assert caught.value.reason == "timeout" and time.monotonic() - start < 5
    finally:
        release.set()
    assert decode.bounded("v.mp4", 5, lambda: 42) == 42
    with pytest.raises(decode.VideoError, match="unreadable"):       # the work's own error, as it is
        decode.bounded("v.mp4", 5, lambda: (_ for _ in ()).throw(decode.VideoError("v.mp4", "unreadable")))
    assert decode.bounded("v.mp4", None, lambda: 7) == 7


@pytest.fixture
def stuck(synth_root, tmp_path, monkeypatch):
    """A copy of the generated data whose first test video (also listed for training) blocks
    forever when opened, as a decoder stuck in C code (which releases the GIL while it waits)."""
    root = tmp_path / "data"
    shutil.copytree(synth_root, root)
    row = next(csv.DictReader(open(root / "test.csv")))
    video = next(os.path.join(root, row["label"], f) for f in os.listdir(root / row["label"]) if row["youtube_id"] in f)
    with open(root / "train.csv", "a") as f:                   # one training row more: the stuck video
        f.write(f"{row['label']},{row['youtube_id']},{row['time_start']},{row['time_end']},train\n")
    release, real = threading.Event(), decode._open

    def open_or_block(path):
        if os.path.samefile(path, video):
            release.wait()
        return real(path)

    monkeypatch.setattr(decode, "_open", open_or_block)
    yield str(root), video
    release.set()


def test_every_command_finishes_and_names_the_stuck_video(stuck, tmp_path, capsys):
    root, video = stuck
    args = tiny_args(root, tmp_path / "run", epochs=1, extra=("--data.decode_timeout", "1", "--data.test_views", "1x1"))
    assert main(["fit", *args]) == 0                                 # replaced in training
    ckpt = str(tmp_path / "run" / "checkpoints" / "last.ckpt")
    assert main(["test", *args, "--ckpt_path", ckpt]) == 0
    failures = list(csv.DictReader(open(tmp_path / "run" / "test_1x1" / "failures.csv")))
    assert [os.path.basename(f["path"]) for f in failures] == [os.path.basename(video)]
    assert failures[0]["reason"].startswith("timeout")
    capsys.readouterr()
    assert main(["predict", video, "--ckpt_path", ckpt, "--views", "1x1", "--decode-timeout", "1"]) == 1
    assert "cannot predict: timeout: no result after 1 s" in capsys.readouterr().err
    assert main(["data", "check", os.path.join(root, "test.csv"), "--workers", "1", "--decode-timeout", "1",
                 "--num-frames", "4", "--sampling-rate", "2",
                 "--out", str(tmp_path / "checked")]) == 1
    bad = list(csv.DictReader(open(tmp_path / "checked.bad.csv")))
    assert [(os.path.basename(b["path"]), b["status"]) for b in bad] == [(os.path.basename(video), "timeout")]
    assert main(["features", "--ckpt_path", ckpt, "--data", os.path.join(root, "test.csv"), "--out",
                 str(tmp_path / "features"), "--decode-timeout", "1"]) == 1          # 1: a video failed
    rows = list(csv.DictReader(open(tmp_path / "features" / "index.csv")))
    failed = [r for r in rows if r["status"] != "ok"]
    assert [(os.path.basename(r["path"]), r["reason"][:7]) for r in failed] == [(os.path.basename(video), "timeout")]
    tops = [[pair.rsplit(":", 1) for pair in r["top"].split(";")] for r in rows if r["status"] == "ok"]
    assert tops and all(len(top) == 4 and all(0 <= float(p) <= 1 for _, p in top) for top in tops)   # 4 classes


def test_a_pipe_nobody_writes_is_reported_not_waited_for(tmp_path):
    """A named pipe opened for reading blocks until a writer comes: it is never opened (it has no
    size), so a scan reports it at once."""
    if not hasattr(os, "mkfifo"):
        pytest.skip("no named pipes here")
    pipe = tmp_path / "pipe.mp4"
    os.mkfifo(pipe)
    start = time.monotonic()
    with pytest.raises(decode.VideoError, match="empty"):
        decode.probe(str(pipe), timeout=30)
    assert time.monotonic() - start < 5


def test_every_command_bounds_decodes_by_the_one_default():
    """data check's default is written out (its module imports no torch before it runs); it is
    the decoder's."""
    import inspect

    from gcvideo.engine.datamodule import KineticsDataModule
    from gcvideo.tools.data import run_data_check
    from gcvideo.tools.features import run_features
    from gcvideo.tools.predict import run_predict

    for function, name in ((run_data_check, "decode_timeout"), (run_predict, "decode_timeout"),
                           (run_features, "decode_timeout"),
                           (KineticsDataModule.__init__, "decode_timeout")):
        assert inspect.signature(function).parameters[name].default == decode.DEFAULT_TIMEOUT, function
