import csv
import math
import os
import re
import sys

import pytest
import torch

from gcvideo.cli import main
from helpers import ddp_fit, latest_metrics, tiny_args


EVERY_EPOCH = ["--checkpoint_every_n_epochs", "1"]     # these tests compare epoch checkpoints


def final_weights(ckpt):
    return torch.load(ckpt, map_location="cpu", weights_only=False)["state_dict"]


def test_fit_writes_checkpoints_logs_and_config(synth_root, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["fit", *tiny_args(synth_root, run), "--checkpoint_every_n_epochs", "1"]) == 0
    out = capsys.readouterr().out
    assert "M params" in out and "GFLOPs per 4x32x32 clip" in out
    ckpts = sorted(os.listdir(run / "checkpoints"))
    assert ckpts == ["best.ckpt", "epoch000.ckpt", "epoch001.ckpt", "last.ckpt"]
    state = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert state["hyper_parameters"]["classes"] == sorted(os.listdir(synth_root))[:4] or \
        len(state["hyper_parameters"]["classes"]) == 4
    assert state["KineticsDataModule"]["classes"] == state["hyper_parameters"]["classes"]
    rows = list(csv.DictReader(open(latest_metrics(str(run)))))
    assert {"train/loss", "train/lr", "val/top1", "val/top5", "train/clips_per_s"} <= set(rows[0])
    assert sum(1 for r in rows if r["val/top1"]) == 2
    lrs = [float(r["train/lr"]) for r in rows if r["train/lr"]]
    assert len(set(lrs)) == len(lrs) > 3                      # the lr changes every iteration
    assert os.path.exists(run / "csv" / "version_0" / "config.yaml")
    assert any(f.startswith("events.out.tfevents") for f in os.listdir(run / "tensorboard" / "version_0"))


def test_resume_is_exact(synth_root, tmp_path):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    # the schedule spans 2 epochs in all runs; the first resumed run stops after one
    extra = ["--model.backbone", '{"depths": [1, 1, 1, 1], "width": 4, "dropout": 0.5}',
             "--model.max_epochs", "2"]
    assert main(["fit", *tiny_args(synth_root, straight, 2, extra=extra), *EVERY_EPOCH]) == 0
    assert main(["fit", *tiny_args(synth_root, resumed, 1, extra=extra), *EVERY_EPOCH]) == 0
    assert main(["fit", *tiny_args(synth_root, resumed, 2, extra=extra), *EVERY_EPOCH, "--ckpt_path", "last"]) == 0
    assert os.path.exists(resumed / "csv" / "version_0" / "metrics.csv")      # first run's log kept
    assert os.path.exists(resumed / "csv" / "version_1" / "metrics.csv")
    a = final_weights(straight / "checkpoints" / "epoch001.ckpt")
    b = final_weights(resumed / "checkpoints" / "epoch001.ckpt")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    first = final_weights(straight / "checkpoints" / "epoch000.ckpt")
    assert any(not torch.equal(first[k], a[k]) for k in a)          # epoch 2 did train


@pytest.mark.parametrize("args, message", [
    (["--model.model", "slow_r99"], "unknown model 'slow_r99'"),
    (["--model.blocks.where", '["c9"]'], "unknown stage 'c9'"),
    (["--model.lr", "-0.1"], "model.lr must be >= 0"),
    (["--data.root", "/nonexistent/kinetics"], "data.root"),
    (["--trainer.sync_batchnorm", "true"], "sync_batchnorm needs GPUs"),
    (["--trainer.use_distributed_sampler", "true"], "splits videos over ranks itself"),
])
def test_bad_configs_fail_before_training(synth_root, tmp_path, capsys, args, message):
    run = tmp_path / "bad"
    assert main(["fit", *tiny_args(synth_root, run), *args]) == 2
    assert message in capsys.readouterr().err
    assert not (run / "checkpoints").exists()


@pytest.mark.slow
def test_ddp_two_cpu_processes_split_the_data(synth_root, tmp_path):
    """Two ranks see disjoint halves of the videos (with activation checkpointing and 2 clips per
    video on: both run under DDP)."""
    run = tmp_path / "ddp"
    done, seen = ddp_fit(tiny_args(synth_root, run, epochs=1, extra=("--model.activation_checkpointing", "true",
                                                                      "--data.clips_per_video", "2")), run)
    assert seen[0] and seen[1] and not seen[0] & seen[1]          # disjoint
    assert seen[0] | seen[1] == set(range(12))                      # and complete
    assert done.stdout.count("M params") == 1                       # reported once
    rows = list(csv.DictReader(open(latest_metrics(str(run)))))
    assert sum(1 for r in rows if r["val/top1"]) == 1


def test_bf16_channels_last_and_accumulation_scale_the_lr(synth_root, tmp_path):
    run = tmp_path / "amp"
    extra = ["--trainer.precision", "bf16-mixed", "--model.channels_last", "true",
             "--trainer.accumulate_grad_batches", "2", "--model.warmup_epochs", "0", "--model.lr", "0.64"]
    assert main(["fit", *tiny_args(synth_root, run, epochs=1, extra=extra)]) == 0
    rows = list(csv.DictReader(open(latest_metrics(str(run)))))
    first_lr = next(float(r["train/lr"]) for r in rows if r["train/lr"])
    # 0.64 per 64 clips, total batch 4 clips x 2 accumulated = 8 clips -> 0.08 at the cosine's start
    assert first_lr == pytest.approx(0.08, rel=1e-3)
    losses = [float(r["train/loss"]) for r in rows if r["train/loss"]]
    assert losses and all(math.isfinite(v) for v in losses)


def test_in_process_runs_neither_warn_about_nor_print_the_command_line(synth_root, tmp_path, capsys):
    import warnings

    saved = list(sys.argv)
    with warnings.catch_warnings(record=True) as caught, pytest.raises(SystemExit):
        warnings.simplefilter("always")
        main(["fit", *tiny_args(synth_root, tmp_path / "run"), "--print_config"])
    assert sys.argv == saved                                   # the caller's command line is restored
    assert not [w for w in caught if "args" in str(w.message) and "command line" in str(w.message)]
    assert "sys.argv" not in capsys.readouterr().err


def test_whole_number_batch_limits_count_batches(synth_root, tmp_path):
    """`--trainer.limit_train_batches 1` is one batch (Lightning reads 1.0 as all batches)."""
    from gcvideo.engine.lightning_cli import make_cli

    cli = make_cli(["fit", *tiny_args(synth_root, tmp_path / "run", epochs=1), "--trainer.limit_train_batches", "1",
                    "--trainer.limit_val_batches", "2"])
    assert cli.trainer.limit_train_batches == 1 and isinstance(cli.trainer.limit_train_batches, int)
    assert cli.trainer.limit_val_batches == 2 and isinstance(cli.trainer.limit_val_batches, int)
    assert cli.trainer.num_training_batches == 1


@pytest.mark.parametrize("blocked", ["root", "checkpoints"])
def test_unwritable_output_folders_fail_before_any_work(synth_root, tmp_path, capsys, blocked, monkeypatch):
    """A read-only run folder or checkpoints/ is one line before any training (not a traceback, not
    at the first save after a full epoch). (A folder below a regular file cannot be written
    by anyone, root included, which is how this sandbox can show it.)"""
    from gcvideo.engine.datamodule import KineticsDataModule

    monkeypatch.setattr(KineticsDataModule, "setup", lambda *a, **k: pytest.fail("data set up"))
    (tmp_path / "a_file").write_text("")
    run = tmp_path / "a_file" / "run" if blocked == "root" else tmp_path / "run"
    if blocked == "checkpoints":
        run.mkdir()
        (run / "checkpoints").write_text("")
    assert main(["fit", *tiny_args(synth_root, run)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot write to" in err[0] and "--trainer.default_root_dir" in err[0], err
    assert str(run if blocked == "root" else run / "checkpoints") in err[0]


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes to read-only folders")
def test_a_read_only_folder_is_named(tmp_path):
    from gcvideo.files import check_writable

    tmp_path.joinpath("ro").mkdir(mode=0o555)
    with pytest.raises(PermissionError, match=r"ro \(Permission denied\); try this"):
        check_writable(str(tmp_path / "ro"), "output", "try this")


def test_data_bound_training_is_logged_and_hinted(synth_root, tmp_path, capsys, monkeypatch):
    """The share of each step spent waiting for data is logged, with one hint per epoch above 20 %."""
    import time

    from gcvideo.data.dataset import VideoClipDataset

    load = VideoClipDataset.load_clip

    def slow(self, *args, **kwargs):
        if self.mode == "train":
            time.sleep(0.2)                  # a slow disk: 0.8 s per batch of 4, steps take ~0.05 s
        return load(self, *args, **kwargs)

    monkeypatch.setattr(VideoClipDataset, "load_clip", slow)
    run = tmp_path / "run"
    assert main(["fit", *tiny_args(synth_root, run, epochs=2)]) == 0
    out = capsys.readouterr().out
    # the first epoch above 20 % gets it (epoch 0 here; on a loaded CPU its share can dip under 20 %)
    assert len(re.findall(r"hint: epoch [01] spent", out)) == 1 and "waiting for data" in out
    assert "data.num_workers, now 0" in out and out.count("hint:") == 1   # once per run, not every epoch
    waits = [float(r["train/data_wait"]) for r in csv.DictReader(open(latest_metrics(str(run))))
             if r.get("train/data_wait")]
    assert len(waits) == 4 and all(0.3 < w < 1 for w in waits), waits      # most of each step (a loaded CPU: less)
    # compute-bound: the usual data, a slow step
    from gcvideo.engine.module import VideoClassifier

    monkeypatch.setattr(VideoClipDataset, "load_clip", load)
    monkeypatch.setattr(VideoClassifier, "forward", lambda self, x: time.sleep(1.0) or self.model(x))
    assert main(["fit", *tiny_args(synth_root, tmp_path / "compute", epochs=1)]) == 0
    assert "hint:" not in capsys.readouterr().out


def test_slowfast_with_gc_trains_and_tests_end_to_end(synth_root, tmp_path, capsys):
    """A registered network of another family runs through fit and the multi-view
    test with the same data pipeline (one clip in; the slow pathway takes every 4th frame)."""
    run = tmp_path / "sf"
    extra = ["--model.backbone.depths", "null", "--model.backbone.width", "null",   # not SlowFast options
             "--data.num_frames", "8", "--data.sampling_rate", "1",
             "--trainer.limit_train_batches", "1", "--trainer.limit_val_batches", "1"]
    assert main(["fit", *tiny_args(synth_root, run, epochs=1, model="slowfast_r50_gc", extra=extra)]) == 0
    assert "model slowfast_r50_gc" in capsys.readouterr().out
    ckpt = run / "checkpoints" / "last.ckpt"
    assert main(["test", *tiny_args(synth_root, run, model="slowfast_r50_gc", extra=extra),
                 "--data.test_views", "2x1", "--data.test_crop_size", "32", "--ckpt_path", str(ckpt)]) == 0
    assert "test (2x1 views of 8x1 frames, short side 32, 32-px crops, 4/4 videos readable)" in capsys.readouterr().out


def test_resume_repeats_the_modern_recipe_draws(synth_root, tmp_path):
    """With mixup, cutmix, RandAugment, random erasing and repeated augmentation (2 clips per
    video) on, an interrupted and resumed run ends with the same weights as an uninterrupted one."""
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    extra = ["--model.backbone", '{"depths": [1, 1, 1, 1], "width": 4, "dropout": 0.5}',
             "--model.max_epochs", "2", "--model.mixup_alpha", "0.8", "--model.cutmix_alpha", "1.0",
             "--data.randaugment", "2", "--data.random_erasing", "0.25", "--data.clips_per_video", "2"]
    assert main(["fit", *tiny_args(synth_root, straight, 2, extra=extra), *EVERY_EPOCH]) == 0
    assert main(["fit", *tiny_args(synth_root, resumed, 1, extra=extra), *EVERY_EPOCH]) == 0
    assert main(["fit", *tiny_args(synth_root, resumed, 2, extra=extra), *EVERY_EPOCH, "--ckpt_path", "last"]) == 0
    a = final_weights(straight / "checkpoints" / "epoch001.ckpt")
    b = final_weights(resumed / "checkpoints" / "epoch001.ckpt")
    for k in a:
        assert torch.equal(a[k], b[k]), k
    plain = tmp_path / "plain"
    assert main(["fit", *tiny_args(synth_root, plain, 2, extra=extra[:4]), *EVERY_EPOCH]) == 0
    c = final_weights(plain / "checkpoints" / "epoch001.ckpt")
    assert any(not torch.equal(a[k], c[k]) for k in a)            # the options did change training


def test_training_steps_read_nothing_back_from_the_device_between_logging_steps(synth_root, tmp_path):
    """No ``aten._local_scalar_dense`` (``.item()``, ``bool(tensor)``, ...) inside a training step,
    optimizer step included, except at logging steps: the host never waits for the device (what
    CUDA graphs and host/device overlap need). Progress bar off: it reads what it shows."""
    from gcvideo.engine.lightning_cli import make_cli
    from helpers import CountHostSyncs

    cli = make_cli(["fit", *tiny_args(synth_root, tmp_path / "run", epochs=1), "--data.batch_size", "1",
                    "--trainer.log_every_n_steps", "4", "--trainer.callbacks+=helpers.CountHostSyncs"])
    syncs = next(c for c in cli.trainer.callbacks if isinstance(c, CountHostSyncs)).syncs
    steps = sorted(syncs)
    assert len(steps) == 12
    logging = {s for s in steps if (s + 1) % 4 == 0} | {steps[-1]}
    assert all(syncs[s] == 0 for s in steps if s not in logging), syncs
    rows = list(csv.DictReader(open(latest_metrics(str(tmp_path / "run")))))
    assert any(r.get("train/top1_step") for r in rows) and any(r.get("train/top1_epoch") for r in rows)


def test_a_list_of_bad_videos_stops_fit_in_one_line_naming_the_check(tmp_path, capsys):
    """The data layer says the list holds bad files; the command line adds the command that finds them."""
    root = tmp_path / "data"
    for split in ("train", "val"):
        (root / split).mkdir(parents=True)
        rows = []
        for i in range(4):
            (root / split / f"v{i}.mp4").write_bytes(b"not a video " * 50)
            rows.append(f"{split}/v{i}.mp4 {i % 2}")
        (root / f"{split}.txt").write_text("\n".join(rows) + "\n")
    code = main(["fit", *tiny_args(str(root), tmp_path / "run", epochs=1),
                 "--data.train", "train.txt", "--data.val", "val.txt", "--data.max_retries", "2"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert "3 videos in a row failed to load" in err[0] and "gcvideo data check LIST" in err[0]
