"""Datasets beyond Kinetics, read as their official files lay them out: UCF101's and HMDB51's split
files and Something-Something v2's JSON, through the one reader (`load_records`), `data check`,
`data prepare` and a training run. The files are written here, in each dataset's format, over
generated videos (no download is possible here)."""
import json
import os
import shutil

import pytest

from gcvideo.cli import main
from gcvideo.data.records import list_format, load_records
from gcvideo.data.synth import DIRECTION_CLASSES, synthesize_direction
from helpers import tiny_args

UCF = {"MovingRight": DIRECTION_CLASSES[0], "MovingLeft": DIRECTION_CLASSES[1]}


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """The direction task's videos: {class: [paths]}."""
    root = tmp_path_factory.mktemp("direction")
    synthesize_direction(str(root), videos_per_class=6, frames=32, size=(64, 48), progress=False)
    return {c: sorted(os.path.join(root, c, f) for f in os.listdir(root / c)) for c in DIRECTION_CLASSES}


@pytest.fixture
def ucf101(videos, tmp_path):
    """UCF-101/<Class>/v_<Class>_gNN_cNN.avi-style tree (the videos keep their .mp4) and
    ucfTrainTestlist/ with classInd.txt, trainlist01.txt (with indices), testlist01.txt (without)."""
    root, lists = tmp_path / "UCF-101", tmp_path / "ucfTrainTestlist"
    lists.mkdir()
    rows = {"train": [], "test": []}
    for index, (name, source) in enumerate(UCF.items(), 1):
        (root / name).mkdir(parents=True)
        for k, path in enumerate(videos[source]):
            video = f"v_{name}_g{k:02d}_c01.mp4"
            shutil.copy(path, root / name / video)
            rows["train" if k < 4 else "test"].append(f"{name}/{video}" + (f" {index}" if k < 4 else ""))
    (lists / "classInd.txt").write_text("".join(f"{i} {n}\n" for i, n in enumerate(UCF, 1)))
    (lists / "trainlist01.txt").write_text("\n".join(rows["train"]) + "\n")
    (lists / "testlist01.txt").write_text("\n".join(rows["test"]) + "\n")
    return root, lists


def test_ucf101_split_files_read_with_their_class_index(ucf101):
    root, lists = ucf101
    train = load_records(str(lists / "trainlist01.txt"), str(root))
    test = load_records(str(lists / "testlist01.txt"), str(root))
    assert list_format(str(lists / "trainlist01.txt")) == "ucf101"
    assert len(train) == 8 and len(test) == 4 and train.present.all() and test.present.all()
    assert sorted(train.label_names) == sorted(test.label_names) == sorted(UCF)
    bad = lists / "trainlist02.txt"
    bad.write_text("MovingRight/v_MovingRight_g00_c01.mp4 2\n")                # index 2 is MovingLeft
    with pytest.raises(ValueError, match="trainlist02.txt:1: index 2 is 'MovingLeft'"):
        load_records(str(bad), str(root))
    bad.write_text("MovingRight/v_MovingRight_g00_c01.mp4 7\n")
    with pytest.raises(ValueError, match="trainlist02.txt:1: class index '7' is not in"):
        load_records(str(bad), str(root))


def test_ucf101_trains_checks_and_prepares(ucf101, tmp_path, capsys):
    root, lists = ucf101
    args = tiny_args(str(root), tmp_path / "run", epochs=1, extra=(
        "--data.train", str(lists / "trainlist01.txt"), "--data.val", str(lists / "testlist01.txt"),
        "--data.test", str(lists / "testlist01.txt"), "--data.num_frames", "4", "--data.sampling_rate", "4"))
    assert main(["fit", *args]) == 0
    assert main(["data", "check", str(lists / "testlist01.txt"), "--root", str(root), "--num-frames", "4",
                 "--sampling-rate", "4", "--out", str(tmp_path / "checked")]) == 0
    clean = (tmp_path / "checked.clean.txt").read_text().splitlines()
    assert len(clean) == 4 and all(line.endswith((" MovingRight", " MovingLeft")) for line in clean)
    assert sorted(load_records(str(tmp_path / "checked.clean.txt")).label_names) == sorted(UCF)
    assert main(["data", "prepare", str(root), str(tmp_path / "prepared"), "--list", str(lists / "trainlist01.txt"),
                 "--short-side", "32"]) == 0
    rewritten = load_records(str(tmp_path / "prepared" / "trainlist01.txt"), str(tmp_path / "prepared"))
    assert len(rewritten) == 8 and rewritten.present.all() and sorted(rewritten.label_names) == sorted(UCF)


def test_hmdb51_split_files_give_train_and_test_of_a_split(videos, tmp_path, capsys):
    root, splits = tmp_path / "hmdb51", tmp_path / "testTrainMulti_7030_splits"
    splits.mkdir()
    for name, source in (("walk_right", DIRECTION_CLASSES[0]), ("walk_left", DIRECTION_CLASSES[1])):
        (root / name).mkdir(parents=True)
        marks = []
        for k, path in enumerate(videos[source]):
            shutil.copy(path, root / name / f"{name}_{k}.mp4")
            marks.append(f"{name}_{k}.mp4 {[1, 1, 1, 1, 2, 0][k]}")
        (splits / f"{name}_test_split1.txt").write_text("\n".join(marks) + "\n")
        (splits / f"{name}_test_split2.txt").write_text("\n".join(m[:-1] + "1" for m in marks) + "\n")
    train = load_records(str(splits / "train_split1"), str(root))
    test = load_records(str(splits / "test_split1"), str(root))
    assert (len(train), len(test)) == (8, 2) and train.present.all()
    assert len(load_records(str(splits / "train_split2"), str(root))) == 12       # another split, its own marks
    assert sorted(train.label_names) == ["walk_left", "walk_right"]
    (splits / "walk_left_test_split3.txt").write_text("walk_left_0.mp4 train\n")
    with pytest.raises(ValueError, match="walk_left_test_split3.txt:1: expected 'video.avi 0|1|2'"):
        load_records(str(splits / "train_split3"), str(root))
    args = tiny_args(str(root), tmp_path / "run", epochs=1, extra=(
        "--data.train", str(splits / "train_split1"), "--data.val", str(splits / "test_split1"),
        "--data.test", str(splits / "test_split1"), "--data.num_frames", "4", "--data.sampling_rate", "4"))
    assert main(["fit", *args]) == 0


def test_something_something_v2_json(videos, tmp_path):
    """SSv2's train/validation JSON: the class is the template without brackets (labels.json's
    names), the video <id>.webm (here .mp4, found beside); test.json has no labels."""
    root = tmp_path / "20bn-something-something-v2"
    root.mkdir()
    entries = []
    for n, (source, template) in enumerate([(DIRECTION_CLASSES[0], "Pushing [something] from left to right"),
                                            (DIRECTION_CLASSES[1], "Pushing [something] from right to left")]):
        for k, path in enumerate(videos[source]):
            vid = str(1000 * (n + 1) + k)
            shutil.copy(path, root / f"{vid}.mp4")
            entries.append({"id": vid, "label": f"pushing a cup from {'left' if n == 0 else 'right'}",
                            "template": template, "placeholders": ["a cup"]})
    (tmp_path / "train.json").write_text(json.dumps(entries[:4] + entries[6:10]))
    (tmp_path / "validation.json").write_text(json.dumps(entries[4:6] + entries[10:]))
    (tmp_path / "test.json").write_text(json.dumps([{"id": e["id"]} for e in entries[4:6]]))
    train = load_records(str(tmp_path / "train.json"), str(root))
    assert sorted(train.label_names) == ["Pushing something from left to right", "Pushing something from right to left"]
    assert len(train) == 8 and train.present.all()
    assert load_records(str(tmp_path / "test.json"), str(root)).label_names == ("",)
    (tmp_path / "broken.json").write_text(json.dumps([{"label": "x", "template": "y"}]))
    with pytest.raises(ValueError, match="broken.json: video 1: expected"):
        load_records(str(tmp_path / "broken.json"), str(root))


def test_data_synth_writes_every_layout_of_the_same_videos(tmp_path):
    """`data synth --task direction` writes UCF101's, HMDB51's and SSv2's own files beside the
    Kinetics lists: each reads back as the same videos of each split (SSv2: its template classes)."""
    out = tmp_path / "d"
    assert main(["data", "synth", str(out), "--task", "direction", "--videos-per-class", "5"]) == 0
    kinetics = {s: load_records(str(out / f"{s}.csv")) for s in ("train", "val", "test")}
    by_path = {s: sorted((r.path, r.label) for r in kinetics[s]) for s in kinetics}
    ucf = {s: load_records(str(out / "ucfTrainTestlist" / f"{s}list01.txt"), str(out)) for s in ("train", "test")}
    hmdb = {s: load_records(str(out / "testTrainMulti_7030_splits" / f"{s}_split1"), str(out)) for s in ("train", "test")}
    for split in ("train", "test"):
        assert sorted((r.path, r.label) for r in ucf[split]) == by_path[split]
        assert sorted((r.path, r.label) for r in hmdb[split]) == by_path[split]
    ssv2 = load_records(str(out / "validation.json"), str(out))
    assert ssv2.present.all() and sorted(r.path for r in ssv2) == [p for p, _ in by_path["val"]]
    assert sorted(ssv2.label_names) == ["Moving something from left to right", "Moving something from right to left"]
