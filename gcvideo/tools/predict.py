"""``gcvideo predict VIDEO ... --ckpt_path CKPT``: top-5 classes of any video, multi-view.

The label names and the clip options (frames, sampling rate, test scale and crop)
come from the checkpoint, so a checkpoint file is all that is needed.
"""
import json as jsonlib
import sys


import torch

from ..engine.checkpoint import load_classifier
from ..models import fold_context_blocks


@torch.no_grad()
def predict_videos(paths: list[str], ckpt_path: str, views: str = "10x3", top: int = 5,
                   trust: bool = False) -> list[dict]:
    from ..data.decode import VideoError
    from ..data.multiview import decode_views, iter_views, parse_views

    module, data = load_classifier(ckpt_path, trust)
    clips, crops = parse_views(views)
    classes = module.class_names
    options = dict(num_frames=data["num_frames"], sampling_rate=data["sampling_rate"],
                   target_fps=data["target_fps"], short_side=data["eval_short_side"],
                   crop=data["test_crop_size"], backend=data["backend"])
    net = fold_context_blocks(module.model)      # the inference form: GC folded into conv + BN
    results = []
    for path in paths:
        try:
            decoded = decode_views(path, clips=clips, crops=crops, **options)
        except VideoError as err:
            results.append({"path": path, "ok": False, "reason": str(err)})
            continue
        logits = torch.cat([net(v) for v in iter_views(decoded["frames"], decoded["boxes"],
                                                          module.hparams.view_batch)])
        probs = module.average_views(logits.unsqueeze(0))[0]
        best = probs.topk(min(top, len(classes)))
        results.append({"path": path, "ok": True, "views": clips * crops,
                        "top": [(classes[i], float(p)) for p, i in zip(best.values, best.indices)]})
    return results


def run_predict(videos: list[str], /, *, ckpt_path: str, views: str = "10x3", json: bool = False,
                trust_checkpoint: bool = False) -> int:
    """top-5 classes of videos with a trained checkpoint (multi-view)

    Multi-view prediction for any video (any length, size, fps). Class names and clip options are
    read from the checkpoint. Exits 1 when a video cannot be read (its reason is printed).

    Args:
        videos: video files
        ckpt_path: a gcvideo checkpoint (e.g. runs/demo_relation/gc/checkpoints/best.ckpt)
        views: CLIPSxCROPS (10x3: the paper's 30 views)
        json: print JSON
        trust_checkpoint: load a checkpoint holding other objects than tensors, numbers and
            strings with full pickle, which can run code (refused otherwise): trusted files only
    """
    results = predict_videos(videos, ckpt_path, views, trust=trust_checkpoint)
    if json:
        print(jsonlib.dumps(results, indent=2))
    else:
        for r in results:
            if not r["ok"]:
                print(f"{r['path']}: cannot predict: {r['reason']}", file=sys.stderr)
                continue
            print(f"{r['path']} ({r['views']} views)")
            for rank, (name, p) in enumerate(r["top"], 1):
                print(f"  {rank}. {name:30s} {p:.4f}")
    return 0 if all(r["ok"] for r in results) else 1
