"""``gcvideo predict VIDEO ... --ckpt_path CKPT``: top-5 classes of any video, multi-view.

The label names and the clip options (frames, sampling rate, test scale and crop)
come from the checkpoint, so a checkpoint file is all that is needed.
"""
import json
import sys
from typing import List

import torch


def load_classifier(ckpt_path: str):
    """The checkpoint's VideoClassifier (eval mode) and its data options: the
    KineticsDataModule arguments it was trained with, defaults filled in."""
    import inspect

    from .classifier import VideoClassifier
    from .data.datamodule import KineticsDataModule

    import os

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


@torch.no_grad()
def predict_videos(paths: List[str], ckpt_path: str, views: str = "10x3", top: int = 5) -> List[dict]:
    from .data.decode import VideoError
    from .data.multiview import decode_views, iter_views, parse_views

    module, data = load_classifier(ckpt_path)
    clips, crops = parse_views(views)
    classes = module.hparams.classes or [str(i) for i in range(module.hparams.num_classes)]
    options = dict(num_frames=data["num_frames"], sampling_rate=data["sampling_rate"],
                   target_fps=data["target_fps"], short_side=data["eval_short_side"],
                   crop=data["test_crop_size"], backend=data["backend"])
    results = []
    for path in paths:
        try:
            decoded = decode_views(path, clips=clips, crops=crops, **options)
        except VideoError as err:
            results.append({"path": path, "ok": False, "reason": str(err)})
            continue
        logits = torch.cat([module(v) for v in iter_views(decoded["frames"], decoded["boxes"],
                                                          module.hparams.view_batch)])
        probs = module._average(logits.unsqueeze(0))[0]
        best = probs.topk(min(top, len(classes)))
        results.append({"path": path, "ok": True, "views": clips * crops,
                        "top": [(classes[i], float(p)) for p, i in zip(best.values, best.indices)]})
    return results


def run_predict(paths: List[str], ckpt_path: str, views: str = "10x3", as_json: bool = False) -> int:
    results = predict_videos(paths, ckpt_path, views)
    if as_json:
        print(json.dumps(results, indent=2))
    else:
        for r in results:
            if not r["ok"]:
                print(f"{r['path']}: cannot predict: {r['reason']}", file=sys.stderr)
                continue
            print(f"{r['path']} ({r['views']} views)")
            for rank, (name, p) in enumerate(r["top"], 1):
                print(f"  {rank}. {name:30s} {p:.4f}")
    return 0 if all(r["ok"] for r in results) else 1
