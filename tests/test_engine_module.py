import pytest
import torch

from gcvideo import create_model
from gcvideo.engine.module import VideoClassifier, param_groups
from helpers import TINY


def test_no_decay_groups_find_norms_by_type_and_every_bias():
    model = create_model("slow_r50_gc", num_classes=3, **TINY)
    plain = param_groups(model, 1e-4, no_decay_norm_bias=False)
    assert len(plain) == 1 and len(plain[0]["params"]) == len(list(model.parameters()))
    decay, exempt = param_groups(model, 1e-4, no_decay_norm_bias=True)
    exempt_ids = {id(p) for p in exempt["params"]}
    gc = next(m for n, m in model.named_modules() if n.endswith(".context"))
    assert id(gc.transform[1].weight) in exempt_ids                     # 4-D LayerNorm weight
    assert id(gc.transform[0].bias) in exempt_ids and id(gc.transform[0].weight) not in exempt_ids
    assert id(model.blocks[0].norm.weight) in exempt_ids and id(model.blocks[0].conv.weight) not in exempt_ids
    assert exempt["weight_decay"] == 0.0 and decay["weight_decay"] == 1e-4
    assert len(decay["params"]) + len(exempt["params"]) == len(list(model.parameters()))


@pytest.mark.parametrize("option, value, message", [
    ("lr", -1.0, "model.lr must be >= 0"), ("optimizer", "adam", "model.optimizer"),
    ("label_smoothing", 1.0, "label_smoothing"), ("view_average", "max", "view_average"),
    ("view_batch", 0, "view_batch")])
def test_bad_options_name_themselves(option, value, message):
    with pytest.raises(ValueError, match=message):
        VideoClassifier(model="slow_r50", num_classes=3, model_options=dict(TINY), **{option: value})


def test_view_averaging():
    module = VideoClassifier(model="slow_r50", num_classes=3, model_options=dict(TINY))
    logits = torch.tensor([[[4.0, 0.0, 0.0], [0.0, 0.0, 1.0]]])        # 1 video, 2 views
    expected = (logits.softmax(-1)[0, 0] + logits.softmax(-1)[0, 1]) / 2
    torch.testing.assert_close(module.average_views(logits)[0], expected)
    module.hparams.view_average = "logits"
    torch.testing.assert_close(module.average_views(logits)[0], logits.mean(1).softmax(-1)[0])
