"""``gcvideo data prepare``: a re-encoded copy of a collection for training."""
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from gcvideo.cli import main
from gcvideo.data.decode import decode_at, probe
from gcvideo.data.prepare import even_size
from gcvideo.data.records import load_records
from videos import BAD, UNUSUAL_GOOD, frame_index, ramp_frames, write_rotated


def key_frames(path):
    import av

    with av.open(path) as container:
        stream = container.streams.video[0]
        packets = [p for p in container.demux(stream) if p.size]
        return [i for i, p in enumerate(packets) if p.is_keyframe], len(container.streams.audio)


@pytest.fixture
def collection(bad_videos, tmp_path):
    """SRC with every kind of good and bad video, a rotated one, and a path-label list over them."""
    src = tmp_path / "src"
    (src / "clips").mkdir(parents=True)
    names = {}
    for kind in UNUSUAL_GOOD + BAD:
        name = f"{kind}{os.path.splitext(bad_videos[kind])[1]}"
        if os.path.exists(bad_videos[kind]):
            shutil.copy(bad_videos[kind], src / "clips" / name)
        names[kind] = f"clips/{name}"
    write_rotated(str(src / "clips" / "rotated.mp4"), ramp_frames(45, 48, 64), 90)
    names["rotated"] = "clips/rotated.mp4"
    (src / "list.txt").write_text("".join(f"{names[k]} {k}\n" for k in names))
    return src, names


def test_prepare_writes_verified_training_copies_and_reports_bad_sources(collection, tmp_path, capsys):
    src, names = collection
    dst = tmp_path / "dst"
    code = main(["data", "prepare", str(src), str(dst), "--list", str(src / "list.txt"), "--short-side", "32",
                 "--gop", "8", "--jobs", "2", "--json"])
    assert code == 1                                               # some sources were bad
    summary = json.loads(capsys.readouterr().out)
    good = [k for k in names if k not in BAD or k == "too_short"]
    assert summary["done"] == len(good) and summary["bad"] == len(BAD) - 1
    for kind in good:
        out = dst / (os.path.splitext(names[kind])[0] + ".mp4")
        info = probe(str(out))
        assert min(info.width, info.height) == 32 and info.width % 2 == 0 and info.height % 2 == 0, kind
        keys, audio = key_frames(str(out))
        assert keys == list(range(0, keys[-1] + 1, 8)) and audio == 0, kind
    assert probe(str(dst / "clips" / "odd_size.mp4")).width == 42                 # 341x257 -> 42x32, even
    assert probe(str(dst / "clips" / "webm.mp4")).duration == pytest.approx(3.0, abs=0.05)
    # the rotated phone video is stored upright: no player needs the display matrix any more
    shown = decode_at(str(dst / "clips" / "rotated.mp4"), [0.5])[0]
    expected = np.rot90(ramp_frames(45, 48, 64)[15], 1)
    assert shown.shape == (*even_size(64, 48, 32), 3) == (44, 32, 3)
    assert np.abs(shown.astype(int) - _resize(expected, shown.shape[:2]).astype(int)).mean() < 12
    # frames keep their times: the frame on screen at t is the source's
    for kind in ("good", "vfr"):
        times = [0.0, 0.5, 1.0, 1.42, 2.99]
        a = [frame_index(f) for f in decode_at(str(src / names[kind]), times)]
        b = [frame_index(f) for f in decode_at(str(dst / "clips" / f"{kind}.mp4"), times, short_side=48)]
        assert a == b, kind
    report = {row["path"]: row["status"] for row in csv.DictReader(open(dst / "prepare.bad.csv"))}
    assert report == {str(src / names[k]): {"missing": "missing", "truncated": "truncated"}.get(k, "unreadable")
                      for k in BAD if k != "too_short"}
    # the rewritten list names exactly the prepared videos, with their .mp4 paths, and they all check ok
    rewritten = (dst / "list.txt").read_text().splitlines()
    assert rewritten == [f"{os.path.splitext(names[k])[0]}.mp4 {k}" for k in names if k in good]
    assert [r.path for r in load_records(str(dst / "list.txt"))] == [str(dst / f"{os.path.splitext(names[k])[0]}.mp4")
                                                                     for k in names if k in good]
    capsys.readouterr()
    assert main(["data", "check", str(dst / "list.txt"), "--num-frames", "2", "--sampling-rate", "2",
                 "--workers", "1"]) == 0


def _resize(image, size):
    import torch
    from torchvision.transforms.v2 import functional as TF

    return TF.resize(torch.from_numpy(image.copy()).permute(2, 0, 1), list(size), antialias=True).permute(1, 2, 0).numpy()


def test_constant_fps_and_kinetics_csv_are_rewritten(synth_root, tmp_path, capsys):
    dst = tmp_path / "dst"
    assert main(["data", "prepare", synth_root, str(dst), "--list", f"{synth_root}/val.csv", "--fps", "25",
                 "--short-side", "24", "--jobs", "1"]) == 0
    assert (dst / "val.csv").read_text() == open(f"{synth_root}/val.csv").read()         # every row prepared
    records = load_records(str(dst / "val.csv"))
    assert records.present.all() and all(p.endswith(".mp4") and p.startswith(str(dst)) for p in
                                         (records.path(i) for i in range(len(records))))
    info = probe(records.path(0))
    assert info.fps == 25 and min(info.width, info.height) == 24
    assert main(["data", "prepare", synth_root, str(dst), "--list", f"{synth_root}/val.csv", "--fps", "25",
                 "--short-side", "24", "--jobs", "1"]) == 0
    assert f"0 prepared, {len(records)} already there" in capsys.readouterr().out


def test_an_interrupted_run_resumes_to_the_same_files(synth_root, tmp_path):
    """Killed midway (kill -9), a re-run finishes the job; every file equals an uninterrupted run's,
    and no file under a final name was ever incomplete."""
    args = ["--list", f"{synth_root}/train.csv", "--short-side", "24", "--jobs", "1"]
    clean, resumed = tmp_path / "clean", tmp_path / "resumed"
    assert main(["data", "prepare", synth_root, str(clean), *args, "--json"]) == 0
    finals = sorted(os.path.relpath(p, clean) for p in _videos(clean))
    assert len(finals) == 12
    cmd = [sys.executable, "-m", "gcvideo.cli", "data", "prepare", synth_root, str(resumed), *args, "--json"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while len(_videos(resumed)) < 4 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = _videos(resumed)
    assert 4 <= len(done) < 12, "the run was not interrupted midway"
    for path in done:                      # whatever carries a final name is complete
        assert probe(path).duration == pytest.approx(probe(str(clean / os.path.relpath(path, resumed))).duration)
    assert main(["data", "prepare", synth_root, str(resumed), *args, "--json"]) == 0
    assert sorted(os.path.relpath(p, resumed) for p in _videos(resumed)) == finals
    for rel in finals:
        assert (resumed / rel).read_bytes() == (clean / rel).read_bytes(), rel
    assert not [n for _, _, files in os.walk(resumed) for n in files if ".tmp-" in n]   # leftovers removed
    assert (resumed / "train.csv").read_text() == (clean / "train.csv").read_text()


def _videos(root):
    return [os.path.join(d, n) for d, _, files in os.walk(root) for n in files if n.endswith(".mp4")]


def test_bad_arguments_are_one_line(synth_root, tmp_path, capsys):
    assert main(["data", "prepare", synth_root, synth_root]) == 2
    assert "is SRC" in capsys.readouterr().err
    (tmp_path / "a_file").write_text("")
    assert main(["data", "prepare", synth_root, str(tmp_path / "a_file" / "dst")]) == 2
    assert "cannot write to" in capsys.readouterr().err
    assert main(["data", "prepare", str(tmp_path / "nope"), str(tmp_path / "dst")]) == 2
    assert "source folder not found" in capsys.readouterr().err


def test_dst_that_is_src_through_a_link_or_inside_it_is_refused(synth_root, tmp_path, capsys):
    """DST a symlink to SRC (or a folder inside SRC): refused before anything is written into SRC."""
    src = tmp_path / "src"
    shutil.copytree(synth_root, src)
    before = {p: os.path.getmtime(os.path.join(d, p)) for d, _, files in os.walk(src) for p in files}
    link = tmp_path / "link"
    link.symlink_to(src)
    assert main(["data", "prepare", str(src), str(link), "--list", str(src / "train.csv")]) == 2
    assert "is SRC" in capsys.readouterr().err
    assert main(["data", "prepare", str(src), str(src / "prepared")]) == 2          # a class-folder tree
    assert "inside SRC" in capsys.readouterr().err
    after = {p: os.path.getmtime(os.path.join(d, p)) for d, _, files in os.walk(src) for p in files}
    assert after == before and not os.path.exists(src / ".gcvideo.lock")


def test_a_list_in_dst_is_never_rewritten_over(synth_root, tmp_path, capsys):
    dst = tmp_path / "dst"
    dst.mkdir()
    listing = dst / "train.csv"
    shutil.copy(os.path.join(synth_root, "train.csv"), listing)
    text = listing.read_text()
    assert main(["data", "prepare", synth_root, str(dst), "--list", str(listing)]) == 2
    assert "is in DST" in capsys.readouterr().err
    assert listing.read_text() == text
