"""pytorchvideo residual pieces with a context block built in (``context`` child).

* ``ContextBottleneckBlock``: the bottleneck branch ``context(norm_c(conv_c(...)))``,
  the paper's position (``after_1x1``: after the last 1x1x1 conv + BN, before the
  addition with the shortcut).
* ``ContextResBlock``: a residual block ``context(act(shortcut + branch2))``
  (``after_add``: the Non-local paper's position).

Both have the parameters and state_dict keys of the pytorchvideo module they extend,
plus ``context.*``: a plain checkpoint loads with exactly the new keys missing.
``context_bottleneck(kind, **options)`` is a ``bottleneck=`` factory for pytorchvideo's
``create_res_block``/``create_res_stage``: networks get their blocks when they are built.
"""
from typing import Callable

import torch
from torch import nn

from ..layers.factory import make_block
from . import quiet_fvcore

quiet_fvcore()          # before pytorchvideo, which imports fvcore
from pytorchvideo.models.resnet import BottleneckBlock, ResBlock, create_bottleneck_block  # noqa: E402


def _init_parts(module: nn.Module, context: nn.Module, names: tuple, parts: dict) -> None:
    # Not the pytorchvideo __init__: its set_attributes(self, locals()) also copies the
    # ``__class__`` cell and would turn a subclass instance back into its base class.
    nn.Module.__init__(module)
    for name in names:
        setattr(module, name, parts.get(name))
    module.context = context


class _WithContext:
    """What both context-carrying blocks add to their pytorchvideo base: ``extend`` builds one
    around an existing block's parts, and the output goes through ``self.context``."""

    PARTS: tuple = ()

    @classmethod
    def extend(cls, block: nn.Module, context: nn.Module):
        """A new module with ``block``'s layers (shared, not copied) and ``context``."""
        return cls(context, **{k: getattr(block, k) for k in cls.PARTS})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.context(super().forward(x))


class ContextBottleneckBlock(_WithContext, BottleneckBlock):
    """``BottleneckBlock`` whose output goes through ``self.context``."""

    PARTS = ("conv_a", "norm_a", "act_a", "conv_b", "norm_b", "act_b", "conv_c", "norm_c")

    def __init__(self, context: nn.Module, **layers: nn.Module) -> None:
        _init_parts(self, context, self.PARTS, layers)


class ContextResBlock(_WithContext, ResBlock):
    """``ResBlock`` whose output (after the addition and its activation) goes through
    ``self.context``."""

    PARTS = ("branch1_conv", "branch1_norm", "branch2", "activation", "branch_fusion")

    def __init__(self, context: nn.Module, **parts) -> None:
        _init_parts(self, context, self.PARTS, parts)


def context_bottleneck(kind: str, **options) -> Callable[..., ContextBottleneckBlock]:
    """A ``bottleneck=`` factory: pytorchvideo's bottleneck + ``make_block(kind, dim_out)``."""
    def build(**kwargs) -> ContextBottleneckBlock:
        return ContextBottleneckBlock.extend(create_bottleneck_block(**kwargs),
                                             make_block(kind, kwargs["dim_out"], **options))
    return build
