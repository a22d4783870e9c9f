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

The videos go through Lightning's ``trainer.predict`` of the checkpoint's
:class:`~gcvideo.engine.module.VideoClassifier` (its ``predict_step``: probabilities and
features of one decoded video), and a prediction writer
(:class:`~gcvideo.engine.features.FeatureShardWriter`) writes the shards and the index; the
videos an earlier run finished are not given to the trainer at all. Under ``torchrun`` the ranks
run DDP: Lightning's prediction sampler gives every video to exactly one rank (no padding),
each rank writes its own shards, and rank 0 merges the index in list order.
"""
import os
from typing import Optional

import torch

from ..engine.features import finished_rows, load_features, read_index  # noqa: F401 (load_features: the reader)
from ..models.features import FEATURE_LAYERS, FeatureLayer

RUN_FILE = "features.json"


def extract_features(ckpt_path: str, data: str, out: str, root: Optional[str] = None, views: str = "1x1",
                     layer: str = "pre_logits", shard_size: int = 1000, workers: int = 0,
                     progress: bool = True, trust: bool = False, timeout: Optional[float] = None) -> dict:
    from ..data.records import load_records
    from ..data.spec import parse_views
    from ..engine.checkpoint import load_classifier
    from ..data.decode import worker_context
    from ..engine.datamodule import worker_init
    from ..engine.features import FeatureShardWriter, prediction_trainer, write_index
    from ..files import check_writable
    from ..models.features import feature_layers

    parse_views(views)
    if layer not in FEATURE_LAYERS:
        raise ValueError(f"--layer must be one of {list(FEATURE_LAYERS)}, got {layer!r}")
    if shard_size < 1:
        raise ValueError("--shard-size must be >= 1")
    check_writable(out, "features output (--out)")
    module, spec = load_classifier(ckpt_path, trust)
    if layer not in feature_layers(module.model):
        raise ValueError(f"--layer {layer}: the checkpoint's network ({module.hparams.model}) has no {layer} "
                         f"features; it has {', '.join(feature_layers(module.model)) or 'none'}")
    records = load_records(data, root, module.class_names)    # each video once
    claim_folder(out, run_key(ckpt_path, layer, views, records))
    # read before any rank writes: every rank reads here, before DDP's rendezvous in predict
    earlier = {r["path"]: r for r in finished_rows(out)}
    todo = [i for i in range(len(records)) if records.path(i) not in earlier]
    kept = [earlier[records.path(i)] for i in range(len(records)) if records.path(i) in earlier]
    writer = FeatureShardWriter(out, records, layer, module.class_names, shard_size, kept)
    if todo:
        views_of = torch.utils.data.Subset(evaluation_views(records, module.class_names, spec, views, timeout), todo)
        loader = torch.utils.data.DataLoader(views_of, batch_size=1, collate_fn=_one_video, num_workers=workers,
                                             worker_init_fn=worker_init,
                                             multiprocessing_context=worker_context(spec.backend) if workers else None)
        trainer = prediction_trainer(progress)
        trainer.callbacks.append(writer)
        trainer.predict(module, loader, return_predictions=False)
        rows = read_index(os.path.join(out, "index.csv"))      # merged: every rank reports the whole run
    else:                                                      # every video done by an earlier run
        rows = writer.in_list_order(kept)
        if int(os.environ.get("RANK", "0")) == 0:
            write_index(os.path.join(out, "index.csv"), rows)
    return {"videos": len(rows), "ok": sum(r["status"] == "ok" for r in rows),
            "failed": sum(r["status"] != "ok" for r in rows), "index": os.path.join(out, "index.csv")}


def _one_video(items: list[dict]) -> dict:
    """A batch is one video with all its views (a batch sampler, so Lightning knows the indices)."""
    return items[0]


def evaluation_views(records, classes: list[str], spec, views: str, timeout: Optional[float] = None):
    """The videos' decoded ``views`` (:class:`MultiViewDataset`), with the labels the checkpoint's
    ``classes`` do not know made unlabelled."""
    from ..data.multiview import MultiViewDataset
    from ..data.records import RecordTable, label_classes

    known = {name: i for i, name in enumerate(classes)}
    every = range(len(records))
    names = {label: all(c in known for c in label_classes(label, records.multi_label))
             for label in records.label_names}
    labelled = RecordTable([records.path(i) for i in every],
                           [records.label(i) if names[records.label(i)] else "" for i in every],
                           [records.video_id(i) for i in every], records.present,
                           multi_label=records.multi_label)
    return MultiViewDataset.of_spec(labelled, known, spec.with_views(views), timeout)   # checked: the protocol takes these crops


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
    if read_index(os.path.join(out, "index.csv")):
        raise ValueError(f"{out} holds features without {RUN_FILE} (written by an older gcvideo): what they were "
                         "computed with is unknown; write to another --out")
    from ..files import write_atomic

    write_atomic(path, json.dumps(key, indent=1).encode())


def run_features(*, ckpt_path: str, data: str, out: str, root: Optional[str] = None, views: str = "1x1",
                 layer: FeatureLayer = "pre_logits", shard_size: int = 1000,
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
