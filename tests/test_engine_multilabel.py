"""Multi-label evaluation pieces: sigmoid probabilities and max over views, the mAP of the reports
(PySlowFast's: classes without a positive video left out) against a hand computation, and the
options that do not apply to multi-label data."""
import numpy as np
import pytest
import torch

from gcvideo.engine.inference import average_views, video_scores
from gcvideo.engine.module import VideoClassifier, topk_hits
from gcvideo.engine.report import compute_multilabel_metrics, summary_lines


def hand_ap(scores, positives) -> float:
    """Average precision by its definition: the precision at each positive, ranked by score."""
    order = np.argsort(-np.asarray(scores), kind="stable")
    hits, total = 0, []
    for rank, i in enumerate(order, 1):
        if positives[i]:
            hits += 1
            total.append(hits / rank)
    return float(np.mean(total))


def test_views_combine_as_the_checkpoint_says():
    logits = torch.tensor([[[2.0, -1.0], [-2.0, 0.5]]])            # one video, two views
    assert torch.allclose(average_views(logits, "max", multi_label=True), torch.tensor([[2.0, 0.5]]).sigmoid())
    assert torch.allclose(average_views(logits, "softmax", multi_label=True), logits.sigmoid().mean(1))
    assert torch.allclose(average_views(logits, "logits", multi_label=True), logits.mean(1).sigmoid())
    assert torch.allclose(average_views(logits, "max"), logits.softmax(-1).amax(1))
    scores, subsets = video_scores(logits[0], 2, 1, "max", multi_label=True)
    assert scores == pytest.approx(torch.tensor([2.0, 0.5]).sigmoid().tolist())
    assert subsets["1x1"] == pytest.approx(torch.tensor([-2.0, 0.5]).sigmoid().tolist())    # its probabilities


def test_report_map_is_the_mean_ap_of_the_classes_with_positives():
    rng = np.random.default_rng(0)
    labels = [[0, 2], [1], [0], [2], [0, 1], []]                # class 3: no positive video
    scores = rng.random((6, 4))
    predictions = [{"label": lab, "ok": True, "scores": s.tolist(), "subsets": {"1x1": s.tolist()}}
                   for lab, s in zip(labels, scores)]
    predictions.append({"label": [1], "ok": False, "scores": None, "reason": "missing"})
    metrics = compute_multilabel_metrics(predictions, 4)
    targets = np.zeros((6, 4), bool)
    for row, lab in zip(targets, labels):
        row[lab] = True
    expected = [hand_ap(scores[:, k], targets[:, k]) for k in range(3)]
    assert metrics["per_class_ap"][:3] == pytest.approx(expected) and metrics["per_class_ap"][3] is None
    assert metrics["mAP"] == pytest.approx(np.mean(expected)) and metrics["views"]["1x1"]["mAP"] == metrics["mAP"]
    assert metrics["chance_mAP"] == pytest.approx(np.mean([3 / 6, 2 / 6, 2 / 6]))
    assert (metrics["readable"], metrics["failed"], metrics["classes_with_positives"]) == (6, 1, 3)
    assert metrics["positives"] == [3, 2, 2, 0]
    line = summary_lines("test", "1x1", metrics, "out")
    assert f"mAP {100 * np.mean(expected):.2f} % over 3 classes" in line and "random predictor" in line


def test_training_hits_count_a_ranked_class_that_is_one_of_the_clips():
    logits = torch.tensor([[3.0, 2.0, 1.0], [1.0, 2.0, 3.0]])
    targets = torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    assert topk_hits(logits, targets, 2).tolist() == [1.0, 2.0, 2.0]      # top-1: clip 2; top-2: both


def test_single_label_options_are_refused_for_multi_label_data():
    for option in ({"mixup_alpha": 0.2}, {"cutmix_alpha": 1.0}, {"label_smoothing": 0.1}):
        with pytest.raises(ValueError, match="multi-label"):
            VideoClassifier("slow_r50", num_classes=4, multi_label=True, **option)
    module = VideoClassifier("slow_r50", backbone={"depths": [1, 1, 1, 1], "width": 4}, num_classes=3,
                             multi_label=True)
    logits, target = torch.randn(2, 3), torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 0.0]])
    assert torch.allclose(module.loss(logits, target),
                          torch.nn.functional.binary_cross_entropy_with_logits(logits, target))


def test_report_map_is_pyslowfasts_charades_map():
    """PySlowFast's Charades mAP (slowfast/utils/meters.py ``get_map``, newer than the PyPI slowfast 1.0
    the other peer tests use, so not importable here) drops the classes without a positive and averages
    scikit-learn's ``average_precision_score`` over the rest: the same function, computed here."""
    from sklearn.metrics import average_precision_score

    rng = np.random.default_rng(1)
    targets = (rng.random((40, 7)) < 0.3).astype(int)
    targets[:, 5] = 0                                              # a class with no positive video
    scores = rng.random((40, 7))
    kept = ~np.all(targets == 0, axis=0)
    expected = average_precision_score(targets[:, kept], scores[:, kept], average=None).mean()
    predictions = [{"label": np.flatnonzero(t).tolist(), "ok": True, "scores": s.tolist()}
                   for t, s in zip(targets, scores)]
    assert compute_multilabel_metrics(predictions, 7)["mAP"] == pytest.approx(expected, abs=1e-6)
