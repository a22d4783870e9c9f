"""A 1x1x1 convolution that owns its initialisation."""
import math

import torch
import torch.nn.functional as F
from torch import nn


class Pointwise3d(nn.Module):
    """1x1x1 convolution, C_in -> C_out, on (N, C, T, H, W) tensors.

    Numerically an ``nn.Conv3d(in, out, kernel_size=1)``, with the same parameter
    names (``weight`` of shape (out, in, 1, 1, 1), ``bias``), but deliberately not a
    subclass of it: model-wide initialisers such as pytorchvideo's
    ``init_net_weights`` or torchvision's ``for m in modules(): if isinstance(m,
    nn.Conv3d)`` loops re-initialise every Conv3d and would destroy the zero
    initialisation that makes a freshly inserted context block the identity.
    Context blocks build their transforms from this layer so their init is theirs.
    """

    def __init__(self, in_channels: int, out_channels: int, bias: bool = True,
                 zero_init: bool = False) -> None:
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.zero_init = zero_init
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, 1, 1, 1))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.zero_init:
            nn.init.zeros_(self.weight)
            if self.bias is not None:
                nn.init.zeros_(self.bias)
            return
        # The default of nn.Conv3d, so a non-zero Pointwise3d starts like a conv.
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1.0 / math.sqrt(self.in_channels)
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t, h, w = x.shape[0], x.shape[2], x.shape[3], x.shape[4]
        if t * h * w == 1:
            # a pooled context (the GC/SE/SNL transforms): one op forward, one backward
            # (benchmarks/dispatch_count.py); the weight keeps its conv shape
            return F.conv3d(x, self.weight.to(x.dtype), None if self.bias is None else self.bias.to(x.dtype))
        # A matmul over the flattened positions: on CPU ~10x faster than F.conv3d for
        # a C -> 1 key over all positions (measured in benchmarks/block_overhead.py's setting).
        y = torch.matmul(self.weight.view(self.out_channels, self.in_channels).to(x.dtype),
                         x.flatten(2))                                 # (N, C_out, T*H*W)
        if self.bias is not None:
            y = y + self.bias.to(y.dtype).view(1, -1, 1)   # y's: autocast may have lowered it
        return y.view(n, self.out_channels, t, h, w)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, bias={self.bias is not None}, "
                f"zero_init={self.zero_init}")
