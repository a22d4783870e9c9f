"""Test-only Lightning callbacks, importable by class_path from CLI runs."""
import json
import os

import pytorch_lightning as pl


class RecordIndices(pl.Callback):
    """Write the video indices each rank trained on to ``<root>/indices_rank<r>.json``."""

    def __init__(self) -> None:
        self.seen = []

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        self.seen.extend(int(i) for i in batch["index"])

    def on_train_end(self, trainer, module) -> None:
        path = os.path.join(trainer.default_root_dir, f"indices_rank{trainer.global_rank}.json")
        with open(path, "w") as f:
            json.dump({"rank": trainer.global_rank, "world": trainer.world_size, "seen": self.seen}, f)
