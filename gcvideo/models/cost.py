"""Parameter and FLOP counts (multiply-adds, the GCNet/SlowFast convention) with fvcore."""
import logging

import torch
from torch import nn


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
