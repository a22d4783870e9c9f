"""``gcvideo features``: one feature vector per video from a trained checkpoint.

Each video is decoded once and its views (``--views``, the checkpoint's clip options) go
through the network in its inference form; the vector is the average over the views of

* ``pre_logits``: the classifier's input (the pooled features after dropout, which is off
  at inference), or
* ``c5``: the last residual stage's output averaged over T x H x W (SlowFast: both
  pathways, concatenated).

Vectors are written in shards (``features-NNNNN.npy``, float32, ``--shard-size`` rows) with
an index (``index.csv``: video_id, path, label, shard, row, status, reason); a video that
cannot be read is listed with its reason and no row, never dropped; a path listed twice is
one video. Shards and the index are written atomically, so an interrupted run resumes where
its last shard ended, retrying the videos that failed. A run resumes only what it would
compute itself: ``features.json`` in the output folder records everything a vector depends on
(the checkpoint's content hash, layer, views, the list's rows); a rerun with any of them
changed is refused in one line naming what differs (use another ``--out``). Under
torch.distributed (``torchrun``) every video is handled by exactly one rank (the ``test``
rule), each rank writes its own shards, and rank 0 merges the index in list order.
"""
import csv
import io
import os
from typing import Literal, Optional

import numpy as np
import torch
from torch import nn

LAYERS = ("pre_logits", "c5")
INDEX_FIELDS = ["video_id", "path", "label", "shard", "row", "status", "reason"]
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
    def __call__(self, views: torch.Tensor) -> torch.Tensor:
        self.parts = []
        self.model(views)
        return torch.cat(self.parts, dim=1)

    def close(self) -> None:
        for handle in self.handles:
            handle.remove()


def _join_ranks() -> tuple[int, int]:
    """(ranks, this rank). Under ``torchrun`` (WORLD_SIZE > 1) the ranks join a gloo process group
    (the videos are split by index; only the final merge of the index exchanges anything)."""
    import torch.distributed as dist

    from ..data.dataset import world

    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        dist.init_process_group("gloo")
    return world()


def _read_index(path: str) -> list[dict]:
    if not os.path.exists(path):
        return []
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _write_index(path: str, rows: list[dict]) -> None:
    from ..files import write_atomic

    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=INDEX_FIELDS)
    writer.writeheader()
    writer.writerows(rows)
    write_atomic(path, text.getvalue().encode("utf-8", "surrogateescape"))


def extract_features(ckpt_path: str, data: str, out: str, root: Optional[str] = None, views: str = "1x1",
                     layer: str = "pre_logits", shard_size: int = 1000, workers: int = 0,
                     progress: bool = True, trust: bool = False) -> dict:
    from tqdm import tqdm

    from ..data.multiview import MultiViewDataset, iter_views, parse_views
    from ..files import check_writable, write_atomic
    from ..data.records import RecordTable, load_records
    from ..engine.checkpoint import load_classifier
    from ..models import fold_context_blocks

    clips, crops = parse_views(views)
    if layer not in LAYERS:
        raise ValueError(f"--layer must be one of {list(LAYERS)}, got {layer!r}")
    if shard_size < 1:
        raise ValueError("--shard-size must be >= 1")
    check_writable(out, "features output (--out)")
    module, options = load_classifier(ckpt_path, trust)
    classes = module.class_names
    listed = load_records(data, root, classes)
    first = {}
    for i in range(len(listed)):
        first.setdefault(listed.path(i), i)                 # a path listed twice is one video
    unique = sorted(first.values())
    records = RecordTable([listed.path(i) for i in unique], [listed.label(i) for i in unique],
                          [listed.video_id(i) for i in unique], listed.present[unique])
    claim_folder(out, run_key(ckpt_path, layer, views, records))
    known = {name: i for i, name in enumerate(classes)}
    every = range(len(records))
    labelled = RecordTable([records.path(i) for i in every],
                           [records.label(i) if records.label(i) in known else "" for i in every],  # unknown: no target
                           [records.video_id(i) for i in every], records.present)
    dataset = MultiViewDataset(labelled, known, num_frames=options["num_frames"],
                               sampling_rate=options["sampling_rate"], target_fps=options["target_fps"],
                               backend=options["backend"], clips=clips, crops=crops,
                               short_side=options["eval_short_side"], crop_size=options["test_crop_size"])
    world, rank = _join_ranks()
    index_path = os.path.join(out, "index.csv" if world == 1 else f"index-rank{rank}.csv")
    # a resumed run: what its shards hold; failed videos are tried again
    done_rows = [r for r in _read_index(index_path) if r["status"] == "ok"]
    done = _done_indices(done_rows, records)
    mine = [i for i in range(rank, len(records), world) if i not in done]
    prefix = "features" if world == 1 else f"features-rank{rank}"
    shard = len({r["shard"] for r in done_rows if r["shard"]})
    net = fold_context_blocks(module.model)
    reader = FeatureReader(net, layer)

    loader = torch.utils.data.DataLoader(torch.utils.data.Subset(dataset, mine), batch_size=None,
                                         num_workers=workers)
    vectors, pending = [], []
    bar = tqdm(total=len(mine), desc=f"features ({views} views, {layer})", unit="video", disable=not progress)

    def flush():
        nonlocal shard, vectors, pending
        if vectors:
            name = f"{prefix}-{shard:05d}.npy"
            buffer = io.BytesIO()
            np.save(buffer, np.stack(vectors).astype(np.float32))
            write_atomic(os.path.join(out, name), buffer.getvalue())      # a full disk: one line, no partial file
            for row, entry in enumerate(e for e in pending if e["status"] == "ok"):
                entry.update(shard=name, row=row)
            shard += 1
        done_rows.extend(pending)
        _write_index(index_path, done_rows)
        vectors, pending = [], []

    for sample in loader:
        record = labelled[sample["index"]]
        entry = {"video_id": record.video_id, "path": record.path, "label": records.label(sample["index"]),
                 "shard": "", "row": "", "status": "ok" if sample["ok"] else "failed", "reason": sample["reason"]}
        if sample["ok"]:
            feats = torch.cat([reader(v) for v in iter_views(sample["frames"], sample["boxes"],
                                                             module.hparams.view_batch)])
            vectors.append(feats.mean(0).numpy())
        pending.append(entry)
        bar.update()
        if len(vectors) >= shard_size:
            flush()
    flush()
    bar.close()
    reader.close()
    order = {records.path(i): i for i in range(len(records))}                    # the index keeps list order
    _write_index(index_path, sorted(done_rows, key=lambda r: order.get(r["path"], len(order))))
    if world > 1:
        import torch.distributed as dist

        dist.barrier()
        if rank == 0:
            merged = [r for k in range(world) for r in _read_index(os.path.join(out, f"index-rank{k}.csv"))]
            _write_index(os.path.join(out, "index.csv"), sorted(merged, key=lambda r: order[r["path"]]))
        dist.barrier()
    rows = _read_index(os.path.join(out, "index.csv"))          # every rank reports the whole run
    return {"videos": len(rows), "ok": sum(r["status"] == "ok" for r in rows),
            "failed": sum(r["status"] != "ok" for r in rows), "index": os.path.join(out, "index.csv")}


def _done_indices(rows: list[dict], records) -> set:
    where = {records.path(i): i for i in range(len(records))}
    return {where[r["path"]] for r in rows if r["path"] in where}


def file_sha256(path: str) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def run_key(ckpt_path: str, layer: str, views: str, records) -> dict:
    """Everything a folder's vectors depend on: the checkpoint's content (not its name), the
    layer, the views and the list's rows (paths and labels, in order)."""
    import hashlib

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
                 workers: int = 0, trust_checkpoint: bool = False) -> int:
    """one feature vector per video (view-averaged), in shards with an index

    Decode each video of --data once, run its views through the checkpoint's network (folded
    inference form) and write the view-averaged pre-logits (or c5 features averaged over
    T x H x W) to OUT/features-NNNNN.npy with OUT/index.csv (video_id, path, label, shard, row,
    status, reason). Unreadable videos are listed, not dropped; a path listed twice is one video.
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
    """
    summary = extract_features(ckpt_path, data, out, root, views, layer, shard_size, workers,
                               trust=trust_checkpoint)
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"{summary['ok']} feature vectors, {summary['failed']} videos failed (listed with reasons); "
              f"index: {summary['index']}")
    return 1 if summary["failed"] else 0
