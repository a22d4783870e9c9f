"""A GC block computed through the 1x1x1 conv + BatchNorm in front of it (inference only).

``FoldedGlobalContext3d(conv, norm, block)(x) == block(norm(conv(x)))`` for an eval-mode
BatchNorm, with the block's fusion riding on the BatchNorm's single write. With
``y = s * conv(x) + t`` (the BatchNorm's affine map, ``W`` the conv's weight) the GC
block needs from y only:

* the attention logits ``k . y_j = ((k * s) W) . x_j + const`` (the softmax drops the
  constant),
* the context ``sum_j w_j y_j = s * conv(sum_j w_j x_j) + t`` (the weights sum to 1),
* the fusion, which becomes a per-sample bias (add) or scale (mul) of the BatchNorm.

So the output is written once, by the BatchNorm, and pooling reads either the conv's
input (C/4 channels in a bottleneck; worth it while the conv weight is small next to
the activations) or the conv's output with the folded key ``k * s``. With the block's
last conv at zero (init, add fusion) the result is bit-identical to ``norm(conv(x))``.

Build these with ``gcvideo.models.fold_context_blocks(model)``, which finds every GC
block that follows such a conv + BatchNorm; the modules keep their parameters (the
conv's, the norm's and the block's), so a folded network has the same weights.
"""
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from .attention_pool import pool_positions
from .global_context import GlobalContext3d


def can_fold(block: nn.Module, conv: nn.Module, norm: Optional[nn.Module]) -> bool:
    """Whether ``block(norm(conv(x)))`` has a folded form: ``block`` a GC block, ``conv``
    a plain 1x1x1 Conv3d to its channels, ``norm`` None or a BatchNorm3d with running
    statistics (used as at inference)."""
    if not isinstance(block, GlobalContext3d) or not isinstance(conv, nn.Conv3d):
        return False
    if (conv.kernel_size, conv.stride, conv.padding, conv.dilation, conv.groups) != \
            ((1, 1, 1), (1, 1, 1), (0, 0, 0), (1, 1, 1), 1) or conv.out_channels != block.channels:
        return False
    return norm is None or (isinstance(norm, nn.BatchNorm3d) and norm.running_var is not None)


class FoldedGlobalContext3d(nn.Module):
    """``block(norm(conv(x)))`` in one pass over the output; inference only (the
    BatchNorm always uses its running statistics). See the module docstring."""

    def __init__(self, conv: nn.Conv3d, norm: Optional[nn.BatchNorm3d], block: GlobalContext3d) -> None:
        super().__init__()
        if not can_fold(block, conv, norm):
            raise ValueError(f"cannot fold {type(block).__name__} into {conv} + {norm}: needs a GC "
                             "block after a 1x1x1 Conv3d and a BatchNorm3d with running statistics")
        self.conv, self.norm, self.block = conv, norm, block
        self.eval()

    def train(self, mode: bool = True) -> "FoldedGlobalContext3d":
        if mode:
            raise RuntimeError("a folded GC block is for inference only; train the unfolded network "
                               "(fold_context_blocks returns a copy, the original is unchanged)")
        return super().train(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        block, conv, norm = self.block, self.conv, self.norm
        n, c = x.shape[0], block.channels
        scale, shift = _affine(norm, c, x.device)
        key = block.pool.weight.view(1, c) * scale if block.pooling == "att" else None
        z = conv(x)
        c_in, positions = x.shape[1], x.shape[2] * x.shape[3] * x.shape[4]
        # Pool the conv's input when reading it (C_in wide) and the conv weight (C x C_in,
        # twice) is cheaper than reading the output twice: c3/c4 of a bottleneck, not c5.
        # Judged for one clip, so the path never depends on the batch size (a larger batch only
        # spreads the weight's cost further) and exports with a dynamic batch trace one graph.
        if c_in * (c + positions) < c * positions:
            weight = conv.weight.view(c, c_in)
            pooled = pool_positions(x, None if key is None else torch.matmul(key, weight))
            pooled = torch.matmul(weight.to(pooled.dtype), pooled)            # (N, C, 1) = conv
            if conv.bias is not None:
                pooled = pooled + conv.bias.view(1, c, 1).to(pooled.dtype)
        else:
            pooled = pool_positions(z, key)
        context = torch.addcmul(shift.view(1, c, 1), pooled, scale.view(1, c, 1))  # pool of norm(z)
        delta = block.transform(context.view(n, c, 1, 1, 1)).view(n, c)
        if norm is None:
            return z + delta.view(n, c, 1, 1, 1) if block.fusion == "add" \
                else z * torch.sigmoid(delta).view(n, c, 1, 1, 1)
        gamma = norm.weight if norm.weight is not None else torch.ones_like(scale)
        beta = norm.bias if norm.bias is not None else torch.zeros_like(scale)
        delta = delta.to(scale.dtype)
        if block.fusion == "add":                       # BN(z) + delta: shift the bias
            gamma, beta = gamma.expand(n, c), beta + delta
        else:                                           # BN(z) * gate: scale both
            gate = torch.sigmoid(delta)
            gamma, beta = gamma * gate, beta * gate
        return _batch_norm_per_sample(z, norm, gamma, beta)


def _affine(norm: Optional[nn.BatchNorm3d], channels: int,
            device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(s, t) with ``norm(z) == s * z + t`` per channel, for an eval-mode BatchNorm."""
    if norm is None:
        return torch.ones(channels, device=device), torch.zeros(channels, device=device)
    scale = torch.rsqrt(norm.running_var + norm.eps)
    if norm.weight is not None:
        scale = scale * norm.weight
    if norm.bias is None:
        return scale, -norm.running_mean * scale
    return scale, torch.addcmul(norm.bias, norm.running_mean, scale, value=-1.0)


def _batch_norm_per_sample(z: torch.Tensor, norm: nn.BatchNorm3d, gamma: torch.Tensor,
                           beta: torch.Tensor) -> torch.Tensor:
    """Eval-mode ``norm`` on z with a per-sample weight and bias (gamma, beta: (N, C)).

    A contiguous (N, C, ...) tensor is a (1, N*C, ...) one, so one batch_norm call applies
    them all in one pass; a ``channels_last_3d`` tensor (the GPU recipe's layout) is not,
    and gets the same affine map as one broadcast ``addcmul`` in its own layout instead of
    a copy. No branch on the batch size: a traced or exported network keeps it dynamic.
    """
    n, c = z.shape[0], z.shape[1]
    if not z.is_contiguous() and z.is_contiguous(memory_format=torch.channels_last_3d):
        inv_std = torch.rsqrt(norm.running_var + norm.eps)
        scale = gamma * inv_std                                                      # (N, C)
        shift = beta - norm.running_mean * scale
        return torch.addcmul(shift.view(n, c, 1, 1, 1).to(z.dtype), z, scale.view(n, c, 1, 1, 1).to(z.dtype))
    mean, var = (s.expand(n, c).reshape(n * c) for s in (norm.running_mean, norm.running_var))
    out = F.batch_norm(z.reshape(1, n * c, *z.shape[2:]), mean, var, gamma.reshape(n * c),
                       beta.reshape(n * c), False, 0.0, norm.eps)
    return out.reshape(z.shape)
