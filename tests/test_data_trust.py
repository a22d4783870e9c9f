"""The data side of a run you can trust: prepare never drops a good video without saying so,
integer labels round-trip, non-UTF-8 names are read like any other, a full disk is one line,
Ctrl-C is one line and a killed parent leaves no worker."""
import errno
import os
import shutil

import pytest

from gcvideo.cli import main
from gcvideo.data.records import load_records


def first_videos(synth_root, n=2):
    return [r.path for r in load_records(os.path.join(synth_root, "train.csv"), synth_root)][:n]


def test_prepare_refuses_collisions_before_work(synth_root, tmp_path, capsys):
    src = tmp_path / "src"
    (src / "a").mkdir(parents=True)
    one, two = first_videos(synth_root)
    shutil.copy(one, src / "a" / "clip.mp4")
    shutil.copy(two, src / "a" / "clip.mkv")
    assert main(["data", "prepare", str(src), str(tmp_path / "dst")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "clip.mp4" in err[0] and "clip.mkv" in err[0] and "would both be written" in err[0]
    assert not list((tmp_path / "dst").rglob("*.mp4"))                     # nothing was written
    os.remove(src / "a" / "clip.mkv")
    for folder in ("x", "y"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "train.txt").write_text("a/clip.mp4 c0\n")
    assert main(["data", "prepare", str(src), str(tmp_path / "dst"), "--list", str(tmp_path / "x" / "train.txt"),
                 "--list", str(tmp_path / "y" / "train.txt")]) == 2
    assert "share the name train.txt" in capsys.readouterr().err


def test_prepare_stops_on_a_write_failure_and_keeps_the_source(synth_root, tmp_path, capsys, monkeypatch):
    """A write failure is not the source's fault: the run stops and the source stays good."""
    from gcvideo.data import prepare

    src = tmp_path / "src"
    (src / "c0").mkdir(parents=True)
    shutil.copy(first_videos(synth_root)[0], src / "c0" / "v.mp4")
    (src / "list.txt").write_text("c0/v.mp4 c0\n")
    real = prepare._verify

    def disk_full(path, frames):
        raise OSError(errno.ENOSPC, "No space left on device", path)

    monkeypatch.setattr(prepare, "_verify", disk_full)
    dst = tmp_path / "dst"
    assert main(["data", "prepare", str(src), str(dst), "--list", str(src / "list.txt"), "--jobs", "1"]) == 2
    err = [line for line in capsys.readouterr().err.strip().splitlines() if "preparing videos" not in line]
    assert len(err) == 1 and "No space left on device" in err[0] and "run the same command again" in err[0]
    assert not (dst / "prepare.bad.csv").exists() and not list(dst.rglob("*.mp4"))
    monkeypatch.setattr(prepare, "_verify", real)
    assert main(["data", "prepare", str(src), str(dst), "--list", str(src / "list.txt"), "--jobs", "1"]) == 0
    assert (dst / "list.txt").read_text() == "c0/v.mp4 c0\n"


def test_integer_labels_round_trip(synth_root, tmp_path, capsys):
    """Class folders 0/, 2/, 10/: data check's clean list reads back, classes ordered by value."""
    from gcvideo.data.records import class_index

    tree = tmp_path / "tree"
    videos = first_videos(synth_root, 3)
    for label, video in zip(("0", "2", "10"), videos):
        (tree / label).mkdir(parents=True)
        shutil.copy(video, tree / label / "v.mp4")
    args = ["--num-frames", "4", "--sampling-rate", "2", "--workers", "1"]
    assert main(["data", "check", str(tree), *args, "--out", str(tmp_path / "tree")]) == 0
    clean = tmp_path / "tree.clean.txt"
    assert main(["data", "check", str(clean), *args]) == 0                  # its own output reads back
    records = load_records(str(clean))
    assert class_index(records) == {"0": 0, "2": 1, "10": 2}                # by value, not "10" < "2"
    # SlowFast-style 'path int' lists with a classes file: the integer indexes it
    (tmp_path / "classes.txt").write_text("zero\none\ntwo\n")
    listing = tmp_path / "ints.txt"
    listing.write_text("tree/0/v.mp4 2\ntree/2/v.mp4 0\n")
    capsys.readouterr()
    assert main(["data", "check", str(listing), *args, "--classes-file", str(tmp_path / "classes.txt"),
                 "--json"]) == 0
    assert [r.label for r in load_records(str(listing), classes=["zero", "one", "two"])] == ["two", "zero"]
    capsys.readouterr()
    assert main(["data", "prepare", str(tmp_path), str(tmp_path / "prepared"), "--list", str(listing),
                 "--classes-file", str(tmp_path / "classes.txt"), "--short-side", "32", "--jobs", "1"]) == 0
    assert [line.split()[-1] for line in (tmp_path / "prepared" / "ints.txt").read_text().splitlines()] == ["2", "0"]


def test_a_name_that_is_not_utf8_is_read_like_any_other(synth_root, tmp_path, capsys):
    """caf\\xe9.mp4 in latin-1 bytes is listed and reported with its bytes unchanged."""
    tree = tmp_path / "tree"
    (tree / "c0").mkdir(parents=True)
    name = os.fsdecode(b"caf\xe9.mp4")
    shutil.copy(first_videos(synth_root)[0], os.path.join(tree, "c0", name))
    shutil.copy(first_videos(synth_root)[1], tree / "c0" / "plain.mp4")
    assert main(["data", "check", str(tree), "--num-frames", "4", "--sampling-rate", "2", "--workers", "1",
                 "--out", str(tmp_path / "tree")]) == 0
    clean = (tmp_path / "tree.clean.txt").read_bytes()
    assert b"caf\xe9.mp4 c0\n" in clean and b"plain.mp4 c0\n" in clean
    assert sorted(os.path.basename(r.path) for r in load_records(str(tmp_path / "tree.clean.txt"))) == \
        sorted([name, "plain.mp4"])
    # the multi-view test report holds it too
    from helpers import tiny_args

    label = load_records(os.path.join(synth_root, "train.csv"), synth_root)[0].label
    rows = "".join(f"{p} {label}\n" for p in (os.path.join(tree, "c0", name), str(tree / "c0" / "plain.mp4")))
    (tmp_path / "test.txt").write_bytes(os.fsencode(rows))
    folder = tmp_path / "run"
    assert main(["fit", *tiny_args(synth_root, folder, epochs=1)]) == 0
    assert main(["test", *tiny_args(synth_root, folder, epochs=1), "--data.test", str(tmp_path / "test.txt"),
                 "--data.test_views", "1x1", "--data.test_crop_size", "32",
                 "--ckpt_path", str(folder / "checkpoints" / "last.ckpt")]) == 0
    predictions = next(folder.glob("test_*/predictions.csv")).read_bytes()
    assert b"caf\xe9" in predictions and predictions.count(b"\n") == 3
    # features and their reader, and the run report, carry it too
    from gcvideo.tools.features import load_features

    features = tmp_path / "features"
    assert main(["features", "--ckpt_path", str(folder / "checkpoints" / "last.ckpt"), "--data",
                 str(tmp_path / "test.txt"), "--out", str(features)]) == 0
    rows, vectors = load_features(str(features))
    assert sorted(os.path.basename(r["path"]) for r in rows) == sorted([name, "plain.mp4"]) and len(vectors) == 2
    assert main(["report", "run", str(folder)]) == 0
    assert "caf\\udce9" in (folder / "report.html").read_text(encoding="utf-8")


def test_a_full_disk_is_one_line_and_leaves_no_partial_file(synth_root, tmp_path, capsys, monkeypatch):
    from gcvideo import files
    from helpers import tiny_args

    class Tiny:
        free = 3_000_000

    monkeypatch.setattr(shutil, "disk_usage", lambda folder: Tiny)
    folder = tmp_path / "run"
    assert main(["fit", *tiny_args(synth_root, folder, epochs=1, extra=(
        "--model.backbone", '{"depths": [1, 1, 1, 1], "width": 32}'))]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "fit cannot save a checkpoint" in err[0] and "3.0 MB free" in err[0], err
    assert not (folder / "checkpoints").exists() or not os.listdir(folder / "checkpoints")
    monkeypatch.undo()

    # a write that fails part-way: the target is absent (or as it was), never truncated
    real_open = open

    def failing_open(path, mode="r", *args, **kwargs):
        handle = real_open(path, mode, *args, **kwargs)
        if "w" in mode and ".tmp-" in os.fspath(path):
            handle.write = lambda data: (_ for _ in ()).throw(OSError(errno.ENOSPC, "No space left on device"))
        return handle

    target = tmp_path / "out.bin"
    monkeypatch.setattr("builtins.open", failing_open)
    with pytest.raises(files.WriteFailed, match="No space left on device"):
        files.write_atomic(str(target), b"x" * 1000)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["run"] or not target.exists()
    assert not [f for f in os.listdir(tmp_path) if ".tmp-" in f]


def _children(pid: int) -> set:
    found = set()
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as f:
            found |= {int(c) for c in f.read().split()}
    return found


@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="reads child processes from /proc (Linux)")
def test_ctrl_c_is_one_line_and_a_killed_parent_leaves_no_worker(synth_root, tmp_path):
    """Ctrl-C in data prepare is one line; synth workers die with a killed parent."""
    import signal
    import subprocess
    import sys
    import time

    def start(*argv):
        # Ctrl-C's default disposition in the child, also where this test runs as a background job
        # (which ignores SIGINT, and Python then installs no KeyboardInterrupt handler)
        proc = subprocess.Popen([sys.executable, "-m", "gcvideo.cli", *argv], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"},
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        deadline = time.time() + 60
        while len(_children(proc.pid)) < 2 and time.time() < deadline and proc.poll() is None:
            time.sleep(0.05)
        return proc

    src = tmp_path / "src"                # 10 links to each video: enough work that the signal comes mid-run
    for folder, _, files in os.walk(synth_root):
        for name in (f for f in files if f.endswith(".mp4")):
            target = src / os.path.relpath(folder, synth_root)
            target.mkdir(parents=True, exist_ok=True)
            for copy in range(10):
                os.link(os.path.join(folder, name), target / f"{copy}_{name}")
    proc = start("data", "prepare", str(src), str(tmp_path / "dst"), "--jobs", "2", "--short-side", "32")
    workers = _children(proc.pid)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    lines = [line for line in err.strip().splitlines() if "preparing videos" not in line]
    assert proc.returncode == 130 and len(lines) == 1 and "interrupted" in lines[0], err[-2000:]
    proc = start("data", "synth", str(tmp_path / "synth"), "--videos-per-class", "200", "--workers", "2")
    workers = _children(proc.pid)
    assert workers
    proc.kill()
    proc.wait()
    deadline = time.time() + 10
    while any(os.path.exists(f"/proc/{w}") and "Z" not in open(f"/proc/{w}/stat").read().split(")")[1][:3]
              for w in workers) and time.time() < deadline:
        time.sleep(0.1)
    assert time.time() < deadline, "synth workers outlived their parent"


def test_prepare_locks_its_destination(synth_root, tmp_path, capsys):
    from gcvideo.files import FolderLock

    dst = tmp_path / "dst"
    with FolderLock(str(dst), "test"):
        assert main(["data", "prepare", synth_root, str(dst), "--jobs", "1"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and f"{dst} is in use by another run (pid {os.getpid()}" in err[0], err
    assert not list(dst.rglob("*.mp4"))


def test_a_checkpoint_save_on_a_full_disk_is_one_line_and_keeps_the_previous(tmp_path, monkeypatch):
    import torch

    from gcvideo.files import WriteFailed
    from gcvideo.engine.checkpoint import AtomicCheckpointIO, read_checkpoint

    path = str(tmp_path / "last.ckpt")
    io = AtomicCheckpointIO()
    io.save_checkpoint({"state_dict": {"w": torch.ones(2)}, "epoch": 1}, path)

    def full(obj, f, *args, **kwargs):
        raise RuntimeError("[enforce fail at inline_container.cc:672] . PytorchStreamWriter failed writing file "
                           "data/0: file write failed")

    monkeypatch.setattr(torch, "save", full)
    with pytest.raises(WriteFailed, match="cannot save .*last.ckpt .*file write failed.*resume with --ckpt_path last"):
        io.save_checkpoint({"state_dict": {"w": torch.zeros(2)}, "epoch": 2}, path)
    monkeypatch.undo()
    assert read_checkpoint(path)["epoch"] == 1 and os.listdir(tmp_path) == ["last.ckpt"]
