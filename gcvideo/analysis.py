"""Looking inside trained networks: the attention maps of GC/SNL blocks and NL statistics."""
import contextlib
from typing import Dict, Iterator

import torch
from torch import nn

from .global_context import AttentionPool3d, unfolded


@contextlib.contextmanager
def capture_attention(model: nn.Module) -> Iterator[Dict[str, torch.Tensor]]:
    """Record the attention-pooling weights of every GC/SNL block during forward passes.

    >>> with capture_attention(model) as maps:
    ...     model(clip)
    >>> maps["blocks.3.res_blocks.0.branch2.context"].shape   # (N, T, H, W), sums to 1 over T*H*W

    Keys are the blocks' module names; each value is the softmax over all T*H*W positions
    of the last forward, detached and on the CPU.
    """
    maps: Dict[str, torch.Tensor] = {}
    handles = []
    for name, module in model.named_modules():
        if isinstance(module, AttentionPool3d):
            block = name.rsplit(".pool", 1)[0]

            def hook(mod, inputs, output, block=block):
                maps[block] = mod.attention(inputs[0]).detach().float().cpu()

            handles.append(module.register_forward_hook(hook))
    try:
        with unfolded(model):   # a GC block folded into conv + BN (eval) never calls its pool
            yield maps
    finally:
        for handle in handles:
            handle.remove()


def mean_pairwise_cosine_distance(vectors: torch.Tensor) -> torch.Tensor:
    """Mean over all pairs i != j of ``1 - cos(v_i, v_j)`` for (..., N, D) inputs, in O(N D):
    with unit vectors u, the sum of cos over all ordered pairs is ``|sum u|^2 - N``."""
    u = torch.nn.functional.normalize(vectors.double(), dim=-1)
    n = u.shape[-2]
    total = u.sum(-2).pow(2).sum(-1)                                     # sum_ij cos(u_i, u_j)
    return 1.0 - (total - n) / (n * (n - 1))


@torch.no_grad()
def nl_statistics(block: nn.Module, x: torch.Tensor) -> Dict[str, float]:
    """GCNet Table 1 for one NonLocal3d on input x (N, C, T, H, W): mean pairwise cosine
    distance between positions of the input features, of the block's output, of the
    attention maps of different query positions, and of what those maps attend to."""
    maps, attended = block.attend(x)                                     # (N, P, P'), (N, C', P)
    output = block(x)
    stats = {
        "input": mean_pairwise_cosine_distance(x.flatten(2).transpose(1, 2)),
        "output": mean_pairwise_cosine_distance(output.flatten(2).transpose(1, 2)),
        "attention_map": mean_pairwise_cosine_distance(maps),
        "attention_output": mean_pairwise_cosine_distance(attended.transpose(1, 2)),
    }
    return {k: float(v.mean()) for k, v in stats.items()}


@torch.no_grad()
def collect_nl_statistics(model: nn.Module, clips) -> Dict[str, Dict[str, float]]:
    """Average :func:`nl_statistics` of every NonLocal3d in ``model`` over ``clips``
    (an iterable of (N, 3, T, H, W) tensors)."""
    from .non_local import NonLocal3d

    blocks = {n: m for n, m in model.named_modules() if isinstance(m, NonLocal3d)}
    if not blocks:
        raise ValueError("the model has no non-local blocks (train e.g. slow_r50_nl5)")
    inputs: Dict[str, torch.Tensor] = {}
    handles = [m.register_forward_pre_hook(lambda mod, args, name=n: inputs.__setitem__(name, args[0]))
               for n, m in blocks.items()]
    sums: Dict[str, Dict[str, float]] = {n: {} for n in blocks}
    count = 0
    try:
        model.eval()
        for clip in clips:
            model(clip)
            for name, block in blocks.items():
                for key, value in nl_statistics(block, inputs[name]).items():
                    sums[name][key] = sums[name].get(key, 0.0) + value
            count += 1
    finally:
        for h in handles:
            h.remove()
    return {name: {k: v / max(count, 1) for k, v in stat.items()} for name, stat in sums.items()}


def run_nl_stats(ckpt_path: str, data: str, root: str = None, clips: int = 32, as_json: bool = False) -> int:
    """``gcvideo analyze nl-stats``: the paper's Table 1 for every NL block of a checkpoint."""
    import json

    from .data.dataset import VideoClipDataset
    from .data.records import load_records
    from .predict import load_classifier

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
    import os

    import numpy as np
    import torch.nn.functional as F
    from matplotlib import colormaps
    from PIL import Image

    from .data import decode, sampling, transforms
    from .predict import load_classifier

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
