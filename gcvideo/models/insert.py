"""``insert_blocks``: add context blocks to an existing residual network without renaming.

Each block becomes a child named ``context`` of the module whose output it
transforms, so the network's state_dict only gains keys (``...branch2.context.*``)
and a checkpoint of the plain network loads with exactly those keys missing.

Where blocks go, for the networks this module knows:

==============================  =====================  ==============================
network                         stages c2..c5          ``after_1x1`` target / ``after_add``
==============================  =====================  ==============================
pytorchvideo ``create_resnet``  the ``ResStage`` s of  ``res_blocks.i.branch2`` (after
(slow_r50, i3d_r50, c2d_r50,    ``model.blocks``       conv_c + norm_c) / ``res_blocks.i``
csn_r101, r2plus1d_r50, x3d_*,
gcvideo's slow models)
pytorchvideo                    each pathway's         the same, in both pathways
``create_slowfast``             ``ResStage`` s in      (``where``: ``"c4"`` = both,
(slowfast_r50, _r101)           ``blocks.1..4``        ``"slow:c4"``, ``"fast"`` =
                                                       the fast pathway's c3-c5)
torchvision ``VideoResNet``     ``layer1..layer4``     ``layerK.i.conv2`` (BasicBlock) or
(r3d_18, mc3_18, r2plus1d_18)                          ``.conv3`` (Bottleneck) / ``layerK.i``
PySlowFast ``ResNetModel``,     ``s2``..``s5``, their  ``sK.pathwayP_resI.branch2`` (after
``SlowFastModel``               ``pathwayP_resI``      c + c_bn) / ``sK.pathwayP_resI``;
                                blocks (P: 0 slow,     SlowFast as pytorchvideo's
                                1 fast)
mmaction2 ``ResNet3d``,         ``layer1..layer4``     ``layerK.i.conv3`` (its conv + BN,
``ResNet3dSlowOnly``, ``X3D``,  (SlowFast: of           a ConvModule; X3D: behind its SE
``ResNet3dSlowFast``            ``slow_path`` and       and swish) / ``layerK.i``
                                ``fast_path``)
torchvision ``S3D``             c3: Mixed_3b-3c,       no residual branch: only
                                c4: Mixed_4b-4f,       ``after_add`` = the inception
                                c5: Mixed_5b-5c        block's output (its 4 branches
                                (``features.5..15``)   concatenated); c2 has none
==============================  =====================  ==============================

X3D: its SE sits inside every other bottleneck after the depthwise 3x3x3 conv; a GC block
``after_1x1`` goes after ``conv_c`` + ``norm_c``, i.e. after that SE, at the end of the
branch. SlowFast: blocks keep each pathway's channels, so the lateral (fast-to-slow)
connections see the shapes they were built for. Transformers (MViT, Swin3D) are out of
scope: they have no convolutional stages to host a 3D block, and self-attention already
pools over all positions -- a GC block there would duplicate what each layer does.

``after_1x1`` (the paper's default) puts the block after the last conv + BN of the
residual branch, before the addition with the shortcut; ``after_add`` puts it on the
residual block's output (after the addition and its ReLU), which is also where the
Non-local paper inserts NL blocks. Any other network: pass ``modules=[names]`` and a
block is added on the output of each named module (``dict(model.named_modules())``
names); its channels are read from the module's last norm/conv layer.

How a block runs (see ``attach``): appended to a ``Sequential`` target; a pytorchvideo
``BottleneckBlock``/``ResBlock`` is replaced, through its parent, by the
``ContextBottleneckBlock``/``ContextResBlock`` built from its own layers; any other target
(torchvision residual blocks with ``after_add``, S3D's inception blocks, ``modules=[...]``)
is replaced by an ``OutputThroughContext`` holding it, which keeps the state_dict keys. Every
class exists at import, no forward hooks: the networks trace, script and export.
gcvideo's own Slow-only models do not need this: they are built with their blocks
(``gcvideo.models.slow``).
"""
import contextlib
from typing import Callable, Iterable, Iterator, Literal, Mapping, NamedTuple, Optional, Sequence, Union, get_args

import torch
from torch import nn

from ..layers.factory import make_block
from . import quiet_fvcore
from .catalog import ALL_C3_C5

quiet_fvcore()          # before pytorchvideo (imported by the functions below), which imports fvcore

STAGES = ("c2", "c3", "c4", "c5")
Position = Literal["after_1x1", "after_add"]
POSITIONS = get_args(Position)
PATHWAYS = ("slow", "fast")
DEFAULT_STAGES = ALL_C3_C5         # where blocks go unless told: the paper's c3-c5 (one definition, the catalog's)
S3D_STAGES = {"c2": (), "c3": (5, 6), "c4": (8, 9, 10, 11, 12), "c5": (14, 15)}   # torchvision S3D.features
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


class Layout(NamedTuple):
    family: str                                    # "resnet", "slowfast", "torchvision", "s3d"
    stages: dict[str, list[tuple[str, str]]]       # stage key -> (block, branch end) per residual block


def network_layout(model: nn.Module) -> Layout:
    """The family of ``model`` and, per stage (``c2``..``c5``; ``slow:c2``.. for SlowFast), the
    (block, branch end) module names of each residual (or inception) block."""
    from pytorchvideo.models.net import MultiPathWayWithFuse
    from pytorchvideo.models.resnet import ResStage
    from torchvision.models.video.resnet import VideoResNet
    from torchvision.models.video.s3d import S3D

    for prefix, net in model.named_modules():
        at = f"{prefix}." if prefix else ""
        peer = _pyslowfast_stages(net, at) or _mmaction2_stages(net, at)
        if peer is not None:
            return peer
        if isinstance(net, VideoResNet):
            out = {}
            for k, stage in enumerate(STAGES):
                layer = getattr(net, f"layer{k + 1}")
                out[stage] = [(f"{at}layer{k + 1}.{i}",
                               f"{at}layer{k + 1}.{i}.{'conv3' if hasattr(b, 'conv3') else 'conv2'}")
                              for i, b in enumerate(layer)]
            return Layout("torchvision", out)
        if isinstance(net, S3D):
            return Layout("s3d", {stage: [(f"{at}features.{i}",) * 2 for i in indices]
                                  for stage, indices in S3D_STAGES.items()})
        blocks = getattr(net, "blocks", None)
        if not isinstance(blocks, nn.ModuleList):
            continue
        fused = [i for i, b in enumerate(blocks) if isinstance(b, MultiPathWayWithFuse)
                 and all(isinstance(p, ResStage) for p in b.multipathway_blocks)]
        if len(fused) == len(STAGES):
            return Layout("slowfast", {
                f"{pathway}:{stage}": [(f"{at}blocks.{s}.multipathway_blocks.{p}.res_blocks.{i}",
                                        f"{at}blocks.{s}.multipathway_blocks.{p}.res_blocks.{i}.branch2")
                                       for i in range(len(blocks[s].multipathway_blocks[p].res_blocks))]
                for p, pathway in enumerate(PATHWAYS) for stage, s in zip(STAGES, fused)})
        stages = [i for i, b in enumerate(blocks) if isinstance(b, ResStage)]
        if len(stages) == len(STAGES):
            return Layout("resnet", {stage: [(f"{at}blocks.{s}.res_blocks.{i}", f"{at}blocks.{s}.res_blocks.{i}.branch2")
                                             for i in range(len(blocks[s].res_blocks))]
                                     for stage, s in zip(STAGES, stages)})
        break
    raise TypeError(f"{type(model).__name__} is not a network insert_blocks knows (a pytorchvideo ResNet, "
                    "X3D, CSN, R(2+1)D or SlowFast, a PySlowFast ResNet or SlowFast, an mmaction2 ResNet3d, X3D or "
                    "ResNet3dSlowFast backbone, a torchvision VideoResNet or S3D); pass modules=[...] "
                    "with the names of the modules whose outputs should get a block")


def _pyslowfast_stages(net: nn.Module, at: str) -> Optional[Layout]:
    """PySlowFast's ``ResNetModel`` / ``SlowFastModel`` (its stages ``s2``..``s5`` hold
    ``pathway{p}_res{i}`` residual blocks, each with a ``branch2`` that ends with conv c and its BN),
    or None."""
    stages = [getattr(net, f"s{k}", None) for k in range(2, 6)]
    if not all(stage is not None and hasattr(stage, "pathway0_res0") for stage in stages):
        return None
    pathways = [p for p in range(2) if hasattr(stages[0], f"pathway{p}_res0")]

    def blocks(k: int, p: int) -> list[tuple[str, str]]:
        count = 0
        while hasattr(stages[k], f"pathway{p}_res{count}"):
            count += 1
        return [(f"{at}s{k + 2}.pathway{p}_res{i}", f"{at}s{k + 2}.pathway{p}_res{i}.branch2") for i in range(count)]

    if len(pathways) == 1:
        return Layout("resnet", {stage: blocks(k, 0) for k, stage in enumerate(STAGES)})
    return Layout("slowfast", {f"{pathway}:{stage}": blocks(k, p) for p, pathway in enumerate(PATHWAYS)
                               for k, stage in enumerate(STAGES)})


def _mmaction2_stages(net: nn.Module, at: str) -> Optional[Layout]:
    """mmaction2's ``ResNet3d`` family (``ResNet3dSlowOnly``, I3D, C2D), ``X3D`` (stages
    ``layer1``..``layer4``, each residual block ending its branch with ``conv3``: conv + BN) and
    ``ResNet3dSlowFast`` (two such networks, ``slow_path`` and ``fast_path``), or None."""
    if not type(net).__module__.startswith("mmaction."):
        return None
    paths = [(p, getattr(net, f"{p}_path")) for p in PATHWAYS if hasattr(net, f"{p}_path")]

    def stages(path: nn.Module, prefix: str) -> Optional[dict[str, list[tuple[str, str]]]]:
        layers = [getattr(path, f"layer{k}", None) for k in range(1, 5)]
        if not all(isinstance(layer, nn.Sequential) and all(hasattr(b, "conv3") for b in layer) for layer in layers):
            return None
        return {stage: [(f"{prefix}layer{k + 1}.{i}", f"{prefix}layer{k + 1}.{i}.conv3") for i in range(len(layer))]
                for k, (stage, layer) in enumerate(zip(STAGES, layers))}

    if len(paths) == 2:
        found = {p: stages(path, f"{at}{p}_path.") for p, path in paths}
        if all(found.values()):
            return Layout("slowfast", {f"{p}:{stage}": blocks for p, of in found.items() for stage, blocks in of.items()})
        return None
    single = stages(net, at)
    return Layout("resnet", single) if single else None


def stage_keys(layout: Layout, name: str) -> list[str]:
    """The stage keys of ``layout`` that a ``where`` entry names: ``c4`` (for SlowFast: both
    pathways), ``slow:c4`` / ``fast:res4``, or a pathway alone (its c3-c5)."""
    text = str(name).lower()
    if layout.family == "slowfast":
        if text in PATHWAYS:
            return [f"{text}:{stage}" for stage in DEFAULT_STAGES]
        if ":" in text:
            pathway, _, stage = text.partition(":")
            if pathway not in PATHWAYS:
                raise ValueError(f"unknown pathway {pathway!r} in {name!r}; pathways are {list(PATHWAYS)}")
            return [f"{pathway}:{stage_name(stage)}"]
        return [f"{pathway}:{stage_name(text)}" for pathway in PATHWAYS]
    if ":" in text or text in PATHWAYS:
        raise ValueError(f"{name!r} names a pathway, but this {layout.family} network has one pathway")
    return [stage_name(text)]


def default_position(model: nn.Module, layout: Optional[Layout] = None) -> str:
    """``after_1x1`` (the paper's), or ``after_add`` for networks without a residual branch (S3D)."""
    return "after_add" if (layout or network_layout(model)).family == "s3d" else "after_1x1"


def parse_where(where: Where, depths: Mapping[str, int],
                keys: Callable[[str], list[str]] = lambda name: [stage_name(name)]) -> dict[str, list[int]]:
    """{stage key: residual block indices} that ``where`` selects (see :func:`select_targets`), for
    stages of ``depths`` blocks; ``keys`` maps a ``where`` entry to stage keys (SlowFast: pathways)."""
    if isinstance(where, str):
        where = [where]
    selection = where.items() if isinstance(where, Mapping) else ((s, None) for s in where)
    chosen: dict[str, list[int]] = {}
    for stage, indices in selection:
        for key in keys(stage):
            depth = depths[key]
            picked = list(range(depth)) if indices is None else [int(i) for i in indices]
            for i in picked:
                if not 0 <= i < depth:
                    raise ValueError(f"stage {key} has {depth} residual blocks; index {i} is out of range"
                                     + (f" 0..{depth - 1}" if depth else ""))
            chosen.setdefault(key, []).extend(picked)
    return chosen


def select_targets(model: nn.Module, where: Where = DEFAULT_STAGES,
                   position: Optional[str] = None) -> list[str]:
    """Names of the modules that get a block for a stage selection and a position.

    ``where``: stage names (every residual block of those stages), or a mapping
    ``{stage: [block indices]}`` (0-indexed; ``None`` = all), e.g. the 5 NL
    positions ``{"c3": [1, 3], "c4": [1, 3, 5]}``; SlowFast also takes ``slow:c4``,
    ``fast:c3`` and ``slow``/``fast`` (that pathway's c3-c5). ``position`` None: the
    network's default (:func:`default_position`).
    """
    layout = network_layout(model)
    position = position or default_position(model, layout)
    if position not in POSITIONS:
        raise ValueError(f"position must be one of {list(POSITIONS)}, got {position!r}")
    if layout.family == "s3d" and position != "after_add":
        raise ValueError("S3D has no residual branch to end with a 1x1 conv: use position='after_add' "
                         "(a block on each inception block's output)")
    depths = {key: len(blocks) for key, blocks in layout.stages.items()}
    targets = []
    for key, indices in parse_where(where, depths, lambda name: stage_keys(layout, name)).items():
        for i in indices:
            block, branch_end = layout.stages[key][i]
            targets.append(branch_end if position == "after_1x1" else block)
    return targets


def output_channels(module: nn.Module, name: str = "module") -> int:
    """Channels of ``module``'s output, read from its last norm or conv layer (an inception
    block: the sum over its concatenated branches)."""
    branches = [getattr(module, f"branch{i}", None) for i in range(4)]
    if all(isinstance(b, nn.Module) for b in branches) and type(module).__name__.endswith("InceptionBlock3D"):
        return sum(output_channels(b, f"{name}.branch{i}") for i, b in enumerate(branches))
    for m in reversed(list(module.modules())):
        if isinstance(m, nn.modules.batchnorm._NormBase):
            return m.num_features
        if isinstance(m, (nn.Conv3d, nn.Conv2d)):
            return m.out_channels
    raise ValueError(f"cannot infer the output channels of {name!r} ({type(module).__name__}): "
                     "it has no BatchNorm or Conv layer")


class KeepsKeys(nn.Module):
    """A module that holds another (``body``) and keeps its state_dict keys by design: the body's
    keys are saved without ``body.`` (they are the held module's own) and given it back when
    loading; keys of the holder's own children (``OWN``) stay as they are. Module names
    (``named_modules``) show the ``body``."""

    OWN: tuple = ()

    def __init__(self, body: nn.Module) -> None:
        super().__init__()
        self.body = body
        self.register_state_dict_post_hook(_keys_without_body)
        self.register_load_state_dict_pre_hook(_keys_with_body)


class OutputThroughContext(KeepsKeys):
    """``body``'s output through ``context``: a block on the output of a module that has no
    place for one inside (a torchvision residual block with ``after_add``, an S3D inception
    block, a module named in ``modules=[...]``), taking one tensor. Only ``<name>.context.*`` is
    new in the state_dict."""

    OWN = ("context.",)

    def __init__(self, body: nn.Module, context: nn.Module) -> None:
        super().__init__(body)
        self.context = context

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.context(self.body(x))

    def __getattr__(self, name: str):
        # the held module's attributes read through the holder, as the network's own code
        # expects (mmaction2's init_weights sets ``block.conv3.bn``, a held ConvModule's BN)
        try:
            return super().__getattr__(name)
        except AttributeError:
            body = self.__dict__.get("_modules", {}).get("body")
            if body is None:
                raise
            return getattr(body, name)


def _keys_without_body(module, state_dict, prefix, local_metadata) -> None:
    # this module's keys are the last ones written: re-add them in order, body's renamed
    mine = [k for k in state_dict if k.startswith(prefix)]
    body = prefix + "body."
    for key in mine:
        value = state_dict.pop(key)
        state_dict[prefix + key[len(body):] if key.startswith(body) else key] = value


def _keys_with_body(module, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                    error_msgs) -> None:
    for key in [k for k in state_dict if k.startswith(prefix)]:
        rest = key[len(prefix):]
        if not rest.startswith(("body.", *module.OWN)):
            state_dict[prefix + "body." + rest] = state_dict.pop(key)


def attach(model: nn.Module, name: str, block: nn.Module) -> None:
    """Make ``block`` transform the output of ``model``'s module ``name``, as its ``context``.

    A ``Sequential`` gets it as its last child; a pytorchvideo ``BottleneckBlock`` or
    ``ResBlock`` is replaced in its parent by a ``ContextBottleneckBlock`` /
    ``ContextResBlock`` built from its own layers; any other module by an
    ``OutputThroughContext`` holding it. Every case adds ``<name>.context.*`` keys and no other.
    The network itself (``name`` empty) has no parent to be replaced in: wrap it yourself,
    ``nn.Sequential(model, block)``.
    """
    from pytorchvideo.models.resnet import BottleneckBlock, ResBlock

    from .bottleneck import ContextBottleneckBlock, ContextResBlock

    target = model.get_submodule(name)
    if hasattr(target, "context"):
        raise ValueError(f"{name!r} already has a context block")
    if isinstance(target, nn.Sequential):           # runs its new last child itself
        target.add_module("context", block)
        return
    if not name:
        raise ValueError("the network itself has no parent to hold a block on its output: use "
                         "nn.Sequential(model, make_block(kind, channels)) instead of modules=['']")
    replacement = {BottleneckBlock: ContextBottleneckBlock, ResBlock: ContextResBlock}.get(type(target))
    model.set_submodule(name, replacement.extend(target, block) if replacement else OutputThroughContext(target, block))


def insert_blocks(model: nn.Module, kind: str, where: Where = DEFAULT_STAGES,
                  position: Optional[str] = None, modules: Optional[Iterable[str]] = None,
                  **options) -> list[str]:
    """Insert ``make_block(kind, C, **options)`` blocks into ``model`` in place.

    Defaults are the paper's: every residual block of c3, c4, c5, after the last
    1x1 conv + BN of the residual branch (S3D: on each inception block's output).
    Returns the state_dict prefixes of the new blocks (e.g.
    ``blocks.2.res_blocks.0.branch2.context``).

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

    hosts = [(m, m.context) for m in model.modules() if isinstance(dict(m.named_children()).get("context"), nn.Module)]
    for host, block in hosts:                         # same key: a Sequential keeps its order
        # a folded GC block also computes the conv + BN it rides on: keep those
        host.set_submodule("context", nn.Sequential(block.conv, *(m for m in [block.norm] if m is not None))
                           if isinstance(block, FoldedGlobalContext3d) else nn.Identity())
    try:
        yield model
    finally:
        for host, block in hosts:
            host.set_submodule("context", block)
