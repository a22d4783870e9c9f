import json

import yaml

from gcvideo.cli import main


def test_ablate_runs_every_config_and_seed_and_resumes(synth_root, tmp_path, capsys):
    base = {"trainer": {"accelerator": "cpu", "devices": 1, "max_epochs": 1, "enable_progress_bar": False,
                        "num_sanity_val_steps": 0, "log_every_n_steps": 1},
            "model": {"model": "slow_r50", "lr": 0.1, "warmup_epochs": 0},
            "data": {"root": synth_root, "num_frames": 4, "sampling_rate": 2, "train_short_side": [32, 32],
                     "crop_size": 32, "eval_short_side": 32, "batch_size": 4, "num_workers": 0,
                     "test_views": "2x1", "test_crop_size": 32}}
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(base))
    for name, model in [("plain", "slow_r50"), ("gc", "slow_r50_gc")]:
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(
            {"model": {"model": model, "backbone": {"depths": [1, 1, 1, 1], "width": 4}}}))
    out = tmp_path / "out"
    args = ["ablate", str(tmp_path / "plain.yaml"), str(tmp_path / "gc.yaml"), "--seeds", "2",
            "--base", str(tmp_path / "base.yaml"), "--out", str(out)]
    assert main(args) == 0
    rows = json.load(open(out / "results.json"))
    assert [r["config"] for r in rows] == ["plain", "gc"] and all(len(r["runs"]) == 2 for r in rows)
    assert rows[1]["runs"][0]["params_m"] > rows[0]["runs"][0]["params_m"]
    table = (out / "results.md").read_text()
    assert "| plain |" in table and "| gc |" in table and "±" in table
    for name, row in zip(("plain", "gc"), rows):
        for seed in (0, 1):
            assert (out / name / f"seed{seed}-{row['runs'][seed]['key']}" / "checkpoints" / "best.ckpt").exists()
    # a second call reuses the finished runs
    best = out / "gc" / f"seed1-{rows[1]['runs'][1]['key']}" / "checkpoints" / "best.ckpt"
    mtime = best.stat().st_mtime
    assert main(args) == 0
    assert best.stat().st_mtime == mtime


def test_sigterm_stops_an_ablation_with_a_nonzero_exit(synth_root, tmp_path, capsys):
    """SIGTERM stops ablate (and demo: the same in-process runs) with exit 143."""
    base = {"trainer": {"accelerator": "cpu", "devices": 1, "max_epochs": 1, "enable_progress_bar": False,
                        "num_sanity_val_steps": 0},
            "model": {"model": "slow_r50", "backbone": {"depths": [1, 1, 1, 1], "width": 4}, "warmup_epochs": 0},
            "data": {"root": synth_root, "num_frames": 4, "sampling_rate": 2, "train_short_side": [32, 32],
                     "crop_size": 32, "eval_short_side": 32, "batch_size": 4, "num_workers": 0,
                     "test_views": "1x1", "test_crop_size": 32}}
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(base))
    (tmp_path / "plain.yaml").write_text(yaml.safe_dump({"model": {"model": "slow_r50"}}))
    assert main(["ablate", str(tmp_path / "plain.yaml"), "--seeds", "1", "--base", str(tmp_path / "base.yaml"),
                 "--out", str(tmp_path / "out"), "--extra=--trainer.callbacks+=helpers.TerminateAt"]) == 143
    assert "fit stopped by SIGTERM" in capsys.readouterr().err
    assert not (tmp_path / "out" / "results.md").exists()
