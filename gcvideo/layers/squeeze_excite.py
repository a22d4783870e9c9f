"""Squeeze-and-Excitation block (Hu et al. 2018), 3D."""
import torch
from torch import nn

from .pointwise import Pointwise3d


class SqueezeExcite3d(nn.Module):
    """SE on (N, C, T, H, W): ``y = x * sigmoid(W2 relu(W1 avgpool(x)))``, C -> C/r -> C.

    SE rescales its input, so unlike GC/SNL/NL it is not the identity at init.
    """

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = max(1, channels // reduction)
        self.channels, self.reduction = channels, reduction
        self.transform = nn.Sequential(
            Pointwise3d(channels, hidden), nn.ReLU(inplace=True), Pointwise3d(hidden, channels)
        )

    def reset_parameters(self) -> None:
        for layer in self.transform:
            if hasattr(layer, "reset_parameters"):
                layer.reset_parameters()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        squeeze = x.mean(dim=(2, 3, 4), keepdim=True)                # (N, C, 1, 1, 1)
        return x * torch.sigmoid(self.transform(squeeze)).to(x.dtype)   # in x's dtype under autocast

    def extra_repr(self) -> str:
        return f"channels={self.channels}, reduction={self.reduction}"
