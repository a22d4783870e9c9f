"""The shipped configs, installed with the package, and how a ``--config`` name finds them.

``demo/relation.yaml`` and ``demo/order.yaml`` (the demos), ``kinetics400/base.yaml`` (the paper's
recipe), ``kinetics400/finetune_imagenet.yaml``, ``kinetics400/finetune_gc.yaml`` and
``finetune_slowfast_gc.yaml`` (GC from pretrained weights), ``kinetics400/networks/*.yaml`` (SlowFast,
X3D, I3D with GC), ``ssv2/``, ``ucf101/``, ``hmdb51/`` (other datasets), ``smoke.yaml`` (any recipe,
small, last) and ``models/*.yaml`` (one network each -- ``plain``, ``gc``, ``gc5``, ``nl5``, ``snl5``,
``se``, ``nl``, ``snl`` and the GC ablations -- to put after any base). Paths inside a config
(``data.root``, ``trainer.default_root_dir``) are relative to the working directory.
"""
import os

FOLDER = os.path.dirname(os.path.abspath(__file__))


def list_configs() -> list[str]:
    """Every shipped config's name (its path below the configs folder), sorted."""
    names = []
    for root, _, files in os.walk(FOLDER):
        names += [os.path.relpath(os.path.join(root, f), FOLDER) for f in files if f.endswith(".yaml")]
    return sorted(names)


def shipped(name: str) -> str:
    """The path of the shipped config ``name`` (``models/gc.yaml``; ``configs/`` in front, as in the
    source tree, and a missing ``.yaml`` are accepted); FileNotFoundError naming what exists."""
    relative = name[len("configs/"):] if name.startswith("configs/") else name
    relative += "" if relative.endswith((".yaml", ".yml")) else ".yaml"
    path = os.path.normpath(os.path.join(FOLDER, relative))
    if path.startswith(FOLDER + os.sep) and os.path.isfile(path):
        return path
    raise FileNotFoundError(f"config {name!r}: no such file here and no shipped config of that name "
                            "(`gcvideo configs` lists them)")


def find_config(name: str) -> str:
    """``name`` itself when that file exists (relative to the working directory), else the shipped
    config of that name."""
    return name if os.path.isfile(name) else shipped(name)
