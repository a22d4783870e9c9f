"""``gcvideo analyze nl-stats`` and ``gcvideo visualize``: look inside a trained checkpoint."""
import json
import os

import torch

from ..models.analysis import capture_attention, collect_nl_statistics


def run_nl_stats(ckpt_path: str, data: str, root: str = None, clips: int = 32, as_json: bool = False) -> int:
    """``gcvideo analyze nl-stats``: the paper's Table 1 for every NL block of a checkpoint."""
    from ..data.dataset import VideoClipDataset
    from ..data.records import load_records
    from ..engine.checkpoint import load_classifier

    module, options = load_classifier(ckpt_path)
    classes = module.hparams.classes or [str(i) for i in range(module.hparams.num_classes)]
    records = load_records(data, root, classes)
    dataset = VideoClipDataset(records, {c: i for i, c in enumerate(classes)}, "val",
                               **{k: options[k] for k in ("num_frames", "sampling_rate", "target_fps", "backend",
                                                          "crop_size", "eval_short_side")})
    samples = (dataset[i] for i in range(len(dataset)))
    good = (s["video"].unsqueeze(0) for s in samples if s["ok"])
    limited = (clip for _, clip in zip(range(clips), good))
    stats = collect_nl_statistics(module.model, limited)
    if as_json:
        print(json.dumps(stats, indent=2))
        return 0
    print("mean pairwise cosine distance between positions (GCNet Table 1):")
    print(f"{'NL block':40s} {'input':>8s} {'output':>8s} {'att map':>8s} {'att out':>8s}")
    for name, s in stats.items():
        print(f"{name:40s} {s['input']:8.4f} {s['output']:8.4f} {s['attention_map']:8.4f} {s['attention_output']:8.4f}")
    return 0


def run_visualize(ckpt_path: str, video: str, out: str, blocks=None) -> int:
    """``gcvideo visualize``: GC/SNL attention over T x H x W, overlaid on the centre clip."""
    import numpy as np
    import torch.nn.functional as F
    from matplotlib import colormaps
    from PIL import Image

    from ..data import decode, sampling, transforms
    from ..engine.checkpoint import load_classifier

    module, options = load_classifier(ckpt_path)
    crop = options["crop_size"]
    info = decode.probe(video)
    times = sampling.uniform_clips(info.duration, info.fps, options["num_frames"], options["sampling_rate"], 1,
                                   options["target_fps"])[0]                # the centre clip
    frames = decode.decode_at(video, times, options["backend"])
    clip_u8 = transforms.center_crop(frames, options["eval_short_side"], crop)   # (T, 3, crop, crop) uint8
    with capture_attention(module.model) as maps, torch.no_grad():
        module.model.eval()(transforms.normalize(clip_u8).unsqueeze(0))
    if not maps:
        raise ValueError("the model has no GC or SNL block (attention pooling) to visualise")
    if blocks:
        maps = {k: v for k, v in maps.items() if any(b in k for b in blocks)}
        if not maps:
            raise ValueError(f"no GC/SNL block matches {blocks}")
    os.makedirs(out, exist_ok=True)
    jet = colormaps["jet"]
    rows, written = [], []
    for name, att in maps.items():
        up = F.interpolate(att.unsqueeze(1), size=(clip_u8.shape[0], crop, crop), mode="trilinear",
                           align_corners=False)[0, 0]                      # (T, crop, crop)
        up = (up - up.min()) / (up.max() - up.min() + 1e-12)              # one scale for the whole clip
        heat = torch.from_numpy(jet(up.numpy())[..., :3]).float()         # (T, crop, crop, 3)
        base = clip_u8.permute(0, 2, 3, 1).float() / 255
        overlay = ((0.5 * base + 0.5 * heat).clamp(0, 1) * 255).byte().numpy()
        rows.append(np.concatenate(list(overlay), axis=1))
        gif = os.path.join(out, f"{name.replace('.', '_')}.gif")
        images = [Image.fromarray(f) for f in overlay]
        images[0].save(gif, save_all=True, append_images=images[1:], duration=250, loop=0)
        written.append(gif)
        peak = np.unravel_index(int(att[0].argmax()), att[0].shape)
        print(f"{name}: attention map {tuple(att.shape[1:])}, peak at (t, y, x) = {tuple(int(p) for p in peak)}, "
              f"max weight {float(att.max()):.4f} (uniform {1 / att[0].numel():.4f})")
    grid = os.path.join(out, "attention_grid.png")
    Image.fromarray(np.concatenate(rows, axis=0)).save(grid)
    print(f"wrote {grid} (rows: blocks, columns: frames) and {len(written)} GIF(s) in {out}")
    return 0
