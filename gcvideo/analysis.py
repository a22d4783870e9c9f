"""Looking inside trained networks: the attention maps of GC/SNL blocks and NL statistics."""
import contextlib
from typing import Dict, Iterator

import torch
from torch import nn

from .global_context import AttentionPool3d


@contextlib.contextmanager
def capture_attention(model: nn.Module) -> Iterator[Dict[str, torch.Tensor]]:
    """Record the attention-pooling weights of every GC/SNL block during forward passes.

    >>> with capture_attention(model) as maps:
    ...     model(clip)
    >>> maps["blocks.3.res_blocks.0.branch2.context"].shape   # (N, T, H, W), sums to 1 over T*H*W

    Keys are the blocks' module names; each value is the softmax over all T*H*W positions
    of the last forward, detached and on the CPU.
    """
    maps: Dict[str, torch.Tensor] = {}
    handles = []
    for name, module in model.named_modules():
        if isinstance(module, AttentionPool3d):
            block = name.rsplit(".pool", 1)[0]

            def hook(mod, inputs, output, block=block):
                x = inputs[0]
                n, c, t, h, w = x.shape
                logits = torch.matmul(mod.weight.view(1, c).to(x.dtype), x.flatten(2))   # (N, 1, T*H*W)
                maps[block] = logits.softmax(-1).view(n, t, h, w).detach().float().cpu()

            handles.append(module.register_forward_hook(hook))
    try:
        yield maps
    finally:
        for handle in handles:
            handle.remove()
