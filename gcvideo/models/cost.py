"""Parameter and FLOP counts (multiply-adds, the GCNet/SlowFast convention) with fvcore."""
import logging
import random
import statistics
import time
from typing import Callable, ContextManager, Optional, Sequence

import torch
from torch import nn

from .insert import bypass_blocks


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_flops(model: nn.Module, frames: int = 8, size: int = 224, inputs=None) -> int:
    """Multiply-adds of one forward of a (1, 3, frames, size, size) clip (or of ``inputs``, e.g. a
    SlowFast network's [slow, fast] list), in eval mode.

    fvcore counts one fused multiply-add as one FLOP for convs, matmuls and bmm;
    softmax/elementwise ops are not counted (as in the papers' tables). Count the
    network as built (GC blocks as the paper defines them), not ``fold_context_blocks``'s
    inference form (which needs fewer).
    """
    from fvcore.nn import FlopCountAnalysis

    logger = logging.getLogger("fvcore")
    level, was_training = logger.level, model.training
    logger.setLevel(logging.ERROR)                 # fvcore's notes on uncounted ops, for this count only
    model.eval()
    try:
        if inputs is None:
            param = next(model.parameters())
            inputs = torch.zeros(1, 3, frames, size, size, device=param.device, dtype=param.dtype)
        analysis = FlopCountAnalysis(model, (inputs,))
        analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        return int(analysis.total())
    finally:
        model.train(was_training)
        logger.setLevel(level)


def model_cost(model: nn.Module, frames: int = 8, size: int = 224) -> dict[str, float]:
    flops = count_flops(model, frames, size)
    return {"params": count_params(model), "params_m": count_params(model) / 1e6,
            "gflops": flops / 1e9, "flops": flops, "frames": frames, "size": size}


def interleaved_latency(models: dict[str, nn.Module], clip: torch.Tensor, rounds: int = 5,
                        progress: bool = False, seed: int = 0,
                        groups: Optional[Sequence[Sequence[str]]] = None) -> dict[str, list]:
    """Forward times (s) of each model, one forward of each per round, after a warm-up.

    Timing round-robin makes machine noise hit all models alike: compare them with
    ``latency_ratio``; absolute numbers are not comparable across machines. Models of
    one of ``groups`` (e.g. a variant and its reference) run back to back, so a pair's
    ratio sees the machine in the same state; groups and the order inside each are
    shuffled every round. Default: every model is its own group.
    """
    groups = [list(g) for g in groups] if groups is not None else []
    grouped = {name for g in groups for name in g}
    groups += [[name] for name in models if name not in grouped]
    shuffle = random.Random(seed).shuffle
    times = {name: [] for name in models}
    # CUDA kernels run asynchronously: wait for them, or the clock stops at the launch
    sync = torch.cuda.synchronize if clip.is_cuda else (lambda: None)
    with torch.inference_mode():
        for model in models.values():
            model.eval()(clip)
        for r in range(rounds):
            shuffle(groups)
            for group in groups:
                shuffle(group)
                for name in group:
                    sync()
                    start = time.perf_counter()
                    models[name](clip)
                    sync()
                    times[name].append(time.perf_counter() - start)
            if progress:
                print(f"latency round {r + 1}/{rounds}", flush=True)
    return times


def latency_ratio(times: Sequence[float], base: Sequence[float]) -> float:
    """Median over rounds of time / baseline time in the same round (paired: a slow
    stretch of the machine cancels out instead of shifting one model's median)."""
    return statistics.median(t / b for t, b in zip(times, base))


class RunUnder(nn.Module):
    """``net`` run inside ``context(net)`` at every forward, e.g. ``RunUnder(model,
    bypass_blocks)`` times a network without its blocks on the very same instance."""

    def __init__(self, net: nn.Module, context: Callable[[nn.Module], ContextManager]) -> None:
        super().__init__()
        self.net, self.context = net, context

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with self.context(self.net):
            return self.net(x)


def bypassed_name(name: str) -> str:
    return f"{name} (bypassed)"


def with_bypassed_twins(nets: dict[str, nn.Module]) -> tuple[dict[str, nn.Module], list[list[str]]]:
    """``nets`` plus, for each, a twin ``bypassed_name(name)``: the same instance run with
    its blocks bypassed (the plain network's computation on the same weights and memory),
    and the ``[name, twin]`` groups for ``interleaved_latency`` to time back to back."""
    timed, groups = dict(nets), []
    for name, net in nets.items():
        timed[bypassed_name(name)] = RunUnder(net, bypass_blocks)
        groups.append([name, bypassed_name(name)])
    return timed, groups
