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
    KineticsDataModule arguments it was trained with, defaults filled in."""
    if not os.path.isfile(ckpt_path):
        raise FileNotFoundError(f"checkpoint not found: {ckpt_path}")
    # Weights come from the checkpoint: do not re-read the files used to initialise training.
    try:
        module = VideoClassifier.load_from_checkpoint(ckpt_path, map_location="cpu", pretrained=None,
                                                      inflate_from=None)
    except RuntimeError as err:
        lines = str(err).strip().splitlines()
        raise ValueError(f"{ckpt_path} does not fit the network it describes: "
                         f"{' '.join(line.strip() for line in lines[1:3])[:400]}") from None
    checkpoint = torch.load(ckpt_path, map_location="cpu", weights_only=False)
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
