import torch

from gcvideo import create_model
from gcvideo.analysis import capture_attention
from conftest import TINY, perturb


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
