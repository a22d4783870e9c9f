"""``gcvideo features``: one feature vector per video from a trained checkpoint.

Each video is decoded once and its views (``--views``, the checkpoint's clip options) go
through the network in its inference form; the vector is the average over the views of

* ``pre_logits``: the classifier's input (the pooled features after dropout, which is off
  at inference), or
* ``c5``: the last residual stage's output averaged over T x H x W (SlowFast: both
  pathways, concatenated).

Vectors are written in shards (``features-NNNNN.npy``, float32, ``--shard-size`` rows) with
an index (``index.csv``: video_id, path, label, shard, row, status, reason, and ``top``: the top-5
classes with their probabilities, ``class:p;...``); a video that
cannot be read is listed with its reason and no row, never dropped; a path listed twice is
one video. Shards and the index are written atomically, so an interrupted run resumes where
its last shard ended, retrying the videos that failed. A run resumes only what it would
compute itself: ``features.json`` in the output folder records everything a vector depends on
(the checkpoint's content hash, layer, views, the list's rows); a rerun with any of them
changed is refused in one line naming what differs (use another ``--out``).

The videos go through Lightning's ``trainer.predict`` (:class:`FeatureExtractor`), and a
prediction-writer callback (:class:`ShardWriter`) writes the shards and the index. Under
``torchrun`` the ranks run DDP: Lightning's prediction sampler gives every video to exactly
one rank (no padding), each rank writes its own shards, and rank 0 merges the index in list
order.
"""
import csv
import glob
import io
import os
import sys
from typing import Literal, Optional

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import BasePredictionWriter
from torch import nn

LAYERS = ("pre_logits", "c5")
INDEX_FIELDS = ["video_id", "path", "label", "shard", "row", "status", "reason", "top"]
RUN_FILE = "features.json"


def layer_modules(model: nn.Module, layer: str) -> list[nn.Module]:
    """The module(s) whose input (``pre_logits``: the last Linear) or output (``c5``) is read."""
    from ..models.insert import network_layout

    if layer == "pre_logits":
        linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
        if not linears:
            raise ValueError("the network has no Linear classifier to read pre-logits from")
        return [linears[-1]]
    if layer != "c5":
        raise ValueError(f"--layer must be one of {list(LAYERS)}, got {layer!r}")
    layout = network_layout(model)
    keys = [k for k in layout.stages if k.endswith("c5")]
    names = [layout.stages[k][-1][0] for k in keys]          # the last block of each c5 stage
    return [model.get_submodule(n) for n in names]


class FeatureReader:
    """Reads the chosen layer's features of each forward through temporary hooks."""

    def __init__(self, model: nn.Module, layer: str) -> None:
        self.model, self.layer, self.parts = model, layer, []
        modules = layer_modules(model, layer)
        if layer == "pre_logits":
            self.handles = [modules[0].register_forward_pre_hook(self._pre)]
        else:
            self.handles = [m.register_forward_hook(self._post) for m in modules]

    def _pre(self, module, inputs):
        x = inputs[0]
        self.parts.append(x.reshape(x.shape[0], -1, x.shape[-1]).mean(1))        # (N, ..., C) -> (N, C)

    def _post(self, module, inputs, output):
        self.parts.append(output.flatten(2).mean(-1))                            # (N, C, T, H, W) -> (N, C)

    @torch.no_grad()
    def __call__(self, views: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The views' features and the network's logits."""
        self.parts = []
        logits = self.model(views)
        return torch.cat(self.parts, dim=1), logits

    def close(self) -> None:
        for handle in self.handles:
            handle.remove()


def _read_index(path: str) -> list[dict]:
    if not os.path.exists(path):
        return []
    with open(path, newline="", encoding="utf-8", errors="surrogateescape") as f:    # any file name's bytes
        return list(csv.DictReader(f))


def _write_index(path: str, rows: list[dict]) -> None:
    from ..files import write_atomic

    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=INDEX_FIELDS)
    writer.writeheader()
    writer.writerows(rows)
    write_atomic(path, text.getvalue().encode("utf-8", "surrogateescape"))


def _done_rows(out: str) -> list[dict]:
    """The ok rows of an earlier run in ``out`` (its index, and the per-rank indexes of a
    distributed run that was interrupted before it merged them), one per path."""
    paths = [os.path.join(out, "index.csv")] + sorted(glob.glob(os.path.join(out, "index-rank*.csv")))
    rows = {r["path"]: r for p in paths for r in _read_index(p) if r["status"] == "ok"}
    return list(rows.values())


class FeatureExtractor(pl.LightningModule):
    """``predict_step``: one decoded video (a :class:`MultiViewDataset` item) -> its index row, the
    view-averaged feature vector (None when the video could not be read) and its top classes with
    their probabilities (the views combined as the checkpoint's ``view_average`` says; sigmoid
    probabilities for a multi-label checkpoint)."""

    def __init__(self, net: nn.Module, layer: str, view_batch: int, classes: Optional[list[str]] = None,
                 average=None) -> None:
        super().__init__()
        self.net, self.view_batch = net, view_batch
        self.reader = FeatureReader(net, layer)
        self.classes, self.average = classes, average

    def transfer_batch_to_device(self, batch: dict, device: torch.device, dataloader_idx: int) -> dict:
        return batch                    # the uint8 frames stay here; each chunk of views goes to the device

    def predict_step(self, sample: dict, batch_idx: int) -> dict:
        from ..data.multiview import iter_views

        vector, top = None, ""
        if sample["ok"]:
            feats, logits = zip(*[self.reader(views.to(self.device))
                                  for views in iter_views(sample["frames"], sample["boxes"], self.view_batch)])
            vector = torch.cat(feats).mean(0).float().cpu().numpy()
            if self.classes and self.average is not None:
                probs = self.average(torch.cat(logits).unsqueeze(0))[0].cpu()
                best = probs.topk(min(5, len(self.classes)))
                top = ";".join(f"{self.classes[i]}:{p:.4f}" for p, i in zip(best.values.tolist(), best.indices.tolist()))
        return {"index": sample["index"], "ok": sample["ok"], "reason": sample["reason"], "vector": vector,
                "top": top}


class ShardWriter(BasePredictionWriter):
    """Writes each rank's vectors in shards of ``shard_size`` rows with the index of its videos
    (``index.csv``; per rank ``index-rank<r>.csv``, merged by rank 0 in list order at the end),
    atomically after every shard, so an interrupted run loses at most one shard of work. The
    videos an earlier run in ``out`` finished are skipped (set on the dataset before the first
    item is read: every rank reads the old indexes before any rank writes)."""

    def __init__(self, out: str, records, dataset, shard_size: int) -> None:
        super().__init__(write_interval="batch")
        self.out, self.records, self.dataset, self.shard_size = out, records, dataset, shard_size
        self.vectors, self.pending, self.rows = [], [], []
        self.order = {records.path(i): i for i in range(len(records))}        # the index keeps list order

    def setup(self, trainer, module, stage: str) -> None:
        world, rank = trainer.world_size, trainer.global_rank
        self.index_path = os.path.join(self.out, "index.csv" if world == 1 else f"index-rank{rank}.csv")
        self.prefix = "features" if world == 1 else f"features-rank{rank}"
        earlier = {r["path"]: r for r in _done_rows(self.out)}
        trainer.strategy.barrier("features: earlier indexes read")
        mine = {self.records.path(i) for i in range(rank, len(self.records), world)}   # Lightning's split
        self.rows = [r for path, r in earlier.items() if path in mine]    # this rank's finished videos
        self.dataset.skip = {self.order[path] for path in earlier if path in self.order}
        taken = [int(name[len(self.prefix) + 1:-4]) for name in os.listdir(self.out)
                 if name.startswith(self.prefix + "-") and name[len(self.prefix) + 1:-4].isdigit()]
        self.shard = max(taken, default=-1) + 1

    def write_on_batch_end(self, trainer, module, prediction: dict, batch_indices, batch, batch_idx: int,
                           dataloader_idx: int = 0) -> None:
        if prediction["reason"] == "done":
            return                                              # finished by an earlier run
        i = prediction["index"]
        self.pending.append({"video_id": self.records.video_id(i), "path": self.records.path(i),
                             "label": self.records.label(i), "shard": "", "row": "",
                             "status": "ok" if prediction["ok"] else "failed", "reason": prediction["reason"],
                             "top": prediction.get("top", "")})
        if prediction["vector"] is not None:
            self.vectors.append(prediction["vector"])
        if len(self.vectors) >= self.shard_size:
            self.flush()

    def flush(self) -> None:
        from ..files import write_atomic

        if self.vectors:
            name = f"{self.prefix}-{self.shard:05d}.npy"
            buffer = io.BytesIO()
            np.save(buffer, np.stack(self.vectors).astype(np.float32))
            write_atomic(os.path.join(self.out, name), buffer.getvalue())    # a full disk: one line, no partial file
            for row, entry in enumerate(e for e in self.pending if e["status"] == "ok"):
                entry.update(shard=name, row=row)
            self.shard += 1
        self.rows.extend(self.pending)
        _write_index(self.index_path, self.rows)
        self.vectors, self.pending = [], []

    def on_predict_end(self, trainer, module) -> None:
        self.flush()
        _write_index(self.index_path, self._in_list_order(self.rows))
        if trainer.world_size > 1:
            trainer.strategy.barrier("features: rank indexes written")
            if trainer.is_global_zero:
                merged = [r for k in range(trainer.world_size)
                          for r in _read_index(os.path.join(self.out, f"index-rank{k}.csv"))]
                _write_index(os.path.join(self.out, "index.csv"), self._in_list_order(merged))
            trainer.strategy.barrier("features: index merged")

    def _in_list_order(self, rows: list[dict]) -> list[dict]:
        return sorted(rows, key=lambda r: self.order.get(r["path"], len(self.order)))


def _trainer(progress: bool) -> pl.Trainer:
    """One process, or one rank of a ``torchrun`` launch (WORLD_SIZE, LOCAL_WORLD_SIZE): DDP,
    which splits the videos so that each goes to exactly one rank (predict never pads)."""
    import logging

    from ..engine.callbacks import LightningNoise, LineProgress
    from ..progress import is_terminal

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


def extract_features(ckpt_path: str, data: str, out: str, root: Optional[str] = None, views: str = "1x1",
                     layer: str = "pre_logits", shard_size: int = 1000, workers: int = 0,
                     progress: bool = True, trust: bool = False, timeout: Optional[float] = None) -> dict:
    from ..data.spec import parse_views
    from ..data.records import load_records
    from ..engine.checkpoint import load_classifier
    from ..engine.datamodule import worker_init
    from ..files import check_writable
    from ..models import fold_context_blocks

    parse_views(views)
    if layer not in LAYERS:
        raise ValueError(f"--layer must be one of {list(LAYERS)}, got {layer!r}")
    if shard_size < 1:
        raise ValueError("--shard-size must be >= 1")
    check_writable(out, "features output (--out)")
    module, spec = load_classifier(ckpt_path, trust)
    records = load_records(data, root, module.class_names)    # each video once
    claim_folder(out, run_key(ckpt_path, layer, views, records))
    dataset = _ResumableViews(records, module.class_names, spec, views, timeout)
    writer = ShardWriter(out, records, dataset, shard_size)
    trainer = _trainer(progress)
    trainer.callbacks.append(writer)
    extractor = FeatureExtractor(fold_context_blocks(module.model), layer, module.hparams.view_batch,
                                 module.class_names, module.average_views)
    loader = torch.utils.data.DataLoader(dataset, batch_size=1, collate_fn=_one_video, num_workers=workers,
                                         worker_init_fn=worker_init)
    trainer.predict(extractor, loader, return_predictions=False)
    extractor.reader.close()
    rows = _read_index(os.path.join(out, "index.csv"))          # every rank reports the whole run
    return {"videos": len(rows), "ok": sum(r["status"] == "ok" for r in rows),
            "failed": sum(r["status"] != "ok" for r in rows), "index": os.path.join(out, "index.csv")}


def _one_video(items: list[dict]) -> dict:
    """A batch is one video with all its views (a batch sampler, so Lightning knows the indices)."""
    return items[0]


class _ResumableViews(torch.utils.data.Dataset):
    """The videos' decoded views (:class:`MultiViewDataset`; labels the checkpoint does not know
    become unlabelled), with the videos in ``skip`` (finished earlier) not decoded at all."""

    def __init__(self, records, classes: list[str], spec, views: str, timeout: Optional[float] = None) -> None:
        from ..data.multiview import MultiViewDataset
        from ..data.records import RecordTable

        from ..data.records import label_classes

        known = {name: i for i, name in enumerate(classes)}
        every = range(len(records))
        names = {label: all(c in known for c in label_classes(label, records.multi_label))
                 for label in records.label_names}
        labelled = RecordTable([records.path(i) for i in every],
                               [records.label(i) if names[records.label(i)] else "" for i in every],
                               [records.video_id(i) for i in every], records.present,
                               multi_label=records.multi_label)
        spec = spec.with_views(views)                  # checked: the protocol takes these crops
        self.views = MultiViewDataset.of_spec(labelled, known, spec, timeout)
        self.skip: set = set()

    def __len__(self) -> int:
        return len(self.views)

    def __getitem__(self, index: int) -> dict:
        if index in self.skip:
            return {"index": index, "ok": False, "reason": "done"}
        return self.views[index]


def run_key(ckpt_path: str, layer: str, views: str, records) -> dict:
    """Everything a folder's vectors depend on: the checkpoint's content (not its name), the
    layer, the views and the list's rows (paths and labels, in order)."""
    import hashlib

    from ..files import file_sha256

    rows = hashlib.sha256()
    for i in range(len(records)):
        rows.update(f"{records.path(i)}\t{records.label(i)}\n".encode("utf-8", "surrogateescape"))
    return {"checkpoint_sha256": file_sha256(ckpt_path), "layer": layer, "views": views,
            "rows": len(records), "rows_sha256": rows.hexdigest()}


def claim_folder(out: str, key: dict) -> None:
    """Record ``key`` in ``out`` (a new folder), or check that the run there had the same key:
    a ``ValueError`` naming what differs otherwise (its vectors are not this run's)."""
    import json

    path = os.path.join(out, RUN_FILE)
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            earlier = json.load(f)
        differ = [k for k in key if earlier.get(k) != key[k]]
        if differ:
            what = ", ".join(f"{k} {earlier.get(k)!r:.24} there vs {key[k]!r:.24} now" for k in differ)
            raise ValueError(f"{out} holds features of another run ({what}): its vectors are not this run's; "
                             "write to another --out (or delete that folder)")
        return
    if _read_index(os.path.join(out, "index.csv")):
        raise ValueError(f"{out} holds features without {RUN_FILE} (written by an older gcvideo): what they were "
                         "computed with is unknown; write to another --out")
    from ..files import write_atomic

    write_atomic(path, json.dumps(key, indent=1).encode())


def load_features(out: str) -> tuple[list[dict], np.ndarray]:
    """The index rows and a (videos, C) array of the ok ones' vectors, in index order."""
    rows = _read_index(os.path.join(out, "index.csv"))
    shards = {}
    vectors = []
    for r in rows:
        if r["status"] == "ok":
            if r["shard"] not in shards:
                shards[r["shard"]] = np.load(os.path.join(out, r["shard"]))
            vectors.append(shards[r["shard"]][int(r["row"])])
    return rows, np.stack(vectors) if vectors else np.zeros((0, 0), np.float32)


def run_features(*, ckpt_path: str, data: str, out: str, root: Optional[str] = None, views: str = "1x1",
                 layer: Literal["pre_logits", "c5"] = "pre_logits", shard_size: int = 1000,
                 workers: int = 0, trust_checkpoint: bool = False, decode_timeout: float = 120.0) -> int:
    """one feature vector per video (view-averaged), in shards with an index

    Decode each video of --data once, run its views through the checkpoint's network (folded
    inference form) and write the view-averaged pre-logits (or c5 features averaged over
    T x H x W) to OUT/features-NNNNN.npy with OUT/index.csv (video_id, path, label, shard, row,
    status, reason, top: the top-5 classes with their probabilities, 'class:p;...'). Unreadable videos are listed, not dropped; a path listed twice is one video.
    Resumable (run it again: failed videos are retried); a rerun into an OUT written with another
    checkpoint, layer, views or list is refused (OUT/features.json records them). Under torchrun
    every video goes to exactly one rank. Exits 1 when any video failed.

    Args:
        ckpt_path: a gcvideo checkpoint
        data: Kinetics CSV, 'path label' list or class-folder tree
        out: output folder
        root: video folder (default: the list's folder)
        views: CLIPSxCROPS averaged per video (1x1, or 10x3 as in test)
        layer: pre_logits (the classifier's input) or c5 (last stage, pooled)
        shard_size: vectors per .npy shard
        workers: decoding processes (0: in this process)
        trust_checkpoint: load a checkpoint holding other objects than tensors, numbers and
            strings with full pickle, which can run code (refused otherwise): trusted files only
        decode_timeout: seconds one video's decode may take; past it the video is listed as failed
            with the reason 'timeout' and the next one is read
    """
    if not 0 < decode_timeout < float("inf"):
        raise ValueError(f"--decode-timeout must be seconds > 0, got {decode_timeout}")
    summary = extract_features(ckpt_path, data, out, root, views, layer, shard_size, workers,
                               trust=trust_checkpoint, timeout=decode_timeout)
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"{summary['ok']} feature vectors, {summary['failed']} videos failed (listed with reasons); "
              f"index: {summary['index']}")
    return 1 if summary["failed"] else 0
