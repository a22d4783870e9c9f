"""Simplified non-local block (GCNet, Sec. 3.2): one query-independent attention map."""
import torch
from torch import nn

from .attention_pool import AttentionPool3d
from .pointwise import Pointwise3d


class SimplifiedNonLocal3d(nn.Module):
    """SNL on (N, C, T, H, W): ``y = x + Wv( sum_j softmax_j(Wk x_j) x_j )``.

    Wk is a 1x1x1 conv C -> 1 (no bias), the softmax runs over all T*H*W positions jointly,
    Wv is a 1x1x1 conv C -> C applied once to the pooled context. Wv starts at
    zero, so a freshly inserted block is the identity.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels
        self.pool = AttentionPool3d(channels)
        self.value = Pointwise3d(channels, channels, zero_init=True)

    def reset_parameters(self) -> None:
        self.pool.reset_parameters()
        self.value.reset_parameters()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.value(self.pool(x)).to(x.dtype)             # broadcast add, in x's dtype

    def extra_repr(self) -> str:
        return f"channels={self.channels}"
