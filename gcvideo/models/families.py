"""Other video networks with context blocks: SlowFast, X3D, I3D (pytorchvideo's builders,
random weights) and torchvision's video networks (R3D-18, MC3-18, R(2+1)D-18, S3D), with their
blocks inserted by rule (``insert_blocks``).

Each takes one clip tensor (N, 3, T, H, W) like the Slow-only models, so the data
pipeline, training and the 30-view test need nothing else: a SlowFast network takes
every ``alpha``-th frame of the clip for its slow pathway and the whole clip for its
fast one. The heads pool adaptively (pytorchvideo sizes their pools for the training
clip: the same result there, and any clip size runs, e.g. the 256-pixel test crops).
State-dict keys are pytorchvideo's, so its checkpoints of the plain networks load
(``weights.load_pretrained``) with exactly the new blocks' keys missing.
"""
from typing import Literal, Optional

import torch
from torch import nn

from ..layers.factory import BlockKind
from .insert import DEFAULT_STAGES, Position, Where, insert_blocks


def adaptive_heads(model: nn.Module) -> nn.Module:
    """Every ``AvgPool3d`` (pytorchvideo uses them only in heads, sized for the training clip)
    becomes ``AdaptiveAvgPool3d(1)``: equal at that clip, and any clip size runs."""
    for name, module in list(model.named_modules()):
        if isinstance(module, nn.AvgPool3d):
            model.set_submodule(name, nn.AdaptiveAvgPool3d(1))
    return model


class OneClipSlowFast(nn.Module):
    """pytorchvideo's SlowFast network taking one clip (N, 3, T, H, W): the slow pathway gets
    every ``alpha``-th frame, the fast one all of them. An adapter around the network's
    ``blocks``, so the state_dict keys are pytorchvideo's (``blocks.*``)."""

    def __init__(self, blocks: nn.ModuleList, alpha: int) -> None:
        super().__init__()
        self.blocks, self.alpha = blocks, alpha

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pathways = [x[:, :, ::self.alpha], x]       # a new list: pytorchvideo's fusions write into it
        for block in self.blocks:
            pathways = block(pathways)
        return pathways


def slowfast_resnet(*, num_classes: int = 400, depth: int = 50, alpha: int = 4, dropout: float = 0.5,
                    block: Optional[BlockKind] = None, where: Where = DEFAULT_STAGES, position: Optional[Position] = None,
                    **block_options) -> nn.Module:
    """SlowFast R50/R101 (SLOWFAST_8x8: alpha 4, beta 1/8, 32 frames in, the slow pathway 8),
    taking one clip tensor; ``block`` goes into both pathways unless ``where`` names one."""
    from pytorchvideo.models.slowfast import create_slowfast

    net = adaptive_heads(create_slowfast(model_depth=depth, model_num_class=num_classes, dropout_rate=dropout))
    model = OneClipSlowFast(net.blocks, alpha)
    if block:
        insert_blocks(model, block, where=where, position=position, **block_options)
    return model


X3DSize = Literal["s", "m", "l"]
TorchvisionArch = Literal["r3d_18", "mc3_18", "r2plus1d_18", "s3d"]


def x3d(*, num_classes: int = 400, size: X3DSize = "m", dropout: float = 0.5, block: Optional[BlockKind] = None,
        where: Where = DEFAULT_STAGES, position: Optional[Position] = None, **block_options) -> nn.Module:
    """X3D-S/M/L (X3D_M: 16 frames at 224, width x2, depth x2.2; S: 13 at 160; L: 16 at 312, depth x5)."""
    from pytorchvideo.models.x3d import create_x3d

    from pytorchvideo.layers.swish import Swish

    clip, crop, depth = {"s": (13, 160, 2.2), "m": (16, 224, 2.2), "l": (16, 312, 5.0)}[size]
    model = adaptive_heads(create_x3d(input_clip_length=clip, input_crop_size=crop, depth_factor=depth,
                                      model_num_class=num_classes, dropout_rate=dropout,
                                      head_activation=None))   # logits, as every gcvideo model gives
    # pytorchvideo's Swish is a custom autograd function whose backward reads the removed
    # ctx.saved_variables (torch.compile cannot trace it); SiLU is the same x * sigmoid(x), no weights
    for name, module in list(model.named_modules()):
        if isinstance(module, Swish):
            model.set_submodule(name, nn.SiLU())
    if block:
        insert_blocks(model, block, where=where, position=position, **block_options)
    return model


def i3d_resnet(*, num_classes: int = 400, dropout: float = 0.5, block: Optional[BlockKind] = None,
               where: Where = DEFAULT_STAGES, position: Optional[Position] = None, **block_options) -> nn.Module:
    """I3D R50 8x8 (pytorchvideo's ``i3d_r50``: 5x7x7 stem, 3x1x1 convs in alternate blocks)."""
    from pytorchvideo.models.hub import i3d_r50

    model = adaptive_heads(i3d_r50(pretrained=False, model_num_class=num_classes, dropout_rate=dropout))
    if block:
        insert_blocks(model, block, where=where, position=position, **block_options)
    return model


# torchvision's video weights were trained on clips normalised with these Kinetics statistics
# (its VideoClassification transforms); gcvideo normalises with pytorchvideo's 0.45 / 0.225
TORCHVISION_MEAN, TORCHVISION_STD = (0.43216, 0.394666, 0.37645), (0.22803, 0.22145, 0.216989)
GCVIDEO_MEAN, GCVIDEO_STD = (0.45, 0.45, 0.45), (0.225, 0.225, 0.225)


def _renormalise(module: nn.Module) -> None:
    """Constants (not state) that turn gcvideo's normalised clip into torchvision's."""
    shape = (1, 3, 1, 1, 1)
    scale = torch.tensor(GCVIDEO_STD) / torch.tensor(TORCHVISION_STD)
    shift = (torch.tensor(GCVIDEO_MEAN) - torch.tensor(TORCHVISION_MEAN)) / torch.tensor(TORCHVISION_STD)
    module.register_buffer("input_scale", scale.reshape(shape), persistent=False)
    module.register_buffer("input_shift", shift.reshape(shape), persistent=False)


class _GcvideoInput(nn.Module):
    """A torchvision network's own modules, under its own names (its state_dicts load as they
    are), taking gcvideo's normalised clip: re-normalised to the statistics its weights were
    trained with, then the network's own forward (the class after this one in the MRO)."""

    def __init__(self, net: nn.Module) -> None:
        nn.Module.__init__(self)
        for name, child in net.named_children():
            self.add_module(name, child)
        _renormalise(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x * self.input_scale + self.input_shift)


def _torchvision_classes():
    from torchvision.models.video.resnet import VideoResNet
    from torchvision.models.video.s3d import S3D

    class TorchvisionVideoResNet(_GcvideoInput, VideoResNet):
        """torchvision's R3D/MC3/R(2+1)D network taking gcvideo's clip (see ``_GcvideoInput``)."""

    class TorchvisionS3D(_GcvideoInput, S3D):
        """torchvision's S3D taking gcvideo's clip; its head's fixed 2x7x7 pooling kept: the clip
        must be at least 14 frames of 224 pixels, torchvision's minimum."""

    return TorchvisionVideoResNet, TorchvisionS3D


def torchvision_video(*, num_classes: int = 400, arch: TorchvisionArch = "r3d_18", block: Optional[BlockKind] = None,
                      where: Where = DEFAULT_STAGES, position: Optional[Position] = None, **block_options) -> nn.Module:
    """torchvision's ``r3d_18``, ``mc3_18``, ``r2plus1d_18`` or ``s3d`` (random weights; its
    ``KINETICS400_V1`` state_dicts load with ``pretrained=``), taking gcvideo's clips."""
    import torchvision.models.video as video

    builders = {"r3d_18": video.r3d_18, "mc3_18": video.mc3_18, "r2plus1d_18": video.r2plus1d_18, "s3d": video.s3d}
    if arch not in builders:
        raise ValueError(f"arch must be one of {sorted(builders)}, got {arch!r}")
    resnet, s3d = _torchvision_classes()
    net = builders[arch](weights=None, num_classes=num_classes)
    model = (s3d if arch == "s3d" else resnet)(net)
    if block:
        insert_blocks(model, block, where=where, position=position, **block_options)
    return model


BUILDERS = {"slowfast": slowfast_resnet, "x3d": x3d, "i3d": i3d_resnet, "torchvision": torchvision_video}
