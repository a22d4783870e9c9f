"""Inference: a network's folded form run over a video's views and their scores averaged.

One implementation for every command that scores videos: ``test`` / ``validate`` (through
:class:`~gcvideo.engine.module.VideoClassifier`), ``predict`` and ``predict --timeline``.
"""
from typing import Callable, Literal, Optional, Sequence

import torch
from torch import nn

ViewAverage = Literal["softmax", "logits", "max"]


def validate_command(trainer) -> bool:
    """Whether ``trainer`` runs the ``validate`` command, whose evaluation is per video with the test
    protocol (fit-time validation is single-view, per clip): the one place this is decided."""
    return trainer is not None and trainer.state.fn == "validate"


def probabilities(logits: torch.Tensor, multi_label: bool = False) -> torch.Tensor:
    """Class probabilities of logits: softmax over the classes, or each class's sigmoid (multi-label)."""
    return logits.float().sigmoid() if multi_label else logits.float().softmax(-1)


def average_views(logits: torch.Tensor, how: ViewAverage = "softmax", multi_label: bool = False) -> torch.Tensor:
    """(videos, views, classes) logits -> (videos, classes) probabilities: the views' probabilities
    averaged (``softmax``, the paper; sigmoid probabilities when ``multi_label``), the probabilities
    of their averaged logits (``logits``), or each class's largest probability over the views
    (``max``, PySlowFast's Charades convention)."""
    if how == "softmax":
        return probabilities(logits, multi_label).mean(1)
    if how == "max":
        return probabilities(logits, multi_label).amax(1)
    return probabilities(logits.float().mean(1), multi_label)


class InferenceForm:
    """The network's inference form for one evaluation: ``fold_context_blocks`` of the current
    weights (compiled where the network is). A plain attribute holder, not a submodule: never
    saved, never trained, made afresh at every evaluation."""

    def __init__(self) -> None:
        self.net: Optional[nn.Module] = None

    def make(self, model: nn.Module, compile_options: Optional[dict] = None) -> None:
        from ..models import fold_context_blocks

        self.net = fold_context_blocks(model)          # a copy: not compiled, even where the model is
        if compile_options is not None:
            self.net.compile(**compile_options)

    def clear(self) -> None:
        self.net = None


def view_logits(net: Callable[[torch.Tensor], torch.Tensor], frames: torch.Tensor,
                boxes: Sequence[tuple[int, int, int, int]], view_batch: int,
                device: Optional[torch.device] = None) -> torch.Tensor:
    """(views, classes) logits of a decoded video's views (``frames`` (clips, T, 3, H, W) uint8 and
    the crop ``boxes``, as :func:`gcvideo.data.multiview.decode_views` returns them), forwarded
    ``view_batch`` at a time, clip-major."""
    from ..data.multiview import iter_views

    return torch.cat([net(view if device is None else view.to(device))
                      for view in iter_views(frames, boxes, view_batch)])


def video_scores(logits: torch.Tensor, clips: int, crops: int, how: ViewAverage = "softmax",
                 multi_label: bool = False) -> tuple[list[float], dict[str, list]]:
    """A video's class probabilities over all its (clips x crops) views, and for each smaller
    protocol (:func:`gcvideo.data.multiview.view_subsets`) the top-5 classes of its subset of
    those views (multi-label: the subset's probabilities, for its mAP): the fewer-view numbers
    come for free."""
    from ..data.multiview import view_subsets

    scores = average_views(logits.unsqueeze(0), how, multi_label)[0].tolist()
    top = min(5, logits.shape[-1])
    subsets = {}
    for name, index in view_subsets(clips, crops).items():
        subset = average_views(logits[index].unsqueeze(0), how, multi_label)[0]
        subsets[name] = subset.tolist() if multi_label else subset.topk(top).indices.tolist()
    return scores, subsets
