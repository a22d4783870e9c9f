"""Lightning callbacks: precise BN statistics, the model's cost at start, throughput, a stop on
divergence, the checkpoint callbacks of a run (best, every N epochs, last) and progress as lines."""
import copy
import logging
import os
import time
from typing import Optional

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint, ModelSummary
from torch import nn

from ..files import Diverged

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


def callback_of(trainer: pl.Trainer, kind: type):
    """The trainer's callback of type ``kind`` (the place a callback's results are read from), or None."""
    return next((c for c in trainer.callbacks if isinstance(c, kind)), None)


class ModelCost(pl.Callback):
    """Print and log the network's parameters and GFLOPs for the data's clip size at fit start;
    the counts stay in ``cost`` (read with :func:`callback_of`)."""

    def __init__(self) -> None:
        self.cost: Optional[dict] = None

    def on_fit_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        from ..models.cost import model_cost

        frames, size = 8, 224
        dm = trainer.datamodule
        if dm is not None and hasattr(dm, "spec"):
            frames, size = dm.spec.num_frames, dm.spec.crop_size
        compiled = getattr(module, "compile_options", lambda: None)() is not None
        # fvcore traces the network with torch.jit, which cannot trace a compiled one: count a copy
        # (copies are not compiled)
        cost = model_cost(copy.deepcopy(module.model) if compiled else module.model, frames, size)
        self.cost = cost
        if trainer.is_global_zero:
            print(f"model {module.hparams.model}: {cost['params_m']:.2f} M params, "
                  f"{cost['gflops']:.3f} GFLOPs per {frames}x{size}x{size} clip", flush=True)
        for logger in trainer.loggers:
            logger.log_hyperparams({"params_m": cost["params_m"], "gflops": cost["gflops"]})


class Summary(ModelSummary):
    """Lightning's model summary without its FLOP column and total, which count only with an
    ``example_input_array`` (0 otherwise); ``ModelCost`` prints the network's GFLOPs."""

    @staticmethod
    def summarize(summary_data, total_parameters, trainable_parameters, model_size, total_training_modes,
                  total_flops, **summarize_kwargs) -> None:
        logging.getLogger("pytorch_lightning.callbacks.model_summary").info(
            "\n" + summary_table(summary_data, total_parameters, trainable_parameters, model_size))


def summary_table(summary_data, total_parameters: int, trainable_parameters: int, model_size: float) -> str:
    """Lightning's summary columns (its ``summary_data``, less FLOPs) as a text table, and the totals."""
    from pytorch_lightning.utilities.model_summary import get_human_readable_count

    columns = [(header, [str(v) for v in values]) for header, values in summary_data if header != "FLOPs"]
    widths = [max([len(header), *map(len, values)]) for header, values in columns]
    line = lambda cells: " | ".join(c.ljust(w) for c, w in zip(cells, widths))     # noqa: E731
    rows = [line([h for h, _ in columns]), "-" * (sum(widths) + 3 * (len(widths) - 1))]
    rows += [line(cells) for cells in zip(*(values for _, values in columns))]
    rows += ["-" * len(rows[1]),
             f"{get_human_readable_count(trainable_parameters):<10} Trainable params",
             f"{get_human_readable_count(total_parameters - trainable_parameters):<10} Non-trainable params",
             f"{get_human_readable_count(total_parameters):<10} Total params",
             f"{model_size:<10,.3f} Total estimated model params size (MB)"]
    return "\n".join(rows)


class LightningNoise(logging.Filter):
    """Drops Lightning's lines that tell a gcvideo user nothing: its promotional tips (the
    "💡 Tip: ... litlogger" line of every run) and the note that ``Summary`` replaces its summary."""

    NOISE = ("💡", "Trainer already configured with model summary callbacks")

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.NOISE)


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
            n = batch["video"].shape[0] * (batch["video"].shape[1] if batch["video"].dim() == 6 else 1)   # clips
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


class StopOnNonFinite(pl.Callback):
    """Stop training when it diverged, before any checkpoint of the diverged weights is written:
    a NaN or infinite training loss, weights or buffers (a finite loss of 1e36 can leave the
    weights non-finite), or validation loss. The loss check costs no host sync per step: a flag
    accumulates on the device and is read on logging steps, on an epoch's last batch and before
    validation, with one check of every weight; the val loss is read when validation ends
    (checkpoints are written after it), agreed by all ranks."""

    def __init__(self) -> None:
        self._bad: Optional[torch.Tensor] = None

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        if loss is None:
            return
        bad = ~torch.isfinite(loss.detach()).all()
        self._bad = bad if self._bad is None else self._bad | bad
        every = max(1, trainer.log_every_n_steps)
        if trainer.global_step % every == 0 or trainer.is_last_batch:
            self.check(trainer)

    def on_validation_start(self, trainer, module) -> None:
        if trainer.training:
            self.check(trainer, module)

    def on_train_epoch_end(self, trainer, module) -> None:
        self.check(trainer, module)               # a run without validation saves after this

    def on_validation_end(self, trainer, module) -> None:
        if trainer.state.fn != "fit" or trainer.sanity_checking:
            return
        loss = trainer.callback_metrics.get("val/loss")
        bad = loss is not None and not bool(torch.isfinite(loss).all())
        if trainer.strategy.reduce_boolean_decision(bad, all=False):
            self._stop(trainer, "the validation loss is NaN or infinite")

    def check(self, trainer, module=None) -> None:
        bad = bool(self._bad) if self._bad is not None else False
        what = "the training loss became NaN or infinite"
        if not bad and module is not None:
            tensors = [t.detach() for t in [*module.parameters(), *module.buffers()] if t.is_floating_point()]
            bad = bool(torch.stack([torch.isfinite(t).all() for t in tensors]).logical_not().any()) if tensors else False
            what = "the weights became NaN or infinite"
        if not trainer.strategy.reduce_boolean_decision(bad, all=False):
            self._bad = None
            return
        self._stop(trainer, what)

    @staticmethod
    def _stop(trainer, what: str) -> None:
        lr = trainer.optimizers[0].param_groups[0]["lr"] if trainer.optimizers else float("nan")
        raise Diverged(f"{what} by epoch {trainer.current_epoch}, step {trainer.global_step} (lr {lr:.4g}); "
                       "stopped, no checkpoint of the diverged weights was written (the earlier ones are kept). "
                       "Try a lower --model.lr, a longer --model.warmup_epochs, or --trainer.gradient_clip_val 1.0")


def stopped_by_sigterm(trainer, exception: BaseException) -> bool:
    """Whether ``exception`` ended the run because of SIGTERM: Lightning's own ``SIGTERMException``
    (raised after the step), or the DataLoader's error about workers that died of the same signal
    while the main process waited for a batch -- what happens when a scheduler signals the whole
    process group (``scancel``, ``kill -TERM -- -PGID``). The weights and the epoch position are
    those of the last finished step either way."""
    from pytorch_lightning.utilities.exceptions import SIGTERMException

    if isinstance(exception, SIGTERMException):
        return True
    return bool(getattr(trainer, "received_sigterm", False)) and isinstance(exception, RuntimeError) \
        and "DataLoader worker" in str(exception)


class LastCheckpoint(ModelCheckpoint):
    """``last.ckpt`` after every epoch (overwritten; Lightning's ``save_last`` writes it only
    when another checkpoint was written in the same step), and at the step reached when SIGTERM
    stops the run (pre-emption): the data module records the batches done in the epoch, so the
    resumed run trains exactly the rest. Its own state key, so it never collides with an
    every-epoch ModelCheckpoint's."""

    def __init__(self, dirpath: str) -> None:
        super().__init__(dirpath=dirpath, filename="last", save_top_k=1, every_n_epochs=1,
                         enable_version_counter=False)

    def on_exception(self, trainer, module, exception: BaseException) -> None:
        if stopped_by_sigterm(trainer, exception) and trainer.training and not trainer.sanity_checking:
            trainer.save_checkpoint(os.path.join(self.dirpath, "last.ckpt"))

    @property
    def state_key(self) -> str:
        return "LastCheckpoint"


BEST_MONITORS = ("val/top1", "val/mAP")      # best.ckpt: single-label data, multi-label data


def best_score(trainer: pl.Trainer) -> float:
    """The best val top-1 (multi-label: val mAP) of the run (what ``best.ckpt`` holds), NaN when
    there is none."""
    for callback in trainer.checkpoint_callbacks:
        if isinstance(callback, ModelCheckpoint) and callback.monitor in BEST_MONITORS \
                and callback.best_model_score is not None:
            return float(callback.best_model_score)
    return float("nan")


def run_checkpoints(dirpath: str, every_n_epochs: int, multi_label: bool = False) -> list[ModelCheckpoint]:
    """The checkpoint callbacks of a run, in the order they must save: ``best.ckpt`` (by val
    top-1; multi-label data: val mAP) first, so that the state saved into the other two files
    already holds this epoch's best score (a resumed run then never replaces ``best.ckpt`` with a worse model);
    ``epochNNN.ckpt`` every ``every_n_epochs`` epochs (0: none); ``last.ckpt`` every epoch."""
    best = ModelCheckpoint(dirpath=dirpath, filename="best", monitor=BEST_MONITORS[multi_label], mode="max",
                           save_top_k=1, auto_insert_metric_name=False, enable_version_counter=False)
    epochs = [ModelCheckpoint(dirpath=dirpath, filename="epoch{epoch:03d}", auto_insert_metric_name=False,
                              every_n_epochs=every_n_epochs, save_top_k=-1)] if every_n_epochs > 0 else []
    return [best, *epochs, LastCheckpoint(dirpath)]


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else (f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s")


def _metric_text(metrics: dict) -> str:
    return ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in metrics.items()
                     if k != "v_num")


class LineProgress(pl.callbacks.ProgressBar):
    """Lightning's progress as whole lines, for a log file or a pipe (the CLI uses it when stdout is
    not a terminal; a bar would store every redraw): a line when a training epoch (with its
    validation's metrics), a validation, a test or a prediction ends, with its batches, time and
    metrics, and one every ``every`` seconds within a long one, with its ETA."""

    def __init__(self, every: float = 60.0) -> None:
        super().__init__()
        self.every, self.enabled = every, True
        self._started = self._said = self._validation_started = 0.0

    def disable(self) -> None:
        self.enabled = False

    def enable(self) -> None:
        self.enabled = True

    def print(self, *args, **kwargs) -> None:
        print(*args, **kwargs, flush=True)

    def _say(self, trainer: pl.Trainer, text: str) -> None:
        if self.enabled and trainer.is_global_zero and not trainer.sanity_checking:
            print(text, flush=True)

    def _start(self) -> None:
        self._started = self._said = time.monotonic()

    @staticmethod
    def _fitting(trainer: pl.Trainer) -> bool:
        return trainer.state.fn == "fit"

    def _where(self, trainer: pl.Trainer, stage: str) -> str:
        return f"epoch {trainer.current_epoch + 1}/{trainer.max_epochs}" if stage == "train" else stage

    def _batch(self, trainer: pl.Trainer, stage: str, done: int, total) -> None:
        now = time.monotonic()
        if now - self._said < self.every:
            return
        self._said = now
        elapsed = now - self._started
        known = isinstance(total, (int, float)) and total != float("inf")
        eta = f", ETA {_duration(elapsed / done * (total - done))}" if known and done else ""
        self._say(trainer, f"{self._where(trainer, stage)}: {done}{f'/{int(total)}' if known else ''} batches, "
                           f"{_duration(elapsed)}{eta}")

    def _end(self, trainer: pl.Trainer, module: pl.LightningModule, stage: str, batches) -> None:
        metrics = _metric_text(self.get_metrics(trainer, module)) if stage != "predict" else ""
        self._say(trainer, f"{self._where(trainer, stage)}: {int(batches)} batches in "
                           f"{_duration(time.monotonic() - self._started)}" + (f"; {metrics}" if metrics else ""))

    def on_train_epoch_start(self, trainer, module) -> None:
        self._start()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        self._batch(trainer, "train", batch_idx + 1, self.total_train_batches)

    def on_train_epoch_end(self, trainer, module) -> None:
        self._end(trainer, module, "train", self.total_train_batches)

    def on_validation_start(self, trainer, module) -> None:
        self._validation_started = time.monotonic()
        if not self._fitting(trainer):
            self._start()

    def on_validation_batch_end(self, trainer, module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        if not self._fitting(trainer):
            self._batch(trainer, "validation", batch_idx + 1, sum(trainer.num_val_batches))

    def on_validation_end(self, trainer, module) -> None:
        if not self._fitting(trainer):
            self._end(trainer, module, "validation", sum(trainer.num_val_batches))
        else:                                 # its metrics are on the epoch's line
            self._say(trainer, f"{self._where(trainer, 'train')} validation: {int(sum(trainer.num_val_batches))} batches "
                               f"in {_duration(time.monotonic() - self._validation_started)}")

    def on_test_start(self, trainer, module) -> None:
        self._start()

    def on_test_batch_end(self, trainer, module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self._batch(trainer, "test", batch_idx + 1, sum(trainer.num_test_batches))

    def on_test_end(self, trainer, module) -> None:
        self._end(trainer, module, "test", sum(trainer.num_test_batches))

    def on_predict_start(self, trainer, module) -> None:
        self._start()

    def on_predict_batch_end(self, trainer, module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self._batch(trainer, "predict", batch_idx + 1, sum(trainer.num_predict_batches))

    def on_predict_end(self, trainer, module) -> None:
        self._end(trainer, module, "predict", sum(trainer.num_predict_batches))
