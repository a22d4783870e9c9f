import csv
import json

import pytest

from gcvideo.cli import main
from gcvideo.data.check import check_videos
from gcvideo.data.records import VideoRecord
from videos import BAD, UNUSUAL_GOOD


def test_every_kind_is_classified(bad_videos):
    records = [VideoRecord(bad_videos[k], "x", k) for k in UNUSUAL_GOOD + BAD]
    results = check_videos(records, workers=2, progress=False, num_frames=8, sampling_rate=8)
    status = {r.path: r.status for r in results}
    assert [status[bad_videos[k]] for k in UNUSUAL_GOOD] == ["ok"] * len(UNUSUAL_GOOD)
    assert status[bad_videos["missing"]] == "missing"
    assert status[bad_videos["too_short"]] == "too short"
    assert status[bad_videos["truncated"]] == "truncated"
    for kind in ("zero_byte", "not_video", "audio_only"):
        assert status[bad_videos[kind]] == "unreadable"
    reasons = {r.path: r.reason for r in results}
    assert "no video stream" in reasons[bad_videos["audio_only"]]
    assert "empty file" in reasons[bad_videos["zero_byte"]]


def test_cli_writes_clean_list_and_exits_nonzero(bad_videos, tmp_path, capsys):
    lines = [f"{bad_videos[k]} {k}" for k in ("good", "webm", "missing", "zero_byte")]
    (tmp_path / "list.txt").write_text("\n".join(lines) + "\n")
    assert main(["data", "check", str(tmp_path / "list.txt"), "--json", "--workers", "1"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["counts"] == {"ok": 2, "missing": 1, "unreadable": 1}
    clean = open(report["clean"]).read().split("\n")
    assert [line.split()[1] for line in clean if line] == ["good", "webm"]
    bad_rows = list(csv.DictReader(open(report["bad"])))
    assert {r["status"] for r in bad_rows} == {"missing", "unreadable"}
    assert [(b["path"], b["status"]) for b in report["bad_videos"]] == [(r["path"], r["status"]) for r in bad_rows]


def test_cli_on_generated_kinetics_csv(synth_root, capsys, tmp_path):
    out = str(tmp_path / "val")
    assert main(["data", "check", f"{synth_root}/val.csv", "--num-frames", "8", "--sampling-rate", "2",
                 "--out", out]) == 0
    text = capsys.readouterr().out
    assert "4/4 ok" in text and "too short" in text
    rows = list(csv.DictReader(open(out + ".clean.csv")))
    assert len(rows) == 4 and list(rows[0]) == ["label", "youtube_id", "time_start", "time_end", "split"]


def test_clean_list_is_the_inputs_own_ok_rows_for_a_headerless_csv(synth_root, tmp_path, capsys):
    """The clean list of a headerless path,label CSV holds exactly its good rows (the first row is a
    video, not a header)."""
    import glob
    import shutil

    videos = sorted(glob.glob(f"{synth_root}/*/*.mp4"))[:3]
    for name, video in zip("abc", videos):
        shutil.copy(video, tmp_path / f"{name}.mp4")
    lines = ["missing1.mp4,alpha\n", "a.mp4,alpha\n", "b.mp4,beta\n", "missing2.mp4,beta\n", "c.mp4,beta\n"]
    (tmp_path / "list.csv").write_text("".join(lines))
    assert main(["data", "check", str(tmp_path / "list.csv"), "--num-frames", "4", "--sampling-rate", "2"]) == 1
    assert (tmp_path / "list.clean.csv").read_text() == "".join(lines[i] for i in (1, 2, 4))
    bad = [row["path"] for row in csv.DictReader(open(tmp_path / "list.bad.csv"))]
    assert [p.rsplit("/", 1)[1] for p in bad] == ["missing1.mp4", "missing2.mp4"]
    capsys.readouterr()
    # round trip: the clean list checks 100 % ok
    assert main(["data", "check", str(tmp_path / "list.clean.csv"), "--num-frames", "4", "--sampling-rate", "2"]) == 0
    assert "3/3 ok" in capsys.readouterr().out


def test_round_trip_for_paths_and_class_names_with_spaces_and_commas(synth_root, tmp_path, capsys):
    """A class-folder tree whose class names hold spaces reads back its own clean list as all ok, and
    a path with a comma is found."""
    import glob
    import shutil

    videos = sorted(glob.glob(f"{synth_root}/*/*.mp4"))[:4]
    tree = tmp_path / "tree"
    for i, video in enumerate(videos):
        folder = tree / ("playing guitar" if i % 2 else "rock, paper")
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(video, folder / f"clip, {i}.mp4")
    options = ["--num-frames", "4", "--sampling-rate", "2", "--workers", "1"]
    assert main(["data", "check", str(tree), "--out", str(tmp_path / "tree"), *options]) == 0
    assert "4/4 ok" in capsys.readouterr().out
    assert main(["data", "check", str(tmp_path / "tree.clean.txt"), *options, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["counts"] == {"ok": 4}
    (tmp_path / "rel.txt").write_text("tree/rock, paper/clip, 0.mp4 rock\n")
    assert main(["data", "check", str(tmp_path / "rel.txt"), *options]) == 0


def test_an_unwritable_output_place_is_refused_before_scanning(synth_root, tmp_path, capsys, monkeypatch):
    """An output place data check cannot write is refused before any video is scanned."""
    import gcvideo.data.check as check

    monkeypatch.setattr(check, "check_videos", lambda *a, **k: pytest.fail("scanned"))
    (tmp_path / "a_file").write_text("")
    out = tmp_path / "a_file" / "train"
    assert main(["data", "check", f"{synth_root}/train.csv", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "cannot write to" in err and str(tmp_path / "a_file") in err and "--out" in err


def test_full_finds_damage_in_the_middle_that_three_frames_miss(tmp_path, capsys):
    """Four bytes inverted inside frame 37's packet (key frames every 8): the decoder conceals the
    damage, so the start/middle/end check passes the video; --full decodes every frame with the
    decoder stopping at any error and names where the decodable frames end."""
    import av
    import numpy as np

    from gcvideo.data.synth import write_video

    path = str(tmp_path / "damaged.mp4")
    write_video(path, np.random.default_rng(0).integers(0, 255, (64, 48, 64, 3), dtype=np.uint8), options={"g": "8"})
    with av.open(path) as container:
        packets = sorted(((p.pts, p.pos, p.size) for p in container.demux(video=0) if p.size), key=lambda p: p[0])
    data = bytearray(open(path, "rb").read())
    _, pos, size = packets[37]
    at = pos + int(0.3 * size)
    data[at:at + 4] = bytes(255 - b for b in data[at:at + 4])
    open(path, "wb").write(bytes(data))
    (tmp_path / "list.txt").write_text(f"{path} x\n")
    options = ["--num-frames", "4", "--sampling-rate", "2", "--workers", "1", "--json"]
    assert main(["data", "check", str(tmp_path / "list.txt"), *options, "--out", str(tmp_path / "a")]) == 0
    capsys.readouterr()
    assert main(["data", "check", str(tmp_path / "list.txt"), *options, "--full", "--out", str(tmp_path / "b")]) == 1
    bad = json.loads(capsys.readouterr().out)["bad_videos"]
    assert [b["status"] for b in bad] == ["corrupt"] and "decoding stops after 3" in bad[0]["reason"]
