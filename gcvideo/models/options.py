"""Typed changes to a registered model: what configs and ``VideoClassifier`` take instead of a
free dict, so that config files merge field by field.

``gcvideo fit --config base.yaml --config ablation.yaml``: the base sets the backbone
(``model.backbone.depths``, ``...dropout``), the ablation only what it changes
(``model.blocks.where: [c3]``); neither repeats the other. ``None`` keeps the registered
model's own value, so a field is an override only where a config gives it.

The options are declared once, by the code that takes them: ``BackboneOptions`` holds every
keyword parameter of the families' builders (``slow_resnet``, ``BUILDERS``), ``BlockOptions`` the
insertion parameters and every block's constructor options (``gcvideo.layers.factory.BLOCKS``),
typed from their annotations. Only the help each one shows in ``--help`` is written here, and a
parameter without its help fails at import.
"""
import inspect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, make_dataclass
from typing import Any, Callable, Optional, Union, get_args, get_origin

from ..layers.factory import BLOCKS
from .families import BUILDERS
from .insert import Where
from .registry import INSERT_OPTIONS
from .slow import slow_resnet

# how a builder's parameter types read in a config (a YAML list, not any iterable)
CONFIG_TYPES = {Where: Union[list[str], dict[str, Optional[list[int]]]]}
NOT_OPTIONS = ("self", "channels", "num_classes")       # what the registry and the blocks set themselves


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


def config_type(annotation) -> Any:
    """A parameter's type as a config field takes it: ``None`` allowed (the model's own value),
    sequences as lists."""
    if annotation in CONFIG_TYPES:
        return Optional[CONFIG_TYPES[annotation]]
    args = get_args(annotation)
    if get_origin(annotation) is Union and type(None) in args:             # Optional[X]
        rest = [a for a in args if a is not type(None)]
        annotation = rest[0] if len(rest) == 1 else Union[tuple(rest)]
        args = get_args(annotation)
    if get_origin(annotation) in (Sequence, Iterable, list, tuple) and args:
        return Optional[list[args[0]]]
    return Optional[annotation]


def options_class(name: str, doc: str, sources: Sequence[tuple[Callable, Callable[[str], bool]]],
                  help: Mapping[str, str]) -> type:
    """A dataclass of the keyword parameters of each ``(function, keep)`` of ``sources`` that ``keep``
    accepts (the first declaration of a name wins), each ``Optional`` with default ``None``,
    documented by ``help`` (an ``Args:`` section, as the configs' ``--help`` reads it)."""
    found: dict[str, Any] = {}
    for function, keep in sources:
        for param in inspect.signature(function).parameters.values():
            if param.kind in (param.KEYWORD_ONLY, param.POSITIONAL_OR_KEYWORD) \
                    and param.name not in NOT_OPTIONS and keep(param.name):
                found.setdefault(param.name, config_type(param.annotation))
    differ = sorted(set(found) ^ set(help))
    if differ:
        raise RuntimeError(f"{name}: the options and their help differ in {differ}")
    cls = make_dataclass(name, [(k, t, field(default=None)) for k, t in found.items()], bases=(_Overrides,))
    cls.__module__ = __name__
    cls.__doc__ = doc + "\n\n    Args:\n" + "".join(f"        {k}: {help[k]}\n" for k in found)
    return cls


BACKBONE_HELP = {
    "depths": "Slow-only: residual blocks per stage c2..c5 (R50: [3, 4, 6, 3]).",
    "width": "Slow-only: stem channels; stage k has 4 x width x 2^k outputs (R50: 64).",
    "dropout": "dropout before the classifier (0.5; every family).",
    "in_channels": "Slow-only: input channels (3).",
    "temporal_kernels": "Slow-only: temporal kernel of each stage's first conv ([1, 1, 3, 3]).",
    "depth": "SlowFast: ResNet depth (50 or 101).",
    "alpha": "SlowFast: frame-rate ratio of the fast to the slow pathway (4).",
    "size": "X3D: ``s``, ``m`` or ``l``.",
    "arch": "torchvision: ``r3d_18``, ``mc3_18``, ``r2plus1d_18`` or ``s3d``.",
}
BLOCK_HELP = {
    "block": "``gc``, ``snl``, ``nl`` or ``se``; adds blocks to a plain model (``slow_r50``).",
    "where": "stages (``[c3, c4, c5]``: every residual block) or ``{stage: [indices]}``.",
    "position": "``after_1x1`` (in the bottleneck, after its last 1x1x1 conv + BN) or ``after_add`` "
                "(on the residual block's output).",
    "reduction": "GC/SE bottleneck ratio r (C -> C/r -> C; GC default 16).",
    "pooling": "GC context modelling: ``att`` (attention pooling) or ``avg``.",
    "fusion": "GC fusion: ``add`` or ``mul`` (scaling).",
    "layer_norm": "GC: LayerNorm in the transform's bottleneck.",
    "inner_channels": "NL: embedding channels (default C/2).",
    "instantiation": "NL: ``softmax`` (embedded Gaussian) or ``dot_product``.",
    "subsample": "NL: max-pool of keys/values (T, H, W).",
    "pool_input": "NL: pool x before the phi/g convs (PySlowFast's weights) instead of after.",
}
# Declared once: the builders' and the blocks' signatures are the options; these classes are
# their typed, documented form for configs and VideoClassifier.
BackboneOptions = options_class(
    "BackboneOptions", "The network around the blocks (``None``: the registered model's value).",
    [(builder, lambda name: name not in INSERT_OPTIONS) for builder in (slow_resnet, *BUILDERS.values())],
    BACKBONE_HELP)
BlockOptions = options_class(
    "BlockOptions", "Which context block goes where, and its options (``None``: the registered model's value).",
    [(slow_resnet, lambda name: name in INSERT_OPTIONS), *((block, lambda name: True) for block in BLOCKS.values())],
    BLOCK_HELP)


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
