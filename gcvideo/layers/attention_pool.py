"""Context pooling over all T x H x W positions, shared by GC and simplified NL blocks.

    attention: w = softmax_j(Wk x_j) over all T*H*W positions, ctx = sum_j w_j x_j
    average  : ctx = mean_j x_j                                  (SE's squeeze)
"""
import math
from typing import Optional

import torch
from torch import nn


class AttentionPool3d(nn.Module):
    """Query-independent attention pooling: (N, C, T, H, W) -> (N, C, 1, 1, 1).

    ``w = softmax_j(Wk x_j)`` with Wk a 1x1x1 conv C -> 1, ONE softmax over all T*H*W
    positions jointly (not per frame); returns ``sum_j w_j x_j``. Wk has no bias: a
    softmax ignores a shift of all its logits, so a bias could never change the output.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(1, channels, 1, 1, 1))   # Wk, as a conv weight
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))          # nn.Conv3d's default

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c = x.shape[0], x.shape[1]
        return pool_positions(x, self.weight.view(1, c)).view(n, c, 1, 1, 1)

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        """The softmax weights over positions, (N, T, H, W), summing to 1 per clip."""
        n, c, t, h, w = x.shape
        return attention_weights(x.flatten(2), self.weight.view(1, c)).view(n, t, h, w)


class GlobalAvgPool3d(nn.Module):
    """(N, C, T, H, W) -> (N, C, 1, 1, 1) mean: the SE-style context of the ablation."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3, 4), keepdim=True)


def attention_weights(flat: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
    """(N, C, P) positions, (1, C) key -> (N, 1, P): ONE softmax over all P positions.

    The logits are one bmm of the key expanded over the batch (a broadcast matmul dispatches
    several ops; a 1-wide conv1d is one, but on CPU ~50x slower than the bmm at c3's size)."""
    return torch.bmm(key.to(flat.dtype).view(1, 1, -1).expand(flat.shape[0], 1, -1), flat).softmax(dim=-1)


def pool_positions(x: torch.Tensor, key: Optional[torch.Tensor] = None) -> torch.Tensor:
    """(N, C, T, H, W) -> (N, C, 1): ``sum_j softmax_j(key . x_j) x_j``, or the mean if
    ``key`` is None. The positions are read in the layout ``x`` is stored in: a channels_last_3d
    activation (N, T, H, W, C in memory) is viewed as (N, P, C) and multiplied from the other
    side, since flattening it to (N, C, P) would copy the whole activation first."""
    n, c = x.shape[0], x.shape[1]
    if x.dim() == 5 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last_3d):
        rows = x.permute(0, 2, 3, 4, 1).reshape(n, -1, c)                  # (N, P, C), a view
        if key is None:
            return rows.mean(dim=1).view(n, c, 1)
        logits = torch.bmm(rows, key.to(rows.dtype).view(1, c, 1).expand(n, c, 1))      # (N, P, 1)
        weights = logits.softmax(dim=1).to(rows.dtype)
        return torch.bmm(weights.transpose(1, 2), rows).view(n, c, 1)      # (N, 1, C)
    flat = x.flatten(2)                                                    # (N, C, T*H*W)
    if key is None:
        return flat.mean(dim=-1, keepdim=True)
    weights = attention_weights(flat, key)                                 # (N, 1, T*H*W)
    return torch.bmm(flat, weights.to(flat.dtype).transpose(1, 2))
