"""``insert_blocks``: add context blocks to an existing residual network without renaming.

Each block becomes a child named ``context`` of the module whose output it
transforms, so the network's state_dict only gains keys (``...branch2.context.*``)
and a checkpoint of the plain network loads with exactly those keys missing.

Where blocks go, for the networks this module knows:

==============================  =====================  ==============================
network                         stages c2..c5          ``after_1x1`` target / ``after_add``
==============================  =====================  ==============================
pytorchvideo ``create_resnet``  the ``ResStage`` s of  ``res_blocks.i.branch2`` (after
(and gcvideo's slow models)     ``model.blocks``       conv_c + norm_c) / ``res_blocks.i``
torchvision ``VideoResNet``     ``layer1..layer4``     ``layerK.i.conv2`` (BasicBlock) or
(r3d_18, mc3_18, r2plus1d_18)                          ``.conv3`` (Bottleneck) / ``layerK.i``
==============================  =====================  ==============================

``after_1x1`` (the paper's default) puts the block after the last conv + BN of the
residual branch, before the addition with the shortcut; ``after_add`` puts it on the
residual block's output (after the addition and its ReLU), which is also where the
Non-local paper inserts NL blocks. Any other network: pass ``modules=[names]`` and a
block is added on the output of each named module (``dict(model.named_modules())``
names); its channels are read from the module's last norm/conv layer.

How a block runs (see ``attach``): appended to a ``Sequential`` target; a pytorchvideo
``BottleneckBlock``/``ResBlock`` is replaced, through its parent, by the
``ContextBottleneckBlock``/``ContextResBlock`` built from its own layers; only other
targets (torchvision residual blocks with ``after_add``) fall back to a forward hook.
gcvideo's own Slow-only models do not need this: they are built with their blocks
(``gcvideo.models.slow_resnet``).
"""
import contextlib
from typing import Iterable, Iterator, Mapping, Optional, Sequence, Union

from torch import nn

from ..layers.factory import make_block

STAGES = ("c2", "c3", "c4", "c5")
POSITIONS = ("after_1x1", "after_add")
Where = Union[str, Iterable[str], Mapping[str, Optional[Sequence[int]]]]


def stage_name(name: str) -> str:
    """Normalise ``c3`` / ``res3`` / ``layer2`` (torchvision numbering) to ``c3``."""
    key = str(name).lower()
    if key.startswith("layer") and key[5:].isdigit():
        key = f"c{int(key[5:]) + 1}"
    elif key.startswith("res") and key[3:].isdigit():
        key = f"c{key[3:]}"
    if key not in STAGES:
        raise ValueError(f"unknown stage {name!r}; stages are {list(STAGES)} "
                         "(res2..res5 and layer1..layer4 are accepted too)")
    return key


def residual_blocks(model: nn.Module) -> dict[str, list[tuple[str, str]]]:
    """Per stage (c2..c5), the (block, branch end) module names of each residual block."""
    from pytorchvideo.models.resnet import ResStage
    from torchvision.models.video.resnet import VideoResNet

    for prefix, net in model.named_modules():
        at = f"{prefix}." if prefix else ""
        if isinstance(net, VideoResNet):
            out = {}
            for k, stage in enumerate(STAGES):
                layer = getattr(net, f"layer{k + 1}")
                out[stage] = [(f"{at}layer{k + 1}.{i}",
                               f"{at}layer{k + 1}.{i}.{'conv3' if hasattr(b, 'conv3') else 'conv2'}")
                              for i, b in enumerate(layer)]
            return out
        blocks = getattr(net, "blocks", None)
        if isinstance(blocks, nn.ModuleList) and any(isinstance(b, ResStage) for b in blocks):
            stages = [i for i, b in enumerate(blocks) if isinstance(b, ResStage)]
            if len(stages) != len(STAGES):
                break
            return {stage: [(f"{at}blocks.{s}.res_blocks.{i}", f"{at}blocks.{s}.res_blocks.{i}.branch2")
                            for i in range(len(blocks[s].res_blocks))]
                    for stage, s in zip(STAGES, stages)}
    raise TypeError(f"{type(model).__name__} is not a 4-stage pytorchvideo ResNet or a torchvision "
                    "VideoResNet; pass modules=[...] with the names of the modules whose outputs "
                    "should get a block")


def select_targets(model: nn.Module, where: Where = ("c3", "c4", "c5"),
                   position: str = "after_1x1") -> list[str]:
    """Names of the modules that get a block for a stage selection and a position.

    ``where``: stage names (every residual block of those stages), or a mapping
    ``{stage: [block indices]}`` (0-indexed; ``None`` = all), e.g. the 5 NL
    positions ``{"c3": [1, 3], "c4": [1, 3, 5]}``.
    """
    if position not in POSITIONS:
        raise ValueError(f"position must be one of {list(POSITIONS)}, got {position!r}")
    if isinstance(where, str):
        where = [where]
    selection = where.items() if isinstance(where, Mapping) else ((s, None) for s in where)
    stages = residual_blocks(model)
    targets = []
    for stage, indices in selection:
        blocks = stages[stage_name(stage)]
        chosen = range(len(blocks)) if indices is None else indices
        for i in chosen:
            if not 0 <= int(i) < len(blocks):
                raise ValueError(f"stage {stage} has {len(blocks)} residual blocks; index {i} "
                                 f"is out of range 0..{len(blocks) - 1}")
            block, branch_end = blocks[int(i)]
            targets.append(branch_end if position == "after_1x1" else block)
    return targets


def output_channels(module: nn.Module, name: str = "module") -> int:
    """Channels of ``module``'s output, read from its last norm or conv layer."""
    for m in reversed(list(module.modules())):
        if isinstance(m, nn.modules.batchnorm._NormBase):
            return m.num_features
        if isinstance(m, (nn.Conv3d, nn.Conv2d)):
            return m.out_channels
    raise ValueError(f"cannot infer the output channels of {name!r} ({type(module).__name__}): "
                     "it has no BatchNorm or Conv layer")


def _apply_context(module: nn.Module, inputs, output):
    return module.context(output)


def attach(model: nn.Module, name: str, block: nn.Module) -> None:
    """Make ``block`` transform the output of ``model``'s module ``name``, as its ``context``.

    A ``Sequential`` gets it as its last child; a pytorchvideo ``BottleneckBlock`` or
    ``ResBlock`` is replaced in its parent by a ``ContextBottleneckBlock`` /
    ``ContextResBlock`` built from its own layers; anything else (the last resort, e.g. a
    torchvision residual block for ``after_add``) gets a forward hook that applies
    ``target.context`` to its output. Every case adds the same ``<name>.context.*`` keys.
    """
    from pytorchvideo.models.resnet import BottleneckBlock, ResBlock

    from .bottleneck import ContextBottleneckBlock, ContextResBlock

    target = model.get_submodule(name)
    if hasattr(target, "context"):
        raise ValueError(f"{name!r} already has a context block")
    replacement = {BottleneckBlock: ContextBottleneckBlock, ResBlock: ContextResBlock}.get(type(target))
    if replacement is not None and name:
        parent_name, _, key = name.rpartition(".")
        model.get_submodule(parent_name)._modules[key] = replacement.extend(target, block)
        return
    target.add_module("context", block)
    if not isinstance(target, nn.Sequential):   # a Sequential runs its new last child itself
        target.register_forward_hook(_apply_context)


def insert_blocks(model: nn.Module, kind: str, where: Where = ("c3", "c4", "c5"),
                  position: str = "after_1x1", modules: Optional[Iterable[str]] = None,
                  **options) -> list[str]:
    """Insert ``make_block(kind, C, **options)`` blocks into ``model`` in place.

    Defaults are the paper's: every residual block of c3, c4, c5, after the last
    1x1 conv + BN of the residual branch. Returns the state_dict prefixes of the new
    blocks (e.g. ``blocks.2.res_blocks.0.branch2.context``).

    >>> insert_blocks(model, "gc", where={"c4": [1, 3, 5]}, position="after_add")
    """
    names = list(modules) if modules is not None else select_targets(model, where, position)
    named = dict(model.named_modules())
    missing = [n for n in names if n not in named]
    if missing:
        raise ValueError(f"model has no module(s) named {missing}")
    for name in names:
        target = named[name]
        block = make_block(kind, output_channels(target, name), **options)
        param = next(target.parameters(), None)
        if param is not None:  # follow a network that already lives on a GPU / in half
            block.to(device=param.device, dtype=param.dtype)
        attach(model, name, block)
    return [f"{n}.context" for n in names]


@contextlib.contextmanager
def bypass_blocks(model: nn.Module) -> Iterator[nn.Module]:
    """Inside the ``with``, every inserted block (each child named ``context``) is an
    identity: the very same network and weights without its context blocks, e.g. to
    ablate a trained network's blocks or to time them against the network itself. In a
    ``fold_context_blocks`` network a folded GC block gives way to the conv + BN it folded.

    >>> with bypass_blocks(model):
    ...     plain_logits = model(clip)
    """
    from ..layers.folded import FoldedGlobalContext3d

    hosts = [(m, m.context) for m in model.modules() if isinstance(m._modules.get("context"), nn.Module)]
    for host, block in hosts:                         # same key: a Sequential keeps its order
        # a folded GC block also computes the conv + BN it rides on: keep those
        host._modules["context"] = nn.Sequential(block.conv, *(m for m in [block.norm] if m is not None)) \
            if isinstance(block, FoldedGlobalContext3d) else nn.Identity()
    try:
        yield model
    finally:
        for host, block in hosts:
            host._modules["context"] = block
