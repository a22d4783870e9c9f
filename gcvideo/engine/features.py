"""Per-video feature vectors written as ``trainer.predict`` runs: shards and an index.

:class:`FeatureShardWriter` is a prediction writer for
:meth:`~gcvideo.engine.module.VideoClassifier.predict_step`: each rank writes its videos' vectors
of one layer in shards (``features-NNNNN.npy``, float32, ``shard_size`` rows; per rank
``features-rank<r>-NNNNN.npy``) with an index of its videos (``index.csv``; per rank
``index-rank<r>.csv``, merged by rank 0 in list order at the end): video_id, path, label, shard, row,
status, reason and ``top`` (the top-5 classes with their probabilities, ``class:p;...``). A video
that cannot be read is listed with its reason and no row. Shards and the index are written
atomically after every shard, so an interrupted run loses at most one shard of work;
:func:`finished_rows` gives a new run the videos an earlier one finished.
"""
import csv
import glob
import io
import os
import sys

import numpy as np
import pytorch_lightning as pl
from pytorch_lightning.callbacks import BasePredictionWriter

from ..files import write_atomic

INDEX_FIELDS = ["video_id", "path", "label", "shard", "row", "status", "reason", "top"]
TOP = 5


def read_index(path: str) -> list[dict]:
    """The rows of an index file (none when it does not exist)."""
    if not os.path.exists(path):
        return []
    with open(path, newline="", encoding="utf-8", errors="surrogateescape") as f:    # any file name's bytes
        return list(csv.DictReader(f))


def write_index(path: str, rows: list[dict]) -> None:
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=INDEX_FIELDS)
    writer.writeheader()
    writer.writerows(rows)
    write_atomic(path, text.getvalue().encode("utf-8", "surrogateescape"))


def finished_rows(out: str) -> list[dict]:
    """The ok rows of an earlier run in ``out`` (its index, and the per-rank indexes of a
    distributed run that was interrupted before it merged them), one per path."""
    paths = [os.path.join(out, "index.csv")] + sorted(glob.glob(os.path.join(out, "index-rank*.csv")))
    rows = {r["path"]: r for p in paths for r in read_index(p) if r["status"] == "ok"}
    return list(rows.values())


def load_features(out: str) -> tuple[list[dict], np.ndarray]:
    """The index rows and a (videos, C) array of the ok ones' vectors, in index order."""
    rows = read_index(os.path.join(out, "index.csv"))
    shards, vectors = {}, []
    for r in rows:
        if r["status"] == "ok":
            if r["shard"] not in shards:
                shards[r["shard"]] = np.load(os.path.join(out, r["shard"]))
            vectors.append(shards[r["shard"]][int(r["row"])])
    return rows, np.stack(vectors) if vectors else np.zeros((0, 0), np.float32)


def top_classes(probabilities, classes: list[str], k: int = TOP) -> str:
    """``class:p;...`` of the ``k`` most probable classes."""
    best = probabilities.topk(min(k, len(classes)))
    return ";".join(f"{classes[i]}:{p:.4f}" for p, i in zip(best.values.tolist(), best.indices.tolist()))


class FeatureShardWriter(BasePredictionWriter):
    """Writes the ``layer`` vectors of the videos of ``records`` that
    :meth:`VideoClassifier.predict_step` returns (see the module doc). ``earlier``: rows an earlier
    run finished, kept in the index (rank 0's)."""

    def __init__(self, out: str, records, layer: str, classes: list[str], shard_size: int,
                 earlier: list[dict] = ()) -> None:
        super().__init__(write_interval="batch")
        self.out, self.records, self.layer, self.classes = out, records, layer, classes
        self.shard_size, self.earlier = shard_size, list(earlier)
        self.vectors, self.pending, self.rows = [], [], []
        self.order = {records.path(i): i for i in range(len(records))}        # the index keeps list order
        self.world, self.rank = 1, 0

    def setup(self, trainer: pl.Trainer, module, stage: str) -> None:
        self.world, self.rank = trainer.world_size, trainer.global_rank
        self.rows = list(self.earlier) if self.rank == 0 else []
        taken = [int(name[len(self.prefix) + 1:-4]) for name in os.listdir(self.out)
                 if name.startswith(self.prefix + "-") and name[len(self.prefix) + 1:-4].isdigit()]
        self.shard = max(taken, default=-1) + 1

    @property
    def prefix(self) -> str:
        return "features" if self.world == 1 else f"features-rank{self.rank}"

    @property
    def index_path(self) -> str:
        return os.path.join(self.out, "index.csv" if self.world == 1 else f"index-rank{self.rank}.csv")

    def write_on_batch_end(self, trainer, module, prediction: dict, batch_indices, batch, batch_idx: int,
                           dataloader_idx: int = 0) -> None:
        i = prediction["index"]
        probabilities = prediction["probabilities"]
        self.pending.append({"video_id": self.records.video_id(i), "path": self.records.path(i),
                             "label": self.records.label(i), "shard": "", "row": "",
                             "status": "ok" if prediction["ok"] else "failed", "reason": prediction["reason"],
                             "top": top_classes(probabilities, self.classes) if probabilities is not None else ""})
        if prediction["features"] is not None:
            self.vectors.append(prediction["features"][self.layer].numpy())
        if len(self.vectors) >= self.shard_size:
            self.flush()

    def flush(self) -> None:
        if self.vectors:
            name = f"{self.prefix}-{self.shard:05d}.npy"
            buffer = io.BytesIO()
            np.save(buffer, np.stack(self.vectors).astype(np.float32))
            write_atomic(os.path.join(self.out, name), buffer.getvalue())    # a full disk: one line, no partial file
            for row, entry in enumerate(e for e in self.pending if e["status"] == "ok"):
                entry.update(shard=name, row=row)
            self.shard += 1
        self.rows.extend(self.pending)
        write_index(self.index_path, self.rows)
        self.vectors, self.pending = [], []

    def on_predict_end(self, trainer: pl.Trainer, module) -> None:
        self.flush()
        write_index(self.index_path, self.in_list_order(self.rows))
        if trainer.world_size > 1:
            trainer.strategy.barrier("features: rank indexes written")
            if trainer.is_global_zero:
                merged = [r for k in range(trainer.world_size)
                          for r in read_index(os.path.join(self.out, f"index-rank{k}.csv"))]
                write_index(os.path.join(self.out, "index.csv"), self.in_list_order(merged))
            trainer.strategy.barrier("features: index merged")

    def in_list_order(self, rows: list[dict]) -> list[dict]:
        return sorted(rows, key=lambda r: self.order.get(r["path"], len(self.order)))


def prediction_trainer(progress: bool) -> pl.Trainer:
    """A Trainer for ``trainer.predict`` in one process, or one rank of a ``torchrun`` launch
    (WORLD_SIZE, LOCAL_WORLD_SIZE): DDP, which gives each video to exactly one rank (predict never
    pads). Progress as a bar on a terminal, as lines in a log file."""
    import logging

    from ..progress import is_terminal
    from .callbacks import LightningNoise, LineProgress

    world = int(os.environ.get("WORLD_SIZE", "1"))
    local = int(os.environ.get("LOCAL_WORLD_SIZE", world))
    ranks = {"devices": local, "num_nodes": world // local, "strategy": "ddp"} if world > 1 else {"devices": 1}
    lightning = logging.getLogger("pytorch_lightning.utilities.rank_zero")
    level, noise = lightning.level, LightningNoise()
    lightning.setLevel(logging.WARNING)               # not its "GPU available: ..." lines
    lightning.addFilter(noise)
    try:
        lines = progress and not is_terminal(sys.stdout)     # a log file: lines, not a bar's redraws
        return pl.Trainer(accelerator="auto", logger=False, enable_checkpointing=False, enable_model_summary=False,
                          enable_progress_bar=progress, callbacks=[LineProgress()] if lines else [], **ranks)
    finally:
        lightning.setLevel(level)
        lightning.removeFilter(noise)
