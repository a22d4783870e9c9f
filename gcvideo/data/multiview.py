"""Multi-view testing (the paper's 10 clips x 3 crops), each video decoded once.

View positions, for a video of duration D seconds at fps F, clips of T frames every
``r`` frames at 30 fps (span S = (T-1) r / 30):

* clip i of K starts at ``i * (D - 1/F - S) / (K - 1)`` seconds (i = 0..K-1; one clip:
  the centre), i.e. uniformly from the first to the last possible start;
* every frame is scaled so its short side is ``short_side`` (256); crop j of C is a
  ``crop`` x ``crop`` square at fraction ``j / (C - 1)`` along the long side (left,
  centre, right for landscape videos; top, centre, bottom for portrait), centred on
  the short side.

All K*T frames come from ONE decoding pass (``decode_clip`` with every requested time),
each resized on uint8 as it is decoded, and the K*C views are cut from that tensor by
:func:`iter_views` in chunks, so memory stays bounded for long videos.
"""
from typing import Iterator, Optional, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from . import decode, protocols, sampling, transforms

sampling_module = sampling          # decode_views has a ``sampling`` argument
from .records import ActionTargets, RecordTable, VideoRecord, class_targets


VIEW_SUBSETS = ((1, 1), (1, 3), (3, 3), (5, 3), (10, 3))


def view_subsets(clips: int, crops: int) -> dict[str, list[int]]:
    """For each smaller protocol of :data:`VIEW_SUBSETS` that fits in ``clips`` x ``crops`` (and the
    full one): the indices of its views among the decoded ones (clip-major, as :func:`iter_views`).
    Clips are the evenly spread ones nearest to that protocol's positions (one clip: the middle,
    ``clips // 2``), crops likewise (one crop: the centre) -- a subset of the views decoded once,
    so its clip positions differ slightly from a run with that many clips."""
    def spread(n: int, of: int) -> list[int]:
        return [of // 2] if n == 1 else [int(np.floor(x + 0.5)) for x in np.linspace(0, of - 1, n)]

    out = {}
    for k, c in VIEW_SUBSETS + ((clips, crops),):
        if k <= clips and c <= crops:
            out[f"{k}x{c}"] = [i * crops + j for i in spread(k, clips) for j in spread(c, crops)]
    return out


def view_times(info: decode.VideoInfo, num_frames: int, sampling_rate: int, clips: int,
               target_fps: float = 30.0, protocol: str = "gcvideo") -> list[np.ndarray]:
    return protocols.view_times(protocol, info, num_frames, sampling_rate, clips, target_fps)


def decode_views(path: str, num_frames: int, sampling_rate: int, clips: int, crops: int, short_side: int,
                 crop: int, target_fps: float = 30.0, backend: str = "pyav",
                 protocol: str = "gcvideo", sampling: str = "window",
                 timeout: Optional[float] = decode.DEFAULT_TIMEOUT) -> dict[str, object]:
    """Decode once; returns uint8 ``frames`` (K, T, 3, H', W') at short side ``short_side``
    and the crop ``boxes`` (top, left, size, size) in those frames, both as ``protocol``'s test
    loader takes them (:mod:`gcvideo.data.protocols`); ``sampling="segments"``: one frame per segment
    of the whole video (:mod:`gcvideo.data.sampling`)."""
    order = None
    segments = sampling == "segments"

    def sorted_times(info: decode.VideoInfo) -> np.ndarray:
        nonlocal order
        if segments:
            times = np.concatenate(sampling_module.segment_clips(info.duration, info.fps, num_frames, clips))
        else:
            sampling_module.require_clip(path, info, num_frames, sampling_rate, target_fps)
            times = np.concatenate(view_times(info, num_frames, sampling_rate, clips, target_fps, protocol))
        order = np.argsort(times, kind="stable")              # clips may overlap in short videos
        return times[order]

    # one open file; each frame is scaled as soon as it is decoded (memory does not grow with the
    # source resolution)
    decoded = decode.decode_clip(path, sorted_times, backend, short_side=max(short_side, crop), protocol=protocol,
                                 timeout=timeout)
    frames = np.empty_like(decoded)
    frames[order] = decoded
    tensor = transforms.to_tchw(frames)                       # (K*T, 3, H', W') uint8
    size = tensor.shape[-2:]
    boxes = protocols.crop_boxes(protocol, size[0], size[1], crop, crops)
    return {"frames": tensor.reshape(clips, num_frames, *tensor.shape[1:]), "boxes": boxes}


def iter_views(frames: torch.Tensor, boxes: Sequence[tuple[int, int, int, int]], chunk: int,
               mean=transforms.MEAN, std=transforms.STD) -> Iterator[torch.Tensor]:
    """Normalised views (n, 3, T, crop, crop), at most ``chunk`` at a time, clip-major order.

    Each chunk is filled by one uint8 -> float copy per view, then normalised in place
    (x * 1/(255 std) - mean/std): three passes over the views, no intermediate tensors.
    """
    clips, t, c = frames.shape[:3]
    views = [(k, box) for k in range(clips) for box in boxes]
    scale, shift = (v.view(1, c, 1, 1, 1) for v in transforms.normalization(mean, std))
    for first in range(0, len(views), chunk):
        part = views[first:first + chunk]
        h, w = part[0][1][2:]
        out = torch.empty(len(part), c, t, h, w)
        for j, (k, (top, left, _, _)) in enumerate(part):
            out[j].copy_(frames[k, :, :, top:top + h, left:left + w].permute(1, 0, 2, 3))
        yield out.mul_(scale).sub_(shift)


class MultiViewDataset(Dataset):
    """One item per video: its decoded views (or ``ok=False`` and the reason)."""

    def __init__(self, records: Sequence[VideoRecord], class_to_index: dict[str, int], *, num_frames: int = 8,
                 sampling_rate: int = 8, target_fps: float = 30.0, backend: str = "pyav", clips: int = 10,
                 crops: int = 3, short_side: int = 256, crop_size: int = 256, protocol: str = "gcvideo",
                 sampling: str = "window", timeout: Optional[float] = decode.DEFAULT_TIMEOUT) -> None:
        self.records, self.class_to_index = RecordTable.of(records), dict(class_to_index)
        self.targets = class_targets(self.records, class_to_index)
        self.actions = ActionTargets(self.records, class_to_index) if self.records.multi_label else None
        self.options = dict(num_frames=num_frames, sampling_rate=sampling_rate, clips=clips, crops=crops,
                            short_side=short_side, crop=crop_size, target_fps=target_fps, backend=backend,
                            protocol=protocol, sampling=sampling, timeout=timeout)

    @classmethod
    def of_spec(cls, records: Sequence[VideoRecord], class_to_index: dict[str, int], spec,
                timeout: Optional[float] = decode.DEFAULT_TIMEOUT) -> "MultiViewDataset":
        """The test views of a :class:`~gcvideo.data.spec.InputSpec`."""
        clips, crops = spec.test_views
        return cls(records, class_to_index, num_frames=spec.num_frames, sampling_rate=spec.sampling_rate,
                   target_fps=spec.target_fps, backend=spec.backend, clips=clips, crops=crops,
                   short_side=spec.eval_short_side, crop_size=spec.test_crop_size, protocol=spec.protocol,
                   sampling=spec.sampling, timeout=timeout)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, key: int) -> dict:
        index = int(key) % len(self.records)
        record = self.records[index]
        sample = {"index": index, "video_id": record.video_id, "path": record.path,
                  # multi-label: the video's classes (all its actions), a list of indices
                  "label": (int(self.targets[index]) if self.actions is None
                            else self.actions.classes(index).tolist()),
                  "ok": True, "reason": ""}
        try:
            sample.update(decode_views(record.path, **self.options))
        except decode.VideoError as err:
            sample.update(ok=False, reason=err.summary)
        return sample


def centre_view(path: str, spec):
    """The centre clip's centre crop of ``path``, as the test protocol's middle view sees it, for
    a checkpoint's :class:`~gcvideo.data.spec.InputSpec`: (uint8 (T, 3, crop, crop), frame times
    in s, the probe, the crop's box (top, left, h, w) in source pixels)."""
    info = decode.probe(path)
    times = sampling.test_times(info, spec.num_frames, spec.sampling_rate, 1, spec.target_fps, spec.sampling, path)[0]
    short_side, crop = spec.eval_short_side, spec.test_crop_size
    frames = decode.decode_at(path, times, spec.backend, max_short_side=decode.working_size(max(short_side, crop)))
    box = transforms.spatial_crop_boxes(info.height, info.width, short_side, crop, 1)[0]
    return transforms.center_crop(frames, short_side, crop), times, info, box
