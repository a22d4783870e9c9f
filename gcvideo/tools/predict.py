"""``gcvideo predict VIDEO ... --ckpt_path CKPT``: top-5 classes of any video, multi-view.

The label names and the clip options (frames, sampling rate, test scale and crop)
come from the checkpoint, so a checkpoint file is all that is needed.
"""
import json as jsonlib
import sys
from typing import Optional


import torch

from ..data.decode import DEFAULT_TIMEOUT
from ..engine.checkpoint import load_classifier
from ..models import fold_context_blocks


@torch.no_grad()
def predict_videos(paths: list[str], ckpt_path: str, views: str = "10x3", top: int = 5,
                   trust: bool = False, timeout: Optional[float] = DEFAULT_TIMEOUT) -> list[dict]:
    from ..data.decode import VideoError
    from ..data.multiview import decode_views
    from ..engine.inference import view_logits

    module, spec = load_classifier(ckpt_path, trust)
    spec = spec.with_views(views)
    clips, crops = spec.test_views
    classes = module.class_names
    net = fold_context_blocks(module.model)      # the inference form: GC folded into conv + BN
    results = []
    for path in paths:
        try:
            decoded = decode_views(path, spec.num_frames, spec.sampling_rate, clips, crops, spec.eval_short_side,
                                   spec.test_crop_size, spec.target_fps, spec.backend, spec.protocol, spec.sampling,
                                   timeout)
        except VideoError as err:
            results.append({"path": path, "ok": False, "reason": err.summary})   # the path is its own field
            continue
        logits = view_logits(net, decoded["frames"], decoded["boxes"], module.hparams.view_batch)
        probs = module.average_views(logits.unsqueeze(0))[0]
        best = probs.topk(min(top, len(classes)))
        results.append({"path": path, "ok": True, "views": clips * crops, "view": spec.describe(),
                        "multi_label": module.multi_label, "view_average": module.hparams.view_average,
                        "top": [(classes[i], float(p)) for p, i in zip(best.values, best.indices)]})
    return results


def run_predict(videos: list[str], /, *, ckpt_path: str, views: Optional[str] = None, json: bool = False,
                timeline: bool = False, window: Optional[float] = None, stride: Optional[float] = None,
                out: str = "timeline", trust_checkpoint: bool = False, overwrite: bool = False,
                decode_timeout: float = DEFAULT_TIMEOUT) -> int:
    """top-5 classes of videos with a trained checkpoint (multi-view), or a timeline of a long video

    Multi-view prediction for any video (any length, size, fps). Class names and clip options are
    read from the checkpoint. Exits 1 when a video cannot be read (its reason is printed).
    With --timeline: the model slides over the whole video (one clip per window, its centre crop,
    decoded window by window so memory stays flat) and OUT gets timeline.csv (window start, end,
    top-5 classes and scores), timeline.json and timeline.png (the top class per window as a
    coloured band under frame thumbnails); several videos: OUT/<video name>/.

    Args:
        videos: video files
        ckpt_path: a gcvideo checkpoint (e.g. runs/demo_relation/gc/checkpoints/best.ckpt)
        views: CLIPSxCROPS (default 10x3: the paper's 30 views); not with --timeline (one centre view per window)
        json: print JSON
        timeline: slide over the whole video window by window
        window: timeline window in seconds (default: the checkpoint's clip span)
        stride: seconds between window starts (default: the window)
        out: timeline output folder
        trust_checkpoint: load a checkpoint holding other objects than tensors, numbers and
            strings with full pickle, which can run code (refused otherwise): trusted files only
        overwrite: with --timeline: replace the files of an earlier timeline in OUT
        decode_timeout: seconds one video's decode may take; past it the video is reported
            ('timeout') and the next one predicted
    """
    if not 0 < decode_timeout < float("inf"):
        raise ValueError(f"--decode-timeout must be seconds > 0, got {decode_timeout}")
    if timeline and views is not None:
        raise ValueError("--views does not apply to --timeline (each window is one clip, its centre crop)")
    if timeline:
        return _run_timeline(videos, ckpt_path, window, stride, out, json, trust_checkpoint, overwrite)
    if window is not None or stride is not None:
        raise ValueError("--window and --stride apply to --timeline")
    results = predict_videos(videos, ckpt_path, views or "10x3", trust=trust_checkpoint, timeout=decode_timeout)
    if json:
        print(jsonlib.dumps(results, indent=2))
    else:
        for r in results:
            if not r["ok"]:
                print(f"{r['path']}: cannot predict: {r['reason']}", file=sys.stderr)
                continue
            print(f"{r['path']} ({r['view']})")
            if r["multi_label"]:        # the scores do not sum to 1: each class is present or not
                print(f"  multi-label: each class's own probability (sigmoid), views combined by "
                      f"{'their max' if r['view_average'] == 'max' else r['view_average']}")
            for rank, (name, p) in enumerate(r["top"], 1):
                print(f"  {rank}. {name:30s} {p:.4f}")
    return 0 if all(r["ok"] for r in results) else 1


def _run_timeline(videos: list[str], ckpt_path: str, window: Optional[float], stride: Optional[float], out: str,
                  json: bool, trust: bool, overwrite: bool = False) -> int:
    import os

    from ..data.decode import VideoError
    from ..files import check_outputs
    from .timeline import TIMELINE_FILES, timeline, write_timeline

    folders = {path: out if len(videos) == 1 else os.path.join(out, os.path.splitext(os.path.basename(path))[0])
               for path in videos}
    if len(set(folders.values())) < len(folders):
        raise ValueError("--timeline: two videos share a base name, so their timelines would share a folder; "
                         "run them one at a time with --out")
    for path, folder in folders.items():
        check_outputs([os.path.join(folder, name) for name in TIMELINE_FILES], inputs=[ckpt_path, *videos],
                      overwrite=overwrite)
    module, spec = load_classifier(ckpt_path, trust)
    failed = False
    for path in videos:
        folder = folders[path]
        try:
            result = timeline(path, module, spec, window, stride, progress=not json)
        except VideoError as err:
            print(f"{path}: cannot predict: {err}", file=sys.stderr)
            failed = True
            continue
        paths = write_timeline(result, folder)
        if json:
            print(jsonlib.dumps({**{k: v for k, v in result.items() if k != "thumbnails"}, "files": paths}))
            continue
        segments, previous = [], None
        for r in result["windows"]:
            name = r["top"][0][0]
            if name != previous:
                segments.append(f"{r['start']:.1f} s {name}")
                previous = name
        print(f"{path}: {len(result['windows'])} windows of {result['window']:.2f} s; "
              f"top class from: {', '.join(segments)}")
        print(f"wrote {paths['csv']}, {paths['json']}, {paths['png']}")
    return 1 if failed else 0
