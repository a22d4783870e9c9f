"""Slow-only ResNet-50 and its context-block variants -- and SlowFast, X3D, I3D with GC -- by name.

Each registered model is ONE entry: its name, a one-line description, its family (the
builder: Slow-only by default), the clip its recipe trains on, and a small dict of
differences from the family's plain network. ``create_model(name, **overrides)``
applies further differences, which is how every ablation of the paper is expressed
(``create_model("slow_r50_gc", reduction=4)``).
"""
import inspect
from typing import Any, NamedTuple, Optional

from torch import nn

from ..layers.factory import block_options
from .slow_resnet import slow_resnet

# The 5 Non-local positions of the NL paper's video models (SlowFast SLOW_NLN_8x8_R50):
# after residual blocks 1, 3 of res3 and 1, 3, 5 of res4 (0-indexed).
NL5_POSITIONS = {"c3": (1, 3), "c4": (1, 3, 5)}
ALL_C3_C5 = ("c3", "c4", "c5")

INSERT_OPTIONS = ("block", "where", "position")     # how every family's builder takes its blocks


class ModelEntry(NamedTuple):
    description: str
    spec: dict[str, Any]
    family: str = "slow"                  # "slow" (slow_resnet) or a key of families.BUILDERS
    clip: tuple[int, int] = (8, 224)      # frames x crop of its recipe's training clip
    baseline: str = "slow_r50"            # the plain network of its family, for cost deltas


MODELS: dict[str, ModelEntry] = {}


def register_model(name: str, description: str, family: str = "slow", clip: tuple[int, int] = (8, 224),
                   baseline: str = "slow_r50", **spec) -> None:
    """Add ``name`` to the registry: ``spec`` holds its differences from its family's plain network."""
    if name in MODELS:
        raise ValueError(f"model {name!r} is already registered")
    MODELS[name] = ModelEntry(description, spec, family, tuple(clip), baseline)


register_model("slow_r50", "Slow-only ResNet-50, 8x8 (SlowFast paper), the baseline")
register_model("slow_r50_gc", "+ GC in every bottleneck of c3-c5, after the last 1x1 conv+BN (+all GC)",
               block="gc", where=ALL_C3_C5, position="after_1x1")
register_model("slow_r50_gc5", "+ 5 GC blocks at the NL positions (res3 [1,3], res4 [1,3,5])",
               block="gc", where=NL5_POSITIONS, position="after_add")
register_model("slow_r50_snl5", "+ 5 simplified NL blocks at the NL positions",
               block="snl", where=NL5_POSITIONS, position="after_add")
register_model("slow_r50_nl5", "+ 5 non-local blocks (embedded Gaussian) at the NL positions; keys/values pooled "
               "after phi/g as mmcv's NL (pool_input=True: before them, PySlowFast's weights)",
               block="nl", where=NL5_POSITIONS, position="after_add")
register_model("slow_r50_se", "+ SE in every bottleneck of c3-c5",
               block="se", where=ALL_C3_C5, position="after_1x1")

# Other networks (SlowFast's configs/Kinetics recipes), GC by insert_blocks' rule for each family
_SLOWFAST = dict(family="slowfast", clip=(32, 224), baseline="slowfast_r50")
register_model("slowfast_r50", "SlowFast R50 8x8 (alpha 4, beta 1/8; 32 frames in, 8 in the slow pathway)",
               **_SLOWFAST)
register_model("slowfast_r50_gc", "+ GC in every bottleneck of c3-c5 of both pathways, after the last 1x1 conv+BN",
               block="gc", where=ALL_C3_C5, position="after_1x1", **_SLOWFAST)
_X3D = dict(family="x3d", clip=(16, 224), baseline="x3d_m")
register_model("x3d_m", "X3D-M (16x224, width x2, depth x2.2; SE in alternate blocks)", size="m", **_X3D)
register_model("x3d_m_gc", "+ GC in every bottleneck of c3-c5, after the last 1x1 conv+BN (behind X3D's SE)",
               size="m", block="gc", where=ALL_C3_C5, position="after_1x1", **_X3D)
_I3D = dict(family="i3d", clip=(8, 224), baseline="i3d_r50")
register_model("i3d_r50", "I3D R50 8x8 (5x7x7 stem, 3x1x1 convs in alternate blocks)", **_I3D)
register_model("i3d_r50_gc", "+ GC in every bottleneck of c3-c5, after the last 1x1 conv+BN",
               block="gc", where=ALL_C3_C5, position="after_1x1", **_I3D)


def _builder(family: str):
    if family == "slow":
        return slow_resnet
    from .families import BUILDERS
    return BUILDERS[family]


def backbone_options(family: str) -> tuple[str, ...]:
    """The backbone options of a family: its builder's keyword parameters other than the
    classes and the blocks (one declaration: the builder's signature)."""
    return tuple(name for name, p in inspect.signature(_builder(family)).parameters.items()
                 if p.kind is p.KEYWORD_ONLY and name not in ("num_classes", *INSERT_OPTIONS))


def list_models() -> dict[str, str]:
    """Registered model names with a one-line description."""
    return {name: entry.description for name, entry in MODELS.items()}


def model_spec(name: str, **overrides) -> dict[str, Any]:
    """The full option dict of a registered model after ``overrides``; validates names."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; registered models: {sorted(MODELS)}")
    entry = MODELS[name]
    spec = {**entry.spec, **overrides}
    kind = spec.get("block")
    backbone = backbone_options(entry.family)
    allowed = set(backbone) | set(INSERT_OPTIONS) | (set(block_options(kind)) if kind else set())
    unknown = sorted(set(spec) - allowed)
    if unknown:
        hint = (f"block {kind!r} takes {sorted(block_options(kind))}" if kind
                else "this model has no context block; add block='gc' (or snl/nl/se) first")
        raise ValueError(f"unknown option(s) {unknown} for model {name!r}: backbone options are "
                         f"{list(backbone)}, insertion options {list(INSERT_OPTIONS)}; {hint}")
    return spec


def python_ints(model: nn.Module) -> nn.Module:
    """Layer hyper-parameters (stride, padding, ...) as Python ints, in place. pytorchvideo's
    builders compute some with numpy (a residual block's shortcut stride is ``np.int64``), which
    ``torch.compile`` turns into tensors and inductor then reads back (``aten._local_scalar_dense``:
    a graph break at every stage's shortcut conv)."""
    import numpy as np

    for module in model.modules():
        for name in ("kernel_size", "stride", "padding", "dilation", "output_padding"):
            value = getattr(module, name, None)
            if isinstance(value, tuple) and any(isinstance(v, np.integer) for v in value):
                setattr(module, name, tuple(int(v) for v in value))
            elif isinstance(value, np.integer):
                setattr(module, name, int(value))
    return model


def create_model(name: str, num_classes: int = 400, pretrained: Optional[str] = None,
                 **overrides) -> nn.Module:
    """Build a registered model; ``overrides`` change the backbone or the blocks.

    >>> create_model("slow_r50_gc")                        # +all GC, paper defaults
    >>> create_model("slow_r50_gc", pooling="avg")         # ablation: average pooling
    >>> create_model("slow_r50_gc", where=("c4", "c5"), position="after_add")
    >>> create_model("slow_r50", block="gc", reduction=8)  # GC added to the baseline

    ``pretrained``: a local file, a pytorchvideo/SlowFast state_dict of the family's plain
    network (``slow_r50``, ``slowfast_r50``, ``x3d_m``, ``i3d_r50``) or a Lightning checkpoint;
    see :func:`gcvideo.models.weights.load_pretrained`.
    """
    spec = model_spec(name, **overrides)
    model = python_ints(_builder(MODELS[name].family)(num_classes=num_classes, **spec))
    if pretrained:
        from .weights import load_pretrained
        load_pretrained(model, pretrained)
    return model
