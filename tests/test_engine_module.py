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
        VideoClassifier(model="slow_r50", num_classes=3, backbone=dict(TINY), **{option: value})


def test_view_averaging():
    module = VideoClassifier(model="slow_r50", num_classes=3, backbone=dict(TINY))
    logits = torch.tensor([[[4.0, 0.0, 0.0], [0.0, 0.0, 1.0]]])        # 1 video, 2 views
    expected = (logits.softmax(-1)[0, 0] + logits.softmax(-1)[0, 1]) / 2
    torch.testing.assert_close(module.average_views(logits)[0], expected)
    module.hparams.view_average = "logits"
    torch.testing.assert_close(module.average_views(logits)[0], logits.mean(1).softmax(-1)[0])


def test_typed_options_build_what_the_free_dict_built():
    from gcvideo.models.options import BackboneOptions, BlockOptions

    typed = VideoClassifier(model="slow_r50_gc", num_classes=3, backbone=BackboneOptions(**TINY),
                            blocks=BlockOptions(where=["c4"], reduction=4))
    reference = create_model("slow_r50_gc", num_classes=3, where=["c4"], reduction=4, **TINY)
    assert typed.model.state_dict().keys() == reference.state_dict().keys()
    # checkpoints store the fields that were set, as plain dicts
    assert typed.hparams.backbone == TINY and typed.hparams.blocks == {"where": ["c4"], "reduction": 4}
    assert typed.hparams.model_options is None
    with pytest.raises(ValueError, match=r"unknown BlockOptions field\(s\) \['ratio'\]"):
        VideoClassifier(model="slow_r50_gc", num_classes=3, blocks={"ratio": 4})
    with pytest.raises(ValueError, match="do not apply to block 'se'|unknown option"):
        VideoClassifier(model="slow_r50_se", num_classes=3, backbone=dict(TINY), blocks={"pooling": "avg"})


def test_deprecated_model_options_still_build_and_warn(tmp_path):
    """gcvideo 0.1 configs and checkpoints carry ``model_options``: split into the typed pair."""
    with pytest.warns(DeprecationWarning, match="model.model_options is deprecated"):
        old = VideoClassifier(model="slow_r50_gc", num_classes=3, model_options={**TINY, "where": ["c3"]})
    assert old.hparams.backbone == TINY and old.hparams.blocks == {"where": ["c3"]}
    # a checkpoint written by 0.1 (hyper_parameters with model_options) loads for predict/export
    from gcvideo.engine.checkpoint import load_classifier

    hparams = {**dict(old.hparams), "model_options": {**TINY, "where": ["c3"]}}
    del hparams["backbone"], hparams["blocks"]
    path = tmp_path / "old.ckpt"
    torch.save({"state_dict": old.state_dict(), "hyper_parameters": hparams}, path)
    with pytest.warns(DeprecationWarning):
        module, _ = load_classifier(str(path))
    assert module.model.state_dict().keys() == old.model.state_dict().keys()
