"""``KineticsDataModule``: train/val/test loaders over any of the supported video layouts."""
import gc
import os
import warnings
from collections import Counter
from typing import Optional, Sequence, Union

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities import rank_zero_info
from torch.utils.data import DataLoader

from ..data.dataset import EpochSampler, VideoClipDataset
from ..data.decode import BACKENDS, DEFAULT_TIMEOUT, backend_missing, decode_in_one_thread, worker_context
from ..data.multiview import MultiViewDataset
from ..data.records import class_index, fingerprint, list_format, load_records, read_classes_file, sort_class_names
from ..data.spec import InputSpec
from ..data.transforms import clip_augmentation
from .inference import validate_command


# repeated augmentation draws 2-4 clips per video in its papers; a step holds batch_size x K clips
MAX_CLIPS_PER_VIDEO = 16


def worker_init(_worker_id: int) -> None:
    """First thing in every DataLoader worker: move everything inherited from the parent into
    the garbage collector's permanent generation. A full collection writes to every object it
    tracks, which copies each memory page holding them into the worker (the copy-on-read
    growth); frozen objects are never visited, so those pages stay shared. And PyAV decodes
    with one thread (:func:`gcvideo.data.decode.decode_in_one_thread`)."""
    gc.freeze()
    decode_in_one_thread()


VAL_NAMES = {"validate.csv": "val.csv", "val.csv": "validate.csv"}   # Kinetics' name, data synth's


def flip_index_map(pairs: Optional[dict], class_to_index: dict[str, int]) -> Optional[dict[int, int]]:
    """``{class index: mirrored class index}`` in both directions from pairs of class names, or None;
    ``ValueError`` naming an unknown class or a class paired twice."""
    if not pairs:
        return None
    out: dict[int, int] = {}
    for left, right in pairs.items():
        for name in (left, right):
            if str(name) not in class_to_index:
                raise ValueError(f"data.flip_label_map: {name!r} is not a class (classes: "
                                 f"{', '.join(list(class_to_index)[:5])}{', ...' if len(class_to_index) > 5 else ''})")
        a, b = class_to_index[str(left)], class_to_index[str(right)]
        for x, y in ((a, b), (b, a)):
            if out.get(x, y) != y:
                name = next(n for n, i in class_to_index.items() if i == x)
                raise ValueError(f"data.flip_label_map: {name!r} is in two pairs")
            out[x] = y
    return out


class KineticsDataModule(pl.LightningDataModule):
    """Kinetics-style data, all options plain arguments (usable without the CLI).

    Args:
        root: folder holding the videos (class folders or flat) and, by default, the lists.
        train: the training list: a Kinetics CSV, a "path label" list or a class-folder tree,
            relative to ``root`` unless absolute; ``None`` disables the split.
        val: the validation list (as ``train``).
        test: the test list (as ``train``).
        classes_file: class names in index order (default: sorted train labels).
        num_frames: frames per clip (paper: 8).
        sampling_rate: stride between a clip's frames at ``target_fps`` (paper: 8).
        target_fps: frame rate the clips are sampled at, whatever the video's (30).
        train_short_side: training scale: the short side is drawn from this range (256-320).
        crop_size: training crop (224).
        eval_short_side: validation/test scale before the crops (default: the smallest training short
            side, the paper's 256).
        backend: decoder, ``pyav``, ``decord`` or ``torchcodec`` (the same frames; torchcodec needs
            FFmpeg's shared libraries and is refused in one line without them), or ``torchcodec-cuda``:
            NVDEC on the GPU, frames scaled there (torchcodec's CUDA build; workers start by spawn).
        batch_size: clips per device per step (the lr scales with the total batch).
        num_workers: data-loading processes per device.
        seed: sampling and augmentation seed (with the epoch and video index).
        max_retries: bad training videos replaced in a row before giving up.
        test_views: views per video for ``test`` and the ``validate`` command, CLIPSxCROPS
            (paper: 10x3; 1x1 = the single centre view). Validation during ``fit`` is
            always single-view.
        test_crop_size: crop of each test view (default: ``eval_short_side``, the paper's 256 at 256).
            A test crop more than 2x the training crop (or less than half) is named in a warning.
        randaugment: RandAugment ops per training clip, 0 = off (the paper's recipe has none);
            torchvision.transforms.v2 on the uint8 clip, one draw for all its frames, drawn from
            (seed, epoch, video).
        randaugment_magnitude: RandAugment magnitude (0-30).
        random_erasing: probability of random erasing per training clip, 0 = off.
        clips_per_video: repeated augmentation: K training clips per decoded video, each with its own
            window, crop, flip and augmentation (drawn from seed, epoch, video, k). An epoch still
            counts videos; a step holds batch_size x K clips, and the lr scales with those clips.
        flip: random horizontal flip of training clips (Kinetics: on). Off for data whose labels
            name a direction (Something-Something's "from left to right"), unless ``flip_label_map``
            says what a flipped clip becomes.
        flip_label_map: the classes a horizontal flip turns into each other, as pairs of class
            names (``{left_class: right_class}``, either way round; mmaction2's ``flip_label_map``
            with names), or the path (relative to ``root`` unless absolute) of a JSON or YAML file
            holding them: a flipped training clip carries the mirrored class. A name that is not
            a class, or a class in two pairs, is refused in one line.
        sampling: where a clip's frames are: ``window`` (``num_frames`` frames ``sampling_rate``
            apart at ``target_fps``, the Kinetics recipes') or ``segments`` (the whole video cut
            into ``num_frames`` equal segments, one frame from each: random in training, the centre
            in testing, test clip k of K at (k + 1/2)/K of each segment; TSN/TSM and PySlowFast's
            Something-Something convention; ``sampling_rate`` and ``target_fps`` unused).
        decode_timeout: seconds one video's decode may take (120); past it the video is abandoned --
            replaced in training, listed in ``failures.csv`` with the reason ``timeout`` in
            evaluation -- and the job goes on (a file on a hung mount, a pipe nobody writes, a
            decoder stuck in C code). ``null``: no bound.
        protocol: whose test loader the multi-view evaluation reproduces, frame for frame and crop
            for crop: ``gcvideo`` (clips from the first to the last possible start, frames exactly
            ``sampling_rate`` apart), ``pyslowfast``, ``pytorchvideo`` or ``mmaction2`` (that
            codebase's Kinetics test clips and crops; see :mod:`gcvideo.data.protocols`).
    """

    def __init__(self, root: str, train: Optional[str] = "train.csv", val: Optional[str] = "val.csv",
                 test: Optional[str] = "test.csv", classes_file: Optional[str] = None,
                 num_frames: int = 8, sampling_rate: int = 8, target_fps: float = 30.0,
                 train_short_side: tuple[int, int] = (256, 320), crop_size: int = 224,
                 eval_short_side: Optional[int] = None, backend: str = "pyav", batch_size: int = 8,
                 num_workers: int = 4, seed: int = 0, max_retries: int = 10,
                 test_views: str = "10x3", test_crop_size: Optional[int] = None, randaugment: int = 0,
                 randaugment_magnitude: int = 9, random_erasing: float = 0.0, clips_per_video: int = 1,
                 protocol: str = "gcvideo", flip: bool = True,
                 flip_label_map: Optional[Union[dict[str, str], str]] = None, sampling: str = "window",
                 decode_timeout: Optional[float] = DEFAULT_TIMEOUT) -> None:
        super().__init__()
        self.save_hyperparameters()      # stored in checkpoints: `gcvideo predict` reads the clip options
        if backend not in BACKENDS:
            raise ValueError(f"data.backend: unknown video backend {backend!r}; choose one of {list(BACKENDS)}")
        missing = backend_missing(backend)         # torchcodec without its package or FFmpeg's libraries
        if missing:
            raise ValueError(missing)
        # the clip, the training scale and the evaluation view: checked, defaults resolved
        self.spec = InputSpec.from_options(dict(
            num_frames=num_frames, sampling_rate=sampling_rate, target_fps=target_fps, backend=backend,
            train_short_side=train_short_side, crop_size=crop_size, eval_short_side=eval_short_side,
            test_crop_size=test_crop_size, test_views=test_views, protocol=protocol, sampling=sampling))
        if batch_size < 1:
            raise ValueError(f"data.batch_size must be >= 1, got {batch_size}")
        if randaugment < 0 or not 0 <= random_erasing <= 1:
            raise ValueError(f"data.randaugment must be >= 0 and data.random_erasing in [0, 1], got "
                             f"{randaugment}, {random_erasing}")
        if not 1 <= clips_per_video <= MAX_CLIPS_PER_VIDEO:
            raise ValueError(f"data.clips_per_video must be 1-{MAX_CLIPS_PER_VIDEO} (repeated augmentation uses 2-4; "
                             f"a step holds data.batch_size x K clips), got {clips_per_video}")
        if num_workers < 0:
            raise ValueError(f"data.num_workers must be >= 0, got {num_workers}")
        self.test_views = self.spec.test_views
        self.test_crop_size = self.spec.test_crop_size
        if not os.path.isdir(root):
            raise FileNotFoundError(f"data.root: video folder not found: {root}")
        self.root = root
        self.splits = {"train": train, "val": val, "test": test}
        if decode_timeout is not None and not 0 < decode_timeout < float("inf"):
            raise ValueError(f"data.decode_timeout must be seconds > 0 (or null: no bound), got {decode_timeout}")
        self.decode_timeout = decode_timeout
        if flip_label_map is not None and not flip:
            raise ValueError("data.flip_label_map needs data.flip true: without flips no label is mirrored")
        self.clip_options = dict(num_frames=num_frames, sampling_rate=sampling_rate, target_fps=target_fps,
                                 backend=backend, train_short_side=self.spec.train_short_side,
                                 crop_size=crop_size, eval_short_side=self.spec.eval_short_side,
                                 max_retries=max_retries, seed=seed, flip=flip, sampling=self.spec.sampling,
                                 decode_timeout=decode_timeout,
                                 augment=clip_augmentation(randaugment, randaugment_magnitude, random_erasing))
        self.batch_size, self.num_workers, self.seed = batch_size, num_workers, seed
        self.clips_per_video = clips_per_video
        self._tables: dict = {}
        self._fingerprints: dict[str, dict] = {}
        if classes_file:
            names = read_classes_file(self._path(classes_file))
        else:
            first = next((k for k in ("train", "val", "test") if self.splits[k]), None)
            if first is None:
                raise ValueError("data: give at least one of train/val/test, or a classes_file")
            # without a classes file every label is a name (integers too), so this table is the split's
            # records as-is: keep it instead of indexing the list a second time
            self._tables[first] = self.records(first, classes=())
            names = sort_class_names(self._tables[first].class_counts())
        self.class_to_index = class_index([], names)
        self._datasets: dict[str, VideoClipDataset] = {}
        self.flip_map = flip_index_map(self._flip_pairs(flip_label_map), self.class_to_index)

    def _flip_pairs(self, value) -> Optional[dict]:
        """``data.flip_label_map`` as a dict of class names (a file's content when it names one)."""
        if value is None or isinstance(value, dict):
            return value
        path = self._path(str(value))
        try:
            import yaml

            with open(path, encoding="utf-8") as f:
                pairs = yaml.safe_load(f)                # JSON is YAML
        except OSError as err:
            raise FileNotFoundError(f"data.flip_label_map: cannot read {path}: {err.strerror}") from None
        except yaml.YAMLError as err:
            raise ValueError(f"data.flip_label_map: {path} is not JSON or YAML: {str(err).splitlines()[0]}") from None
        if not isinstance(pairs, dict):
            raise ValueError(f"data.flip_label_map: {path} must hold a mapping of class names, not "
                             f"{type(pairs).__name__}")
        return pairs

    @property
    def classes(self) -> list[str]:
        return list(self.class_to_index)

    @property
    def num_classes(self) -> int:
        return len(self.class_to_index)

    @property
    def multi_label(self) -> bool:
        """Whether the lists give each video a set of classes (Charades: multi-hot targets, sigmoid
        scores, mAP) rather than one; linked to ``model.multi_label`` by the command line."""
        for split in ("train", "val", "test"):       # the first list there is (a test run may lack the others)
            if self.splits[split]:
                try:
                    return self.records(split).multi_label
                except FileNotFoundError:
                    continue
        return False

    def _path(self, name: str) -> str:
        return name if os.path.isabs(name) else os.path.join(self.root, name)

    def check_list(self, split: str) -> str:
        """The path of ``split``'s list; ``FileNotFoundError``/``ValueError`` naming the option when
        it is missing or not set (a command checks its lists before it starts any work). The
        validation list's two usual names are one: ``validate.csv`` (Kinetics' own, the recipes')
        missing, ``val.csv`` beside it (``gcvideo data synth``'s) is read, and the other way round,
        and the log says so."""
        source = self.splits[split]
        if source is None:
            raise ValueError(f"data.{split} is not set")
        path = self._path(source)
        if not os.path.exists(path) and list_format(path) != "hmdb51":     # HMDB51: SPLITS/train_splitN
            folder, name = os.path.split(path)
            other = os.path.join(folder, VAL_NAMES.get(name, name))
            if other == path or not os.path.isfile(other):
                raise FileNotFoundError(f"data.{split}: list not found: {path}")
            rank_zero_info(f"data.{split}: {name} not found; reading {os.path.basename(other)} beside it "
                           "(the validation list's other usual name)")
            self.splits[split] = os.path.join(os.path.dirname(source), os.path.basename(other))
            path = other
        return path

    def records(self, split: str, classes: Optional[Sequence[str]] = None):
        path = self.check_list(split)
        if classes is not None:
            return load_records(path, self.root, classes or None)
        if split not in self._tables:
            self._tables[split] = load_records(path, self.root, self.classes)
        return self._tables[split]

    def fingerprint(self, split: str) -> dict:
        """Which copy of the data a split is: rows, videos present, hash of (video id, size)."""
        if split not in self._fingerprints:
            self._fingerprints[split] = fingerprint(self.records(split))
        return self._fingerprints[split]

    def known_records(self, split: str):
        """The split's records, refused before any decoding if a label is not a class (it would
        be a KeyError in a worker after every other video was decoded)."""
        records = self.records(split)
        if not records.present.any():
            raise ValueError(f"data.{split} ({self._path(self.splits[split])}): none of its {len(records)} videos "
                             f"exist (first: {records.path(0)}); check data.root")
        if records.multi_label != self.multi_label:
            raise ValueError(f"data.{split} ({self._path(self.splits[split])}) is "
                             f"{'multi-label' if records.multi_label else 'single-label'}, the other lists are not")
        unknown = Counter({n: c for n, c in records.class_counts().items() if c and n not in self.class_to_index})
        if unknown:
            listed = ", ".join(f"{label!r} ({n})" for label, n in unknown.most_common(5))
            raise ValueError(f"data.{split} ({self._path(self.splits[split])}): {sum(unknown.values())} video(s) "
                             f"have labels that are not among the {self.num_classes} classes: {listed}"
                             f"{' ...' if len(unknown) > 5 else ''}")
        return records

    def check_clip_fits(self, split: str, sample: int = 8) -> None:
        """A ``ValueError`` before training when none of the split's first ``sample`` present
        videos holds one clip (``num_frames`` x ``sampling_rate`` at ``target_fps``): otherwise
        every video would be replaced as too short, and the run would stop inside a worker."""
        from ..data import decode, sampling

        if self.spec.sampling == "segments":          # one frame per segment: any video fits
            return
        records = self.records(split)
        paths = [records.path(i) for i in np.flatnonzero(records.present)[:sample]]
        durations = []
        for path in paths:
            try:
                info = decode.probe(path)
            except decode.VideoError:
                continue
            if sampling.too_short(info.duration, info.fps, *self.spec.clip) is None:
                return
            durations.append(info.duration)
        if durations:
            spec = self.spec
            raise ValueError(f"data.{split}: none of the first {len(durations)} readable videos holds one clip "
                             f"(data.num_frames {spec.num_frames} x data.sampling_rate {spec.sampling_rate} at "
                             f"{spec.target_fps:g} fps = {spec.clip_span:.2f} s; the longest is {max(durations):.2f} s): "
                             "lower data.sampling_rate or data.num_frames")

    def dataset(self, split: str) -> VideoClipDataset:
        if split not in self._datasets:
            if split == "train":
                self.check_clip_fits(split)
            mode = "train" if split == "train" else "val"
            self._datasets[split] = VideoClipDataset(self.known_records(split), self.class_to_index, mode,
                                                     **self.clip_options, clips_per_video=self.clips_per_video,
                                                     flip_map=self.flip_map)
        return self._datasets[split]

    def multiview_dataset(self, split: str) -> MultiViewDataset:
        key = f"{split}_multiview"
        if key not in self._datasets:
            self._datasets[key] = MultiViewDataset.of_spec(self.known_records(split), self.class_to_index, self.spec,
                                                           self.decode_timeout)
        return self._datasets[key]

    def _world(self):
        """(ranks, this rank) of the trainer's run; the samplers split the videos over them
        (the Trainer needs ``use_distributed_sampler=False``: ``VideoClassifier`` checks)."""
        return (self.trainer.world_size, self.trainer.global_rank) if self.trainer is not None else (1, 0)

    def _worker_context(self) -> Optional[str]:
        return worker_context(self.spec.backend) if self.num_workers > 0 else None

    def _multiview_loader(self, split: str) -> DataLoader:
        """One video per item (no collation): its views are batched by the model."""
        data = self.multiview_dataset(split)
        replicas, rank = self._world()
        sampler = EpochSampler(len(data), shuffle=False, pad=False, num_replicas=replicas, rank=rank)
        return DataLoader(data, batch_size=None, sampler=sampler, num_workers=self.num_workers,
                          persistent_workers=False, worker_init_fn=worker_init,
                          multiprocessing_context=self._worker_context())

    def _loader(self, split: str) -> DataLoader:
        data = self.dataset(split)
        replicas, rank = self._world()
        train = split == "train"
        sampler = EpochSampler(len(data), shuffle=train, seed=self.seed, pad=train,
                               num_replicas=replicas, rank=rank)
        if train:
            sampler.resume_at = getattr(self, "_resume_at", None)
        return DataLoader(data, batch_size=self.batch_size, sampler=sampler, num_workers=self.num_workers,
                          worker_init_fn=worker_init, drop_last=train and len(sampler) >= self.batch_size,
                          multiprocessing_context=self._worker_context(),
                          pin_memory=torch.cuda.is_available(),
                          # the epoch travels in the sampled keys, so workers can live on
                          persistent_workers=self.num_workers > 0)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train")

    def _protocol_loader(self, split: str) -> DataLoader:
        single = self.test_views == (1, 1) and self.spec.protocol == "gcvideo"     # the same view, batched
        return self._loader(split) if single else self._multiview_loader(split)

    def val_dataloader(self) -> DataLoader:
        return self._protocol_loader("val") if validate_command(self.trainer) else self._loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._protocol_loader("test")

    def state_dict(self) -> dict:
        """Saved in every checkpoint: the classes, which copy of the data trained it, and where in
        its epoch training stood (training batches done; a mid-epoch checkpoint resumes there)."""
        splits = [s for s in ("train", "val") if self.splits[s]]
        state = {"classes": self.classes, "fingerprints": {s: self.fingerprint(s) for s in splits}}
        if self.trainer is not None and self.trainer.training:
            state["position"] = dict(zip(("epoch", "batches"), self._epoch_position()))
        return state

    def on_before_batch_transfer(self, batch, dataloader_idx: int):
        """Counts the training batches of the epoch (Lightning calls this once per training step,
        before the step; a checkpoint is saved between steps, so the count is the batches done)."""
        if self.trainer is not None and self.trainer.training:
            epoch, batches = self._epoch_position()
            self._position = (epoch, batches + 1)
        return batch

    def _epoch_position(self) -> tuple[int, int]:
        """(this epoch, training batches done in it): resumed mid-epoch, counted on from the checkpoint's."""
        epoch, batches = getattr(self, "_position", (None, 0))
        now = self.trainer.current_epoch
        return (now, batches) if epoch == now else (now, 0)

    def load_state_dict(self, state: dict) -> None:
        position = state.get("position")
        if position:
            self._position = (int(position["epoch"]), int(position["batches"]))
            self._resume_at = (self._position[0], self._position[1] * self.batch_size)
        saved = state.get("classes")
        if saved is not None and list(saved) != self.classes:
            raise ValueError(f"the checkpoint was trained on {len(saved)} classes that differ from this "
                             f"data's {self.num_classes} (first difference at "
                             f"{next((i for i, (a, b) in enumerate(zip(saved, self.classes)) if a != b), min(len(saved), self.num_classes))})")
        for split, before in (state.get("fingerprints") or {}).items():
            now = self.fingerprint(split) if self.splits.get(split) else before
            if before != now:
                warnings.warn(f"data.{split} is not the copy this checkpoint was trained on: {before['rows']} rows, "
                              f"{before['present']} present, sha256 {before['sha256']} then; {now['rows']} rows, "
                              f"{now['present']} present, sha256 {now['sha256']} now", stacklevel=2)
