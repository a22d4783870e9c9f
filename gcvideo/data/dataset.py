"""Clip datasets over a list of videos, robust to broken files.

Training (``mode="train"``): a random clip of each video; a video that cannot give
one (missing, empty, unreadable, truncated, too short, ...) is replaced by another
random video, logged once per file, counted in the sample's ``replaced`` field, and
after ``max_retries`` consecutive failures a clear error names the last file.
Evaluation (``mode="val"``): the centre clip; a bad video is returned with
``ok=False`` and its ``reason``, never dropped, so reports can list it.

Randomness is a function of (seed, epoch, index) only -- :class:`EpochSampler`
passes the epoch in the index -- so runs are reproducible for any number of
workers and a resumed run continues exactly where it stopped.
"""
import logging
import math
from typing import Iterator, Optional, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from . import decode, sampling, transforms
from .records import ActionTargets, RecordTable, VideoRecord, class_targets

log = logging.getLogger("gcvideo.data")


class VideoClipDataset(Dataset):
    def __init__(self, records: Sequence[VideoRecord], class_to_index: dict[str, int],
                 mode: str = "train", *, num_frames: int = 8, sampling_rate: int = 8,
                 target_fps: float = 30.0, backend: str = "pyav",
                 train_short_side: Sequence[int] = (256, 320), crop_size: int = 224,
                 eval_short_side: int = 256, flip: bool = True, max_retries: int = 10,
                 seed: int = 0, augment=None, clips_per_video: int = 1,
                 flip_map: Optional[dict[int, int]] = None, sampling: str = "window",
                 decode_timeout: Optional[float] = decode.DEFAULT_TIMEOUT) -> None:
        if mode not in ("train", "val"):
            raise ValueError(f"mode must be 'train' or 'val', got {mode!r}")
        if backend not in decode.BACKENDS:
            raise ValueError(f"unknown video backend {backend!r}; choose one of {list(decode.BACKENDS)}")
        self.records = RecordTable.of(records)        # numpy arrays: workers share, not copy, its pages
        unknown = sorted(n for n in self.records.class_counts() if n not in class_to_index)
        if unknown:
            raise ValueError(f"{len(unknown)} label(s) not among the {len(class_to_index)} classes, "
                             f"e.g. {unknown[:3]}")
        self.targets = class_targets(self.records, class_to_index)
        # multi-label (Charades): a clip's target is the multi-hot of the actions its frames overlap
        self.actions = ActionTargets(self.records, class_to_index) if self.records.multi_label else None
        self.class_to_index, self.mode = dict(class_to_index), mode
        self.num_frames, self.sampling_rate, self.target_fps = num_frames, sampling_rate, target_fps
        self.backend, self.crop_size, self.flip = backend, crop_size, flip
        self.flip_map = dict(flip_map or {})          # class index -> its mirror's (data.flip_label_map)
        self.sampling = sampling                      # "window" or "segments" (gcvideo.data.sampling)
        self.decode_timeout = decode_timeout          # seconds; a decode past it is a "timeout" video
        self.train_short_side, self.eval_short_side = tuple(train_short_side), eval_short_side
        self.max_retries, self.seed = max_retries, seed
        if clips_per_video < 1:
            raise ValueError(f"clips_per_video must be >= 1, got {clips_per_video}")
        self.clips_per_video = clips_per_video if mode == "train" else 1
        self.augment = augment if mode == "train" else None     # transforms.clip_augmentation
        self._bad: set = set()  # indices known bad (per worker process)

    def __len__(self) -> int:
        return len(self.records)

    def label_of(self, index: int) -> int:
        return int(self.targets[index])

    def target(self, index: int, times: Optional[np.ndarray] = None, flipped: bool = False):
        """Video ``index``'s target: its class index (a flipped clip's mirrored class, where
        ``flip_map`` names one); multi-label, a float multi-hot of the actions overlapping ``times``
        (seconds; None: all of them, the video-level label)."""
        if self.actions is None:
            label = self.label_of(index)
            return self.flip_map.get(label, label) if flipped else label
        classes = self.actions.classes(index, times)
        if flipped:
            classes = [self.flip_map.get(int(c), int(c)) for c in classes]
        return torch.from_numpy(self.actions.multi_hot(classes))

    def load_clip(self, index: int, rng: Optional[np.random.Generator] = None) -> torch.Tensor:
        """(3, T, crop, crop) uint8 clip of video ``index`` (normalised on the device by the model:
        ``transforms.normalize_clips``); raises ``decode.VideoError``."""
        if self.mode == "train":                    # one random clip: repeated augmentation with K = 1
            return self.load_clips(index, [rng])[0]
        path = self.records.path(index)

        def times(info: decode.VideoInfo) -> np.ndarray:   # from the headers of the file being decoded
            return sampling.test_times(info, self.num_frames, self.sampling_rate, 1, self.target_fps,
                                       self.sampling, path)[0]

        frames = decode.decode_clip(path, times, self.backend,
                                    max_short_side=decode.working_size(max(self.eval_short_side, self.crop_size)),
                                    timeout=self.decode_timeout)
        return transforms.to_cthw(transforms.center_crop(frames, self.eval_short_side, self.crop_size))

    def load_clips(self, index: int, rngs: Sequence[np.random.Generator]) -> torch.Tensor:
        """Repeated augmentation: (K, 3, T, crop, crop) uint8, K training clips of video ``index``
        from one decoding pass, clip k with its own window, crop, flip and augmentation drawn
        from ``rngs[k]``; raises ``decode.VideoError``."""
        return self.load_views(index, rngs)[0]

    def load_views(self, index: int, rngs: Sequence[np.random.Generator]
                   ) -> tuple[torch.Tensor, list[bool], list[np.ndarray]]:
        """:meth:`load_clips`' clips, whether each was flipped and each one's frame times (s)."""
        path, windows = self.records.path(index), []

        def times(info: decode.VideoInfo) -> np.ndarray:
            windows[:] = [sampling.train_times(info, self.num_frames, self.sampling_rate, rng, self.target_fps,
                                               self.sampling, path) for rng in rngs]
            return np.sort(np.concatenate(windows), kind="stable")

        decoded = decode.decode_clip(path, times, self.backend,      # the K windows' frames, in time order
                                     max_short_side=decode.working_size(max(max(self.train_short_side), self.crop_size)),
                                     timeout=self.decode_timeout)
        frames = np.empty_like(decoded)
        frames[np.argsort(np.concatenate(windows), kind="stable")] = decoded       # back to window order
        t = self.num_frames
        views = [transforms.train_view(frames[k * t:(k + 1) * t], rng, self.train_short_side, self.crop_size,
                                       self.flip, self.augment) for k, rng in enumerate(rngs)]
        return torch.stack([clip for clip, _ in views]), [flipped for _, flipped in views], windows

    def __getitem__(self, key: int) -> dict:
        epoch, index = divmod(int(key), len(self.records))
        rng = np.random.default_rng([self.seed, epoch, index])
        # K > 1: clip k draws from (seed, epoch, video, k); K = 1 keeps the one-clip draws
        rngs = [np.random.default_rng([self.seed, epoch, index, k]) for k in range(self.clips_per_video)]
        if self.mode == "val":
            try:
                return self._sample(index, self.load_clip(index), ok=True)
            except decode.VideoError as err:
                return self._sample(index, self._blank(), ok=False, reason=err.summary)
        tried = index
        for attempt in range(self.max_retries + 1):
            try:
                clips, flipped, windows = self.load_views(tried, rngs if self.clips_per_video > 1 else [rng])
                # a mirrored clip of a directed class: its mirror; multi-label: the actions of its frames
                labels = [self.target(tried, times, f) for f, times in zip(flipped, windows)]
                sample = self._sample(tried, clips if self.clips_per_video > 1 else clips[0], ok=True,
                                      replaced=attempt)
                sample["label"] = (torch.stack(labels) if self.actions is not None else torch.tensor(labels)) \
                    if self.clips_per_video > 1 else labels[0]
                return sample
            except decode.VideoError as err:
                if tried not in self._bad:
                    self._bad.add(tried)
                    log.warning("skipping bad training video %s", err)
                last = err
                tried = self._replacement(rng)
        raise BadVideos(f"{self.max_retries + 1} videos in a row failed to load; last: {last}. "
                        "The list holds bad files: gcvideo.data.check.scan finds them all")

    def _replacement(self, rng: np.random.Generator) -> int:
        """A random index, avoiding videos this process already found bad."""
        for _ in range(100):
            index = int(rng.integers(len(self.records)))
            if index not in self._bad:
                return index
        return index

    def _blank(self) -> torch.Tensor:
        return torch.zeros(3, self.num_frames, self.crop_size, self.crop_size, dtype=torch.uint8)

    def _sample(self, index: int, video: torch.Tensor, ok: bool, reason: str = "", replaced: int = 0) -> dict:
        record = self.records[index]
        return {"video": video, "label": self.target(index), "index": index, "ok": ok,
                "reason": reason, "replaced": replaced, "video_id": record.video_id, "path": record.path}


class BadVideos(ValueError):
    """Too many training videos in a row could not be loaded. One line also when raised in a
    DataLoader worker (the main process re-raises it with the worker's traceback in the text)."""

    def __str__(self) -> str:
        text = super().__str__()
        if "Traceback" in text:                      # torch's worker wrapper: keep our own last line
            mark = f"{type(self).__name__}: "
            lines = [line for line in text.splitlines() if mark in line]
            text = lines[-1].split(mark, 1)[1] if lines else text.strip().splitlines()[-1]
        return text


def world(replicas: Optional[int] = None, rank: Optional[int] = None) -> tuple[int, int]:
    """(number of ranks, this rank): as given, else torch.distributed's when a process group is
    initialised, else (1, 0)."""
    if replicas is not None:
        return replicas, rank or 0
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_world_size(), torch.distributed.get_rank()
    return 1, 0


class EpochSampler(Sampler[int]):
    """Indices for one epoch, encoded as ``epoch * len(dataset) + index``.

    ``shuffle``: a permutation drawn from (seed, epoch). Under torch.distributed the
    indices are split over ranks: for training, padded to equal length (as
    DistributedSampler); for evaluation (``pad=False``) each video goes to exactly
    one rank, so nothing is evaluated twice. Lightning calls ``set_epoch``. ``resume_at``
    (epoch, n): in that epoch, the first n indices of this rank are skipped (a run resumed from
    a checkpoint saved mid-epoch sees exactly the rest); the length stays the epoch's.
    """

    def __init__(self, size: int, shuffle: bool, seed: int = 0, pad: bool = True,
                 num_replicas: Optional[int] = None, rank: Optional[int] = None) -> None:
        self.size, self.shuffle, self.seed, self.pad = size, shuffle, seed, pad
        self._replicas, self._rank = num_replicas, rank
        self.epoch = 0
        self.resume_at: Optional[tuple[int, int]] = None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _world(self):
        return world(self._replicas, self._rank)

    def indices(self) -> list[int]:
        order = (np.random.default_rng([self.seed, self.epoch]).permutation(self.size)
                 if self.shuffle else np.arange(self.size))
        replicas, rank = self._world()
        if self.pad and replicas > 1:
            total = math.ceil(self.size / replicas) * replicas
            order = np.concatenate([order, order[: total - self.size]])
        return [int(i) for i in order[rank::replicas]]

    def __iter__(self) -> Iterator[int]:
        indices = self.indices()
        if self.resume_at is not None and self.resume_at[0] == self.epoch:
            indices = indices[self.resume_at[1]:]
        return iter(self.epoch * self.size + i for i in indices)

    def __len__(self) -> int:
        replicas, rank = self._world()
        if self.pad:
            return math.ceil(self.size / replicas)
        return len(range(rank, self.size, replicas))
