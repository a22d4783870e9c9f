"""Progress in a log file: whole lines, not a terminal bar's redraws (gcvideo.progress and the
CLI's LineProgress for Lightning's loops)."""
import io
import subprocess
import sys

from gcvideo.cli import main
from gcvideo.progress import LineWriter, progress_bar
from helpers import tiny_args


def test_a_bar_in_a_log_file_is_a_few_whole_lines(monkeypatch):
    monkeypatch.delenv("GCVIDEO_PROGRESS", raising=False)
    log = io.StringIO()                        # not a terminal
    for _ in progress_bar(range(1000), desc="scanning", file=log):
        pass
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue() and 2 <= len(lines) <= 3, lines      # start, (30 s,) end
    assert lines[-1].startswith("scanning: 100%") and "1000/1000" in lines[-1]
    writer = LineWriter(io.StringIO())
    writer.write("\r\x1b[Ascanning:  50%")
    writer.write("\rscanning:  50%")                       # a repeat of the last line is dropped
    writer.write("\n")
    assert writer.stream.getvalue() == "scanning:  50%\n"


def test_a_fit_logged_to_a_file_prints_a_line_per_epoch_not_a_bar(synth_root, tmp_path):
    """`gcvideo fit` with stdout and stderr in a file (as under SLURM): one line per epoch with its
    batches, time and metrics, no carriage returns; with the bar forced on (GCVIDEO_PROGRESS=bar)
    Lightning's own bar is used instead, as on a terminal."""
    for mode in ("lines", "bar"):
        args = tiny_args(synth_root, tmp_path / mode, epochs=2)
        args[args.index("--trainer.enable_progress_bar") + 1] = "true"
        code = f"import sys; from gcvideo.cli import main; sys.exit(main({['fit', *args]!r}))"
        env = {**__import__("os").environ, "GCVIDEO_PROGRESS": mode if mode == "bar" else ""}
        with open(tmp_path / f"{mode}.log", "w") as log:
            assert subprocess.run([sys.executable, "-c", code], stdout=log, stderr=subprocess.STDOUT,
                                  env=env, cwd=str(tmp_path)).returncode == 0
        text = (tmp_path / f"{mode}.log").read_text()
        if mode == "lines":
            assert "\r" not in text, text[-2000:]
            epochs = [line for line in text.splitlines() if line.startswith("epoch ") and " validation:" not in line]
            assert sum(line.startswith("epoch 1/2 validation: ") for line in text.splitlines()) == 1, text
            assert [line.split(":")[0] for line in epochs] == ["epoch 1/2", "epoch 2/2"], text
            assert all("batches in" in line and "train/loss" in line for line in epochs), epochs
        else:
            assert not any(line.startswith("epoch 1/2:") for line in text.splitlines())


def test_data_synth_in_a_log_file_writes_lines(tmp_path, capsys, monkeypatch):
    """A tqdm bar of the tools (here: generating videos in parallel) in a captured stderr."""
    monkeypatch.delenv("GCVIDEO_PROGRESS", raising=False)
    assert main(["data", "synth", str(tmp_path / "d"), "--videos-per-class", "5"]) == 0
    err = capsys.readouterr().err
    assert "\r" not in err and "100%" in err, err


def test_the_line_form_is_chosen_only_without_a_terminal(synth_root, tmp_path, capsys, monkeypatch):
    """In this process (pytest captures stdout: not a terminal) a fit gets LineProgress; a bar the
    user configured (or --trainer.enable_progress_bar false) is left as asked."""
    monkeypatch.delenv("GCVIDEO_PROGRESS", raising=False)
    args = tiny_args(synth_root, tmp_path / "run", epochs=1)
    assert main(["fit", *args]) == 0                           # enable_progress_bar false: no lines
    assert "epoch 1/1:" not in capsys.readouterr().out
    args[args.index("--trainer.enable_progress_bar") + 1] = "true"
    args[args.index("--trainer.default_root_dir") + 1] = str(tmp_path / "run2")
    assert main(["fit", *args]) == 0
    assert "epoch 1/1:" in capsys.readouterr().out


def test_a_gpu_recipe_without_a_gpu_says_how_to_run_it_small(capsys):
    import pytest
    import torch
    import yaml

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert main(["fit", "--config", "kinetics400/base.yaml", "--config", "models/gc.yaml"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no CUDA GPU" in err[0] and "--config smoke.yaml" in err[0], err
    assert main(["fit", "--config", "kinetics400/base.yaml", "--trainer.accelerator", "cpu"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    import os

    assert len(err) == 1 and f"8 CPU processes on {os.cpu_count()} cores" in err[0] or os.cpu_count() >= 8, err
    with pytest.raises(SystemExit):
        main(["fit", "--config", "kinetics400/base.yaml", "--config", "models/gc.yaml", "--config", "smoke.yaml",
              "--print_config"])
    printed = yaml.safe_load(capsys.readouterr().out)
    trainer, data = printed["trainer"], printed["data"]
    assert (trainer["devices"], trainer["accelerator"], trainer["strategy"]) == (1, "auto", "auto")
    assert trainer["default_root_dir"] == "runs/smoke" and printed["model"]["model"] == "slow_r50_gc"
    assert data["crop_size"] == 64 and data["eval_short_side"] == data["test_crop_size"] == 72
    assert data["val"] == "validate.csv"           # the recipe's name; data synth's val.csv is read for it


def test_the_validation_list_is_found_under_either_usual_name(synth_root, tmp_path, capsys, caplog):
    """kinetics400/base.yaml names Kinetics' validate.csv, `gcvideo data synth` writes val.csv: a
    run given one finds the other beside it and says so."""
    args = tiny_args(synth_root, tmp_path / "run", epochs=1, extra=("--data.val", "validate.csv"))
    with caplog.at_level("INFO"):               # Lightning's rank-zero log (the console in the CLI)
        assert main(["fit", *args]) == 0
    assert "data.val: validate.csv not found; reading val.csv beside it" in caplog.text
    args = tiny_args(synth_root, tmp_path / "run2", epochs=1, extra=("--data.val", "missing.csv"))
    assert main(["fit", *args]) == 2
    assert "data.val: list not found" in capsys.readouterr().err
