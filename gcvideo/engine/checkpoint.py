"""Reading and writing gcvideo checkpoints: the network and the data options a checkpoint was
trained with, one-line errors for unreadable or foreign files, atomic saves.

Loading never executes code: every read goes through :func:`read_checkpoint`, which unpickles
with ``torch.load(weights_only=True)``. gcvideo's checkpoints hold only tensors, containers,
numbers and strings (the types ``weights_only`` allows by default), so ``SAFE_GLOBALS`` is
empty; a file that needs any other type is refused in one line naming it. ``trust=True``
(``--trust_checkpoint`` on the command line) loads such a file anyway, with full pickle:
only for files from a source you trust.
"""
import glob
import inspect
import os
from typing import Optional

import torch
from pytorch_lightning.plugins.io import TorchCheckpointIO

from ..data.spec import InputSpec
from ..files import WriteFailed
from ..models.serialization import UnsafeFile, first_line, load_torch_file
from .compat import upgrade_checkpoint
from .module import VideoClassifier


# Types allowed beyond weights_only's defaults: none (tests/test_engine_trust.py::
# test_a_trained_checkpoint_holds_only_plain_types checks that a trained checkpoint holds nothing
# else). Add a type here only with a test.
SAFE_GLOBALS: list = []
TRUST_OPTION = "--trust_checkpoint"


UnsafeCheckpoint = UnsafeFile     # a checkpoint that needs a type outside the allow-list


def load_classifier(ckpt_path: str, trust: bool = False) -> tuple[VideoClassifier, InputSpec]:
    """The checkpoint's VideoClassifier (eval mode) and its :class:`~gcvideo.data.spec.InputSpec`
    (the clip, scale and evaluation view it was trained with, checked as on the command line).
    Anything wrong with the file is one ``ValueError`` line naming it and the first thing that does
    not fit; non-finite weights (a diverged run) are refused too. ``trust``: see :func:`read_checkpoint`."""
    checkpoint = read_checkpoint(ckpt_path, trust)
    check_finite(checkpoint, ckpt_path)
    hparams = checkpoint.get("hyper_parameters")
    if not isinstance(hparams, dict) or "model" not in hparams:
        raise ValueError(f"{ckpt_path} is a Lightning checkpoint but not a gcvideo one (no model in its "
                         "hyper_parameters); for plain weights use --model.pretrained in fit")
    # Weights come from the checkpoint: do not re-read the files used to initialise training.
    known = inspect.signature(VideoClassifier).parameters     # not LightningCLI's _instantiator
    try:
        module = VideoClassifier(**{**{k: v for k, v in hparams.items() if k in known},
                                    "pretrained": None, "inflate_from": None})
    except (TypeError, ValueError, KeyError) as err:
        raise ValueError(f"{ckpt_path}: its hyper_parameters do not build a network: "
                         f"{str(err).splitlines()[0] if str(err) else type(err).__name__}") from None
    check_fits(checkpoint, module, ckpt_path)
    module.load_state_dict(checkpoint["state_dict"])
    data = checkpoint.get("datamodule_hyper_parameters")
    try:
        spec = InputSpec.from_options(data if isinstance(data, dict) else {}, "data")
    except (TypeError, ValueError) as err:
        raise ValueError(f"{ckpt_path}: its data options are not usable: {err}") from None
    return module.eval(), spec


def read_checkpoint(path: str, trust: bool = False) -> dict:
    """The checkpoint dict in ``path``, or a one-line ``ValueError`` that names the file and
    what is wrong with it (truncated, not a PyTorch file, not a Lightning checkpoint, or an
    :class:`UnsafeCheckpoint`: it holds a type outside ``SAFE_GLOBALS``). Unpickling runs no
    code unless ``trust`` is true (then any pickled object is rebuilt: trusted files only)."""
    checkpoint = load_torch_file(path, "checkpoint", trust, TRUST_OPTION, SAFE_GLOBALS)
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise ValueError(f"{path} is a PyTorch file but not a Lightning checkpoint (no state_dict)")
    if not isinstance(checkpoint["state_dict"], dict):
        raise ValueError(f"{path} is not a usable checkpoint: its state_dict is a "
                         f"{type(checkpoint['state_dict']).__name__}, not a dict of tensors")
    return upgrade_checkpoint(checkpoint, path)          # what earlier versions wrote: engine.compat


def check_finite(checkpoint: dict, path: str) -> None:
    """``ValueError`` naming the first weight with a NaN or infinite value: a diverged run's
    checkpoint would score every video with NaN."""
    for key, value in checkpoint["state_dict"].items():
        if torch.is_tensor(value) and value.is_floating_point() and not torch.isfinite(value).all():
            raise ValueError(f"{path} holds non-finite weights ({key} has NaN or inf values): the run that wrote "
                             "it diverged; evaluate an earlier checkpoint of that run (e.g. its best.ckpt)")


def newest_intact_checkpoint(folder: str) -> Optional[str]:
    """The newest ``epochNNN.ckpt`` in ``folder`` that reads as a checkpoint, else ``best.ckpt``
    if it reads, else None."""
    epochs = sorted(glob.glob(os.path.join(folder, "epoch*.ckpt")), reverse=True)
    for path in epochs + [os.path.join(folder, "best.ckpt")]:
        try:
            read_checkpoint(path)
        except (ValueError, FileNotFoundError):
            continue
        return path
    return None


def check_fits(checkpoint: dict, model: torch.nn.Module, path: str) -> None:
    """``ValueError`` naming the first weight whose shape differs between ``checkpoint`` and
    ``model`` (another class count, another network), or that one side lacks."""
    mine = model.state_dict()
    theirs = checkpoint["state_dict"]
    for key, value in theirs.items():
        if key in mine and tuple(mine[key].shape) != tuple(value.shape):
            raise ValueError(f"{path} does not fit this network: {key} is {tuple(value.shape)} in the file and "
                             f"{tuple(mine[key].shape)} here (another class count or model?)")
    missing = sorted(set(mine) - set(theirs))
    unexpected = sorted(set(theirs) - set(mine))
    if missing or unexpected:
        which = f"lacks {missing[0]}" if missing else f"has {unexpected[0]}, which this network does not"
        raise ValueError(f"{path} does not fit this network: the file {which} "
                         f"({len(missing)} missing, {len(unexpected)} unexpected weights; another model?)")


class AtomicCheckpointIO(TorchCheckpointIO):
    """Saves to a temporary file beside the target and renames it over the target, so a run
    killed during a save leaves the previous checkpoint intact, never a truncated one. Loads
    through :func:`read_checkpoint` (no code runs unless ``trust``), whatever ``weights_only``
    Lightning passes."""

    def __init__(self, trust: bool = False) -> None:
        super().__init__()
        self.trust = trust

    def load_checkpoint(self, path, map_location=None, weights_only=None) -> dict:
        return read_checkpoint(os.fspath(path), self.trust)

    def save_checkpoint(self, checkpoint, path, storage_options=None) -> None:
        path = os.fspath(path)
        temporary = f"{path}.tmp-{os.getpid()}"
        try:
            super().save_checkpoint(checkpoint, temporary, storage_options)
            os.replace(temporary, path)
        except (OSError, RuntimeError) as err:           # torch reports a full disk as RuntimeError
            if isinstance(err, RuntimeError) and "write" not in str(err).lower():
                raise
            import shutil

            folder = os.path.dirname(os.path.abspath(path))
            raise WriteFailed(f"cannot save {path} ({first_line(err)}); {shutil.disk_usage(folder).free / 1e6:.1f} "
                              f"MB free in {folder}; the checkpoints saved before are intact: free space and resume "
                              "with --ckpt_path last") from None
        finally:
            if os.path.exists(temporary):
                os.remove(temporary)


def checkpoint_bytes(module: torch.nn.Module, optimizer: str) -> int:
    """About the size of one training checkpoint of ``module``: its weights and buffers, the
    optimiser's state per parameter (SGD momentum: 1 copy, AdamW: 2), 1 MB for the rest."""
    weights = sum(t.numel() * t.element_size() for t in module.state_dict().values() if torch.is_tensor(t))
    params = sum(p.numel() * p.element_size() for p in module.parameters())
    return weights + params * (2 if optimizer == "adamw" else 1) + 2 ** 20
