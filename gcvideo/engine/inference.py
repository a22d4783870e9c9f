"""Inference: a network's folded form run over a video's views and their scores averaged.

One implementation for every command that scores videos: ``test`` / ``validate`` (through
:class:`~gcvideo.engine.module.VideoClassifier`), ``predict`` and ``predict --timeline``.
"""
from typing import Callable, Literal, Optional, Sequence

import torch
from torch import nn

ViewAverage = Literal["softmax", "logits"]


def average_views(logits: torch.Tensor, how: ViewAverage = "softmax") -> torch.Tensor:
    """(videos, views, classes) logits -> (videos, classes) probabilities: the views' softmax
    scores averaged (the paper), or the softmax of their averaged logits."""
    if how == "softmax":
        return logits.float().softmax(-1).mean(1)
    return logits.float().mean(1).softmax(-1)


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


def video_scores(logits: torch.Tensor, clips: int, crops: int,
                 how: ViewAverage = "softmax") -> tuple[list[float], dict[str, list[int]]]:
    """A video's class probabilities over all its (clips x crops) views, and for each smaller
    protocol (:func:`gcvideo.data.multiview.view_subsets`) the top-5 classes of its subset of
    those views: the fewer-view numbers come for free."""
    from ..data.multiview import view_subsets

    scores = average_views(logits.unsqueeze(0), how)[0].tolist()
    top = min(5, logits.shape[-1])
    subsets = {name: average_views(logits[index].unsqueeze(0), how)[0].topk(top).indices.tolist()
               for name, index in view_subsets(clips, crops).items()}
    return scores, subsets
