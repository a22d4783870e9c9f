"""``forward_features``: a network's features beside its logits, read with hooks that live for one call."""
import pytest
import torch

from gcvideo import create_model
from gcvideo.models import feature_layers, forward_features
from helpers import TINY


def test_slow_features_are_the_heads_input_and_the_last_stages_output():
    model = create_model("slow_r50_gc", num_classes=5, **TINY).eval()
    x = torch.randn(2, 3, 4, 32, 32)
    with torch.no_grad():
        found, logits = forward_features(model, x, ("pre_logits", "c5"))
        h = x
        for block in model.blocks[:-1]:
            h = block(h)
        c5 = h.flatten(2).mean(-1)
        pre_logits = model.blocks[-1].pool(h).flatten(2).mean(-1)
        assert torch.allclose(logits, model(x))
    assert torch.allclose(found["c5"], c5, atol=1e-6) and torch.allclose(found["pre_logits"], pre_logits, atol=1e-6)
    assert found["pre_logits"].shape == (2, model.blocks[-1].proj.in_features)
    # the hooks are gone after the call, also when the forward fails
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())
    with pytest.raises(RuntimeError):
        forward_features(model, torch.randn(2, 5, 4, 32, 32), ("pre_logits", "c5"))
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())


def test_slowfast_c5_concatenates_both_pathways_and_s3d_has_no_pre_logits():
    slowfast = create_model("slowfast_r50", num_classes=5).eval()
    assert feature_layers(slowfast) == ("pre_logits", "c5")
    with torch.no_grad():
        found, _ = forward_features(slowfast, torch.randn(1, 3, 8, 64, 64), ("c5",))
    assert found["c5"].shape == (1, 2048 + 256)
    assert feature_layers(create_model("s3d", num_classes=5)) == ("c5",)     # its classifier is a conv
    with pytest.raises(ValueError, match="no Linear classifier"):
        forward_features(create_model("s3d", num_classes=5), torch.randn(1, 3, 8, 64, 64), ("pre_logits",))
