"""Networks: the model registry, Slow-only ResNets with context blocks built in, block
insertion into other networks, the folded inference form, weights and costs.

Builds on ``gcvideo.layers`` and pytorchvideo; never imports the engine or tools.
"""
import warnings

with warnings.catch_warnings():
    # fvcore (imported by pytorchvideo, and for FLOP counts) scripts a loss at import time, which
    # torch 2.14 answers with a FutureWarning that is not the user's to act on
    warnings.filterwarnings("ignore", message=".*torch.jit.script.*is deprecated", category=FutureWarning)
    import fvcore.nn  # noqa: F401

from .fold import fold_context_blocks
from .insert import bypass_blocks, insert_blocks
from .options import BackboneOptions, BlockOptions
from .registry import (ALL_C3_C5, MODELS, NL5_POSITIONS, create_model, list_models, model_spec,
                       register_model)
from .slow_resnet import channels_last_3d, slow_resnet

__all__ = ["create_model", "list_models", "model_spec", "register_model", "MODELS", "NL5_POSITIONS",
           "ALL_C3_C5", "slow_resnet", "channels_last_3d", "insert_blocks", "bypass_blocks",
           "fold_context_blocks", "BackboneOptions", "BlockOptions"]
