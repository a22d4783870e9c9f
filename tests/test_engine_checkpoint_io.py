"""Checkpoints: saved atomically, and an unreadable or foreign one is one clear line naming the
file before any work starts."""
import os

import pytest
import torch

from gcvideo.cli import main
from gcvideo.engine.checkpoint import AtomicCheckpointIO, newest_intact_checkpoint, read_checkpoint
from helpers import tiny_args


def test_a_save_killed_midway_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch):
    path = str(tmp_path / "last.ckpt")
    io = AtomicCheckpointIO()
    io.save_checkpoint({"state_dict": {"w": torch.ones(3)}, "epoch": 1}, path)

    def dies_halfway(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04 half a zip")
        raise KeyboardInterrupt("killed during the save")

    monkeypatch.setattr(torch, "save", dies_halfway)
    with pytest.raises(KeyboardInterrupt):
        io.save_checkpoint({"state_dict": {"w": torch.zeros(3)}, "epoch": 2}, path)
    monkeypatch.undo()
    assert read_checkpoint(path)["epoch"] == 1 and os.listdir(tmp_path) == ["last.ckpt"]


def test_unreadable_files_are_named_in_one_line(tmp_path):
    good = tmp_path / "epoch000.ckpt"
    torch.save({"state_dict": {}}, good)
    truncated = tmp_path / "epoch001.ckpt"
    truncated.write_bytes(good.read_bytes()[:40])
    foreign = tmp_path / "weights.pt"
    torch.save({"w": torch.ones(1)}, foreign)
    for path, words in ((truncated, "not a readable checkpoint"), (foreign, "not a Lightning checkpoint")):
        with pytest.raises(ValueError) as err:
            read_checkpoint(str(path))
        assert str(path) in str(err.value) and words in str(err.value) and "\n" not in str(err.value)
    assert newest_intact_checkpoint(str(tmp_path)) == str(good)


def test_fit_and_test_refuse_bad_checkpoints_before_work(synth_root, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["fit", *tiny_args(synth_root, run, epochs=1), "--checkpoint_every_n_epochs", "1"]) == 0
    ckpts = run / "checkpoints"
    assert not [f for f in os.listdir(ckpts) if ".tmp" in f]          # atomic saves leave no temp files
    capsys.readouterr()
    (ckpts / "last.ckpt").write_bytes((ckpts / "last.ckpt").read_bytes()[:1000])     # a crash truncated it
    assert main(["fit", *tiny_args(synth_root, run, epochs=2), "--ckpt_path", "last"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "last.ckpt is not a readable checkpoint" in err
    assert "newest intact checkpoint there is" in err and "epoch000.ckpt" in err
    # an explicit truncated path fails the same way, for test too
    assert main(["test", *tiny_args(synth_root, tmp_path / "t", epochs=1), "--ckpt_path",
                 str(ckpts / "last.ckpt")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "last.ckpt is not a readable checkpoint" in err
    # another class count: the checkpoint's head does not fit the data's classes
    checkpoint = torch.load(ckpts / "epoch000.ckpt", weights_only=False)
    head = [k for k in checkpoint["state_dict"] if k.endswith("proj.weight")][0]
    for key in (head, head.replace("weight", "bias")):
        checkpoint["state_dict"][key] = checkpoint["state_dict"][key][:3]
    checkpoint["hyper_parameters"]["num_classes"] = 3
    torch.save(checkpoint, tmp_path / "three_classes.ckpt")
    assert main(["test", *tiny_args(synth_root, tmp_path / "t", epochs=1),
                 "--ckpt_path", str(tmp_path / "three_classes.ckpt")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "three_classes.ckpt does not fit this network" in err
    assert f"{head} is (3," in err


def test_a_fresh_fit_never_mixes_with_an_earlier_run(synth_root, tmp_path, capsys):
    """A fresh fit into a folder with checkpoints is refused (it would replace
    best.ckpt and leave the old last.ckpt); resuming it is how to continue."""
    run = tmp_path / "run"
    assert main(["fit", *tiny_args(synth_root, run, epochs=1), "--model.max_epochs", "2"]) == 0
    before = {f: os.path.getmtime(run / "checkpoints" / f) for f in os.listdir(run / "checkpoints")}
    capsys.readouterr()
    assert main(["fit", *tiny_args(synth_root, run, epochs=1)]) == 2
    err = capsys.readouterr().err
    assert "already holds another run's checkpoints" in err and "--ckpt_path last" in err
    assert {f: os.path.getmtime(run / "checkpoints" / f) for f in os.listdir(run / "checkpoints")} == before
    assert main(["fit", *tiny_args(synth_root, run, epochs=2), "--model.max_epochs", "2", "--ckpt_path", "last"]) == 0


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without a GPU")
def test_a_gpu_asked_for_on_a_cpu_machine_is_one_line(synth_root, tmp_path, capsys):
    """Asking for a GPU on a machine without one is one line naming the option."""
    args = tiny_args(synth_root, tmp_path / "run", epochs=1)
    args[args.index("--trainer.accelerator") + 1] = "gpu"
    assert main(["fit", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no CUDA GPU" in err


def test_all_training_videos_missing_is_one_line(synth_root, tmp_path, capsys):
    """Every training video missing is one line from the main process, not a data-loader worker's traceback."""
    import shutil

    root = tmp_path / "data"
    root.mkdir()
    for name in ("train.csv", "val.csv", "test.csv"):
        shutil.copy(os.path.join(synth_root, name), root / name)      # the lists, not the videos
    assert main(["fit", *tiny_args(str(root), tmp_path / "run", epochs=1)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "none of its" in err and "videos exist" in err
