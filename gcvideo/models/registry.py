"""Slow-only ResNet-50 and its context-block variants, by name.

Each registered model is ONE entry: its name, a one-line description and a small dict
of differences from the plain Slow-only R50. ``create_model(name, **overrides)``
applies further differences, which is how every ablation of the paper is expressed
(``create_model("slow_r50_gc", reduction=4)``).
"""
from typing import Any, NamedTuple, Optional

from torch import nn

from ..layers.factory import block_options
from .slow_resnet import slow_resnet

# The 5 Non-local positions of the NL paper's video models (SlowFast SLOW_NLN_8x8_R50):
# after residual blocks 1, 3 of res3 and 1, 3, 5 of res4 (0-indexed).
NL5_POSITIONS = {"c3": (1, 3), "c4": (1, 3, 5)}
ALL_C3_C5 = ("c3", "c4", "c5")

BACKBONE_OPTIONS = ("depths", "width", "dropout", "in_channels", "temporal_kernels")
INSERT_OPTIONS = ("block", "where", "position")


class ModelEntry(NamedTuple):
    description: str
    spec: dict[str, Any]


MODELS: dict[str, ModelEntry] = {}


def register_model(name: str, description: str, **spec) -> None:
    """Add ``name`` to the registry: ``spec`` holds its differences from Slow-only R50."""
    if name in MODELS:
        raise ValueError(f"model {name!r} is already registered")
    MODELS[name] = ModelEntry(description, spec)


register_model("slow_r50", "Slow-only ResNet-50, 8x8 (SlowFast paper), the baseline")
register_model("slow_r50_gc", "+ GC in every bottleneck of c3-c5, after the last 1x1 conv+BN (+all GC)",
               block="gc", where=ALL_C3_C5, position="after_1x1")
register_model("slow_r50_gc5", "+ 5 GC blocks at the NL positions (res3 [1,3], res4 [1,3,5])",
               block="gc", where=NL5_POSITIONS, position="after_add")
register_model("slow_r50_snl5", "+ 5 simplified NL blocks at the NL positions",
               block="snl", where=NL5_POSITIONS, position="after_add")
register_model("slow_r50_nl5", "+ 5 non-local blocks (embedded Gaussian) at the NL positions",
               block="nl", where=NL5_POSITIONS, position="after_add")
register_model("slow_r50_se", "+ SE in every bottleneck of c3-c5",
               block="se", where=ALL_C3_C5, position="after_1x1")


def list_models() -> dict[str, str]:
    """Registered model names with a one-line description."""
    return {name: entry.description for name, entry in MODELS.items()}


def model_spec(name: str, **overrides) -> dict[str, Any]:
    """The full option dict of a registered model after ``overrides``; validates names."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; registered models: {sorted(MODELS)}")
    spec = {**MODELS[name].spec, **overrides}
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
    Lightning checkpoint; see :func:`gcvideo.models.weights.load_pretrained`.
    """
    model = slow_resnet(num_classes=num_classes, **model_spec(name, **overrides))
    if pretrained:
        from .weights import load_pretrained
        load_pretrained(model, pretrained)
    return model
