"""``InputSpec``: what a video network takes and how a video becomes its evaluation views.

One object for one set of facts. The data module builds it from its options, every checkpoint
stores those options (``datamodule_hyper_parameters``), and every reader of a checkpoint --
``predict``, the timeline, ``features``, ``visualize``, ``analyze``, the run report -- gets it
back from :meth:`InputSpec.from_options`: validated (a damaged or hand-edited checkpoint is one
line naming the option, as on the command line) and with every default resolved the same way:

* ``eval_short_side`` (the test scale) left unset is the smallest training short side, and
  ``test_crop_size`` left unset is ``eval_short_side`` (the paper's 256 / 256 for training at
  256-320 with 224 crops): the evaluation view follows the training scale;
* a test crop more than :data:`CROP_RATIO_LIMIT` times the training crop (or less than its
  inverse) is named in one warning: such a network is scored on views at another scale than it
  learnt, at the square of that ratio in compute.
"""
import math
import warnings
from dataclasses import asdict, dataclass
from typing import Mapping

from . import sampling
from .protocols import check_protocol

# the recipe's test crop is 256/224 = 1.14x its training crop; 2x is far from any recipe
CROP_RATIO_LIMIT = 2.0
MAX_SIDE = 2048            # pixels: a crop or short side beyond this is a typo, not a recipe
MAX_FRAMES = 1024


def parse_views(text) -> tuple[int, int]:
    """``"10x3"`` -> (10 clips, 3 crops)."""
    if isinstance(text, (tuple, list)) and len(text) == 2:
        text = f"{text[0]}x{text[1]}"
    try:
        clips, crops = (int(v) for v in str(text).lower().split("x"))
    except ValueError:
        raise ValueError(f"views must look like CLIPSxCROPS, e.g. 10x3, got {text!r}") from None
    if not (1 <= clips <= 100 and 1 <= crops <= 10):
        raise ValueError(f"views must be 1-100 clips x 1-10 crops, got {text!r}")
    return clips, crops


@dataclass(frozen=True)
class InputSpec:
    """A network's clip (``num_frames`` frames ``sampling_rate`` apart at ``target_fps``), its
    training scale and crop, and its evaluation view: short side, crop, clips x crops."""
    num_frames: int = 8
    sampling_rate: int = 8
    target_fps: float = 30.0
    train_short_side: tuple[int, int] = (256, 320)
    crop_size: int = 224
    eval_short_side: int = 256
    test_crop_size: int = 256
    test_views: tuple[int, int] = (10, 3)
    backend: str = "pyav"
    protocol: str = "gcvideo"  # whose test loader the views reproduce (gcvideo.data.protocols)
    sampling: str = "window"   # a clip's frames: a window, or one per segment (gcvideo.data.sampling)

    @classmethod
    def from_options(cls, options: Mapping, where: str = "data") -> "InputSpec":
        """The spec of data options (a data module's arguments, a checkpoint's
        ``datamodule_hyper_parameters``, a config's ``data`` section; other keys are ignored):
        defaults filled in, every value checked, a bad one a ``ValueError`` naming ``where.option``."""
        given = {k: v for k, v in options.items() if k in cls.__dataclass_fields__ and v is not None}
        try:
            low, high = (int(v) for v in given.get("train_short_side", cls.train_short_side))
        except (TypeError, ValueError):
            raise ValueError(f"{where}.train_short_side must be [min, max], got "
                             f"{given.get('train_short_side')!r}") from None
        eval_short_side = given.get("eval_short_side", low)
        spec = cls(**{**given, "train_short_side": (low, high), "eval_short_side": eval_short_side,
                      "test_crop_size": given.get("test_crop_size", eval_short_side),
                      "test_views": parse_views(given.get("test_views", cls.test_views))})
        spec.check(where)
        return spec

    def check(self, where: str = "data") -> None:
        for name, value, low, high in (("num_frames", self.num_frames, 1, MAX_FRAMES),
                                       ("sampling_rate", self.sampling_rate, 1, MAX_FRAMES),
                                       ("crop_size", self.crop_size, 1, MAX_SIDE),
                                       ("eval_short_side", self.eval_short_side, 1, MAX_SIDE),
                                       ("test_crop_size", self.test_crop_size, 1, MAX_SIDE)):
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                raise ValueError(f"{where}.{name} must be a whole number from {low} to {high}, got {value!r}")
        if not isinstance(self.target_fps, (int, float)) or not 0 < self.target_fps <= 1000 \
                or not math.isfinite(self.target_fps):
            raise ValueError(f"{where}.target_fps must be > 0 and <= 1000 frames per second, got {self.target_fps!r}")
        check_protocol(self.protocol, self.test_views[1], where, self.test_crop_size, self.eval_short_side)
        if self.sampling not in sampling.SAMPLINGS:
            raise ValueError(f"{where}.sampling must be one of {', '.join(sampling.SAMPLINGS)}, got {self.sampling!r}")
        if self.sampling == "segments" and self.protocol != "gcvideo":
            raise ValueError(f"{where}.sampling segments takes frames its own way: {where}.protocol "
                             f"{self.protocol} (a peer's Kinetics test loader) does not apply; leave it gcvideo")
        low, high = self.train_short_side
        if not 1 <= low <= high <= MAX_SIDE:
            raise ValueError(f"{where}.train_short_side is [min, max] with 1 <= min <= max <= {MAX_SIDE}, got "
                             f"{list(self.train_short_side)}")
        if self.crop_size > low:
            raise ValueError(f"{where}.crop_size {self.crop_size} is larger than the smallest training short side "
                             f"{low} ({where}.train_short_side): the crop would not fit")
        ratio = self.test_crop_size / self.crop_size
        if not 1 / CROP_RATIO_LIMIT <= ratio <= CROP_RATIO_LIMIT:
            warnings.warn(f"{where}.test_crop_size {self.test_crop_size} is {ratio:.2g}x {where}.crop_size "
                          f"{self.crop_size} (the paper's recipe: 256/224 = 1.14x): the network is scored on views at "
                          f"another scale than it learnt, at {ratio ** 2:.2g}x the compute per view; set "
                          f"{where}.test_crop_size and {where}.eval_short_side to the training scale", stacklevel=3)

    @property
    def clip(self) -> tuple[int, int, float]:
        """(num_frames, sampling_rate, target_fps): the arguments of :mod:`gcvideo.data.sampling`."""
        return self.num_frames, self.sampling_rate, self.target_fps

    @property
    def clip_span(self) -> float:
        """Seconds from a clip's first frame to its last."""
        return sampling.clip_span(*self.clip)

    @property
    def views(self) -> str:
        return "x".join(map(str, self.test_views))

    def with_views(self, views) -> "InputSpec":
        """The same spec with other ``test_views`` (``"10x3"`` or (10, 3))."""
        return InputSpec(**{**asdict(self), "test_views": parse_views(views)})

    def describe(self) -> str:
        """The evaluation view in words (printed beside every evaluation's numbers)."""
        clips, crops = self.test_views
        frames = (f"{self.num_frames} frames, one per segment" if self.sampling == "segments" else
                  f"{self.num_frames} frames every {self.sampling_rate} at {self.target_fps:g} fps")
        return (f"{clips}x{crops} views of {frames}, short side {self.eval_short_side}, {self.test_crop_size}-px crops"
                + (f", the {self.protocol} protocol" if self.protocol != "gcvideo" else ""))

    def evaluation_view(self) -> dict:
        """The evaluation view as recorded in ``metrics.json``."""
        return {"views": self.views, "num_frames": self.num_frames, "sampling_rate": self.sampling_rate,
                "target_fps": self.target_fps, "short_side": self.eval_short_side, "crop": self.test_crop_size,
                "train_crop": self.crop_size, "protocol": self.protocol,
                **({"sampling": self.sampling} if self.sampling == "segments" else {})}

    def options(self) -> dict:
        """As data options (the data module's argument names)."""
        return {**asdict(self), "train_short_side": list(self.train_short_side), "test_views": self.views}

