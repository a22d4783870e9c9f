import torch

from gcvideo import create_model, fold_context_blocks
from gcvideo.models.attention import capture_attention
from helpers import TINY, perturb


def test_capture_attention_returns_normalised_maps_per_block():
    model = create_model("slow_r50_gc5", num_classes=3, **TINY).eval()
    for name, m in model.named_modules():
        if name.endswith(".context.pool"):
            perturb(m)
    clip = torch.randn(2, 3, 4, 64, 64)
    with capture_attention(model) as maps:
        model(clip)
    assert sorted(maps) == ["blocks.2.res_blocks.1.context", "blocks.2.res_blocks.3.context",
                            "blocks.3.res_blocks.1.context", "blocks.3.res_blocks.3.context",
                            "blocks.3.res_blocks.5.context"]
    assert maps["blocks.2.res_blocks.1.context"].shape == (2, 4, 8, 8)      # c3 of a 64x64 clip
    for m in maps.values():
        torch.testing.assert_close(m.flatten(1).sum(1), torch.ones(2))
        assert m.flatten(1).std(1).min() > 0                                 # not uniform
    before = {k: v.clone() for k, v in maps.items()}
    model(torch.randn(2, 3, 4, 64, 64))                                      # hooks are gone
    assert all(torch.equal(before[k], maps[k]) for k in maps)


def slow_mean_cosine_distance(vectors):
    """(P, D) -> mean over ordered pairs i != j of 1 - cos, with two Python loops."""
    v = vectors.double()
    total, pairs = 0.0, 0
    for i in range(len(v)):
        for j in range(len(v)):
            if i != j:
                total += 1 - float(torch.nn.functional.cosine_similarity(v[i], v[j], dim=0))
                pairs += 1
    return total / pairs


def test_nl_stats_of_a_trained_model_match_a_direct_computation(synth_root, tmp_path, capsys):
    import json
    import os

    from gcvideo.models.attention import nl_statistics
    from gcvideo.cli import main
    from gcvideo.layers.non_local import NonLocal3d
    from gcvideo.engine.checkpoint import load_classifier
    from helpers import tiny_args

    args = tiny_args(synth_root, tmp_path / "nl", epochs=1, model="slow_r50_nl5",
                     extra=["--model.backbone", '{"depths": [1, 4, 6, 1], "width": 4}'])
    assert main(["fit", *args]) == 0
    ckpt = str(tmp_path / "nl" / "checkpoints" / "last.ckpt")
    capsys.readouterr()
    assert main(["analyze", "nl-stats", "--ckpt_path", ckpt, "--data", os.path.join(synth_root, "val.csv"),
                 "--clips", "2", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert len(stats) == 5 and all(set(s) == {"input", "output", "attention_map", "attention_output"}
                                   for s in stats.values())
    # one block, one clip: the fast formulas against pair-by-pair loops
    module, _ = load_classifier(ckpt)
    block = next(m for m in module.model.modules() if isinstance(m, NonLocal3d))
    x = torch.randn(1, block.channels, 2, 4, 4)
    fast = nl_statistics(block.eval(), x)
    with torch.no_grad():
        maps, attended = block.attend(x)
        out = block(x)
    slow = {"input": slow_mean_cosine_distance(x.flatten(2)[0].T),
            "output": slow_mean_cosine_distance(out.flatten(2)[0].T),
            "attention_map": slow_mean_cosine_distance(maps[0]),
            "attention_output": slow_mean_cosine_distance(attended[0].T)}
    for key in slow:
        assert abs(fast[key] - slow[key]) < 1e-6, key


def test_visualize_writes_grid_and_gifs(synth_root, tmp_path, capsys):
    import os

    from PIL import Image

    from gcvideo.cli import main
    from helpers import tiny_args

    assert main(["fit", *tiny_args(synth_root, tmp_path / "gc", epochs=1, extra=("--data.test_crop_size", "48"))]) == 0
    ckpt = str(tmp_path / "gc" / "checkpoints" / "last.ckpt")
    video = next(os.path.join(d, f) for d, _, fs in os.walk(synth_root) for f in fs if f.endswith(".mp4"))
    out = tmp_path / "vis"
    assert main(["visualize", "--ckpt_path", ckpt, "--video", video, "--out", str(out)]) == 0
    grid = Image.open(out / "attention_grid.png")
    assert grid.size[0] >= 4 * 128 and grid.size[1] >= 3 * 128    # 4 frames x 3 GC blocks (c3-c5), 128-px tiles
    gifs = sorted(p for p in os.listdir(out) if p.endswith(".gif"))
    assert len(gifs) == 3
    gif = Image.open(out / gifs[0])
    assert gif.n_frames == 4 and min(gif.size) >= 192
    printed = capsys.readouterr().out
    assert "c3 block 0" in printed and "c5 block 0" in printed and "x uniform" in printed
    assert main(["visualize", "--ckpt_path", ckpt, "--video", video, "--blocks", "nothing"]) == 2
    assert main(["visualize", "--ckpt_path", ckpt, "--video", "/nope.mp4"]) == 2


def test_capture_attention_sees_gc_blocks_in_eval_mode():
    model = create_model("slow_r50_gc", num_classes=3, **TINY).eval()   # after_1x1: foldable, not folded
    for name, m in model.named_modules():
        if name.endswith(".context.pool"):
            perturb(m)
    with capture_attention(model) as maps:
        model(torch.randn(1, 3, 4, 32, 32))
    assert len(maps) == 4 + 6 + 1 and "blocks.2.res_blocks.0.branch2.context" in maps
    fast = fold_context_blocks(model)
    with capture_attention(fast) as maps:          # the inference form never calls the pools
        fast(torch.randn(1, 3, 4, 32, 32))
    assert maps == {}
