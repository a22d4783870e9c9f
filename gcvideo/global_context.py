"""Global Context block (GCNet, Cao et al. 2019), for video: pools over T x H x W.

    context  : w = softmax_j(Wk x_j) over all T*H*W positions, ctx = sum_j w_j x_j
               (Wk has no bias: it would cancel in the softmax)
    transform: 1x1x1 conv C -> C/r, LayerNorm, ReLU, 1x1x1 conv C/r -> C
    fusion   : y = x + transform(ctx)          (or x * sigmoid(transform(ctx)))

The last conv of the transform is zero-initialised, so with add fusion a freshly
inserted block is exactly the identity and a pretrained backbone keeps its outputs.

At inference a GC block that follows a 1x1x1 conv + BatchNorm (the paper's position
in a bottleneck) can be computed through them (``GlobalContext3d.forward_through``):
the fusion rides on the BatchNorm and the pooling can read the conv's 4x narrower
input, so the block adds at most two reads of a tensor and no write.
"""
import contextlib
import math
from typing import Iterator, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .pointwise import Pointwise3d


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


def attention_weights(flat: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
    """(N, C, P) positions, (1, C) key -> (N, 1, P): ONE softmax over all P positions."""
    return torch.matmul(key.to(flat.dtype), flat).softmax(dim=-1)


def pool_positions(x: torch.Tensor, key: Optional[torch.Tensor] = None) -> torch.Tensor:
    """(N, C, T, H, W) -> (N, C, 1): ``sum_j softmax_j(key . x_j) x_j``, or the mean if
    ``key`` is None."""
    flat = x.flatten(2)                                                    # (N, C, T*H*W)
    if key is None:
        return flat.mean(dim=-1, keepdim=True)
    weights = attention_weights(flat, key)                                 # (N, 1, T*H*W)
    return torch.matmul(flat, weights.to(x.dtype).transpose(1, 2))


class GlobalAvgPool3d(nn.Module):
    """(N, C, T, H, W) -> (N, C, 1, 1, 1) mean: the SE-style context of the ablation."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3, 4), keepdim=True)


class GlobalContext3d(nn.Module):
    """The GC block of GCNet on (N, C, T, H, W) inputs; paper defaults.

    Args:
        channels: C, the number of input (and output) channels.
        reduction: bottleneck ratio r of the transform (C -> C/r -> C); paper: 16.
        pooling: ``"att"`` (attention pooling, paper) or ``"avg"`` (global average, as SE).
        fusion: ``"add"`` (paper) or ``"mul"`` (x * sigmoid(transform), as SE).
        layer_norm: LayerNorm on the C/r bottleneck (paper: True).
    """

    def __init__(self, channels: int, reduction: int = 16, pooling: str = "att",
                 fusion: str = "add", layer_norm: bool = True) -> None:
        super().__init__()
        if pooling not in ("att", "avg"):
            raise ValueError(f"pooling must be 'att' or 'avg', got {pooling!r}")
        if fusion not in ("add", "mul"):
            raise ValueError(f"fusion must be 'add' or 'mul', got {fusion!r}")
        if reduction < 1 or channels < 1:
            raise ValueError(f"channels and reduction must be >= 1, got {channels}, {reduction}")
        hidden = max(1, channels // reduction)
        self.channels, self.reduction = channels, reduction
        self.pooling, self.fusion = pooling, fusion
        self.pool = AttentionPool3d(channels) if pooling == "att" else GlobalAvgPool3d()
        self.transform = nn.Sequential(
            Pointwise3d(channels, hidden),
            nn.LayerNorm([hidden, 1, 1, 1]) if layer_norm else nn.Identity(),
            nn.ReLU(inplace=True),
            Pointwise3d(hidden, channels, zero_init=(fusion == "add")),
        )
        # In eval mode, let a host that owns the conv + BN in front of this block call
        # forward_through (see can_fold); False forces the plain path.
        self.fold = True

    def reset_parameters(self) -> None:
        """Re-apply the paper's initialisation (last transform conv zero for add)."""
        for m in self.modules():
            if m is not self and hasattr(m, "reset_parameters"):
                m.reset_parameters()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        context = self.pool(x)                                      # (N, C, 1, 1, 1)
        # x's dtype: under CUDA autocast the LayerNorm hands the transform fp32, and an fp32
        # delta would promote the whole activation (and every later one) to fp32
        delta = self.transform(context).to(x.dtype)                 # (N, C, 1, 1, 1)
        if self.fusion == "add":
            return x + delta
        return x * torch.sigmoid(delta)

    def can_fold(self, conv: nn.Module, norm: Optional[nn.Module]) -> bool:
        """Whether ``forward_through(x, conv, norm) == self(norm(conv(x)))`` holds now:
        eval mode, ``fold`` set, ``conv`` a plain 1x1x1 Conv3d to this block's channels and
        ``norm`` None or a BatchNorm3d using its running statistics."""
        if self.training or not self.fold or not isinstance(conv, nn.Conv3d):
            return False
        if (conv.kernel_size, conv.stride, conv.padding, conv.dilation, conv.groups) != \
                ((1, 1, 1), (1, 1, 1), (0, 0, 0), (1, 1, 1), 1) or conv.out_channels != self.channels:
            return False
        return norm is None or (isinstance(norm, nn.BatchNorm3d) and not norm.training
                                and norm.running_var is not None)

    def forward_through(self, x: torch.Tensor, conv: nn.Conv3d,
                        norm: Optional[nn.BatchNorm3d] = None) -> torch.Tensor:
        """``self(norm(conv(x)))`` for a 1x1x1 ``conv`` and an eval-mode ``norm`` (see
        ``can_fold``), with the fusion riding on the BatchNorm's single write.

        With ``y = s * conv(x) + t`` (the BatchNorm's affine map, ``W`` the conv's
        weight) the GC block needs from y only: the attention logits ``k . y_j =
        ((k * s) W) . x_j + const`` (the softmax drops the constant), the context
        ``sum_j w_j y_j = s * conv(sum_j w_j x_j) + t`` (the weights sum to 1), and the
        fusion, which becomes a per-sample bias (add) or scale (mul) of the BatchNorm.
        So the output is written once, by the BatchNorm, and pooling reads either the
        conv's input (C/4 channels in a bottleneck; worth it while the conv weight is
        small next to the activations) or the conv's output with the folded key
        ``k * s``. At init (delta = 0) the result is bit-identical to ``norm(conv(x))``.
        """
        n, c = x.shape[0], self.channels
        scale, shift = _affine(norm, c, x.device)
        key = self.pool.weight.view(1, c) * scale if self.pooling == "att" else None
        z = conv(x)
        c_in, positions = x.shape[1], x.shape[2:].numel()
        # Pool the conv's input when reading it (C_in wide) and the conv weight (C x C_in,
        # twice) is cheaper than reading the output twice: c3/c4 of a bottleneck, not c5.
        if c_in * (c + positions * n) < c * positions * n:
            weight = conv.weight.view(c, c_in)
            pooled = pool_positions(x, None if key is None else torch.matmul(key, weight))
            pooled = torch.matmul(weight.to(pooled.dtype), pooled)            # (N, C, 1) = conv
            if conv.bias is not None:
                pooled = pooled + conv.bias.view(1, c, 1).to(pooled.dtype)
        else:
            pooled = pool_positions(z, key)
        context = torch.addcmul(shift.view(1, c, 1), pooled, scale.view(1, c, 1))  # pool of norm(z)
        delta = self.transform(context.view(n, c, 1, 1, 1)).view(n, c)
        if norm is None:
            return z + delta.view(n, c, 1, 1, 1) if self.fusion == "add" \
                else z * torch.sigmoid(delta).view(n, c, 1, 1, 1)
        gamma = norm.weight if norm.weight is not None else torch.ones_like(scale)
        beta = norm.bias if norm.bias is not None else torch.zeros_like(scale)
        delta = delta.to(scale.dtype)
        if self.fusion == "add":                        # BN(z) + delta: shift the bias
            gamma, beta = gamma.expand(n, c), beta + delta
        else:                                           # BN(z) * gate: scale both
            gate = torch.sigmoid(delta)
            gamma, beta = gamma * gate, beta * gate
        return _batch_norm_per_sample(z, norm, gamma, beta)

    def extra_repr(self) -> str:
        return (f"channels={self.channels}, reduction={self.reduction}, "
                f"pooling={self.pooling!r}, fusion={self.fusion!r}")


def _affine(norm: Optional[nn.BatchNorm3d], channels: int,
            device: torch.device) -> Tuple[torch.Tensor, torch.Tensor]:
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


@contextlib.contextmanager
def unfolded(model: nn.Module) -> Iterator[nn.Module]:
    """Inside the ``with``, every GC block of ``model`` runs as the plain block (its pool
    and fusion are called even in eval mode): for hooks on them, and FLOP counts of the
    architecture as the paper defines it. Restores each block's ``fold`` afterwards."""
    folded = [m for m in model.modules() if isinstance(m, GlobalContext3d) and m.fold]
    for block in folded:
        block.fold = False
    try:
        yield model
    finally:
        for block in folded:
            block.fold = True
