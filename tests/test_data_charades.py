"""Charades, multi-label: its CSVs (actions with time spans) read by the one reader, checked row by
row, kept through `data check` and `data prepare`; a clip's targets are the actions its frames
overlap; and a Charades-format run on generated videos learns (mAP clearly above a random
predictor's). No download is possible here: `data synth --task actions` writes the format."""
import csv
import json
import os

import numpy as np
import pytest
import torch

from gcvideo.cli import main
from gcvideo.data.dataset import VideoClipDataset
from gcvideo.data.multiview import MultiViewDataset
from gcvideo.data.records import ActionTargets, action_spans, class_index, label_classes, list_format, load_records
from gcvideo.data.synth import synthesize_actions


@pytest.fixture(scope="module")
def charades(tmp_path_factory):
    root = tmp_path_factory.mktemp("charades")
    synthesize_actions(str(root), videos_per_class=20, classes=4, frames=64, size=(48, 32), progress=False)
    return str(root)


def test_the_csv_is_read_as_multi_label_records_with_their_spans(charades):
    path = os.path.join(charades, "Charades_v1_train.csv")
    records = load_records(path, charades)
    assert list_format(path) == "charades" and records.multi_label and records.present.all()
    rows = list(csv.DictReader(open(path)))
    assert len(records) == len(rows) == 48
    assert [r.video_id for r in records] == [row["id"] for row in rows]
    assert records[0].path == os.path.join(charades, rows[0]["id"] + ".mp4")
    assert action_spans(records[0].label) == [(c, float(a), float(b)) for c, a, b in
                                              (e.split() for e in rows[0]["actions"].split(";"))]
    assert class_index(records) == {f"c{k:03d}": k for k in range(4)}       # the action ids, sorted
    counts = records.class_counts()
    assert sum(counts.values()) == sum(len(label_classes(r.label, True)) for r in records)


@pytest.mark.parametrize("row, message", [
    ("AB12,c001 1.0 2.0,3", "expected 2 columns, got 3"),
    ("AB12,c001 1.0", "actions: expected 'cNNN START END'"),
    ("AB12,x001 1.0 2.0", "actions: expected 'cNNN START END'"),
    ("AB12,c001 2.5 1.0", "action c001 ends (1 s) before it starts (2.5 s)"),
    (",c001 1.0 2.0", "the id is empty"),
])
def test_a_malformed_row_is_named_with_its_file_and_line(tmp_path, row, message):
    path = tmp_path / "Charades_v1_train.csv"
    path.write_text(f"id,actions\nOK01,c000 0.0 1.0;c002 0.5 1.5\n{row}\n")
    with pytest.raises(ValueError) as caught:
        load_records(str(path), str(tmp_path))
    assert str(caught.value).startswith(f"{path}:3: ") and message in str(caught.value)


def test_a_videos_without_actions_has_none_and_is_still_listed(tmp_path):
    path = tmp_path / "Charades_v1_test.csv"
    path.write_text('id,actions,length\nA,,3.0\nB,"c003 0.0 1.0;c001 0.5 2.0",3.0\n')
    records = load_records(str(path), str(tmp_path))
    assert [label_classes(r.label, True) for r in records] == [[], ["c001", "c003"]]
    targets = ActionTargets(records, {f"c{k:03d}": k for k in range(4)})
    assert targets.classes(0).tolist() == [] and targets.classes(1).tolist() == [1, 3]
    assert targets.classes(1, np.array([1.2, 1.5])).tolist() == [1]            # c003 ended at 1.0 s
    assert targets.classes(1, np.array([0.2, 0.4])).tolist() == [3]
    assert targets.classes(1, np.array([0.9, 1.1])).tolist() == [1, 3]


def test_a_training_clip_carries_the_actions_its_frames_overlap(charades):
    records = load_records(os.path.join(charades, "Charades_v1_train.csv"), charades)
    classes = class_index(records)
    data = VideoClipDataset(records, classes, "train", num_frames=4, sampling_rate=4, train_short_side=(32, 32),
                            crop_size=32, flip=False)
    targets = ActionTargets(records, classes)
    for index in range(6):
        rng = np.random.default_rng([data.seed, 0, index])
        _, _, windows = data.load_views(index, [rng])
        expected = targets.multi_hot(targets.classes(index, windows[0]))
        sample = data[index]                        # epoch 0: the same draws
        assert sample["label"].dtype == torch.float32 and sample["label"].tolist() == expected.tolist()
    video_level = VideoClipDataset(records, classes, "val", num_frames=4, sampling_rate=4, eval_short_side=32,
                                   crop_size=32)
    assert video_level[0]["label"].tolist() == targets.multi_hot(targets.classes(0)).tolist()
    views = MultiViewDataset(records, classes, num_frames=4, sampling_rate=4, clips=2, crops=1, short_side=32,
                             crop_size=32)
    assert views[0]["label"] == targets.classes(0).tolist()                   # the video's classes, a list


def test_check_and_prepare_keep_the_charades_csv(charades, tmp_path):
    source = os.path.join(charades, "Charades_v1_val.csv")
    broken = tmp_path / "videos"
    broken.mkdir()
    rows = list(csv.DictReader(open(source)))
    for row in rows:
        os.symlink(os.path.join(charades, row["id"] + ".mp4"), broken / (row["id"] + ".mp4"))
    (broken / (rows[0]["id"] + ".mp4")).unlink()
    (broken / (rows[0]["id"] + ".mp4")).write_bytes(b"not a video")
    assert main(["data", "check", source, "--root", str(broken), "--workers", "1", "--num-frames", "4",
                 "--sampling-rate", "2", "--out", str(tmp_path / "checked")]) == 1
    clean = list(csv.DictReader(open(tmp_path / "checked.clean.csv")))
    assert [r["id"] for r in clean] == [r["id"] for r in rows[1:]]
    assert [r["actions"] for r in clean] == [r["actions"] for r in rows[1:]]        # spans kept, as written
    assert load_records(str(tmp_path / "checked.clean.csv"), str(broken)).multi_label
    dst = tmp_path / "prepared"
    main(["data", "prepare", str(broken), str(dst), "--list", source, "--short-side", "32", "--jobs", "1"])
    prepared = list(csv.DictReader(open(dst / "Charades_v1_val.csv")))
    assert [r["id"] for r in prepared] == [r["id"] for r in rows[1:]]
    assert load_records(str(dst / "Charades_v1_val.csv"), str(dst)).present.all()


def test_a_charades_run_learns_its_actions(charades, tmp_path, capsys):
    """fit -> test on the generated Charades-format videos: multi-label all the way (BCE, val mAP,
    best.ckpt by it, views combined by max), and the test mAP is clearly above a random
    predictor's (each class's share of positive videos)."""
    run = tmp_path / "run"
    args = ["--trainer.default_root_dir", str(run), "--trainer.accelerator", "cpu", "--trainer.devices", "1",
            "--trainer.enable_progress_bar", "false", "--trainer.num_sanity_val_steps", "0",
            "--trainer.log_every_n_steps", "1", "--data.root", charades,
            "--data.train", "Charades_v1_train.csv", "--data.val", "Charades_v1_val.csv",
            "--data.test", "Charades_v1_test.csv", "--data.num_frames", "8", "--data.sampling_rate", "8",
            "--data.train_short_side", "[32, 36]", "--data.crop_size", "32", "--data.eval_short_side", "32",
            "--data.test_views", "2x1", "--data.batch_size", "4", "--data.num_workers", "0"]
    model = ["--model.model", "slow_r50", "--model.backbone", '{"depths": [1, 1, 1, 1], "width": 8}',
             "--model.optimizer", "adamw", "--model.lr", "0.05", "--model.weight_decay", "0",
             "--model.warmup_epochs", "1", "--model.view_average", "max"]
    assert main(["fit", *args, *model, "--trainer.max_epochs", "12"]) == 0
    best = run / "checkpoints" / "best.ckpt"
    saved = torch.load(best, map_location="cpu", weights_only=False)
    assert saved["hyper_parameters"]["multi_label"] is True
    assert any("val/mAP" in str(k) for k in saved["callbacks"])                 # best.ckpt by val mAP
    capsys.readouterr()
    assert main(["test", *args, "--ckpt_path", str(best)]) == 0
    assert "mAP" in capsys.readouterr().out
    metrics = json.load(open(run / "test_2x1" / "metrics.json"))
    assert metrics["classes_with_positives"] == 4 and metrics["readable"] == 16
    assert 0.3 < metrics["chance_mAP"] < 0.6
    print(f"test mAP {metrics['mAP']:.3f}, a random predictor's {metrics['chance_mAP']:.3f}")
    assert metrics["mAP"] > metrics["chance_mAP"] + 0.12, metrics
    assert os.path.exists(run / "test_2x1" / "per_class_ap.png")
    predictions = list(csv.DictReader(open(run / "test_2x1" / "predictions.csv")))
    assert all(set(p["label"].split(";")) <= {f"c{k:03d}" for k in range(4)} for p in predictions)
    capsys.readouterr()                 # the validate command: per video, one view, the same multi-label path
    assert main(["validate", *args, "--data.test_views", "1x1", "--ckpt_path", str(best)]) == 0
    assert "mAP" in capsys.readouterr().out and os.path.exists(run / "val_1x1" / "per_class_ap.png")
    assert main(["report", "run", str(run)]) == 0
    page = open(run / "report.html", encoding="utf-8").read()
    assert "Per-class AP" in page and "test mAP" in page
