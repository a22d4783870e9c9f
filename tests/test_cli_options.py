"""Options that would be ignored or found out only during training are refused in one line
before any work."""
import os

import pytest

from gcvideo.cli import main
from helpers import tiny_args


def one_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


@pytest.mark.parametrize("extra, words", [
    (["--optimizer", "Adam"], "--optimizer: gcvideo's VideoClassifier sets its own optimiser"),
    (["--trainer.accumulate_grad_batches", "0"], "accumulate_grad_batches must be >= 1"),
    (["--trainer.max_epochs", "0"], "max_epochs 0 trains nothing"),
    (["--data.train_short_side", "[40, 20]"], "train_short_side is [min, max]"),
    (["--data.sampling_rate", "100"], "data.train: none of the first 8 readable videos holds one clip"),
])
def test_bad_training_options_are_one_line_before_work(synth_root, tmp_path, capsys, extra, words):
    run = tmp_path / "run"
    assert main(["fit", *tiny_args(synth_root, run, epochs=1), *extra]) == 2
    assert words in one_line(capsys)
    assert not (run / "checkpoints").exists() or not os.listdir(run / "checkpoints")    # no training happened


def test_an_empty_config_is_named(synth_root, tmp_path, capsys):
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing yet\n")
    assert main(["fit", "--config", str(empty), *tiny_args(synth_root, tmp_path / "run", epochs=1)]) == 2
    assert f"--config {empty} is empty" in one_line(capsys)


def test_synth_refuses_options_its_task_ignores(tmp_path, capsys):
    for argv, words in ((["--task", "relation", "--classes", "4"], "--classes do(es) not apply to --task relation"),
                        (["--task", "relation", "--seconds", "5"], "--seconds do(es) not apply"),
                        (["--task", "order", "--frames", "8"], "--frames do(es) not apply to --task order"),
                        (["--fps", "0"], "--fps")):
        assert main(["data", "synth", str(tmp_path / "out"), *argv]) == 2, argv
        assert words in one_line(capsys)
    assert not (tmp_path / "out").exists()


def test_data_check_says_when_every_video_is_shorter_than_the_clip(synth_root, tmp_path, capsys):
    assert main(["data", "check", os.path.join(synth_root, "val.csv"), "--workers", "1",
                 "--out", str(tmp_path / "val")]) == 1
    out = capsys.readouterr().out
    assert "hint: every video is shorter than the clip asked for (8 frames x 8 at 30 fps = 2.13 s" in out
    assert "--num-frames" in out


def test_export_refuses_zero_frames(synth_root, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["fit", *tiny_args(synth_root, run, epochs=1)]) == 0
    capsys.readouterr()
    assert main(["export", "--ckpt_path", str(run / "checkpoints" / "last.ckpt"), "--frames", "0"]) == 2
    assert "--frames must be 1-1024 and --size 16-2048" in one_line(capsys)


def test_bad_videos_from_a_worker_are_one_line():
    """Raised in a DataLoader worker, torch re-raises it with the worker's traceback as its text."""
    import torch
    from torch.utils.data import DataLoader, Dataset

    from gcvideo.data.dataset import BadVideos

    class Broken(Dataset):
        def __len__(self):
            return 2

        def __getitem__(self, index):
            raise BadVideos("11 videos in a row failed to load; last: x.mp4: too short")

    with pytest.raises(BadVideos) as err:
        next(iter(DataLoader(Broken(), num_workers=1)))
    assert str(err.value) == "11 videos in a row failed to load; last: x.mp4: too short"
    assert torch.utils.data.get_worker_info() is None
