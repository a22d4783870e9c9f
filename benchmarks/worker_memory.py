"""Private memory each DataLoader worker gains while reading a Kinetics-size index (no decoding).

A forked worker shares its parent's memory pages until it writes to them. A list of
240k Python objects gets written all over -- reference counts on every access, the
garbage collector's bookkeeping on every full collection -- so each worker slowly
copies it (the copy-on-read growth). RSS does not show this (a copied page replaces a
shared one); the private memory (USS: Private_Clean + Private_Dirty of
/proc/self/smaps_rollup) does. Both storages are read the same way by 8 workers for one
epoch: ``records[i]`` (path, label, id) and the class index of every video, with one full
garbage collection per worker (Python runs them on its own in a long epoch). Each storage
runs in a fresh process of its own, twice, alternating.

* ``list``: a Python list of VideoRecord, how records were kept before;
* ``table``: :class:`gcvideo.data.records.RecordTable` (numpy buffers), how they are kept now.

    python benchmarks/worker_memory.py [--workers 8 --rows 240000 --dir /tmp/gcvideo_index_scale]
"""
import argparse
import gc
import json
import os
import subprocess
import sys

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

sys.path.insert(0, os.path.dirname(__file__))
from index_scale import generate  # noqa: E402

_start = {}
BATCH = 500
CASES = {"list": "a Python list of VideoRecord (before)",
         "table": "RecordTable",
         "list + freeze": "list, workers start with gc.freeze()",
         "table + freeze": "RecordTable, workers start with gc.freeze() (now)"}


def private_mb() -> float:
    kb = 0
    with open("/proc/self/smaps_rollup") as f:
        for line in f:
            if line.startswith(("Private_Clean:", "Private_Dirty:")):
                kb += int(line.split()[1])
    return kb / 1024


class Metadata(Dataset):
    def __init__(self, records, class_to_index, workers: int) -> None:
        self.records, self.class_to_index, self.workers = records, class_to_index, workers

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> float:
        record = self.records[i]
        target = self.class_to_index[record.label]
        if i % BATCH == 0 and (i // BATCH) // self.workers == 2:
            gc.collect()       # the full collection Python runs on its own now and then in a long epoch
        if i % BATCH == 0:
            return private_mb() - _start["mb"] + 0 * target
        return -1.0


def remember_start(_worker: int) -> None:
    _start["mb"] = private_mb()


def freeze_and_remember_start(worker: int) -> None:
    from gcvideo.engine.datamodule import worker_init

    worker_init(worker)
    remember_start(worker)


def growth(records, class_to_index, workers: int, freeze: bool) -> list[float]:
    loader = DataLoader(Metadata(records, class_to_index, workers), batch_size=BATCH, num_workers=workers,
                        worker_init_fn=freeze_and_remember_start if freeze else remember_start,
                        multiprocessing_context="fork")
    per_batch = [float(batch.max()) for batch in loader]
    # batches go round-robin over workers: batch b came from worker b % workers
    return [max(per_batch[w::workers]) for w in range(workers)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--classes", type=int, default=400)
    parser.add_argument("--rows", type=int, default=240_000)
    parser.add_argument("--dir", default="/tmp/gcvideo_index_scale")
    parser.add_argument("--storage", choices=list(CASES), help=argparse.SUPPRESS)   # one case (internal)
    args = parser.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    csv_path = generate(args.dir, args.classes, args.rows, 0.05)
    if args.storage:
        from gcvideo.data.records import class_index, load_records

        table = load_records(csv_path, args.dir)
        class_to_index = class_index([], list(n for n in table.label_names if n))
        records = list(table) if args.storage.startswith("list") else table
        del table
        torch.set_num_threads(1)
        gc.collect()
        print(json.dumps(growth(records, class_to_index, args.workers, freeze="freeze" in args.storage)))
        return
    print(f"{args.workers} workers, {args.rows} records; private memory gained per worker (MB)")
    results = {}
    for name in list(CASES) * 2:
        out = subprocess.run([sys.executable, __file__, "--storage", name, "--workers", str(args.workers),
                              "--classes", str(args.classes), "--rows", str(args.rows), "--dir", args.dir],
                             capture_output=True, text=True)
        if out.returncode:
            sys.exit(out.stderr)
        results.setdefault(name, []).append(json.loads(out.stdout.strip().splitlines()[-1]))
    medians = {}
    for name, runs in results.items():
        flat = [v for run in runs for v in run]
        medians[name] = float(np.median(flat))
        print(f"{name:15s} median {medians[name]:6.1f}  max {max(flat):6.1f}  (runs: "
              + "; ".join(" ".join(f"{v:.0f}" for v in run) for run in runs) + ")")
    print(f"before (list) / now (table + freeze): {medians['list'] / max(medians['table + freeze'], 0.1):.1f}x")


if __name__ == "__main__":
    main()
