"""Non-local block (Wang et al. 2018, "Non-local Neural Networks"), 3D, embedded Gaussian."""
from typing import Literal, Optional, Sequence, get_args

import torch
import torch.nn.functional as F
from torch import nn

Instantiation = Literal["softmax", "dot_product"]     # embedded Gaussian, or affinity / number of keys


class NonLocal3d(nn.Module):
    """NL block on (N, C, T, H, W): ``y = x + BN(Wz(softmax(theta^T phi) g))``.

    Args:
        channels: C.
        inner_channels: width of theta/phi/g (default C/2, as in the NL paper).
        instantiation: ``"softmax"`` (embedded Gaussian, scaled by inner**-0.5 as in
            SlowFast) or ``"dot_product"`` (affinity divided by the number of keys).
        subsample: max-pool kernel (= stride) applied to phi and g to cut the
            Np x Np cost, (1, 2, 2) as in the NL paper; ``None`` disables it. Dimensions
            smaller than the kernel are not pooled.
        pool_input: where the keys/values are pooled. ``False`` (default): the outputs of the
            phi and g convs, as mmcv's ``NonLocal3d`` does (gcvideo's block equals it; the GCNet
            authors' code base is mmcv). ``True``: x itself, before phi and g, as PySlowFast's
            ``Nonlocal`` and the NL paper's Caffe2 code do -- needed to compute what their
            trained weights compute (the two differ: a max-pool does not commute with a conv that mixes
            channels).

    The output BN's gamma starts at zero (and carries pytorchvideo's
    ``block_final_bn`` flag so ``init_net_weights`` keeps it zero): identity at init.
    ``capture`` set to True keeps the last attention map in ``self.attention``
    (N, P, P') for analysis.
    """

    subsample: Optional[tuple[int, int, int]]
    attention: Optional[torch.Tensor]

    def __init__(self, channels: int, inner_channels: Optional[int] = None,
                 instantiation: Instantiation = "softmax",
                 subsample: Optional[Sequence[int]] = (1, 2, 2), pool_input: bool = False) -> None:
        super().__init__()
        if instantiation not in get_args(Instantiation):
            raise ValueError(f"instantiation must be 'softmax' or 'dot_product', got {instantiation!r}")
        inner = inner_channels or max(1, channels // 2)
        self.channels, self.inner_channels = channels, inner
        self.instantiation = instantiation
        self.pool_input = bool(pool_input)
        self.subsample = (int(subsample[0]), int(subsample[1]), int(subsample[2])) if subsample else None
        self.theta = nn.Conv3d(channels, inner, 1)
        self.phi = nn.Conv3d(channels, inner, 1)
        self.g = nn.Conv3d(channels, inner, 1)
        self.out = nn.Conv3d(inner, channels, 1)
        self.norm = nn.BatchNorm3d(channels)
        self.norm.block_final_bn = True
        self.capture = False
        self.attention: Optional[torch.Tensor] = None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for conv in (self.theta, self.phi, self.g, self.out):
            nn.init.normal_(conv.weight, std=0.01)
            nn.init.zeros_(conv.bias)
        self.norm.reset_parameters()
        nn.init.zeros_(self.norm.weight)

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        sub = self.subsample
        if sub is None:
            return x
        kernel = [min(sub[0], x.shape[2]), min(sub[1], x.shape[3]), min(sub[2], x.shape[4])]
        return F.max_pool3d(x, kernel, kernel)

    def attend(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The attention maps (N, P, P') of every query position and what they attend to,
        ``sum_j a_ij g_j`` (N, C', P), before the output conv."""
        theta = self.theta(x).flatten(2)                             # (N, C', P)
        if self.pool_input:
            pooled = self._pool(x)
            phi, g = self.phi(pooled).flatten(2), self.g(pooled).flatten(2)   # (N, C', P')
        else:
            phi = self._pool(self.phi(x)).flatten(2)                 # (N, C', P')
            g = self._pool(self.g(x)).flatten(2)
        affinity = torch.bmm(theta.transpose(1, 2), phi)             # (N, P, P')
        if self.instantiation == "softmax":
            affinity = (affinity * self.inner_channels ** -0.5).softmax(dim=-1)
        else:
            affinity = affinity / affinity.shape[-1]
        return affinity, torch.bmm(g, affinity.transpose(1, 2).to(g.dtype))   # (N, C', P)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t, h, w = x.shape[0], x.shape[2], x.shape[3], x.shape[4]
        affinity, y = self.attend(x)
        if self.capture:
            self.attention = affinity.detach()
        y = y.reshape(n, self.inner_channels, t, h, w)
        return x + self.norm(self.out(y)).to(x.dtype)                # x's dtype under any autocast

    def extra_repr(self) -> str:
        return (f"channels={self.channels}, inner_channels={self.inner_channels}, "
                f"instantiation={self.instantiation!r}, subsample={self.subsample}"
                + (", pool_input=True" if self.pool_input else ""))
