"""Slow-only ResNet-50 and its context-block variants, by name.

Each registered model is a small dict of differences from the plain Slow-only R50;
``create_model(name, **overrides)`` applies further differences, which is how every
ablation of the paper is expressed (``create_model("slow_r50_gc", reduction=4)``).
"""
from typing import Any, Dict, Optional, Sequence

import torch
from torch import nn

from .blocks import block_options
from .insert import insert_blocks

# The 5 Non-local positions of the NL paper's video models (SlowFast SLOW_NLN_8x8_R50):
# after residual blocks 1, 3 of res3 and 1, 3, 5 of res4 (0-indexed).
NL5_POSITIONS = {"c3": (1, 3), "c4": (1, 3, 5)}
ALL_C3_C5 = ("c3", "c4", "c5")

MODELS: Dict[str, Dict[str, Any]] = {
    "slow_r50": {},
    "slow_r50_gc": {"block": "gc", "where": ALL_C3_C5, "position": "after_1x1"},
    "slow_r50_gc5": {"block": "gc", "where": NL5_POSITIONS, "position": "after_add"},
    "slow_r50_snl5": {"block": "snl", "where": NL5_POSITIONS, "position": "after_add"},
    "slow_r50_nl5": {"block": "nl", "where": NL5_POSITIONS, "position": "after_add"},
    "slow_r50_se": {"block": "se", "where": ALL_C3_C5, "position": "after_1x1"},
}

DESCRIPTIONS = {
    "slow_r50": "Slow-only ResNet-50, 8x8 (SlowFast paper), the baseline",
    "slow_r50_gc": "+ GC in every bottleneck of c3-c5, after the last 1x1 conv+BN (+all GC)",
    "slow_r50_gc5": "+ 5 GC blocks at the NL positions (res3 [1,3], res4 [1,3,5])",
    "slow_r50_snl5": "+ 5 simplified NL blocks at the NL positions",
    "slow_r50_nl5": "+ 5 non-local blocks (embedded Gaussian) at the NL positions",
    "slow_r50_se": "+ SE in every bottleneck of c3-c5",
}

BACKBONE_OPTIONS = ("depths", "width", "dropout", "in_channels", "temporal_kernels")
INSERT_OPTIONS = ("block", "where", "position")


def slow_resnet(*, num_classes: int = 400, depths: Sequence[int] = (3, 4, 6, 3),
                width: int = 64, dropout: float = 0.5, in_channels: int = 3,
                temporal_kernels: Sequence[int] = (1, 1, 3, 3)) -> nn.Module:
    """Slow-only ResNet ("SlowFast Networks for Video Recognition", Feichtenhofer et al.
    2019, the Slow pathway alone); the defaults build Slow-only R50.

    Stem 1x7x7 conv stride 1x2x2 + 1x3x3 max-pool; stages of bottlenecks with widths
    4*width*2^k, temporal kernel ``temporal_kernels[k]`` in each bottleneck's first
    conv, no temporal downsampling; global average pool, dropout, FC. Built from
    pytorchvideo's blocks with the same module names as its ``slow_r50``, so its
    checkpoints load; the head pools adaptively, so any clip length or size works.
    ``depths``/``width`` shrink it (the demo runs a narrow, shallow one on CPUs).
    """
    from pytorchvideo.models.head import create_res_basic_head
    from pytorchvideo.models.net import Net
    from pytorchvideo.models.resnet import create_bottleneck_block, create_res_stage
    from pytorchvideo.models.stem import create_res_basic_stem

    if len(depths) != 4 or len(temporal_kernels) != 4:
        raise ValueError(f"depths and temporal_kernels need 4 entries (c2..c5), got "
                         f"{list(depths)} and {list(temporal_kernels)}")
    blocks = [create_res_basic_stem(
        in_channels=in_channels, out_channels=width, conv_kernel_size=(1, 7, 7),
        conv_stride=(1, 2, 2), conv_padding=(0, 3, 3), pool=nn.MaxPool3d,
        pool_kernel_size=(1, 3, 3), pool_stride=(1, 2, 2), pool_padding=(0, 1, 1))]
    dim_in = width
    for k, (depth, kt) in enumerate(zip(depths, temporal_kernels)):
        dim_inner = width * 2 ** k
        spatial_stride = 1 if k == 0 else 2
        blocks.append(create_res_stage(
            depth=depth, dim_in=dim_in, dim_inner=dim_inner, dim_out=4 * dim_inner,
            bottleneck=create_bottleneck_block,
            conv_a_kernel_size=(kt, 1, 1), conv_a_stride=(1, 1, 1), conv_a_padding=(kt // 2, 0, 0),
            conv_b_kernel_size=(1, 3, 3), conv_b_stride=(1, spatial_stride, spatial_stride),
            conv_b_padding=(0, 1, 1)))
        dim_in = 4 * dim_inner
    blocks.append(create_res_basic_head(
        in_features=dim_in, out_features=num_classes, pool=nn.AdaptiveAvgPool3d,
        output_size=(1, 1, 1), dropout_rate=dropout))
    return Net(blocks=nn.ModuleList(blocks))  # Net.__init__ applies the ResNet init


def channels_last_3d(model: nn.Module) -> nn.Module:
    """Store ``model``'s 5-D weights (the convs) channels-last in place and return it.

    ``Module.to(memory_format=torch.channels_last_3d)`` would also try every other
    parameter (GC's 4-D LayerNorm weights) and fail; only the 5-D ones have that layout.
    """
    for param in model.parameters():
        if param.dim() == 5:
            param.data = param.data.contiguous(memory_format=torch.channels_last_3d)
    return model


def list_models() -> Dict[str, str]:
    """Registered model names with a one-line description."""
    return {name: DESCRIPTIONS[name] for name in MODELS}


def model_spec(name: str, **overrides) -> Dict[str, Any]:
    """The full option dict of a registered model after ``overrides``; validates names."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; registered models: {sorted(MODELS)}")
    spec = {**MODELS[name], **overrides}
    kind = spec.get("block")
    allowed = set(BACKBONE_OPTIONS) | set(INSERT_OPTIONS) | (set(block_options(kind)) if kind else set())
    unknown = sorted(set(spec) - allowed)
    if unknown:
        hint = (f"block {kind!r} takes {sorted(block_options(kind))}" if kind
                else "this model has no context block; add block='gc' (or snl/nl/se) first")
        raise ValueError(f"unknown option(s) {unknown} for model {name!r}: backbone options are "
                         f"{list(BACKBONE_OPTIONS)}, insertion options {list(INSERT_OPTIONS)}; {hint}")
    return spec


def create_model(name: str, num_classes: int = 400, pretrained: Optional[str] = None,
                 **overrides) -> nn.Module:
    """Build a registered model; ``overrides`` change the backbone or the blocks.

    >>> create_model("slow_r50_gc")                        # +all GC, paper defaults
    >>> create_model("slow_r50_gc", pooling="avg")         # ablation: average pooling
    >>> create_model("slow_r50_gc", where=("c4", "c5"), position="after_add")
    >>> create_model("slow_r50", block="gc", reduction=8)  # GC added to the baseline

    ``pretrained``: a local file, a pytorchvideo/SlowFast ``slow_r50`` state_dict or a
    Lightning checkpoint; see :func:`gcvideo.weights.load_pretrained`.
    """
    spec = model_spec(name, **overrides)
    backbone = {k: spec.pop(k) for k in BACKBONE_OPTIONS if k in spec}
    kind = spec.pop("block", None)
    where = spec.pop("where", ALL_C3_C5)
    position = spec.pop("position", "after_1x1")
    model = slow_resnet(num_classes=num_classes, **backbone)
    if kind:
        insert_blocks(model, kind, where=where, position=position, **spec)
    if pretrained:
        from .weights import load_pretrained
        load_pretrained(model, pretrained)
    return model
