"""Activation checkpointing: residual blocks that keep no activations for the backward pass and
recompute them there (PySlowFast's ``MODEL.ACT_CHECKPOINT``, mmaction2's ``with_cp``).

``checkpoint_blocks(model, stages)`` puts every residual block of the chosen stages (those
``insert_blocks`` knows, context blocks included) in a ``Checkpointed`` holder that runs it under
``torch.utils.checkpoint`` (non-reentrant) while training with gradients, and plainly otherwise. The
state_dict keeps its keys; gradients are the same (the recomputation replays the same RNG state).
"""
from typing import Iterable, Optional

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from .insert import DEFAULT_STAGES, STAGES, KeepsKeys, network_layout, stage_name


class Checkpointed(KeepsKeys):
    """``body`` (one residual block, one tensor in and out) with its activations recomputed in
    the backward pass instead of kept. The recomputation leaves BatchNorm's running statistics
    alone, so they are what they are without checkpointing (not updated twice)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and torch.is_grad_enabled()):
            return self.body(x)
        if torch.compiler.is_compiling():
            # traced once: the compiled backward recomputes from the graph, not by calling forward
            return checkpoint(self.body, x, use_reentrant=False)
        calls = []

        def run(t: torch.Tensor) -> torch.Tensor:
            calls.append(1)
            if len(calls) == 1:
                return self.body(t)
            with statistics_frozen(self.body):          # the backward pass's recomputation
                return self.body(t)

        return checkpoint(run, x, use_reentrant=False)


class statistics_frozen:
    """Inside the ``with``, the BatchNorm layers of ``module`` normalise as in training but do not
    update their running statistics (momentum 0, the batch counter restored)."""

    def __init__(self, module: nn.Module) -> None:
        self.norms = [m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
                      and m.track_running_stats]

    def __enter__(self):
        self.saved = [(m.momentum, m.num_batches_tracked.clone()) for m in self.norms]
        for m in self.norms:
            m.momentum = 0.0
        return self

    def __exit__(self, *exc) -> None:
        for m, (momentum, tracked) in zip(self.norms, self.saved):
            m.momentum = momentum
            m.num_batches_tracked.copy_(tracked)


def checkpoint_blocks(model: nn.Module, stages: Optional[Iterable[str]] = None) -> list[str]:
    """Checkpoint every residual block of ``stages`` (default: c2-c5; SlowFast: both pathways) in
    place; returns the blocks' names. Build and insert context blocks first: the holders change
    module names (not state_dict keys)."""
    layout = network_layout(model)
    wanted = {stage_name(s) for s in (stages if stages is not None else STAGES)}
    names = [block for key, blocks in layout.stages.items() if key.split(":")[-1] in wanted
             for block, _ in blocks]
    for name in names:
        model.set_submodule(name, Checkpointed(model.get_submodule(name)))
    return names


__all__ = ["Checkpointed", "checkpoint_blocks", "DEFAULT_STAGES"]
