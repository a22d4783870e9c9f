import csv
import json

import numpy as np

from gcvideo.engine.report import compute_metrics, write_reports


def pred(index, label, scores=None, reason=""):
    return {"index": index, "video_id": f"v{index}", "path": f"/v{index}.mp4", "label": label,
            "ok": scores is not None, "reason": reason, "scores": scores}


def test_metrics_by_hand(tmp_path):
    one_hot = lambda c, n=6: list(np.eye(n)[c] * 0.5 + 0.05)   # noqa: E731
    preds = [pred(0, 0, one_hot(0)), pred(1, 0, one_hot(1)), pred(2, 1, one_hot(1)),
             pred(3, 2, [0.3, 0.25, 0.2, 0.1, 0.1, 0.05]), pred(4, 2, None, "missing")]
    m = compute_metrics(preds, 6)
    assert (m["videos"], m["readable"], m["failed"]) == (5, 4, 1)
    assert m["top1"] == 0.5 and m["top1_all"] == 2 / 5
    assert m["top5"] == 1.0 and m["top5_all"] == 4 / 5
    assert m["per_class_accuracy"][:3] == [0.5, 1.0, 0.0]
    assert m["mean_class_accuracy"] == 0.5                       # classes 0, 1, 2 present
    assert m["confusion"][0][:2] == [1, 1] and m["confusion"][2][0] == 1
    classes = [f"c{i}" for i in range(6)]
    paths = write_reports(str(tmp_path), preds, classes, m)
    rows = list(csv.DictReader(open(paths["predictions.csv"])))
    assert [r["video_id"] for r in rows] == ["v0", "v1", "v2", "v3"]
    assert rows[1]["label"] == "c0" and rows[1]["top1"] == "c1" and float(rows[1]["score1"]) == 0.55
    failures = list(csv.DictReader(open(paths["failures.csv"])))
    assert failures == [{"video_id": "v4", "path": "/v4.mp4", "label": "c2", "reason": "missing"}]
    assert json.load(open(paths["metrics.json"]))["top1_all"] == 0.4
    for png in ("confusion.png", "per_class_accuracy.png"):
        assert open(paths[png], "rb").read(4) == b"\x89PNG"


def test_many_classes_plot_top_confusions(tmp_path):
    rng = np.random.default_rng(0)
    preds = [pred(i, i % 60, list(rng.random(60))) for i in range(120)]
    m = compute_metrics(preds, 60)
    paths = write_reports(str(tmp_path), preds, [f"class{i}" for i in range(60)], m)
    assert open(paths["confusion.png"], "rb").read(4) == b"\x89PNG"
