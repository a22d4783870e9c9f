"""``gcvideo configs``: the shipped configs, listed, shown or copied out to edit."""
import os
import shutil
from typing import Optional

from ..configs import list_configs, shipped


def _summary(path: str) -> str:
    """A config's first comment line (what it is)."""
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("#"):
                return line.lstrip("# ").strip()
    return ""


def run_configs(name: Optional[str] = None, /, *, copy: Optional[str] = None, overwrite: bool = False) -> int:
    """list the shipped configs, show one, or copy one out to edit

    Without NAME: every shipped config with what it is. With NAME (e.g. models/gc.yaml): its text.
    With --copy DEST: a copy at DEST (a file, or a folder to put it in) to edit and pass to
    --config. Any command taking --config finds a shipped config by this name when no such file
    exists in the working directory; paths inside a config (data.root, trainer.default_root_dir)
    are relative to the working directory.

    Args:
        name: a shipped config (models/gc.yaml, kinetics400/base.yaml, demo/relation.yaml, ...)
        copy: copy NAME to this file or folder (an existing file is not replaced)
        overwrite: with --copy: replace an existing file
    """
    from ..files import check_outputs

    if name is None:
        if copy:
            raise ValueError("--copy needs the NAME of the config to copy")
        names = list_configs()
        width = max(map(len, names))
        for config in names:
            print(f"{config:{width}s}  {_summary(shipped(config))}")
        print("\ne.g. gcvideo fit --config kinetics400/base.yaml --config models/gc.yaml; "
              "gcvideo configs NAME --copy . to edit one")
        return 0
    path = shipped(name)
    if copy is None:
        with open(path, encoding="utf-8") as f:
            print(f.read(), end="")
        return 0
    target = os.path.join(copy, os.path.basename(path)) if os.path.isdir(copy) else copy
    check_outputs(target, inputs=[path], overwrite=overwrite, what="--copy")
    if os.path.islink(target):
        os.remove(target)                 # replaced, never written through to what it points at
    shutil.copyfile(path, target)
    print(f"copied {name} to {target}; use it with --config {target}")
    return 0
