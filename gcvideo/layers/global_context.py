"""Global Context block (GCNet, Cao et al. 2019), for video: pools over T x H x W.

    context  : w = softmax_j(Wk x_j) over all T*H*W positions, ctx = sum_j w_j x_j
               (Wk has no bias: it would cancel in the softmax)
    transform: 1x1x1 conv C -> C/r, LayerNorm, ReLU, 1x1x1 conv C/r -> C
    fusion   : y = x + transform(ctx)          (or x * sigmoid(transform(ctx)))

With add fusion (the paper's) the last conv of the transform is zero-initialised, so a freshly
inserted block is exactly the identity and a pretrained backbone keeps its outputs. With mul
fusion it keeps PyTorch's default initialisation, as SE does: zero there would make the block
x * sigmoid(0) = x / 2, which is no identity either. (mmcv's ``ContextBlock``, the authors' code,
zero-initialises the last conv for both fusions; weights copied from one give the same outputs.)

This module is the paper's block and nothing else: whatever the mode, it computes the
formulas above. For inference, ``gcvideo.models.fold_context_blocks`` converts a
network explicitly into a form where each GC block rides on the 1x1x1 conv + BatchNorm
in front of it (``gcvideo.layers.folded.FoldedGlobalContext3d``).
"""
from typing import Literal, get_args

import torch
import torch.nn.functional as F
from torch import nn

from .attention_pool import AttentionPool3d, GlobalAvgPool3d
from .pointwise import Pointwise3d

Pooling = Literal["att", "avg"]      # attention pooling (the paper) or global average (as SE)
Fusion = Literal["add", "mul"]       # add (the paper) or scale by sigmoid (as SE)


class ContextLayerNorm(nn.LayerNorm):
    """LayerNorm over the C/r channels of a pooled context, (N, C/r, 1, 1, 1) in and out.

    Its weight and bias are 1-D (C/r,), so the standard ``model.to(memory_format=
    torch.channels_last_3d)`` works on any network with GC blocks (that call reformats every 4-D
    and 5-D parameter and refuses a 4-D one). A state dict holding the (C/r, 1, 1, 1) shape of
    gcvideo 0.1's ``nn.LayerNorm([C/r, 1, 1, 1])`` loads: the values are the same."""

    def __init__(self, channels: int) -> None:
        super().__init__(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # a GroupNorm with one group is a LayerNorm over (C/r, 1, 1, 1) with per-channel affine:
        # the same numbers in one op, on the 5-D context as it is
        return F.group_norm(x, 1, self.weight, self.bias, self.eps)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        for name in ("weight", "bias"):
            value = state_dict.get(prefix + name)
            if value is not None and value.dim() > 1:
                state_dict[prefix + name] = value.reshape(-1)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


class GlobalContext3d(nn.Module):
    """The GC block of GCNet on (N, C, T, H, W) inputs; paper defaults.

    Args:
        channels: C, the number of input (and output) channels.
        reduction: bottleneck ratio r of the transform (C -> C/r -> C); paper: 16.
        pooling: ``"att"`` (attention pooling, paper) or ``"avg"`` (global average, as SE).
        fusion: ``"add"`` (paper) or ``"mul"`` (x * sigmoid(transform), as SE).
        layer_norm: LayerNorm on the C/r bottleneck (paper: True).
    """

    def __init__(self, channels: int, reduction: int = 16, pooling: Pooling = "att",
                 fusion: Fusion = "add", layer_norm: bool = True) -> None:
        super().__init__()
        if pooling not in get_args(Pooling):
            raise ValueError(f"pooling must be 'att' or 'avg', got {pooling!r}")
        if fusion not in get_args(Fusion):
            raise ValueError(f"fusion must be 'add' or 'mul', got {fusion!r}")
        if reduction < 1 or channels < 1:
            raise ValueError(f"channels and reduction must be >= 1, got {channels}, {reduction}")
        hidden = max(1, channels // reduction)
        self.channels, self.reduction = channels, reduction
        self.pooling, self.fusion = pooling, fusion
        self.pool = AttentionPool3d(channels) if pooling == "att" else GlobalAvgPool3d()
        self.transform = nn.Sequential(
            Pointwise3d(channels, hidden),
            ContextLayerNorm(hidden) if layer_norm else nn.Identity(),
            nn.ReLU(inplace=True),
            Pointwise3d(hidden, channels, zero_init=(fusion == "add")),
        )

    def reset_parameters(self) -> None:
        """Re-apply the initialisation (the last transform conv zero for add fusion, default for mul)."""
        for m in self.modules():
            if m is not self and hasattr(m, "reset_parameters"):
                m.reset_parameters()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        context = self.pool(x)                                      # (N, C, 1, 1, 1)
        # x's dtype: under CUDA autocast the LayerNorm hands the transform fp32, and an fp32
        # delta would promote the whole activation (and every later one) to fp32
        delta = self.transform(context)                             # (N, C, 1, 1, 1)
        if delta.dtype != x.dtype:
            delta = delta.to(x.dtype)
        if self.fusion == "add":
            return x + delta
        return x * torch.sigmoid(delta)

    def extra_repr(self) -> str:
        return (f"channels={self.channels}, reduction={self.reduction}, "
                f"pooling={self.pooling!r}, fusion={self.fusion!r}")
