"""A timing harness for comparing networks on one machine: round-robin forwards, paired
ratios, and each network's twin with its context blocks bypassed (``benchmarks/`` and
``gcvideo report costs``)."""
import random
import statistics
import time
from typing import Callable, ContextManager, Optional, Sequence

import torch
from torch import nn

from ..models.insert import bypass_blocks


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
    from ..progress import progress_bar

    bar = progress_bar(total=rounds * len(models), desc="timing forwards", unit="forward", disable=not progress)
    with torch.inference_mode():
        for model in models.values():
            model.eval()(clip)
        for _ in range(rounds):
            shuffle(groups)
            for group in groups:
                shuffle(group)
                for name in group:
                    sync()
                    start = time.perf_counter()
                    models[name](clip)
                    sync()
                    times[name].append(time.perf_counter() - start)
                    bar.update()
    bar.close()
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
