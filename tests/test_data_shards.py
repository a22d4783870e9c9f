"""`gcvideo data shard`: a collection packed into tar shards, read like its list. The same
videos' bytes, the same frames with every backend, the same training and the same test
results; resumable and verified writing; a damaged or missing shard reported, not crashed on."""
import csv
import json
import os
import shutil
import tarfile

import numpy as np
import pytest
import torch

from gcvideo.cli import main
from gcvideo.data import shards
from gcvideo.data.decode import VideoError, decode_at
from gcvideo.data.records import fingerprint, load_records
from helpers import ddp_fit, tiny_args


@pytest.fixture
def sharded(synth_root, tmp_path):
    out = tmp_path / "shards"
    assert main(["data", "shard", os.path.join(synth_root, "train.csv"), str(out), "--shard-size", "0.05"]) == 0
    return str(out)


def test_shards_hold_the_videos_bytes_and_read_back_as_the_list(synth_root, sharded):
    files, packed = load_records(os.path.join(synth_root, "train.csv")), load_records(sharded)
    assert len(files) == len(packed) and packed.present.all()
    assert [(r.label, r.video_id) for r in files] == [(r.label, r.video_id) for r in packed]
    for i in range(len(files)):
        assert shards.member_bytes(packed.path(i)) == open(files.path(i), "rb").read()
        assert np.array_equal(decode_at(packed.path(i), [0.0, 0.7]), decode_at(files.path(i), [0.0, 0.7]))
    assert fingerprint(packed) == fingerprint(files)                     # the same copy of the data
    manifest = json.load(open(os.path.join(sharded, "shards.json")))
    assert sum(s["videos"] for s in manifest["shards"]) == len(files)
    with tarfile.open(os.path.join(sharded, manifest["shards"][0]["name"])) as tar:   # a plain tar: key.mp4 + key.json
        names = tar.getnames()
        assert names[0].endswith(".mp4") and names[1] == names[0][:-4] + ".json"
        assert json.load(tar.extractfile(names[1]))["video_id"] == files[0].video_id
    assert main(["data", "shard", "-", sharded, "--verify"]) == 0


def test_training_and_testing_on_shards_is_training_and_testing_on_the_files(synth_root, sharded, tmp_path):
    """The same draws and the same frames: one epoch ends with the same weights; the test's
    predictions are the same."""
    shutil.copytree(sharded, tmp_path / "data_shards")
    results = {}
    for name, train in (("files", "train.csv"), ("shards", str(tmp_path / "data_shards"))):
        run = tmp_path / name
        args = [*tiny_args(synth_root, run, epochs=1), "--data.train", train, "--data.test", train,
                "--data.test_views", "2x3", "--data.test_crop_size", "32", "--trainer.limit_val_batches", "0"]
        assert main(["fit", *args]) == 0
        ckpt = run / "checkpoints" / "last.ckpt"
        assert main(["test", *args, "--ckpt_path", str(ckpt)]) == 0
        results[name] = (torch.load(ckpt, map_location="cpu", weights_only=True)["state_dict"],
                         [(p["video_id"], p["top1"], p["score1"]) for p in
                          csv.DictReader(open(run / "test_2x3" / "predictions.csv"))])
    (a, pa), (b, pb) = results["files"], results["shards"]
    assert all(torch.equal(a[k], b[k]) for k in a) and pa == pb


def test_an_interrupted_run_resumes_and_another_list_is_refused(synth_root, tmp_path, monkeypatch):
    source, out = os.path.join(synth_root, "train.csv"), str(tmp_path / "out")
    real, calls = os.replace, []

    def stop_at_the_second_shard(a, b):
        real(a, b)
        if b.endswith(".tar"):
            calls.append(b)
            if len(calls) == 2:
                raise KeyboardInterrupt

    monkeypatch.setattr(shards.os, "replace", stop_at_the_second_shard)
    with pytest.raises(KeyboardInterrupt):
        shards.write_shards(source, out, shard_size=20_000, progress=False)
    monkeypatch.setattr(shards.os, "replace", real)
    before = json.load(open(os.path.join(out, "shards.json")))
    assert len(before["shards"]) == 1                    # the second shard renamed, not yet indexed
    summary = shards.write_shards(source, out, shard_size=20_000, progress=False)
    assert summary["done before"] == before["next"] > 0 and summary["videos"] == len(load_records(source))
    assert [r.video_id for r in load_records(out)] == [r.video_id for r in load_records(source)]
    with pytest.raises(ValueError, match="another list or shard size"):
        shards.write_shards(source, out, shard_size=40_000, progress=False)


def test_missing_videos_are_counted_and_a_size_must_be_positive(synth_root, tmp_path, capsys):
    listing = tmp_path / "list.txt"
    records = load_records(os.path.join(synth_root, "val.csv"))
    listing.write_text("".join(f"{r.path} {r.label}\n" for r in records) + f"{tmp_path}/gone.mp4 x\n")
    assert main(["data", "shard", str(listing), str(tmp_path / "s")]) == 1
    assert "1 missing video(s) left out" in capsys.readouterr().out
    assert len(load_records(str(tmp_path / "s"))) == len(records)
    assert main(["data", "shard", str(listing), str(tmp_path / "t"), "--shard-size", "0"]) == 2
    assert "--shard-size must be > 0 MB" in capsys.readouterr().err


def test_a_damaged_shard_is_found_and_a_missing_one_reported(synth_root, sharded, capsys):
    manifest = json.load(open(os.path.join(sharded, "shards.json")))
    first = os.path.join(sharded, manifest["shards"][0]["name"])
    with open(first, "r+b") as f:
        f.seek(2000)
        f.write(b"\xff" * 8)
    assert main(["data", "shard", "-", sharded, "--verify"]) == 1
    assert manifest["shards"][0]["name"] in capsys.readouterr().out
    os.remove(first)
    records = load_records(sharded)
    assert not records.present[0]
    with pytest.raises(VideoError) as caught:
        decode_at(records.path(0), [0.0])
    assert caught.value.reason == "missing" and manifest["shards"][0]["name"] in caught.value.detail


def test_sigterm_mid_epoch_on_shards_resumes_exactly(synth_root, sharded, tmp_path, capsys):
    """Stopped by SIGTERM in epoch 1 and resumed from last.ckpt, a run on shards ends with the weights
    of one that was never stopped (the shards' positional reads hold no state across the restart)."""
    base = ["--data.train", sharded, "--trainer.limit_val_batches", "0"]
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    assert main(["fit", *tiny_args(synth_root, straight, epochs=2), *base]) == 0
    assert main(["fit", *tiny_args(synth_root, stopped, epochs=2), *base, "--trainer.callbacks+=helpers.TerminateAt",
                 "--trainer.callbacks.epoch", "1"]) == 143
    assert main(["fit", *tiny_args(synth_root, stopped, epochs=2), *base, "--ckpt_path", "last"]) == 0
    a, b = (torch.load(run / "checkpoints" / "last.ckpt", weights_only=True) for run in (straight, stopped))
    assert a["global_step"] == b["global_step"]
    assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"])


def test_data_check_reads_shards_and_its_clean_list_reads_back(sharded, tmp_path, capsys):
    assert main(["data", "check", sharded, "--num-frames", "4", "--sampling-rate", "2", "--workers", "1",
                 "--out", str(tmp_path / "checked"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["counts"] == {"ok": len(load_records(sharded))}
    clean = load_records(report["clean"])
    assert clean.present.all() and [r.video_id for r in clean] == [r.video_id for r in load_records(sharded)]


def test_ddp_ranks_split_the_sharded_videos_once_each(synth_root, sharded, tmp_path):
    """Two DDP processes on shards: disjoint halves, every video once per epoch (as with files)."""
    run = tmp_path / "ddp"
    _, seen = ddp_fit(tiny_args(synth_root, run, epochs=1, extra=("--data.train", sharded,
                                                                  "--trainer.limit_val_batches", "0")), run)
    assert seen[0] and seen[1] and not seen[0] & seen[1] and seen[0] | seen[1] == set(range(12))
