"""Looking inside networks: the attention maps of GC/SNL blocks and NL statistics.

Capture on the network as built: ``fold_context_blocks``'s inference form computes a GC
block without calling its pool, so its attention is not recorded there.
"""
import contextlib
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from ..layers.attention_pool import AttentionPool3d


@contextlib.contextmanager
def capture_attention(model: nn.Module) -> Iterator[dict[str, torch.Tensor]]:
    """Record the attention-pooling weights of every GC/SNL block during forward passes.

    >>> with capture_attention(model) as maps:
    ...     model(clip)
    >>> maps["blocks.3.res_blocks.0.branch2.context"].shape   # (N, T, H, W), sums to 1 over T*H*W

    Keys are the blocks' module names; each value is the softmax over all T*H*W positions
    of the last forward, detached and on the CPU.
    """
    maps: dict[str, torch.Tensor] = {}
    handles = []
    for name, module in model.named_modules():
        if isinstance(module, AttentionPool3d):
            block = name.rsplit(".pool", 1)[0]

            def hook(mod, inputs, output, block=block):
                maps[block] = mod.attention(inputs[0]).detach().float().cpu()

            handles.append(module.register_forward_hook(hook))
    try:
        yield maps
    finally:
        for handle in handles:
            handle.remove()


def mean_pairwise_cosine_distance(vectors: torch.Tensor) -> torch.Tensor:
    """Mean over all pairs i != j of ``1 - cos(v_i, v_j)`` for (..., N, D) inputs, in O(N D):
    with unit vectors u, the sum of cos over all ordered pairs is ``|sum u|^2 - N``."""
    u = torch.nn.functional.normalize(vectors.double(), dim=-1)
    n = u.shape[-2]
    total = u.sum(-2).pow(2).sum(-1)                                     # sum_ij cos(u_i, u_j)
    return 1.0 - (total - n) / (n * (n - 1))


@torch.no_grad()
def nl_statistics(block: nn.Module, x: torch.Tensor) -> dict[str, float]:
    """GCNet Table 1 for one NonLocal3d on input x (N, C, T, H, W): mean pairwise cosine
    distance between positions of the input features, of the block's output, of the
    attention maps of different query positions, and of what those maps attend to."""
    maps, attended = block.attend(x)                                     # (N, P, P'), (N, C', P)
    output = block(x)
    stats = {
        "input": mean_pairwise_cosine_distance(x.flatten(2).transpose(1, 2)),
        "output": mean_pairwise_cosine_distance(output.flatten(2).transpose(1, 2)),
        "attention_map": mean_pairwise_cosine_distance(maps),
        "attention_output": mean_pairwise_cosine_distance(attended.transpose(1, 2)),
    }
    return {k: float(v.mean()) for k, v in stats.items()}


@torch.no_grad()
def collect_nl_statistics(model: nn.Module, clips) -> dict[str, dict[str, float]]:
    """Average :func:`nl_statistics` of every NonLocal3d in ``model`` over ``clips``
    (an iterable of (N, 3, T, H, W) tensors)."""
    from ..layers.non_local import NonLocal3d

    blocks = {n: m for n, m in model.named_modules() if isinstance(m, NonLocal3d)}
    if not blocks:
        raise ValueError("the model has no non-local blocks (train e.g. slow_r50_nl5)")
    inputs: dict[str, torch.Tensor] = {}
    handles = [m.register_forward_pre_hook(lambda mod, args, name=n: inputs.__setitem__(name, args[0]))
               for n, m in blocks.items()]
    sums: dict[str, dict[str, float]] = {n: {} for n in blocks}
    count = 0
    try:
        model.eval()
        for clip in clips:
            model(clip)
            for name, block in blocks.items():
                for key, value in nl_statistics(block, inputs[name]).items():
                    sums[name][key] = sums[name].get(key, 0.0) + value
            count += 1
    finally:
        for h in handles:
            h.remove()
    return {name: {k: v / max(count, 1) for k, v in stat.items()} for name, stat in sums.items()}


def attention_on_regions(attention: torch.Tensor, cover: torch.Tensor) -> dict[str, float]:
    """How much of one clip's attention falls on marked regions.

    ``attention``: (T', H', W') softmax weights of a block (sum 1); ``cover``: (T, H, W) in
    [0, 1], the fraction of each input pixel that belongs to a region (e.g. cue boxes),
    averaged down to the block's grid. Returns the attention ``mass`` on the regions, their
    ``area`` share of the positions and ``lift`` = mass / area (1: no preference).
    """
    grid = F.adaptive_avg_pool3d(cover[None, None].float(), attention.shape)[0, 0]    # (T', H', W')
    mass, area = float((attention * grid).sum()), float(grid.mean())
    return {"mass": mass, "area": area, "lift": mass / area if area > 0 else float("nan")}
