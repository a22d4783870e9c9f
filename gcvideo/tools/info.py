"""``gcvideo models`` and ``gcvideo info``: what is registered and what it costs."""
import json as jsonlib
from typing import Optional


def run_models() -> int:
    """list registered models"""
    from ..models import list_models

    for name, description in list_models().items():
        print(f"{name:16s} {description}")
    return 0


def run_info(model: Optional[str] = None, /, *, all: bool = False, frames: Optional[int] = None,
             size: Optional[int] = None, json: bool = False) -> int:
    """parameters and GFLOPs of a model (or --all), with Δ vs its plain network

    Args:
        model: registered model name (see `gcvideo models`)
        all: table of every registered model
        frames: clip length T (default: the model's recipe, e.g. 8, SlowFast 32)
        size: crop size H=W (default: the model's recipe, 224)
        json: print JSON instead of a table
    """
    from ..models import MODELS
    from .cost_report import cost_table, format_cost_table

    if not all and not model:
        raise ValueError("give a MODEL or --all (see `gcvideo models`)")
    if frames is not None and not 1 <= frames <= 1024 or size is not None and not 16 <= size <= 4096:
        raise ValueError(f"--frames must be 1-1024 and --size 16-4096, got {frames} and {size}")
    rows = cost_table(list(MODELS) if all else [model], frames, size, progress=not json)
    if json:
        print(jsonlib.dumps(rows if all else rows[0], indent=2))
    else:
        print("cost per clip (FLOPs = multiply-adds, fvcore; Δ vs the plain network of the same family, "
              "same clip)")
        print(format_cost_table(rows))
    return 0
