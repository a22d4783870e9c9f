"""Video-level evaluation results: metrics, predictions.csv, failures.csv, metrics.json, plots --
and :class:`VideoReports`, the callback that makes them at the end of ``test`` and ``validate``
(and ``curves.png`` at the end of ``fit``)."""
import csv
import json
import os
from typing import Optional, Sequence

import numpy as np
import pytorch_lightning as pl
import torch

from .inference import validate_command


class VideoReports(pl.Callback):
    """At the end of ``test`` and of the ``validate`` command (not fit-time validation): gathers
    every rank's video-level predictions (the records its steps return; each video exactly once),
    computes and logs the metrics, and on rank 0 writes the reports to
    ``<default_root_dir>/<stage>_<views>/`` and prints the summary (top-1, fewer views, the data
    fingerprint). The metrics stay in ``metrics`` for callers (demo, ablate: ``callback_of``)."""

    def __init__(self) -> None:
        # the checkpoint scored ({"path", "sha256"}), set by the command before it runs; written
        # to metrics.json so that a report always says whose numbers it holds
        self.checkpoint: Optional[dict] = None
        self.metrics: Optional[dict] = None             # the last evaluation's
        self.predictions: list[dict] = []               # this rank's, of the running evaluation

    def on_validation_epoch_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        self.predictions = []

    def on_test_epoch_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        self.predictions = []

    def on_validation_batch_end(self, trainer, module, outputs, batch, batch_idx: int, dataloader_idx: int = 0) -> None:
        if validate_command(trainer) and outputs:
            self.predictions.extend(outputs)

    def on_test_batch_end(self, trainer, module, outputs, batch, batch_idx: int, dataloader_idx: int = 0) -> None:
        if outputs:
            self.predictions.extend(outputs)

    def on_validation_epoch_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        if validate_command(trainer):
            self.report(trainer, module, "val")

    def on_test_epoch_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        self.report(trainer, module, "test")

    def on_fit_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        if trainer.is_global_zero:
            write_curves(trainer.default_root_dir, trainer.loggers)

    def report(self, trainer: pl.Trainer, module: pl.LightningModule, stage: str) -> dict:
        predictions = gather_predictions(self.predictions)
        multi_label = bool(module.hparams.get("multi_label", False))
        metrics = (compute_multilabel_metrics if multi_label else compute_metrics)(predictions,
                                                                                   module.hparams.num_classes)
        dm = trainer.datamodule
        if self.checkpoint is not None:
            metrics["checkpoint"] = self.checkpoint
        if hasattr(dm, "spec"):             # the views these numbers come from
            metrics["view"] = dm.spec.evaluation_view()
        if hasattr(dm, "fingerprint"):      # which copy of the data gave these numbers
            metrics["data"] = {**dm.fingerprint(stage), "readable": metrics["readable"]}
        for name in (("mAP", "failed") if multi_label else
                     ("top1", "top5", "top1_all", "top5_all", "mean_class_accuracy", "failed")):
            module.log(f"{stage}/{name}", float(metrics[name]), sync_dist=False, rank_zero_only=False,
                       batch_size=1)
        if trainer.is_global_zero:
            views = "x".join(map(str, getattr(dm, "test_views", (1, 1))))
            out = os.path.join(trainer.default_root_dir, f"{stage}_{views}")
            classes = module.class_names
            write_reports(out, predictions, classes, metrics)
            bar = trainer.progress_bar_callback       # its print keeps the summary off the bar's line
            (bar.print if bar is not None else print)(summary_lines(stage, views, metrics, out))
        self.metrics = metrics
        return metrics


def gather_predictions(predictions: list[dict]) -> list[dict]:
    """Every rank's predictions (under torch.distributed), one per video, in video order."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        gathered = [None] * torch.distributed.get_world_size()
        torch.distributed.all_gather_object(gathered, predictions)
        predictions = [p for part in gathered for p in part]
    by_index = {p["index"]: p for p in predictions}
    return [by_index[i] for i in sorted(by_index)]


def summary_lines(stage: str, views: str, metrics: dict, out: str) -> str:
    view = metrics.get("view")
    frames = (f"{view['num_frames']} frames, one per segment" if view and view.get("sampling") == "segments"
              else f"{view['num_frames']}x{view['sampling_rate']} frames" if view else "")
    views = (f"{views} views of {frames}, short side {view['short_side']}, "
             f"{view['crop']}-px crops" + (f", the {view['protocol']} protocol" if view.get("protocol", "gcvideo")
                                          != "gcvideo" else "") if view else f"{views} views")
    if "mAP" in metrics:
        lines = [f"{stage} ({views}, {metrics['readable']}/{metrics['videos']} videos readable): "
                 f"mAP {100 * metrics['mAP']:.2f} % over {metrics['classes_with_positives']} classes "
                 f"(a random predictor's: {100 * metrics['chance_mAP']:.2f} %); reports in {out}"]
    else:
        lines = [f"{stage} ({views}, {metrics['readable']}/{metrics['videos']} videos readable): "
                 f"top-1 {100 * metrics['top1']:.2f} %, top-5 {100 * metrics['top5']:.2f} %, "
                 f"mean class accuracy {100 * metrics['mean_class_accuracy']:.2f} %; reports in {out}"]
    if "views" in metrics:
        key = "mAP" if "mAP" in metrics else "top1"
        lines.append("  fewer views (subsets of the same pass): " + ", ".join(
            f"{name} {100 * m[key]:.2f} %" for name, m in metrics["views"].items()))
    if "data" in metrics:
        d = metrics["data"]
        lines.append(f"  data: {d['rows']} rows, {d['present']} present, {d['readable']} readable, "
                     f"sha256 {d['sha256']}")
    return "\n".join(lines)


def compute_metrics(predictions: Sequence[dict], num_classes: int) -> dict[str, object]:
    """Top-1/top-5 over videos, mean and per-class accuracy, confusion matrix.

    ``predictions``: one dict per video with ``label``, ``ok`` and (when ok) ``scores``
    (class probabilities). Unreadable videos count as wrong in ``*_all`` metrics and are
    left out of the others.
    """
    readable = [p for p in predictions if p["ok"] and p["label"] >= 0]
    total = sum(1 for p in predictions if p["label"] >= 0)
    k = min(5, num_classes)
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    top1 = top5 = 0
    for p in readable:
        ranked = np.argsort(-np.asarray(p["scores"]), kind="stable")
        confusion[p["label"], ranked[0]] += 1
        top1 += int(ranked[0] == p["label"])
        top5 += int(p["label"] in ranked[:k])
    per_class = confusion.diagonal() / np.maximum(confusion.sum(1), 1)
    present = confusion.sum(1) > 0
    n = max(len(readable), 1)
    views = {}
    for name in (readable[0].get("subsets") or {}) if readable else {}:   # top-5 classes per view subset
        ranked = [p["subsets"][name] for p in readable]
        views[name] = {"top1": sum(r[0] == p["label"] for r, p in zip(ranked, readable)) / n,
                       "top5": sum(p["label"] in r[:k] for r, p in zip(ranked, readable)) / n}
    return {
        "videos": len(predictions), "readable": len(readable), "failed": len(predictions) - len(readable),
        "top1": top1 / n, "top5": top5 / n,
        "top1_all": top1 / max(total, 1), "top5_all": top5 / max(total, 1),
        "mean_class_accuracy": float(per_class[present].mean()) if present.any() else 0.0,
        "per_class_accuracy": per_class.tolist(), "confusion": confusion.tolist(),
        **({"views": views} if views else {}),
    }


def average_precisions(scores: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Each class's average precision (torchmetrics) of (videos, classes) scores against multi-hot
    targets; NaN for a class without a positive video."""
    from torchmetrics.functional.classification import multilabel_average_precision

    out = np.full(targets.shape[1], np.nan)
    present = np.flatnonzero(targets.sum(0) > 0) if len(scores) else []
    if len(present):
        ap = multilabel_average_precision(torch.as_tensor(scores[:, present], dtype=torch.float32),
                                          torch.as_tensor(targets[:, present]).int(), num_labels=len(present),
                                          average=None)
        out[present] = ap.reshape(-1).numpy()
    return out


def compute_multilabel_metrics(predictions: Sequence[dict], num_classes: int) -> dict[str, object]:
    """mAP over videos (multi-label): each class's average precision, averaged over the classes
    with at least one positive video (PySlowFast's Charades mAP), and what a random predictor
    scores (each class's share of positive videos, the expectation of its AP).

    ``predictions``: one dict per video with ``label`` (its list of classes), ``ok`` and (when ok)
    ``scores`` (class probabilities) and ``subsets`` (the probabilities of fewer views). Unreadable
    videos are left out and counted."""
    readable = [p for p in predictions if p["ok"]]
    targets = np.zeros((len(readable), num_classes), np.int64)
    for row, p in zip(targets, readable):
        row[p["label"]] = 1
    scores = np.array([p["scores"] for p in readable], float).reshape(len(readable), num_classes)
    per_class = average_precisions(scores, targets)
    present = ~np.isnan(per_class)
    views = {name: {"mAP": float(np.nanmean(average_precisions(
        np.array([p["subsets"][name] for p in readable], float), targets))) if present.any() else 0.0}
        for name in ((readable[0].get("subsets") or {}) if readable else {})}
    return {
        "videos": len(predictions), "readable": len(readable), "failed": len(predictions) - len(readable),
        "mAP": float(per_class[present].mean()) if present.any() else 0.0,
        "chance_mAP": float(targets.mean(0)[present].mean()) if present.any() else 0.0,
        "classes_with_positives": int(present.sum()),
        "per_class_ap": [None if np.isnan(v) else float(v) for v in per_class],
        "positives": targets.sum(0).tolist(),
        **({"views": views} if views else {}),
    }


def _label_text(label, classes: list[str]) -> str:
    """A prediction record's label as text: its class, or (multi-label) its classes joined by ';'."""
    if isinstance(label, list):
        return ";".join(classes[i] for i in label)
    return classes[label] if label >= 0 else ""


def write_reports(out_dir: str, predictions: Sequence[dict], classes: list[str], metrics: dict) -> dict[str, str]:
    os.makedirs(out_dir, exist_ok=True)
    paths = {name: os.path.join(out_dir, name) for name in
             ("predictions.csv", "failures.csv", "metrics.json", "confusion.png", "per_class_accuracy.png",
              "per_class_ap.png", "views.png")}
    k = min(5, len(classes))
    with open(paths["predictions.csv"], "w", newline="", encoding="utf-8", errors="surrogateescape") as f:
        writer = csv.writer(f)
        writer.writerow(["video_id", "path", "label"] + [c for i in range(1, k + 1) for c in (f"top{i}", f"score{i}")])
        for p in sorted(predictions, key=lambda p: p["index"]):
            if not p["ok"]:
                continue
            ranked = np.argsort(-np.asarray(p["scores"]), kind="stable")[:k]
            row = [p["video_id"], p["path"], _label_text(p["label"], classes)]
            for c in ranked:
                row += [classes[c], f"{p['scores'][c]:.6f}"]
            writer.writerow(row)
    with open(paths["failures.csv"], "w", newline="", encoding="utf-8", errors="surrogateescape") as f:
        writer = csv.writer(f)
        writer.writerow(["video_id", "path", "label", "reason"])
        for p in sorted(predictions, key=lambda p: p["index"]):
            if not p["ok"]:
                writer.writerow([p["video_id"], p["path"], _label_text(p["label"], classes), p["reason"]])
    with open(paths["metrics.json"], "w", encoding="utf-8") as f:
        json.dump({**metrics, "classes": list(classes)}, f, indent=2)
    _plots(paths, metrics, classes)
    return paths


def _plots(paths: dict, metrics: dict, classes: list[str]) -> None:
    from .figures import confusion_figure, per_class_figure, save, views_figure

    if "mAP" in metrics:                 # multi-label: per-class AP, no confusion matrix
        save(per_class_figure(metrics["per_class_ap"], classes, metrics["mAP"], "AP"), paths["per_class_ap.png"])
        if metrics.get("views"):
            save(views_figure(metrics["views"], len(classes), "mAP"), paths["views.png"])
        return
    save(confusion_figure(metrics["confusion"], classes), paths["confusion.png"])
    save(per_class_figure(metrics["per_class_accuracy"], classes, metrics["mean_class_accuracy"]),
         paths["per_class_accuracy.png"])
    if metrics.get("views"):
        save(views_figure(metrics["views"], len(classes)), paths["views.png"])


def run_versions(root: str) -> list[str]:
    """The run's ``csv/version_N`` folders, oldest first (a resumed run adds one per start)."""
    folder = os.path.join(root, "csv")
    names = [d for d in os.listdir(folder) if d.startswith("version_")] if os.path.isdir(folder) else []
    return [os.path.join(folder, d) for d in sorted(names, key=lambda d: int(d.split("_")[1]))]


def write_curves(root: str, loggers=()) -> Optional[str]:
    """``<root>/curves.png``: loss, top-1 and lr per epoch from the run's ``csv/version_*/metrics.csv``
    (every version: a resumed run continues its curves); None when there is nothing to plot."""
    from .figures import curves_figure, read_epoch_metrics, save

    for logger in loggers:                 # what the loggers hold in memory, on disk first
        if hasattr(logger, "save"):
            logger.save()
    files = [os.path.join(v, "metrics.csv") for v in run_versions(root)
             if os.path.exists(os.path.join(v, "metrics.csv"))]
    epochs = read_epoch_metrics(files) if files else {}
    if not epochs:
        return None
    return save(curves_figure(epochs), os.path.join(root, "curves.png"))
