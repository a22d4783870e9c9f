"""Loading a trained gcvideo checkpoint: the network and the data options it was trained with."""
import inspect
import os

import torch

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
