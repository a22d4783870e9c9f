"""pytorchvideo's bottleneck branch with a context block after its last 1x1x1 conv + BN.

``insert_blocks`` turns the ``branch2`` of each selected pytorchvideo residual block
into a ``ContextBottleneckBlock`` (same parameters and state_dict keys, plus
``context``): ``context(norm_c(conv_c(...)))``. In eval mode a GC block is folded
into ``conv_c`` + ``norm_c`` (``GlobalContext3d.forward_through``: same outputs, no
tensor written by the block itself); training always runs the plain path.
"""
import torch
from pytorchvideo.models.resnet import BottleneckBlock

from .global_context import GlobalContext3d


class ContextBottleneckBlock(BottleneckBlock):
    """``BottleneckBlock`` whose output goes through ``self.context``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        context = self.context
        if not (isinstance(context, GlobalContext3d) and context.can_fold(self.conv_c, self.norm_c)):
            return context(super().forward(x))
        for conv, norm, act in ((self.conv_a, self.norm_a, self.act_a),
                                (self.conv_b, self.norm_b, self.act_b)):
            x = conv(x)
            if norm is not None:
                x = norm(x)
            if act is not None:
                x = act(x)
        return context.forward_through(x, self.conv_c, self.norm_c)
