"""A network's features beside its logits, for any family gcvideo builds or inserts blocks into.

``forward_features(model, x, layers)`` returns ``({layer: features}, logits)`` of one forward, as timm's
``forward_head(pre_logits=True)`` does for its own networks; gcvideo's networks come from several
libraries (pytorchvideo, torchvision, the peers), so the features are read with hooks that live
for that one call:

* ``pre_logits``: the classifier's input (the last ``nn.Linear``'s), averaged over any positions
  before the channel axis (pytorchvideo's head applies its Linear per position) -> (N, C);
* ``c5``: the output of each last-stage block (:func:`~gcvideo.models.insert.network_layout`;
  SlowFast: both pathways, concatenated) averaged over T x H x W -> (N, C).
"""
from typing import Literal, Sequence

import torch
from torch import nn

FeatureLayer = Literal["pre_logits", "c5"]
FEATURE_LAYERS: tuple[str, ...] = ("pre_logits", "c5")


def feature_modules(model: nn.Module, layer: FeatureLayer) -> list[nn.Module]:
    """The module(s) whose input (``pre_logits``: the last Linear) or output (``c5``) is the feature."""
    from .insert import network_layout

    if layer == "pre_logits":
        linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
        if not linears:
            raise ValueError("the network has no Linear classifier to read pre-logits from")
        return [linears[-1]]
    if layer != "c5":
        raise ValueError(f"layer must be one of {list(FEATURE_LAYERS)}, got {layer!r}")
    layout = network_layout(model)
    names = [layout.stages[key][-1][0] for key in layout.stages if key.endswith("c5")]   # each c5's last block
    return [model.get_submodule(name) for name in names]


def feature_layers(model: nn.Module) -> tuple[str, ...]:
    """The layers ``model`` has features of (S3D's classifier is a conv: no ``pre_logits``)."""
    def has(layer):
        try:
            return bool(feature_modules(model, layer))
        except ValueError:
            return False
    return tuple(layer for layer in FEATURE_LAYERS if has(layer))


def forward_features(model: nn.Module, x: torch.Tensor, layers: Sequence[FeatureLayer] = ("pre_logits",)
                     ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """``({layer: features (N, C)}, logits)`` of one ``model(x)`` (see the module doc)."""
    parts: dict[str, list[torch.Tensor]] = {layer: [] for layer in layers}

    def before(module, inputs):
        x = inputs[0]
        parts["pre_logits"].append(x.reshape(x.shape[0], -1, x.shape[-1]).mean(1))   # (N, ..., C) -> (N, C)

    def after(module, inputs, output):
        parts["c5"].append(output.flatten(2).mean(-1))                               # (N, C, T, H, W) -> (N, C)

    handles = [m.register_forward_pre_hook(before) if layer == "pre_logits" else m.register_forward_hook(after)
               for layer in layers for m in feature_modules(model, layer)]
    try:
        logits = model(x)
    finally:
        for handle in handles:
            handle.remove()
    return {layer: torch.cat(found, dim=1) for layer, found in parts.items()}, logits
