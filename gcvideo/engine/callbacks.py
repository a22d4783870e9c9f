"""Lightning callbacks: precise BN statistics, the model's cost at start, throughput."""
import logging
import time
from typing import Optional

import pytorch_lightning as pl
import torch
from torch import nn

log = logging.getLogger("gcvideo")


class PreciseBN(pl.Callback):
    """Recompute BatchNorm running statistics on ``num_batches`` training batches
    before each validation (SlowFast's precise BN), as true averages rather than
    momentum estimates; under DDP the statistics are averaged over ranks."""

    def __init__(self, num_batches: int = 200) -> None:
        self.num_batches = num_batches

    def on_validation_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.training or self.num_batches <= 0:
            return
        norms = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        if not norms:
            return
        loader = trainer.datamodule.train_dataloader() if trainer.datamodule else trainer.train_dataloader
        update_bn_stats(module, norms, loader, self.num_batches)
        if trainer.world_size > 1 and torch.distributed.is_initialized():
            for bn in norms:
                for buf in (bn.running_mean, bn.running_var):
                    torch.distributed.all_reduce(buf)
                    buf /= trainer.world_size


@torch.no_grad()
def update_bn_stats(module: pl.LightningModule, norms, loader, num_batches: int) -> int:
    momenta = [bn.momentum for bn in norms]
    was_training = module.training
    module.train()
    for bn in norms:
        bn.reset_running_stats()
        bn.momentum = None                      # cumulative moving average = exact mean
    seen = 0
    for batch in loader:
        if seen >= num_batches:
            break
        module(module.batch_video(batch))
        seen += 1
    for bn, m in zip(norms, momenta):
        bn.momentum = m
    module.train(was_training)
    return seen


class ModelCost(pl.Callback):
    """Print and log the network's parameters and GFLOPs for the data's clip size at fit start."""

    def on_fit_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        from ..models.cost import model_cost

        frames, size = 8, 224
        dm = trainer.datamodule
        if dm is not None and hasattr(dm, "clip_options"):
            frames, size = dm.clip_options["num_frames"], dm.clip_options["crop_size"]
        cost = model_cost(module.model, frames, size)
        module.cost = cost
        if trainer.is_global_zero:
            print(f"model {module.hparams.model}: {cost['params_m']:.2f} M params, "
                  f"{cost['gflops']:.3f} GFLOPs per {frames}x{size}x{size} clip", flush=True)
        for logger in trainer.loggers:
            logger.log_hyperparams({"params_m": cost["params_m"], "gflops": cost["gflops"]})


class Throughput(pl.Callback):
    """Log training clips per second, all ranks together, data loading included (wall time
    between consecutive batch ends), and ``train/data_wait``: the share of each step spent
    waiting for its batch (from the previous step's end to this step's start). At the end of
    the first epoch whose share exceeds ``hint_above``, one hint says what to do about it (once
    per run: the logged value tells the rest)."""

    def __init__(self, hint_above: float = 0.2) -> None:
        self.hint_above = hint_above
        self._last: Optional[float] = None
        self._start: Optional[float] = None
        self._waited = self._total = 0.0
        self._hinted = False

    def on_train_epoch_start(self, trainer, module) -> None:
        self._last, self._start = None, None
        self._waited = self._total = 0.0

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        self._start = time.perf_counter()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        now = time.perf_counter()
        if self._last is not None:
            n = batch["video"].shape[0]
            module.log("train/clips_per_s", n * trainer.world_size / (now - self._last), prog_bar=True, batch_size=n)
            if self._start is not None:
                waited = max(0.0, self._start - self._last)
                self._waited, self._total = self._waited + waited, self._total + (now - self._last)
                module.log("train/data_wait", waited / (now - self._last), batch_size=n)
        self._last = now

    @property
    def epoch_data_wait(self) -> Optional[float]:
        return self._waited / self._total if self._total > 0 else None

    def on_train_epoch_end(self, trainer, module) -> None:
        share = self.epoch_data_wait
        if share is not None and share > self.hint_above and trainer.is_global_zero and not self._hinted:
            self._hinted = True
            dm = trainer.datamodule
            workers = getattr(dm, "num_workers", None)
            print(f"hint: epoch {trainer.current_epoch} spent {100 * share:.0f} % of its steps waiting for data "
                  f"(train/data_wait): more loader processes (data.num_workers, now {workers}), a collection "
                  "re-encoded for training (`gcvideo data prepare`: short side 320, key frame every 16 frames), "
                  "or a smaller data.train_short_side", flush=True)
