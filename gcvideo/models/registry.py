"""Slow-only ResNet-50 and its context-block variants -- and SlowFast, X3D, I3D with GC -- by name.

Each registered model is ONE entry: its name, a one-line description, its family (the
builder: Slow-only by default), the clip its recipe trains on, and a small dict of
differences from the family's plain network. ``create_model(name, **overrides)``
applies further differences, which is how every ablation of the paper is expressed
(``create_model("slow_r50_gc", reduction=4)``).
"""
import inspect
from typing import Any, Optional

from torch import nn

from ..layers.factory import block_options
from .catalog import ALL_C3_C5, MODELS, NL5_POSITIONS, list_models, register_model  # noqa: F401 (re-exported)
from .slow import slow_resnet

INSERT_OPTIONS = ("block", "where", "position")     # how every family's builder takes its blocks


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
