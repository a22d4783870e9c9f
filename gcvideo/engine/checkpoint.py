"""Reading and writing gcvideo checkpoints: the network and the data options a checkpoint was
trained with, one-line errors for unreadable or foreign files, atomic saves."""
import glob
import inspect
import os
from typing import Optional

import torch
from pytorch_lightning.plugins.io import TorchCheckpointIO

from ..data.datamodule import KineticsDataModule
from .module import VideoClassifier


def load_classifier(ckpt_path: str):
    """The checkpoint's VideoClassifier (eval mode) and its data options: the
    KineticsDataModule arguments it was trained with, defaults filled in. Anything wrong with
    the file is one ``ValueError`` line naming it and the first thing that does not fit."""
    checkpoint = read_checkpoint(ckpt_path)
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
    defaults = {k: p.default for k, p in inspect.signature(KineticsDataModule).parameters.items()
                if p.default is not inspect.Parameter.empty}
    return module.eval(), {**defaults, **checkpoint.get("datamodule_hyper_parameters", {})}


def read_checkpoint(path: str) -> dict:
    """The checkpoint dict in ``path``, or a one-line ``ValueError`` that names the file and
    what is wrong with it (truncated, not a PyTorch file, not a Lightning checkpoint)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # torch raises RuntimeError, UnpicklingError, EOFError, ... by cause
        detail = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        raise ValueError(f"{path} is not a readable checkpoint (truncated by a crash, or not a PyTorch "
                         f"file?): {detail}") from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise ValueError(f"{path} is a PyTorch file but not a Lightning checkpoint (no state_dict)")
    return checkpoint


def newest_intact_checkpoint(folder: str) -> Optional[str]:
    """The newest ``epochNNN.ckpt`` in ``folder`` that reads as a checkpoint, if any."""
    for path in sorted(glob.glob(os.path.join(folder, "epoch*.ckpt")), reverse=True):
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
    killed during a save leaves the previous checkpoint intact, never a truncated one."""

    def save_checkpoint(self, checkpoint, path, storage_options=None) -> None:
        path = os.fspath(path)
        temporary = f"{path}.tmp-{os.getpid()}"
        try:
            super().save_checkpoint(checkpoint, temporary, storage_options)
            os.replace(temporary, path)
        finally:
            if os.path.exists(temporary):
                os.remove(temporary)
