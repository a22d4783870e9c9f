"""``gcvideo predict VIDEO --timeline``: the model slid over a whole video, window by window.

Each window of ``window`` seconds (default: the checkpoint's clip span), every ``stride`` seconds,
gives one clip sampled as in training (``num_frames`` frames ``sampling_rate`` apart at
``target_fps``, centred in the window), its centre crop at the test scale, and the top-k classes.
Windows are decoded one at a time (seeking to each), so memory does not grow with the video's
length. Writes ``timeline.csv`` (window start, end, top-k classes and scores), ``timeline.json`` and
``timeline.png`` (the top class of each window as a coloured band under frame thumbnails).
"""
import csv
import io
import json
import os
from typing import Optional

import numpy as np
import torch

THUMBNAILS = 16          # frames shown above the band
BAND_CLASSES = 10        # classes with their own colour in the band (the rest: "other")


def window_starts(duration: float, window: float, stride: float) -> list[float]:
    """Start times of the windows covering ``[0, duration]``: every ``stride`` seconds while a whole
    window fits (at least one window; the last one ends at the video's end)."""
    if duration <= window:
        return [0.0]
    starts = list(np.arange(0.0, duration - window + 1e-9, stride))
    if duration - (starts[-1] + window) > 1e-6:
        starts.append(duration - window)
    return [float(s) for s in starts]


def window_clip_times(start: float, window: float, spec, duration: float, fps: float) -> np.ndarray:
    """The frame times of the spec's clip centred in ``[start, start + window]``."""
    from ..data import sampling

    times = sampling.clip_times(start + (window - spec.clip_span) / 2, *spec.clip)
    return np.clip(times, 0.0, max(duration - 1.0 / max(fps, 1e-6), 0.0))


def clip_window(spec) -> float:
    """The default window: a clip's frames with the time each is shown (the span plus one step)."""
    return spec.clip_span + spec.sampling_rate / spec.target_fps


@torch.no_grad()
def timeline(path: str, module, spec, window: Optional[float] = None, stride: Optional[float] = None,
             top: int = 5, progress: bool = True) -> dict:
    """The top-``top`` classes of every window of ``path`` (see the module doc); ``spec``: the
    checkpoint's :class:`~gcvideo.data.spec.InputSpec`."""
    from ..progress import progress_bar

    from ..data import decode, transforms
    from ..engine.inference import view_logits
    from ..models import fold_context_blocks

    from ..data.sampling import require_clip

    if spec.sampling == "segments":
        raise ValueError("--timeline slides a window of the clip's span over the video; this checkpoint's "
                         "network takes one frame per segment of a whole video (data.sampling segments): "
                         "predict the video (or its parts, cut beforehand) without --timeline")
    window = clip_window(spec) if window is None else window
    stride = window if stride is None else stride
    if not (0 < window < float("inf") and 0 < stride < float("inf")):
        raise ValueError(f"--window and --stride must be seconds > 0, got {window} and {stride}")
    info = decode.probe(path)
    require_clip(path, info, *spec.clip)                   # as plain predict
    starts = window_starts(info.duration, window, stride)
    net = fold_context_blocks(module.model)
    classes = module.class_names
    k = min(top, len(classes))
    crop, short_side = spec.test_crop_size, spec.eval_short_side
    rows, thumbs, pending = [], [], []

    def flush():             # each window's clip is one view: the views of the windows, scored as in test
        logits = view_logits(net, torch.stack([clip for _, clip in pending]), [(0, 0, crop, crop)],
                             module.hparams.view_batch)
        probs = module.average_views(logits.unsqueeze(1))
        scores, index = probs.topk(k, dim=-1)
        for (start, _), s, i in zip(pending, scores, index):
            rows.append({"start": round(start, 3), "end": round(min(start + window, info.duration), 3),
                         "top": [(classes[c], float(p)) for p, c in zip(s, i)]})
        pending.clear()

    for start in progress_bar(starts, desc="timeline windows", unit="window", disable=not progress):
        frames = decode.decode_at(path, window_clip_times(start, window, spec, info.duration, info.fps), spec.backend,
                                  max_short_side=decode.working_size(max(short_side, crop)))
        pending.append((start, transforms.center_crop(frames, short_side, crop)))    # (T, 3, crop, crop) uint8
        step = -(-frames.shape[1] // 64)                  # thumbnails at most 64 px high
        # a copy: a strided view would keep the whole decoded window alive with its thumbnail
        thumbs.append((start, frames[len(frames) // 2, ::step, ::step].copy()))
        if len(thumbs) > 4 * THUMBNAILS:          # keep memory flat: every other thumbnail
            thumbs = thumbs[::2]
        if len(pending) >= module.hparams.view_batch:
            flush()
    if pending:
        flush()
    return {"video": path, "duration": info.duration, "window": window, "stride": stride, "windows": rows,
            "thumbnails": thumbs}


def timeline_figure(result: dict):
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    rows, duration = result["windows"], max(result["duration"], 1e-6)
    counts: dict = {}
    for r in rows:
        counts[r["top"][0][0]] = counts.get(r["top"][0][0], 0) + 1
    named = [c for c, _ in sorted(counts.items(), key=lambda kv: -kv[1])][:BAND_CLASSES]
    colours = {c: f"C{i}" for i, c in enumerate(named)}
    thumbs = result["thumbnails"]
    # thumbnails keep the video's shape: 8 side by side for a landscape video, up to 16 for others
    aspect = thumbs[0][1].shape[1] / thumbs[0][1].shape[0] if thumbs else 16 / 9
    count = min(len(thumbs), THUMBNAILS if aspect < 1.2 else THUMBNAILS // 2)
    ratio = min(1 / (max(count, 1) * aspect), 0.25)          # the strip's height / width
    fig = Figure(figsize=(12, 12 * ratio + 1.3), dpi=100)
    strip, band = fig.subplots(2, 1, gridspec_kw={"height_ratios": [12 * ratio, 0.45], "hspace": 0.08},
                               sharex=True)
    strip.set_box_aspect(ratio)
    chosen = [thumbs[int(i)] for i in np.linspace(0, len(thumbs) - 1, count)] if count else []
    width = duration / max(len(chosen), 1)
    for start, image in chosen:                      # each thumbnail at its window's time
        left = min(start, duration - width)
        strip.imshow(image, extent=(left, left + width * 0.97, 0, 1), aspect="auto")
    strip.set_xlim(0, duration)
    strip.set_ylim(0, 1)
    strip.set_yticks([])
    strip.set_title(f"{os.path.basename(result['video'])}: top class per window "
                    f"({result['window']:.2f} s windows every {result['stride']:.2f} s)", fontsize=11)
    for r in rows:
        name = r["top"][0][0]
        band.axvspan(r["start"], r["end"], color=colours.get(name, "lightgrey"), linewidth=0)
    band.set_yticks([])
    band.set_xlabel("time (s)")
    handles = [Patch(color=colours[c], label=c) for c in named]
    if len(counts) > len(named):
        handles.append(Patch(color="lightgrey", label="other"))
    fig.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=min(5, len(handles)),
               fontsize=9, frameon=False)                 # under the time axis (the saved figure grows to it)
    return fig


TIMELINE_FILES = ("timeline.csv", "timeline.json", "timeline.png")


def write_timeline(result: dict, out: str) -> dict:
    from ..engine.figures import save
    from ..files import check_writable, write_atomic

    check_writable(out, "timeline output (--out)")
    os.makedirs(out, exist_ok=True)
    k = max(len(r["top"]) for r in result["windows"])
    text = io.StringIO(newline="")
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["start", "end"] + [c for i in range(1, k + 1) for c in (f"top{i}", f"score{i}")])
    writer.writerows([f"{r['start']:.3f}", f"{r['end']:.3f}"] + [x for name, p in r["top"] for x in (name, f"{p:.6f}")]
                     for r in result["windows"])
    paths = {os.path.splitext(name)[1][1:]: os.path.join(out, name) for name in TIMELINE_FILES}
    write_atomic(paths["csv"], text.getvalue().encode("utf-8", "surrogateescape"))
    public = {key: value for key, value in result.items() if key != "thumbnails"}
    write_atomic(paths["json"], json.dumps(public, indent=2).encode("utf-8", "surrogateescape"))
    save(timeline_figure(result), paths["png"])
    return paths
