"""Spatial transforms of the Kinetics protocol, on uint8 frames, then normalisation.

Scaling the short side to S and then cropping ``crop`` pixels is done in one step:
the crop box is mapped back to source pixels and only that region is resized (on
uint8, antialiased), which is the same picture up to interpolation at the border
and costs a crop-sized resize instead of a full-frame one.

Frames come in as (T, H, W, 3) uint8 and leave as (3, T, crop, crop) float32,
``(x / 255 - mean) / std`` with the paper's mean 0.45 and std 0.225.
"""
from typing import Sequence

import numpy as np
import torch
from torchvision.transforms.v2 import functional as TF

MEAN = (0.45, 0.45, 0.45)
STD = (0.225, 0.225, 0.225)
Box = tuple[int, int, int, int]  # top, left, height, width in source pixels


def _scale_box(height: int, width: int, short_side: int, top: int, left: int, size: int) -> Box:
    """A ``size``-square box at (top, left) of the frame scaled to ``short_side``, in source pixels."""
    scale = short_side / min(height, width)
    h = w = max(1, int(round(size / scale)))
    h, w = min(h, height), min(w, width)
    return (min(int(round(top / scale)), height - h), min(int(round(left / scale)), width - w), h, w)


def random_crop_box(height: int, width: int, short_side_range: Sequence[int], crop: int,
                    rng: np.random.Generator) -> Box:
    """Training: short side random in [lo, hi], a random ``crop`` square of that."""
    lo, hi = short_side_range
    short = int(rng.integers(lo, hi + 1))
    scale = short / min(height, width)
    rh, rw = int(round(height * scale)), int(round(width * scale))
    top = int(rng.integers(0, max(0, rh - crop) + 1))
    left = int(rng.integers(0, max(0, rw - crop) + 1))
    return _scale_box(height, width, short, top, left, crop)


def spatial_crop_boxes(height: int, width: int, short_side: int, crop: int, num_crops: int) -> list[Box]:
    """Testing: short side = ``short_side``; ``num_crops`` crops spread along the long side
    (1: centre; 3: left/centre/right for landscape, top/centre/bottom for portrait)."""
    scale = short_side / min(height, width)
    rh, rw = int(round(height * scale)), int(round(width * scale))
    boxes = []
    for i in range(num_crops):
        frac = 0.5 if num_crops == 1 else i / (num_crops - 1)
        top = int(round((rh - crop) * (frac if rh > rw else 0.5)))
        left = int(round((rw - crop) * (frac if rw >= rh else 0.5)))
        boxes.append(_scale_box(height, width, short_side, max(0, top), max(0, left), crop))
    return boxes


def crop_resize(frames: torch.Tensor, box: Box, crop: int) -> torch.Tensor:
    """(T, 3, H, W) uint8 -> (T, 3, crop, crop) uint8."""
    top, left, h, w = box
    return TF.resized_crop(frames, top, left, h, w, [crop, crop], antialias=True)


def to_tchw(frames: np.ndarray) -> torch.Tensor:
    """(T, H, W, 3) uint8 array -> (T, 3, H, W) uint8 tensor (a view, no copy)."""
    return torch.from_numpy(frames).permute(0, 3, 1, 2)


def to_cthw(frames: torch.Tensor) -> torch.Tensor:
    """(T, 3, H, W) -> (3, T, H, W), the layout clips travel in: a view (batching copies it anyway)."""
    return frames.permute(1, 0, 2, 3)


def normalization(mean: Sequence[float] = MEAN, std: Sequence[float] = STD) -> tuple[torch.Tensor, torch.Tensor]:
    """(scale, shift), float32 per channel (computed in float64), with which ``x * scale - shift``
    is ``(x / 255 - mean) / std`` for uint8 ``x``: every normalisation of gcvideo uses these."""
    std64 = torch.tensor(std, dtype=torch.float64)
    return (1.0 / (255.0 * std64)).float(), (torch.tensor(mean, dtype=torch.float64) / std64).float()


def normalize_clips(video: torch.Tensor, mean: Sequence[float] = MEAN, std: Sequence[float] = STD) -> torch.Tensor:
    """uint8 clips (..., 3, T, H, W) -> float32, (x/255 - mean) / std, computed as
    x * (1 / (255 std)) - mean / std: one converting copy and two in-place passes, on the
    clips' device. Training and single-view evaluation batches travel from the loader
    workers as uint8 (4x less to copy between processes) and are normalised here."""
    scale, shift = (c.view(3, 1, 1, 1).to(video.device) for c in normalization(mean, std))
    return video.float().mul_(scale).sub_(shift)


def normalize(frames: torch.Tensor, mean: Sequence[float] = MEAN, std: Sequence[float] = STD) -> torch.Tensor:
    """(T, 3, H, W) uint8 -> (3, T, H, W) float32, normalised (:func:`normalize_clips`)."""
    return normalize_clips(to_cthw(frames), mean, std)


def clip_augmentation(randaugment: int = 0, magnitude: int = 9, erasing: float = 0.0):
    """Modern-recipe augmentations of a uint8 clip (torchvision.transforms.v2 on a ``Video``: one
    draw for all its frames), or None when all are off (the paper's recipe): ``randaugment`` ops
    of RandAugment at ``magnitude``, then random erasing with probability ``erasing``."""
    from torchvision.transforms import v2

    ops = ([v2.RandAugment(num_ops=randaugment, magnitude=magnitude)] if randaugment > 0 else []) + \
        ([v2.RandomErasing(p=erasing, value=0)] if erasing > 0 else [])
    return v2.Compose(ops) if ops else None


def augment_clip(clip: torch.Tensor, augment, rng: np.random.Generator) -> torch.Tensor:
    """``augment`` on a (T, 3, H, W) uint8 clip, its randomness drawn from ``rng`` (so a clip's
    augmentation is a function of (seed, epoch, index), resumed runs included)."""
    from torchvision import tv_tensors

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(rng.integers(2 ** 62)))
        return augment(tv_tensors.Video(clip)).as_subclass(torch.Tensor)


def train_clip(frames: np.ndarray, rng: np.random.Generator, short_side_range=(256, 320),
               crop: int = 224, flip: bool = True, augment=None) -> torch.Tensor:
    """Training view, uint8 (3, T, crop, crop): short side random in the range, random crop, flip,
    then ``augment`` (:func:`clip_augmentation`) if given."""
    return train_view(frames, rng, short_side_range, crop, flip, augment)[0]


def train_view(frames: np.ndarray, rng: np.random.Generator, short_side_range=(256, 320),
               crop: int = 224, flip: bool = True, augment=None) -> tuple[torch.Tensor, bool]:
    """:func:`train_clip`'s view and whether it was flipped (what a label map needs to know)."""
    clip = to_tchw(frames)
    box = random_crop_box(clip.shape[2], clip.shape[3], short_side_range, crop, rng)
    clip = crop_resize(clip, box, crop)
    flipped = bool(flip and rng.random() < 0.5)
    if flipped:
        clip = clip.flip(-1)
    if augment is not None:
        clip = augment_clip(clip, augment, rng)
    return to_cthw(clip), flipped


def center_crop(frames: np.ndarray, short_side: int = 256, crop: int = 224) -> torch.Tensor:
    """(T, H, W, 3) uint8 -> (T, 3, crop, crop) uint8: short side ``short_side``, centre ``crop``."""
    clip = to_tchw(frames)
    box = spatial_crop_boxes(clip.shape[2], clip.shape[3], short_side, crop, 1)[0]
    return crop_resize(clip, box, crop)
