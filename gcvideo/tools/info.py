"""``gcvideo models`` and ``gcvideo info``: what is registered and what it costs.

At a model's recipe clip the cost is read from the catalog's recorded figures (no torch import:
answers at once; the tests count every network again); at another clip (``--frames``/``--size``),
with ``--measure``, or for a model registered without figures, the networks are built and counted.
"""
import json as jsonlib
from typing import Optional


def run_models() -> int:
    """list registered models"""
    from ..models.catalog import list_models

    for name, description in list_models().items():
        print(f"{name:16s} {description}")
    return 0


def run_info(model: Optional[str] = None, /, *, all: bool = False, frames: Optional[int] = None,
             size: Optional[int] = None, measure: bool = False, json: bool = False) -> int:
    """parameters and GFLOPs of a model (or --all), with Δ vs its plain network

    Args:
        model: registered model name (see `gcvideo models`)
        all: table of every registered model
        frames: clip length T (default: the model's recipe, e.g. 8, SlowFast 32)
        size: crop size H=W (default: the model's recipe, 224)
        measure: build and count the networks even where the catalog records their cost
        json: print JSON instead of a table
    """
    from ..models.catalog import MODELS

    if not all and not model:
        raise ValueError("give a MODEL or --all (see `gcvideo models`)")
    if frames is not None and not 1 <= frames <= 1024 or size is not None and not 16 <= size <= 4096:
        raise ValueError(f"--frames must be 1-1024 and --size 16-4096, got {frames} and {size}")
    rows = cost_table(list(MODELS) if all else [model], frames, size, measure=measure, progress=not json)
    if json:
        print(jsonlib.dumps(rows if all else rows[0], indent=2))
    else:
        print("cost per clip (FLOPs = multiply-adds, fvcore; Δ vs the plain network of the same family, "
              "same clip)")
        print(format_cost_table(rows))
        if any(r["source"] == "recorded" for r in rows):
            print("(figures recorded in gcvideo.models.catalog for the recipe clip, counted again by the tests; "
                  "--measure counts them now)")
    return 0


def cost_table(names: list[str], frames: Optional[int] = None, size: Optional[int] = None,
               measure: bool = False, progress: bool = False) -> list[dict]:
    """Params/GFLOPs of each model at its recipe's clip (or ``frames`` x ``size``) and their change,
    in %, relative to the plain network of its family (``slow_r50``, ``slowfast_r50``, ...).
    Each row's ``source`` says whether its figures are the catalog's ("recorded") or were counted now."""
    from ..models.catalog import MODELS
    from ..progress import progress_bar

    unknown = [name for name in names if name not in MODELS]
    if unknown:
        raise ValueError(f"unknown model {unknown[0]!r}; registered models: {sorted(MODELS)}")
    rows, costs = [], {}

    def cost_of(name: str, clip: tuple[int, int]) -> dict:
        if (name, clip) not in costs:
            entry = MODELS[name]
            if not measure and clip == entry.clip and entry.flops:
                costs[name, clip] = {"params": entry.params, "params_m": entry.params / 1e6, "gflops": entry.flops / 1e9,
                                     "flops": entry.flops, "frames": clip[0], "size": clip[1], "source": "recorded"}
            else:
                from ..models import create_model
                from ..models.cost import model_cost

                costs[name, clip] = {**model_cost(create_model(name), *clip), "source": "counted"}
        return costs[name, clip]

    bar = progress_bar(names, desc="counting FLOPs", unit="model", disable=not progress or len(names) < 2)
    for name in bar:
        entry = MODELS[name]
        clip = (frames or entry.clip[0], size or entry.clip[1])
        cost, base = cost_of(name, clip), cost_of(entry.baseline, clip)
        rows.append({"model": name, "baseline": entry.baseline, **cost, **cost_change(cost, base)})
    return rows


def cost_change(cost: dict, base: dict) -> dict:
    """Δparams and ΔFLOPs of ``cost`` relative to ``base``, in % (the one place they are computed)."""
    return {"d_params_pct": 100.0 * (cost["params"] / base["params"] - 1),
            "d_flops_pct": 100.0 * (cost["flops"] / base["flops"] - 1)}


def format_cost_table(rows: list[dict]) -> str:
    lines = [f"{'model':16s} {'clip':>7s} {'params (M)':>11s} {'GFLOPs':>8s} {'Δparams':>9s} {'ΔFLOPs':>9s}  vs"]
    for r in rows:
        lines.append(f"{r['model']:16s} {r['frames']:>3d}x{r['size']:<3d} {r['params_m']:11.2f} {r['gflops']:8.2f} "
                     f"{r['d_params_pct']:+8.2f}% {r['d_flops_pct']:+8.3f}%  {r['baseline']}")
    return "\n".join(lines)
