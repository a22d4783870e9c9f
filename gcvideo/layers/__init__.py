"""Context blocks and their pieces: pure PyTorch (no pytorchvideo, no Lightning).

``from gcvideo.layers import GlobalContext3d`` works with torch alone.
"""
from .attention_pool import AttentionPool3d, GlobalAvgPool3d, attention_weights, pool_positions
from .factory import BLOCKS, block_options, make_block
from .folded import FoldedGlobalContext3d, can_fold
from .global_context import GlobalContext3d
from .non_local import NonLocal3d
from .pointwise import Pointwise3d
from .simplified_non_local import SimplifiedNonLocal3d
from .squeeze_excite import SqueezeExcite3d

__all__ = ["GlobalContext3d", "SimplifiedNonLocal3d", "NonLocal3d", "SqueezeExcite3d", "AttentionPool3d",
           "GlobalAvgPool3d", "FoldedGlobalContext3d", "Pointwise3d", "make_block", "block_options", "BLOCKS",
           "attention_weights", "pool_positions", "can_fold"]
