"""Typed changes to a registered model: what configs and ``VideoClassifier`` take instead of a
free dict, so that config files merge field by field.

``gcvideo fit --config base.yaml --config ablation.yaml``: the base sets the backbone
(``model.backbone.depths``, ``...dropout``), the ablation only what it changes
(``model.blocks.where: [c3]``); neither repeats the other. ``None`` keeps the registered
model's own value, so a field is an override only where a config gives it.
"""
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal, Optional, Union

from ..layers.factory import BlockKind
from ..layers.global_context import Fusion, Pooling
from ..layers.non_local import Instantiation
from .insert import Position


@dataclass
class _Overrides:
    def overrides(self) -> dict[str, Any]:
        """The fields a config set (not ``None``), as ``create_model`` keywords."""
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def of(cls, value: Union["_Overrides", dict, None]):
        """``value`` as this class: an instance, a dict (checkpoints store dicts), or ``None``."""
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        unknown = sorted(set(value) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"unknown {cls.__name__} field(s) {unknown}; fields are "
                             f"{[f.name for f in fields(cls)]}")
        return cls(**value)


@dataclass
class BackboneOptions(_Overrides):
    """The network around the blocks (``None``: the registered model's value).

    Args:
        depths: Slow-only: residual blocks per stage c2..c5 (R50: [3, 4, 6, 3]).
        width: Slow-only: stem channels; stage k has 4 x width x 2^k outputs (R50: 64).
        temporal_kernels: Slow-only: temporal kernel of each stage's first conv ([1, 1, 3, 3]).
        in_channels: Slow-only: input channels (3).
        dropout: dropout before the classifier (0.5; every family).
        depth: SlowFast: ResNet depth (50 or 101).
        alpha: SlowFast: frame-rate ratio of the fast to the slow pathway (4).
        size: X3D: ``s``, ``m`` or ``l``.
        arch: torchvision: ``r3d_18``, ``mc3_18``, ``r2plus1d_18`` or ``s3d``.
    """
    depths: Optional[list[int]] = None
    width: Optional[int] = None
    temporal_kernels: Optional[list[int]] = None
    in_channels: Optional[int] = None
    dropout: Optional[float] = None
    depth: Optional[int] = None
    alpha: Optional[int] = None
    size: Optional[Literal["s", "m", "l"]] = None
    arch: Optional[Literal["r3d_18", "mc3_18", "r2plus1d_18", "s3d"]] = None


@dataclass
class BlockOptions(_Overrides):
    """Which context block goes where, and its options (``None``: the registered model's value).

    Args:
        block: ``gc``, ``snl``, ``nl`` or ``se``; adds blocks to a plain model (``slow_r50``).
        where: stages (``[c3, c4, c5]``: every residual block) or ``{stage: [indices]}``.
        position: ``after_1x1`` (in the bottleneck, after its last 1x1x1 conv + BN) or
            ``after_add`` (on the residual block's output).
        reduction: GC/SE bottleneck ratio r (C -> C/r -> C; GC default 16).
        pooling: GC context modelling: ``att`` (attention pooling) or ``avg``.
        fusion: GC fusion: ``add`` or ``mul`` (scaling).
        layer_norm: GC: LayerNorm in the transform's bottleneck.
        inner_channels: NL: embedding channels (default C/2).
        instantiation: NL: ``softmax`` (embedded Gaussian) or ``dot_product``.
        subsample: NL: max-pool of keys/values (T, H, W).
        pool_input: NL: pool x before the phi/g convs (PySlowFast's weights) instead of after.
    """
    block: Optional[BlockKind] = None
    where: Optional[Union[list[str], dict[str, Optional[list[int]]]]] = None
    position: Optional[Position] = None
    reduction: Optional[int] = None
    pooling: Optional[Pooling] = None
    fusion: Optional[Fusion] = None
    layer_norm: Optional[bool] = None
    inner_channels: Optional[int] = None
    instantiation: Optional[Instantiation] = None
    subsample: Optional[list[int]] = None
    pool_input: Optional[bool] = None


def split_options(options: dict[str, Any]) -> tuple[BackboneOptions, BlockOptions]:
    """A free ``create_model`` option dict (the old ``model_options``) as the typed pair."""
    backbone_keys = {f.name for f in fields(BackboneOptions)}
    block_keys = {f.name for f in fields(BlockOptions)}
    unknown = sorted(set(options) - backbone_keys - block_keys)
    if unknown:
        raise ValueError(f"unknown model option(s) {unknown}; backbone options are {sorted(backbone_keys)}, "
                         f"block options {sorted(block_keys)}")
    return (BackboneOptions(**{k: v for k, v in options.items() if k in backbone_keys}),
            BlockOptions(**{k: v for k, v in options.items() if k in block_keys}))
