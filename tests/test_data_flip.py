"""Flip that respects labels: `data.flip` and `data.flip_label_map` on the direction task (a disc
crossing the frame left to right or right to left; a flipped clip shows the other class)."""
import json

import numpy as np
import pytest
import torch

from gcvideo.cli import main
from gcvideo.data.synth import DIRECTION_CLASSES, synthesize_direction
from gcvideo.engine.datamodule import KineticsDataModule

CLIP = dict(num_frames=8, sampling_rate=4, train_short_side=(48, 56), crop_size=48, eval_short_side=48,
            batch_size=4, num_workers=0)


@pytest.fixture(scope="module")
def direction_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("direction")
    synthesize_direction(str(root), videos_per_class=10, frames=32, size=(64, 48), progress=False)
    return str(root)


def moves_right(clip: torch.Tensor) -> bool:
    """Whether the bright disc of a (3, T, H, W) uint8 clip moves to the right: its centroid in the
    last frame that shows it against the first (a crop can lose it at either end)."""
    bright = (clip.max(dim=0).values > 200).float()               # (T, H, W): the disc only
    columns = torch.arange(bright.shape[-1], dtype=torch.float32)
    shown = [t for t in range(bright.shape[0]) if bright[t].sum() >= 4]
    assert len(shown) >= 2, "the disc is in fewer than two frames of the clip"
    x = [(bright[t].sum(0) * columns).sum() / bright[t].sum() for t in (shown[0], shown[-1])]
    return bool(x[1] > x[0])


def disagreements(data: KineticsDataModule, epochs: int = 3) -> tuple[int, int]:
    """(clips whose label names the other direction than the disc's motion, clips) over the training
    split's first epochs (every draw from (seed, epoch, video))."""
    dataset = data.dataset("train")
    names = data.classes
    wrong = total = 0
    for epoch in range(epochs):
        for index in range(len(dataset)):
            sample = dataset[epoch * len(dataset) + index]
            labelled_right = names[int(sample["label"])] == "moving_left_to_right"
            wrong += labelled_right != moves_right(sample["video"])
            total += 1
    return wrong, total


def test_a_plain_flip_mislabels_half_the_clips_and_the_map_or_no_flip_none(direction_root):
    plain = disagreements(KineticsDataModule(direction_root, **CLIP))
    assert 0.3 < plain[0] / plain[1] < 0.7, plain                # Kinetics' flip: half the labels wrong
    mapped = disagreements(KineticsDataModule(direction_root, **CLIP, flip_label_map="flip_label_map.json"))
    assert mapped[0] == 0, mapped
    unflipped = disagreements(KineticsDataModule(direction_root, **CLIP, flip=False))
    assert unflipped[0] == 0, unflipped
    # the map changes labels only: the same clips are drawn (and flipped) as without it
    a, b = KineticsDataModule(direction_root, **CLIP).dataset("train"), \
        KineticsDataModule(direction_root, **CLIP, flip_label_map={DIRECTION_CLASSES[1]: DIRECTION_CLASSES[0]}).dataset("train")
    assert all(torch.equal(a[i]["video"], b[i]["video"]) for i in range(4))


def test_repeated_augmentation_carries_each_clips_own_label(direction_root):
    data = KineticsDataModule(direction_root, **CLIP, clips_per_video=4, flip_label_map="flip_label_map.json")
    dataset = data.dataset("train")
    seen = set()
    for index in range(len(dataset)):
        sample = dataset[index]
        assert sample["label"].shape == (4,)
        for clip, label in zip(sample["video"], sample["label"]):
            assert (data.classes[int(label)] == "moving_left_to_right") == moves_right(clip)
        seen.add(len(set(sample["label"].tolist())))
    assert 2 in seen                                         # some videos hold clips of both labels


@pytest.mark.parametrize("value, said", [
    ({"moving_left_to_right": "moving_up"}, "'moving_up' is not a class"),
    ({"moving_left_to_right": "moving_right_to_left", "moving_right_to_left": "moving_left_to_right",
      "x": "y"}, "'x' is not a class"),
    ("missing.json", "cannot read"),
])
def test_a_bad_flip_label_map_is_one_line(direction_root, value, said):
    with pytest.raises((ValueError, FileNotFoundError), match=said):
        KineticsDataModule(direction_root, **CLIP, flip_label_map=value)


def test_flip_options_on_the_command_line(direction_root, tmp_path, capsys):
    from helpers import tiny_args

    args = tiny_args(direction_root, tmp_path / "run", epochs=1)
    assert main(["fit", *args, "--data.flip", "false", "--data.flip_label_map", "flip_label_map.json"]) == 2
    assert "data.flip_label_map needs data.flip true" in capsys.readouterr().err
    (tmp_path / "bad.json").write_text(json.dumps({"moving_left_to_right": "sideways"}))
    assert main(["fit", *args, "--data.flip_label_map", str(tmp_path / "bad.json")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'sideways' is not a class" in err[0], err
    assert main(["fit", *args, "--data.flip_label_map", "flip_label_map.json"]) == 0
