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
