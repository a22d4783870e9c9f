"""Slow-only ResNet ("SlowFast Networks for Video Recognition", Feichtenhofer et al. 2019,
the Slow pathway alone), built with its context blocks in place."""
from collections.abc import Sequence
from typing import Optional

import torch
from torch import nn

from .bottleneck import ContextResBlock, context_bottleneck
from .insert import DEFAULT_STAGES, POSITIONS, STAGES, Position, Where, parse_where
from ..layers.factory import BlockKind, make_block


def slow_resnet(*, num_classes: int = 400, depths: Sequence[int] = (3, 4, 6, 3),
                width: int = 64, dropout: float = 0.5, in_channels: int = 3,
                temporal_kernels: Sequence[int] = (1, 1, 3, 3), block: Optional[BlockKind] = None,
                where: Where = DEFAULT_STAGES, position: Position = "after_1x1",
                **block_options) -> nn.Module:
    """Slow-only ResNet; the defaults build Slow-only R50, ``block`` adds context blocks.

    Stem 1x7x7 conv stride 1x2x2 + 1x3x3 max-pool; stages of bottlenecks with widths
    4*width*2^k, temporal kernel ``temporal_kernels[k]`` in each bottleneck's first
    conv, no temporal downsampling; global average pool, dropout, FC. Built from
    pytorchvideo's blocks with the same module names as its ``slow_r50``, so its
    checkpoints load; the head pools adaptively, so any clip length or size works.
    ``depths``/``width`` shrink it (the demo runs a narrow, shallow one on CPUs).

    ``block`` (``"gc"``, ``"snl"``, ``"nl"``, ``"se"``) with ``block_options`` is built
    into the residual blocks that ``where`` selects (stage names, or ``{stage: [indices]}``)
    at ``position`` (``after_1x1``: in the bottleneck after its last 1x1x1 conv + BN;
    ``after_add``: on the residual block's output), under the keys ``insert_blocks``
    would give them (``...branch2.context.*`` / ``...res_blocks.i.context.*``).
    """
    from pytorchvideo.models.head import create_res_basic_head
    from pytorchvideo.models.net import Net
    from pytorchvideo.models.resnet import ResStage, create_bottleneck_block, create_res_block
    from pytorchvideo.models.stem import create_res_basic_stem

    if len(depths) != 4 or len(temporal_kernels) != 4:
        raise ValueError(f"depths and temporal_kernels need 4 entries (c2..c5), got "
                         f"{list(depths)} and {list(temporal_kernels)}")
    chosen = ({stage: set(i) for stage, i in parse_where(where, dict(zip(STAGES, depths))).items()}
              if block else {})
    if block and position not in POSITIONS:
        raise ValueError(f"position must be one of {list(POSITIONS)}, got {position!r}")
    stages = [create_res_basic_stem(
        in_channels=in_channels, out_channels=width, conv_kernel_size=(1, 7, 7),
        conv_stride=(1, 2, 2), conv_padding=(0, 3, 3), pool=nn.MaxPool3d,
        pool_kernel_size=(1, 3, 3), pool_stride=(1, 2, 2), pool_padding=(0, 1, 1))]
    dim_in = width
    for k, (stage, depth, kt) in enumerate(zip(STAGES, depths, temporal_kernels)):
        dim_inner, stride = width * 2 ** k, 1 if k == 0 else 2
        res_blocks = []
        for i in range(depth):
            with_block = i in chosen.get(stage, ())
            bottleneck = context_bottleneck(block, **block_options) \
                if with_block and position == "after_1x1" else create_bottleneck_block
            res = create_res_block(
                dim_in=dim_in if i == 0 else 4 * dim_inner, dim_inner=dim_inner, dim_out=4 * dim_inner,
                bottleneck=bottleneck,
                conv_a_kernel_size=(kt, 1, 1), conv_a_stride=(1, 1, 1), conv_a_padding=(kt // 2, 0, 0),
                conv_b_kernel_size=(1, 3, 3), conv_b_stride=(1, stride, stride) if i == 0 else (1, 1, 1),
                conv_b_padding=(0, 1, 1), activation_bottleneck=nn.ReLU, activation_block=nn.ReLU)
            if with_block and position == "after_add":
                res = ContextResBlock.extend(res, make_block(block, 4 * dim_inner, **block_options))
            res_blocks.append(res)
        stages.append(ResStage(res_blocks=nn.ModuleList(res_blocks)))
        dim_in = 4 * dim_inner
    stages.append(create_res_basic_head(
        in_features=dim_in, out_features=num_classes, pool=nn.AdaptiveAvgPool3d,
        output_size=(1, 1, 1), dropout_rate=dropout))
    model = Net(blocks=nn.ModuleList(stages))   # Net.__init__ applies the ResNet init to every conv/BN...
    for module in model.modules():              # ...so the blocks re-apply their own (identity at init)
        if isinstance(getattr(module, "context", None), nn.Module):
            _reset(module.context)
    return model


def _reset(block: nn.Module) -> None:
    if hasattr(block, "reset_parameters"):
        block.reset_parameters()
        return
    for m in block.modules():
        if m is not block and hasattr(m, "reset_parameters"):
            m.reset_parameters()


def channels_last_3d(model: nn.Module) -> nn.Module:
    """Store ``model``'s 5-D weights (the convs) channels-last in place and return it: what
    ``model.to(memory_format=torch.channels_last_3d)`` does for networks without 4-D parameters
    (every gcvideo network, GC blocks included), and safe for any other network too."""
    for param in model.parameters():
        if param.dim() == 5:
            param.data = param.data.contiguous(memory_format=torch.channels_last_3d)
    return model
