"""The learning-rate schedule of SlowFast's recipes, evaluated per iteration.

Cosine from ``base_lr`` at epoch 0 to ``final_lr`` at ``max_epochs``; for the first
``warmup_epochs`` the lr instead rises linearly from ``warmup_start_lr`` to the value
the cosine has at the end of the warm-up (SlowFast's ``get_lr_at_epoch``). The epoch is
fractional (``step / steps_per_epoch``), so the lr changes every iteration.
"""
import math


def cosine_lr(epoch: float, base_lr: float, max_epochs: float, final_lr: float = 0.0) -> float:
    progress = min(max(epoch / max_epochs, 0.0), 1.0)
    return final_lr + (base_lr - final_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))


def lr_at(epoch: float, base_lr: float, max_epochs: float, warmup_epochs: float = 0.0,
          warmup_start_lr: float = 0.0, final_lr: float = 0.0) -> float:
    if epoch < warmup_epochs:
        end = cosine_lr(warmup_epochs, base_lr, max_epochs, final_lr)
        return warmup_start_lr + (end - warmup_start_lr) * epoch / warmup_epochs
    return cosine_lr(epoch, base_lr, max_epochs, final_lr)


def scaled_lr(lr: float, total_batch: int, reference_batch: int = 64) -> float:
    """Linear scaling rule: ``lr`` was tuned for ``reference_batch`` clips per step."""
    return lr * total_batch / reference_batch


def total_batch(batch_size: int, clips_per_video: int = 1, world_size: int = 1, accumulate: int = 1) -> int:
    """Clips per optimiser step: per-device batch x clips per video (repeated augmentation) x
    devices x nodes x gradient accumulation. ``lr`` scales with it (:func:`scaled_lr`)."""
    return batch_size * clips_per_video * world_size * accumulate


def check_schedule(max_epochs: int, run_epochs: int, warmup_epochs: float) -> None:
    """``ValueError`` naming the options when the schedule cannot be the one asked for: a cosine
    (``model.max_epochs``) that ends before the run does (``trainer.max_epochs``: the rest would
    train at ``final_lr``), or a warm-up as long as the whole schedule (the run would never reach
    ``model.lr``). A schedule longer than the run is a run to be resumed (the lr does not reach
    ``final_lr`` in it)."""
    if run_epochs and run_epochs > 0 and max_epochs and 0 < max_epochs < run_epochs:
        raise ValueError(f"model.max_epochs {max_epochs} (where the cosine lr schedule ends) is shorter than "
                         f"trainer.max_epochs {run_epochs} (the run): set both to the same number, or leave "
                         "model.max_epochs out (the schedule then follows trainer.max_epochs)")
    if max_epochs and max_epochs > 0 and warmup_epochs > 0 and warmup_epochs >= max_epochs:
        raise ValueError(f"model.warmup_epochs {warmup_epochs:g} is as long as the whole lr schedule ({max_epochs} "
                         "epochs: trainer.max_epochs, or model.max_epochs): the run would never leave its warm-up "
                         f"or reach model.lr; give a shorter --model.warmup_epochs (e.g. {max(max_epochs * 0.2, 0.1):.2g})")


def run_total_batch(trainer, datamodule) -> int:
    """A run's total batch: :func:`total_batch` of the data module's batch and clips per video and
    the trainer's devices and accumulation; ``ValueError`` for a data module without a batch size."""
    per_device = getattr(datamodule, "batch_size", None) if datamodule is not None else None
    if per_device is None:
        raise ValueError("cannot scale the lr: the datamodule has no batch_size")
    clips = getattr(datamodule, "clips_per_video", 1)              # repeated augmentation: K clips a video
    return total_batch(per_device, clips, trainer.world_size, trainer.accumulate_grad_batches)


def schedule_inputs(max_epochs, trainer, datamodule) -> dict:
    """What a run's lr schedule is a function of: its total batch (:func:`run_total_batch`) and its
    length in epochs (``model.max_epochs``, else ``trainer.max_epochs``). Stored in checkpoints as
    ``gcvideo_schedule``: a resumed run must keep it."""
    return {"total_batch": run_total_batch(trainer, datamodule), "max_epochs": max_epochs or trainer.max_epochs}
