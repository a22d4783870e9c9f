import warnings

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
    ("label_smoothing", 1.0, "label_smoothing"), ("view_average", "median", "view_average"),
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
    assert "model_options" not in typed.hparams
    with pytest.raises(ValueError, match=r"unknown BlockOptions field\(s\) \['ratio'\]"):
        VideoClassifier(model="slow_r50_gc", num_classes=3, blocks={"ratio": 4})
    with pytest.raises(ValueError, match="do not apply to block 'se'|unknown option"):
        VideoClassifier(model="slow_r50_se", num_classes=3, backbone=dict(TINY), blocks={"pooling": "avg"})


def test_checkpoints_of_every_format_load(tmp_path, synth_root):
    """gcvideo 0.1 stored the network's options as one ``model_options`` dict: read as the typed
    pair. ``tests/data/slow_r50_gc_tiny_v0.2.ckpt`` is a checkpoint of today's format, written by
    ``gcvideo fit``: it must keep loading, for Python and for ``gcvideo test``."""
    import os

    from gcvideo.cli import main
    from gcvideo.engine.checkpoint import load_classifier
    from helpers import tiny_args

    new = VideoClassifier(model="slow_r50_gc", num_classes=3, backbone=dict(TINY), blocks={"where": ["c3"]})
    hparams = {**dict(new.hparams), "model_options": {**TINY, "where": ["c3"]}}
    del hparams["backbone"], hparams["blocks"]
    path = tmp_path / "old.ckpt"
    torch.save({"state_dict": new.state_dict(), "hyper_parameters": hparams}, path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        module, _ = load_classifier(str(path))
    assert module.model.state_dict().keys() == new.model.state_dict().keys()
    assert module.hparams.blocks == {"where": ["c3"]}
    today = os.path.join(os.path.dirname(__file__), "data", "slow_r50_gc_tiny_v0.2.ckpt")
    module, data = load_classifier(today)
    assert module.hparams.model == "slow_r50_gc" and data.num_frames == 4
    assert main(["test", *tiny_args(synth_root, tmp_path / "run"), "--data.test_views", "1x1",
                 "--data.test_crop_size", "32", "--ckpt_path", today]) == 0

def test_a_run_saved_with_the_old_layer_norm_shape_resumes(synth_root, tmp_path):
    """GC's LayerNorm was (C/r, 1, 1, 1) before 0.2: such a last.ckpt (weights and SGD momentum)
    resumes, and its network evaluates."""
    from gcvideo.cli import main
    from gcvideo.engine.checkpoint import load_classifier
    from helpers import tiny_args

    run = tmp_path / "run"
    assert main(["fit", *tiny_args(synth_root, run, epochs=1), "--model.max_epochs", "2"]) == 0
    path = run / "checkpoints" / "last.ckpt"
    checkpoint = torch.load(path, weights_only=True)
    module, _ = load_classifier(str(path))
    hp = module.hparams
    params = [p for g in param_groups(module.model, hp.weight_decay, hp.no_decay_norm_bias) for p in g["params"]]
    names = {id(p): n for n, p in module.model.named_parameters()}
    old = [i for i, p in enumerate(params) if names[id(p)].endswith(("transform.1.weight", "transform.1.bias"))]
    assert old
    for key in list(checkpoint["state_dict"]):
        if key.endswith(("transform.1.weight", "transform.1.bias")):
            checkpoint["state_dict"][key] = checkpoint["state_dict"][key].reshape(-1, 1, 1, 1)
    for i in old:
        state = checkpoint["optimizer_states"][0]["state"][i]
        state["momentum_buffer"] = state["momentum_buffer"].reshape(-1, 1, 1, 1)
    torch.save(checkpoint, path)
    assert main(["fit", *tiny_args(synth_root, run, epochs=2), "--model.max_epochs", "2", "--ckpt_path", "last"]) == 0
    load_classifier(str(run / "checkpoints" / "last.ckpt"))


def test_a_trainer_that_rewraps_the_rank_splitting_sampler_is_refused():
    """The data module splits videos over ranks; Lightning's distributed sampler on top would
    give each rank 1/ranks^2 of them."""
    from types import SimpleNamespace

    from torch.utils.data import DataLoader, DistributedSampler

    module = VideoClassifier(model="slow_r50", num_classes=2, backbone=dict(TINY))
    data = list(range(8))
    module._trainer = SimpleNamespace(train_dataloader=DataLoader(data, sampler=DistributedSampler(
        data, num_replicas=2, rank=0)))
    with pytest.raises(ValueError, match="use_distributed_sampler=False"):
        module.on_train_start()
    module._trainer = SimpleNamespace(train_dataloader=DataLoader(data))
    module.on_train_start()


def test_the_lr_scales_with_the_clips_of_a_step():
    """Repeated augmentation: a step holds batch_size x clips_per_video clips per device."""
    from types import SimpleNamespace

    module = VideoClassifier(model="slow_r50", num_classes=2, backbone=dict(TINY))
    module._trainer = SimpleNamespace(datamodule=SimpleNamespace(batch_size=4, clips_per_video=2), world_size=2,
                                      accumulate_grad_batches=3)
    assert module.total_batch() == 4 * 2 * 2 * 3
    module._trainer.datamodule = SimpleNamespace(batch_size=4)
    assert module.total_batch() == 4 * 2 * 3
