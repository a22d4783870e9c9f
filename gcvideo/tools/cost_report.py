"""``gcvideo report costs``: the cost columns of the paper's video table, for every row and ablation.

Rows are the shipped model configs (``models/*.yaml``): the table's rows (plain, +5 NL, +5 SNL,
+5 GC, +all GC, SE) first, then the other variants. For each: parameters,
GFLOPs (multiply-adds, fvcore), change vs the baseline, and CPU forward latency as a
ratio to the same network with its blocks bypassed, interleaved in the same run.
Written as Markdown and JSON.
"""
import json as jsonlib
import os
import platform
from typing import Optional

import torch
import yaml

from ..configs import list_configs, shipped
from ..models import create_model
from ..models.cost import model_cost
from ..models.options import BackboneOptions, BlockOptions
from .timing import bypassed_name, interleaved_latency, latency_ratio, with_bypassed_twins

ROW_ORDER = ["plain", "nl5", "snl5", "gc5", "gc", "se"]


def cost_table(names: list[str], frames: Optional[int] = None, size: Optional[int] = None,
               progress: bool = False) -> list[dict]:
    """Params/GFLOPs of each model at its recipe's clip (or ``frames`` x ``size``) and their change,
    in %, relative to the plain network of its family (``slow_r50``, ``slowfast_r50``, ...)."""
    from ..progress import progress_bar

    from ..models import MODELS, model_spec

    rows, bases = [], {}
    for name in progress_bar(names, desc="counting FLOPs", unit="model", disable=not progress or len(names) < 2):
        model_spec(name)                      # an unknown name: the registry's one-line error
        entry = MODELS[name]
        clip = (frames or entry.clip[0], size or entry.clip[1])
        key = (entry.baseline, clip)
        if key not in bases:
            bases[key] = model_cost(create_model(entry.baseline), *clip)
        base = bases[key]
        cost = base if name == entry.baseline else model_cost(create_model(name), *clip)
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


def config_rows() -> list[dict]:
    """One row per shipped model config: the table's rows in ``ROW_ORDER``, then the rest by name."""
    names = [os.path.splitext(os.path.basename(c))[0] for c in list_configs() if c.startswith("models/")]
    rows = []
    for name in ROW_ORDER + sorted(set(names) - set(ROW_ORDER)):
        with open(shipped(f"models/{name}.yaml"), encoding="utf-8") as f:
            model = yaml.safe_load(f)["model"]
        rows.append({"row": name, "model": model["model"], "options": _row_options(model)})
    return rows


def _row_options(model: dict) -> dict:
    """What a row's config changes in its model (base.yaml's backbone is every row's)."""
    return {**BackboneOptions.of(model.get("backbone")).overrides(),
            **BlockOptions.of(model.get("blocks")).overrides()}


def cost_report(frames: int = 8, size: int = 224, rounds: int = 3, progress: bool = True) -> dict:
    from ..progress import progress_bar

    rows = config_rows()
    nets = {}
    for r in progress_bar(rows, desc="counting FLOPs", unit="model", disable=not progress):
        nets[r["row"]] = create_model(r["model"], **r["options"]).eval()
        r.update(model_cost(nets[r["row"]], frames, size))
    clip = torch.randn(1, 3, frames, size, size)
    # Each variant is timed against itself with its blocks bypassed (same instance and
    # weights = the baseline's computation): separately built networks differ by a few %
    # on CPUs, more than the blocks cost.
    timed, pairs = with_bypassed_twins({name: net for name, net in nets.items() if name != "plain"})
    timed["plain"] = nets["plain"]
    times = interleaved_latency(timed, clip, rounds, progress=progress, groups=pairs) if rounds > 0 else {}
    base = rows[0]
    for r in rows:
        r.update(cost_change(r, base))
        if times:
            name = r["row"]
            r["latency_ratio"] = 1.0 if r is base else latency_ratio(times[name], times[bypassed_name(name)])
    return {"frames": frames, "size": size, "rounds": rounds, "machine": platform.processor() or platform.machine(),
            "threads": torch.get_num_threads(), "rows": rows}


def to_markdown(report: dict) -> str:
    lines = [
        "# Cost of the paper's video table rows (generated)",
        "",
        f"Generated by `gcvideo report costs --frames {report['frames']} --size {report['size']} "
        f"--rounds {report['rounds']}`; do not edit by hand.",
        f"Input {report['frames']}x{report['size']}x{report['size']}; FLOPs are multiply-adds (fvcore), "
        "elementwise ops not counted. Latency: CPU forward, batch 1, "
        f"{report['threads']} threads, {report['rounds']} interleaved rounds, median of the per-round ratios to "
        "the same network with its blocks bypassed (same instance and weights, i.e. the baseline's "
        "computation; machines differ, ratios are what to compare).",
        "",
        "| row | model | options | params (M) | GFLOPs | Δparams | ΔFLOPs | latency vs bypassed |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in report["rows"]:
        options = ", ".join(f"{k}={v}" for k, v in r["options"].items()) or "—"
        latency = f"{r['latency_ratio']:.3f}x" if "latency_ratio" in r else "—"
        lines.append(f"| {r['row']} | `{r['model']}` | {options} | {r['params_m']:.2f} | {r['gflops']:.2f} | "
                     f"{r['d_params_pct']:+.2f} % | {r['d_flops_pct']:+.3f} % | {latency} |")
    return "\n".join(lines) + "\n"


def run_cost_report(*, frames: int = 8, size: int = 224, rounds: int = 3, out: Optional[str] = "runs/costs/results.md",
                    json: Optional[str] = "runs/costs/results.json", overwrite: bool = False) -> int:
    """params, GFLOPs, Δ% and CPU latency (vs blocks bypassed) of every table row and ablation

    Cost columns of the paper's video table for the shipped model configs (models/*.yaml), written
    as Markdown and JSON.

    Args:
        frames: clip length T
        size: crop size H=W
        rounds: interleaved latency rounds (0: skip latency)
        out: Markdown file
        json: JSON file
        overwrite: replace existing --out and --json files
    """
    from ..files import check_outputs

    check_outputs([p for p in (out, json) if p], overwrite=overwrite)
    if out and json and os.path.abspath(out) == os.path.abspath(json):
        raise ValueError(f"--out and --json are both {out}: name two files")
    report = cost_report(frames, size, rounds)
    markdown = to_markdown(report)
    for path, text in ((out, markdown), (json, jsonlib.dumps(report, indent=2, default=str))):
        if path:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
    print(markdown)
    if out:
        print(f"written to {out}" + (f" and {json}" if json else ""))
    return 0
