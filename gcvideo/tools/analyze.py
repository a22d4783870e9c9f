"""``gcvideo analyze nl-stats``, ``analyze lift`` and ``visualize``: look inside a trained checkpoint."""
import csv
import json as jsonlib
import os
from typing import Literal, Optional

import numpy as np
import torch
import torch.nn.functional as F

from ..data.multiview import centre_view
from ..models.attention import attention_on_regions, capture_attention, collect_nl_statistics


def run_nl_stats(*, ckpt_path: str, data: str, root: Optional[str] = None, clips: int = 32,
                 json: bool = False, trust_checkpoint: bool = False) -> int:
    """GCNet Table 1: cosine distances inside every NL block

    For every non-local block of a trained checkpoint, on real clips: the mean pairwise cosine
    distance between positions of the block's input, of its output, of the attention maps of
    different query positions, and of what those maps attend to. Small attention-map distances
    mean query-independent attention.

    Args:
        ckpt_path: a gcvideo checkpoint
        data: Kinetics CSV, 'path label' list or class-folder tree
        root: video folder (default: the list's folder)
        clips: videos to average over (centre clip each)
        json: print JSON
        trust_checkpoint: load a checkpoint holding other objects than tensors, numbers and
            strings with full pickle, which can run code (refused otherwise): trusted files only
    """
    from ..data.dataset import VideoClipDataset
    from ..data.records import load_records
    from ..engine.checkpoint import load_classifier

    module, spec = load_classifier(ckpt_path, trust_checkpoint)
    classes = module.class_names
    records = load_records(data, root, classes)
    dataset = VideoClipDataset(records, {c: i for i, c in enumerate(classes)}, "val", num_frames=spec.num_frames,
                               sampling_rate=spec.sampling_rate, target_fps=spec.target_fps, backend=spec.backend,
                               crop_size=spec.crop_size, eval_short_side=spec.eval_short_side,
                               sampling=spec.sampling)
    samples = (dataset[i] for i in range(len(dataset)))
    good = (module.batch_video({"video": s["video"].unsqueeze(0)}) for s in samples if s["ok"])
    limited = (clip for _, clip in zip(range(clips), good))
    stats = collect_nl_statistics(module.model, limited)
    if json:
        print(jsonlib.dumps(stats, indent=2))
        return 0
    print("mean pairwise cosine distance between positions (GCNet Table 1):")
    print(f"{'NL block':40s} {'input':>8s} {'output':>8s} {'att map':>8s} {'att out':>8s}")
    for name, s in stats.items():
        print(f"{name:40s} {s['input']:8.4f} {s['output']:8.4f} {s['attention_map']:8.4f} {s['attention_output']:8.4f}")
    return 0


def run_visualize(*, ckpt_path: str, video: str, blocks: list[str] = (), out: str = "attention",
                  cues: Optional[str] = None, trust_checkpoint: bool = False, overwrite: bool = False) -> int:
    """GC/SNL attention maps over T x H x W, overlaid on a video

    Runs a checkpoint on the centre view of VIDEO (as the test protocol's middle view) and saves
    each GC/SNL block's attention (softmax over all T x H x W positions): attention_grid.png (rows:
    blocks by stage, columns: frames with their time; grey frames, attention in one red scale for
    all blocks in units of x uniform, with a colour bar) and one animated GIF per block (>= 192
    px). For a video of `gcvideo data synth --task relation`, the cue boxes are outlined (read from
    the dataset's cues.json). For your own plots use gcvideo.models.attention.capture_attention(model).

    Args:
        ckpt_path: a gcvideo checkpoint
        video: a video file
        blocks: only blocks whose names contain one of these strings
        out: output folder
        cues: cues.json of a generated relation dataset (default: the one above VIDEO, if any)
        trust_checkpoint: load a checkpoint holding other objects than tensors, numbers and
            strings with full pickle, which can run code (refused otherwise): trusted files only
        overwrite: replace pictures already in --out
    """
    from ..data import transforms
    from ..engine.checkpoint import load_classifier
    from ..engine.figures import attention_figure, gif_frames, save, stage_label
    from ..files import check_outputs

    check_outputs(os.path.join(out, "attention_grid.png"), inputs=[ckpt_path, video], overwrite=overwrite)

    module, spec = load_classifier(ckpt_path, trust_checkpoint)
    clip_u8, times, info, box = centre_view(video, spec)               # (T, 3, crop, crop) uint8
    with capture_attention(module.model) as maps, torch.no_grad():
        module.model.eval()(transforms.normalize(clip_u8).unsqueeze(0))
    if not maps:
        raise ValueError("the model has no GC or SNL block (attention pooling) to visualise")
    if blocks:
        maps = {k: v for k, v in maps.items() if any(b in k for b in blocks)}
        if not maps:
            raise ValueError(f"no GC/SNL block matches {blocks}")
    gifs = {name: os.path.join(out, f"{name.replace('.', '_')}.gif") for name in maps}
    check_outputs(gifs.values(), inputs=[ckpt_path, video], overwrite=overwrite)
    frames = clip_u8.permute(0, 2, 3, 1).numpy()                      # (T, crop, crop, 3)
    boxes = cue_boxes(video, cues, [int(round(t * info.fps)) for t in times], box, frames.shape[1])
    os.makedirs(out, exist_ok=True)
    grid = save(attention_figure(frames, {k: v[0] for k, v in maps.items()}, times, boxes),
                os.path.join(out, "attention_grid.png"))
    top = max(2.0, max(float(v[0].max()) * v[0].numel() for v in maps.values()))
    written = []
    for name, att in maps.items():
        gif = gifs[name]
        images = gif_frames(frames, att[0].numpy(), top)
        images[0].save(gif, save_all=True, append_images=images[1:], duration=250, loop=0)
        written.append(gif)
        weights = att[0]
        peak = tuple(int(p) for p in np.unravel_index(int(weights.argmax()), weights.shape))
        print(f"{stage_label(name)} ({name}): attention map {tuple(att.shape[1:])}, peak at (t, y, x) = {peak}, "
              f"{float(weights.max()) * weights.numel():.2f}x uniform")
    print(f"wrote {grid} (rows: blocks, columns: frames) and {len(written)} GIF(s) in {out}")
    return 0


def cue_boxes(video: str, cues: Optional[str], frame_indices, box: tuple, crop: int) -> Optional[list]:
    """Per frame of the clip, the lit cue boxes in the crop's pixels (None without cues.json)."""
    path = cues
    if path is None:                        # a generated relation dataset: ROOT/cues.json, ROOT/label/video
        root = os.path.dirname(os.path.dirname(os.path.abspath(video)))
        path = os.path.join(root, "cues.json") if os.path.exists(os.path.join(root, "cues.json")) else None
    if path is None:
        return None
    with open(path, encoding="utf-8") as f:
        entries = jsonlib.load(f)["videos"]
    key = os.path.relpath(os.path.abspath(video), os.path.dirname(os.path.abspath(path)))
    if key not in entries:
        return None
    top, left, h, w = box
    sy, sx = crop / h, crop / w
    return [[((x0 - left) * sx, (y0 - top) * sy, (x1 - left) * sx, (y1 - top) * sy)
             for cue in entries[key] if index in cue["frames"] for x0, y0, x1, y1 in [cue["box"]]]
            for index in frame_indices]


def cue_cover(cues: list, frame_indices, source_hw: tuple, box: tuple, crop: int) -> torch.Tensor:
    """(T, crop, crop) fraction of each pixel of an eval crop inside a cue box, for the clip
    made of the video's frames ``frame_indices``; ``box`` = (top, left, h, w) of the crop."""
    height, width = source_hw
    top, left, h, w = box
    cover = torch.zeros(len(frame_indices), height, width)
    for t, index in enumerate(frame_indices):
        for cue in cues:
            if index in cue["frames"]:
                x0, y0, x1, y1 = cue["box"]
                cover[t, y0:y1 + 1, x0:x1 + 1] = 1.0
    region = cover[:, top:top + h, left:left + w].unsqueeze(1)                    # (T, 1, h, w)
    return F.interpolate(region, size=(crop, crop), mode="area")[:, 0]


def measure_lift(module, spec, root: str, split: str = "test", limit: int = 0,
                 progress: bool = False) -> dict:
    """Attention share and lift of every GC/SNL block on the cue boxes of a generated relation
    dataset (``root/cues.json``), averaged over the centre clips of ``split``'s videos (the
    checkpoint's :class:`~gcvideo.data.spec.InputSpec` ``spec``)."""
    from ..data import transforms
    from ..data.records import kinetics_filename

    cues_path = os.path.join(root, "cues.json")
    if not os.path.exists(cues_path):
        raise FileNotFoundError(f"{cues_path} not found: lift needs a dataset from `gcvideo data synth --task relation`")
    with open(cues_path, encoding="utf-8") as f:
        cues = jsonlib.load(f)["videos"]
    with open(os.path.join(root, f"{split}.csv"), newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))[: limit or None]
    from ..progress import progress_bar

    sums: dict = {}
    net = module.model.eval()
    for row in progress_bar(rows, desc=f"attention on the cues ({split})", unit="video", disable=not progress):
        rel = f"{row['label']}/{kinetics_filename(row['youtube_id'], row['time_start'], row['time_end'])}.mp4"
        path = os.path.join(root, rel)                   # cues.json is keyed by this relative path
        if rel not in cues:
            raise ValueError(f"{cues_path} has no cue boxes for {rel} ({split}.csv): it belongs to another "
                             "generated dataset; run lift on the folder `data synth` wrote")
        clip_u8, times, info, box = centre_view(path, spec)
        cover = cue_cover(cues[rel], [int(round(t * info.fps)) for t in times], (info.height, info.width), box,
                          clip_u8.shape[-1])
        with capture_attention(net) as maps, torch.no_grad():
            net(transforms.normalize(clip_u8).unsqueeze(0))
        for name, att in maps.items():
            stats = attention_on_regions(att[0], cover)
            acc = sums.setdefault(name, {"mass": 0.0, "area": 0.0, "lift": 0.0})
            for k in acc:
                acc[k] += stats[k] / len(rows)
    if not sums:
        raise ValueError("the model has no GC or SNL block (attention pooling) to measure")
    return {"videos": len(rows), "blocks": sums}


def run_lift(*, ckpt_path: str, data: str, split: Literal["train", "val", "test"] = "test", limit: int = 0,
             json: bool = False, trust_checkpoint: bool = False) -> int:
    """share of each GC/SNL block's attention on the cues of the relation task

    For a checkpoint trained on `gcvideo data synth --task relation` data: for each GC/SNL block,
    the attention mass on the cue boxes (from the dataset's cues.json), their share of the
    positions, and the ratio (lift; 1 = no preference), averaged over the centre clips of a split.

    Args:
        ckpt_path: a gcvideo checkpoint
        data: the generated dataset folder (with cues.json and <split>.csv)
        split: which split's videos
        limit: only the first N videos (0: all)
        json: print JSON
        trust_checkpoint: load a checkpoint holding other objects than tensors, numbers and
            strings with full pickle, which can run code (refused otherwise): trusted files only
    """
    from ..engine.checkpoint import load_classifier

    module, spec = load_classifier(ckpt_path, trust_checkpoint)
    result = measure_lift(module, spec, data, split, limit, progress=not json)
    if json:
        print(jsonlib.dumps(result, indent=2))
        return 0
    print(f"attention on the cue boxes, centre clip of {result['videos']} {split} videos:")
    print(format_lift(result))
    return 0


def format_lift(result: dict) -> str:
    lines = [f"{'block':44s} {'mass on cues':>13s} {'cue area':>9s} {'lift':>6s}"]
    for name, s in result["blocks"].items():
        lines.append(f"{name:44s} {100 * s['mass']:12.1f}% {100 * s['area']:8.1f}% {s['lift']:5.1f}x")
    return "\n".join(lines)
