"""The figures of a run, legible at the size they are saved: every one has a title and labelled
axes. Used by the test reports (``VideoReports``), ``gcvideo visualize`` and ``gcvideo report run``.

matplotlib's object API only (``Figure``, no pyplot): no backend is switched, no global state.
"""
import csv
import math
import re
from typing import Optional, Sequence

import numpy as np

DPI = 100
SMALL_TABLE = 30          # classes up to which a confusion matrix shows its counts and class names


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=DPI)


def save(fig, path: str) -> str:
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    return path


def row_normalised(confusion: np.ndarray) -> np.ndarray:
    confusion = np.asarray(confusion, dtype=float)
    return confusion / np.maximum(confusion.sum(1, keepdims=True), 1)


def most_confused(confusion, classes: Sequence[str], n: int = 10) -> list[dict]:
    """The ``n`` largest off-diagonal cells: true class, predicted class, videos, share of the true
    class's videos."""
    counts = np.asarray(confusion, dtype=np.int64)
    off = counts.copy()
    np.fill_diagonal(off, 0)
    shares = row_normalised(counts)
    order = np.argsort(-off, axis=None, kind="stable")[:n]
    return [{"true": classes[t], "predicted": classes[p], "videos": int(off[t, p]), "share": float(shares[t, p])}
            for t, p in zip(*np.unravel_index(order, off.shape)) if off[t, p] > 0]


def confusion_figure(confusion, classes: Sequence[str]):
    """Up to ``SMALL_TABLE`` classes: the row-normalised matrix with each cell's video count and the
    class names; more: the matrix alone (the report lists the most confused pairs)."""
    counts = np.asarray(confusion, dtype=np.int64)
    rows = row_normalised(counts)
    k = len(classes)
    small = k <= SMALL_TABLE
    side = max(4.5, 0.42 * k + 2.5) if small else 8.0
    fig = _figure(side + 1.2, side)
    ax = fig.subplots()
    image = ax.imshow(rows, cmap="Blues", vmin=0, vmax=1, interpolation="nearest")
    if small:
        ax.set_xticks(range(k), classes, rotation=60, ha="right", fontsize=9)
        ax.set_yticks(range(k), classes, fontsize=9)
        size = max(6, min(11, 150 / k))
        for t in range(k):
            for p in range(k):
                if counts[t, p]:
                    ax.text(p, t, str(counts[t, p]), ha="center", va="center", fontsize=size,
                            color="white" if rows[t, p] > 0.55 else "black")
    else:
        ax.set_xticks([])
        ax.set_yticks([])
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(f"confusion matrix, {k} classes\n(colour: share of the true class's videos"
                 + ("; numbers: videos)" if small else ")"), fontsize=11)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    return fig


def per_class_figure(per_class: Sequence[Optional[float]], classes: Sequence[str], mean: float,
                     metric: str = "top-1"):
    """Accuracy (or, ``metric="AP"``, average precision) of every class by class name (up to 40
    classes); more: a histogram of the classes' values and the 20 lowest classes. A class without
    a value (AP of a class with no positive video) is left out."""
    kept = [i for i, v in enumerate(per_class) if v is not None]
    acc = np.full(len(classes), np.nan)
    acc[kept] = [per_class[i] for i in kept]
    title = "accuracy" if metric == "top-1" else metric
    if len(kept) <= 40:
        order = sorted(kept, key=lambda i: classes[i])
        fig = _figure(7, max(2.5, 0.32 * len(order) + 1.2))
        ax = fig.subplots()
        ax.barh([classes[i] for i in order][::-1], 100 * acc[order][::-1], color="#4477aa")
        ax.set_xlim(0, 100)
        ax.set_xlabel(f"test {metric} of the class (%)")
        ax.set_title(f"per-class {title}, classes by name (mean {100 * mean:.1f} %)", fontsize=11)
        return fig
    fig = _figure(12, 6)
    left, right = fig.subplots(1, 2)
    left.hist(100 * acc[kept], bins=20, range=(0, 100), color="#4477aa")
    left.set_xlabel(f"test {metric} of a class (%)")
    left.set_ylabel("classes")
    left.set_title(f"{len(kept)} classes (mean {100 * mean:.1f} %)", fontsize=11)
    worst = sorted(kept, key=lambda i: acc[i])[:20]
    right.barh([classes[i] for i in worst][::-1], 100 * acc[worst][::-1], color="#cc6677")
    right.set_xlim(0, 100)
    right.set_xlabel(f"test {metric} (%)")
    right.set_title("the 20 least accurate classes" if metric == "top-1" else f"the 20 classes of lowest {title}",
                    fontsize=11)
    right.tick_params(axis="y", labelsize=8)
    return fig


def views_figure(views: dict, num_classes: int, metric: str = "accuracy"):
    """Accuracy (or ``metric="mAP"``) against the number of views (subsets of one decoding pass), on
    a fixed 0-100 % axis; top-5 only where it can differ from 100 % (more than 5 classes)."""
    names = list(views)
    fig = _figure(6, 3.6)
    ax = fig.subplots()
    keys = ("mAP",) if metric == "mAP" else ("top1", "top5") if num_classes > 5 else ("top1",)
    for key in keys:
        values = [100 * views[n][key] for n in names]
        ax.plot(names, values, marker="o", label=key.replace("top", "top-"))
        for x, y in zip(names, values):
            ax.annotate(f"{y:.1f}", (x, y), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=8)
    ax.set_ylim(0, 105)
    ax.set_xlabel("views (clips × crops), subsets of one decoding pass")
    ax.set_ylabel(f"test {metric} (%)")
    ax.set_title(f"{metric} vs number of views", fontsize=11)
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)
    return fig


def read_epoch_metrics(paths: Sequence[str]) -> dict[int, dict]:
    """Per epoch, the last value of every column of Lightning's ``metrics.csv`` files (a resumed run's
    versions in order: later values win)."""
    rows = []
    for path in paths:
        with open(path, newline="", encoding="utf-8") as f:
            rows += list(csv.DictReader(f))
    # rows without an epoch (the lr monitor's) belong to the epoch of the nearest step at or before theirs
    known = sorted((int(float(r["step"])), int(float(r["epoch"]))) for r in rows if r.get("epoch") and r.get("step"))
    epochs: dict[int, dict] = {}
    for row in rows:
        if row.get("epoch"):
            e = int(float(row["epoch"]))
        elif row.get("step") and known:
            step = int(float(row["step"]))
            e = next((ep for s, ep in reversed(known) if s <= step), known[0][1])
        else:
            continue
        epoch = epochs.setdefault(e, {})
        for key, value in row.items():
            if value not in ("", None) and key not in ("epoch", "step"):
                epoch.setdefault(key, []).append(float(value))
    return dict(sorted(epochs.items()))


def curves_figure(epochs: dict[int, dict], runs: Optional[dict[str, dict[int, dict]]] = None):
    """Training curves per epoch: loss (train mean, val), top-1 (train, val) and the lr range, of
    one run (``epochs``) or of several on shared axes (``runs``: name -> epochs; one colour per
    run, train dashed, val solid). Epochs are whole numbers; a run of one epoch is its points."""
    runs = runs or {"": epochs}
    fig = _figure(13, 4.2 if len(runs) > 1 else 3.6)
    axes = fig.subplots(1, 3)
    series = {
        0: (("train/loss", "train", np.mean, "--"), ("val/loss", "val", lambda v: v[-1], "-")),
        1: (("train/top1_epoch", "train", lambda v: v[-1], "--"), ("val/top1", "val", lambda v: v[-1], "-"),
            ("val/mAP", "val mAP", lambda v: v[-1], "-")),       # multi-label runs validate by mAP
    }
    multi_label = any("val/mAP" in values for ep in runs.values() for values in ep.values())
    every = sorted({e for ep in runs.values() for e in ep}) or [0]
    colours = [f"C{i}" for i in range(10)]
    for r, (name, ep) in enumerate(runs.items()):
        x = sorted(ep)
        colour = colours[r % len(colours)]
        for index, lines in series.items():
            for key, label, pick, style in lines:
                points = [(e, pick(ep[e][key])) for e in x if key in ep[e]]
                if points:
                    scale = 100 if index == 1 else 1
                    axes[index].plot([p[0] for p in points], [scale * p[1] for p in points], marker="o",
                                     markersize=4, linestyle=style if len(runs) > 1 else "-",
                                     color=colour if len(runs) > 1 else None,
                                     label=f"{name} {label}".strip())
        lr_key = next((k for e in x for k in ep[e] if k.startswith("lr")), None)
        if lr_key:
            xs = [e for e in x if lr_key in ep[e]]
            lows, highs = [min(ep[e][lr_key]) for e in xs], [max(ep[e][lr_key]) for e in xs]
            axes[2].fill_between(xs, lows, highs, alpha=0.3, step="mid", color=colour)
            axes[2].plot(xs, highs, marker="o", markersize=4, color=colour, label=name or None)
    if not any(line for line in axes[2].get_lines()):
        axes[2].text(0.5, 0.5, "no lr logged\n(logged at logging steps)", ha="center", va="center",
                     transform=axes[2].transAxes)
    for index in (0, 1):
        axes[index].legend(fontsize=8)
        axes[index].grid(alpha=0.3)
    if len(runs) > 1 and axes[2].get_lines():
        axes[2].legend(fontsize=8)
    axes[0].set_ylabel("binary cross-entropy" if multi_label else "cross-entropy")
    axes[0].set_title("loss", fontsize=11)
    axes[1].set_ylabel("top-1 / mAP (%)" if multi_label else "top-1 (%)")
    axes[1].set_ylim(0, 105)
    axes[1].set_title("train: top-1 of the batches' clips; val: mAP, single view" if multi_label else
                      "accuracy (train: the batches' clips; val: single view)", fontsize=10)
    from matplotlib.ticker import MaxNLocator

    for ax in axes:                       # whole epochs; one epoch is a point, not an axis around 0
        ax.set_xlim(every[0] - 0.5, every[-1] + 0.5)
        if len(every) <= 12:
            ax.set_xticks(every)
        else:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
    axes[2].set_ylabel("learning rate")
    axes[2].set_title("lr (range within each epoch)", fontsize=11)
    axes[2].grid(alpha=0.3)
    return fig


def stage_label(name: str) -> str:
    """``blocks.3.res_blocks.1.branch2.context`` -> ``c4 block 1``: pytorchvideo ResNets number their
    stem 0 and c2..c5 1..4; other names stay as they are."""
    match = re.search(r"(?<![a-z_])blocks[._](\d+)[._](?:multipathway_blocks[._](\d)[._])?res_blocks[._](\d+)", name)
    if not match:
        return name
    stage, pathway, index = int(match.group(1)), match.group(2), int(match.group(3))
    prefix = {None: "", "0": "slow ", "1": "fast "}[pathway]
    return f"{prefix}c{stage + 1} block {index}"


def attention_figure(frames: np.ndarray, maps: dict, times: Sequence[float],
                     cue_boxes: Optional[list] = None, tile: int = 128):
    """GC/SNL attention over the frames of one clip: rows = blocks (by stage), columns = frames
    (with their time). Each frame is shown in grey with the attention as one red scale shared by
    every block, in units of "× uniform" (1 = every position alike); a block's maps are upsampled
    from its own resolution. ``frames``: uint8 (T, H, W, 3); ``maps``: {name: (t, h, w) weights
    summing to 1}; ``cue_boxes``: per frame a list of (x0, y0, x1, y1) boxes to outline (in the
    frames' pixels)."""
    import torch
    import torch.nn.functional as F
    from matplotlib import colormaps
    from matplotlib.colors import LogNorm
    from matplotlib.patches import Rectangle

    t, h, w = frames.shape[:3]
    grey = frames.astype(np.float32).mean(-1) / 255
    lifted = {}
    for name, att in maps.items():
        att = torch.as_tensor(att, dtype=torch.float32)
        up = F.interpolate((att * att.numel())[None, None], size=(t, h, w), mode="nearest")[0, 0]
        lifted[name] = up.numpy()                                   # x uniform, at frame resolution
    top = max(2.0, max(float(v.max()) for v in lifted.values()))
    norm = LogNorm(vmin=1, vmax=top, clip=True)             # uniform or less: no colour; log: 2x to 50x
    cmap = colormaps["Reds"]
    scale = tile / max(h, w)
    fig = _figure(1.2 + t * w * scale / DPI + 1.0, 0.9 + len(lifted) * (h * scale / DPI + 0.25))
    axes = np.atleast_2d(fig.subplots(len(lifted), t, squeeze=False))
    for row, (name, up) in enumerate(lifted.items()):
        for col in range(t):
            ax = axes[row, col]
            share = np.clip(np.ma.filled(norm(np.maximum(up[col], 1.0)), 0.0), 0, 1)
            heat = cmap(share)
            alpha = share[..., None] * 0.85
            ax.imshow(grey[col], cmap="gray", vmin=0, vmax=1)
            ax.imshow(np.concatenate([heat[..., :3], alpha], -1))
            if cue_boxes and col < len(cue_boxes):
                for x0, y0, x1, y1 in cue_boxes[col]:
                    ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0 + 1, y1 - y0 + 1, fill=False,
                                           edgecolor="#33bbee", linewidth=1.5))
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(f"t = {times[col]:.2f} s", fontsize=8)
            if col == 0:
                ax.set_ylabel(stage_label(name), fontsize=9)
    fig.suptitle("where each GC/SNL block attends: red above uniform, one scale for all blocks"
                 + ("; blue: cue boxes" if cue_boxes else ""), fontsize=11)
    from matplotlib.cm import ScalarMappable

    from matplotlib.ticker import FuncFormatter, NullFormatter

    bar = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=axes, fraction=0.02, pad=0.02,
                       label="attention, × uniform (log scale; ≤ 1: no colour)")
    ticks = [t for t in (1, 1.5, 2, 3, 5, 10, 20, 50, 100) if t <= top] + [round(top, 1)]
    bar.set_ticks(ticks)
    bar.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}×"))
    bar.ax.yaxis.set_minor_formatter(NullFormatter())
    return fig


def gif_frames(frames: np.ndarray, att: np.ndarray, top: float, size: int = 192) -> list:
    """Frames of an animated GIF of one block's attention: grey frames, red attention on the
    shared × uniform scale ``top``, at least ``size`` pixels on the short side."""
    import torch
    import torch.nn.functional as F
    from matplotlib import colormaps
    from PIL import Image

    t, h, w = frames.shape[:3]
    factor = max(1, math.ceil(size / min(h, w)))
    att = torch.as_tensor(att, dtype=torch.float32)
    up = F.interpolate((att * att.numel())[None, None], size=(t, h, w), mode="nearest")[0, 0].numpy()
    share = np.clip(np.log(np.maximum(up, 1.0)) / np.log(top), 0, 1)[..., None]   # log scale; <= uniform: none
    grey = np.repeat(frames.astype(np.float32).mean(-1, keepdims=True) / 255, 3, -1)
    heat = colormaps["Reds"](share[..., 0])[..., :3]
    mixed = ((grey * (1 - 0.85 * share) + heat * 0.85 * share) * 255).astype(np.uint8)
    return [Image.fromarray(f).resize((w * factor, h * factor), Image.NEAREST) for f in mixed]
