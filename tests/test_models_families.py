"""GC (and NL/SNL/SE) in the video networks people use, by rule.

Each family is built with random weights, its fixed-size head pools made adaptive so a
small clip runs: the plain state_dict loads into the network with blocks with exactly the
new keys missing, GC/NL/SNL leave the output unchanged at init, and the FLOPs delta is
measured (positive, and small for GC).
"""
import pytest
import torch
from torch import nn

from gcvideo import insert_blocks
from gcvideo.models import fold_context_blocks
from gcvideo.models.cost import count_flops
from gcvideo.models.families import adaptive_heads
from gcvideo.models.insert import OutputThroughContext, bypass_blocks, network_layout, select_targets
from helpers import perturb, randomize_norms
from test_models_insert import check_insert_dont_rename


def build(family: str) -> nn.Module:
    from pytorchvideo.models import hub
    from torchvision.models.video import s3d

    builders = {
        "slowfast_r50": lambda: hub.slowfast_r50(pretrained=False, model_num_class=5),
        "x3d_s": lambda: hub.x3d_s(pretrained=False, model_num_class=5),
        "csn_r101": lambda: hub.csn_r101(pretrained=False, model_num_class=5),
        "r2plus1d_r50": lambda: hub.r2plus1d_r50(pretrained=False, model_num_class=5),
        "i3d_r50": lambda: hub.i3d_r50(pretrained=False, model_num_class=5),
        "s3d": lambda: s3d(num_classes=5),
    }
    torch.manual_seed(0)
    return adaptive_heads(builders[family]())


def clip(family: str):
    x = torch.randn(1, 3, 8, 64, 64, generator=torch.Generator().manual_seed(1))
    return [x[:, :, ::4], x] if family.startswith("slowfast") else x


FAMILIES = ["slowfast_r50", "x3d_s", "csn_r101", "r2plus1d_r50", "i3d_r50", "s3d"]
EXPECTED_BLOCKS = {"slowfast_r50": 2 * (4 + 6 + 3), "x3d_s": 5 + 11 + 7, "csn_r101": 4 + 23 + 3,
                   "r2plus1d_r50": 4 + 6 + 3, "i3d_r50": 4 + 6 + 3, "s3d": 2 + 5 + 2}


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("kind", ["gc", "snl", "nl", "se"])
def test_blocks_go_in_by_rule_and_keep_the_network_at_init(family, kind):
    plain = randomize_norms(build(family)).eval()
    modified = build(family)
    added = insert_blocks(modified, kind)
    assert len(added) == EXPECTED_BLOCKS[family]
    check_insert_dont_rename(plain, modified, added)
    modified.eval()
    with torch.no_grad():
        same = torch.equal(modified(clip(family)), plain(clip(family)))
    assert same == (kind != "se"), "GC/SNL/NL are the identity at init; SE rescales"
    if kind == "gc":
        base, more = count_flops(plain, inputs=clip(family)), count_flops(modified, inputs=clip(family))
        assert 0 < (more - base) / base < 0.02, (family, base, more)


def test_slowfast_where_names_pathways_and_stages():
    model = build("slowfast_r50")
    slow_c4 = select_targets(model, ["slow:c4"])
    assert slow_c4 == [f"blocks.3.multipathway_blocks.0.res_blocks.{i}.branch2" for i in range(6)]
    assert len(select_targets(model, ["c4"])) == 12                                # both pathways
    assert select_targets(model, ["fast"]) == select_targets(model, ["fast:c3", "fast:c4", "fast:res5"])
    assert select_targets(model, {"fast:c5": [2]}, position="after_add") == \
        ["blocks.4.multipathway_blocks.1.res_blocks.2"]
    with pytest.raises(ValueError, match="unknown pathway 'medium'"):
        select_targets(model, ["medium:c4"])
    with pytest.raises(ValueError, match="one pathway"):
        select_targets(build("i3d_r50"), ["slow:c4"])
    # the lateral connections see the shapes they were built for, trained blocks included
    insert_blocks(model, "gc", where=["slow", "fast"])
    for block in (m for m in model.modules() if hasattr(m, "context")):
        perturb(block.context)
    assert model.eval()(clip("slowfast_r50")).shape == (1, 5)


def test_s3d_blocks_sit_on_the_inception_outputs():
    model = build("s3d")
    assert network_layout(model).family == "s3d"
    with pytest.raises(ValueError, match="no residual branch"):
        insert_blocks(model, "gc", position="after_1x1")
    added = insert_blocks(model, "gc", where=["c4"])
    assert added == [f"features.{i}.context" for i in (8, 9, 10, 11, 12)]
    channels = [model.features[i].context.channels for i in (8, 9, 10, 11, 12)]
    assert channels == [512, 512, 512, 528, 832]                  # the four branches concatenated
    assert isinstance(model.features[8], OutputThroughContext) and not model.features[8]._forward_hooks


@pytest.mark.parametrize("family", ["x3d_s", "slowfast_r50"])
def test_gc_folds_at_inference_in_other_networks(family):
    model = build(family)
    insert_blocks(model, "gc")
    for block in (m.context for m in model.modules() if hasattr(m, "context")):
        perturb(block)
    randomize_norms(model)
    model.eval()
    folded = fold_context_blocks(model)
    from gcvideo.layers import FoldedGlobalContext3d

    n = sum(isinstance(m, FoldedGlobalContext3d) for m in folded.modules())
    assert n == EXPECTED_BLOCKS[family]
    with torch.no_grad():
        assert torch.allclose(folded(clip(family)), model(clip(family)), atol=1e-4, rtol=1e-4)
        with bypass_blocks(model):
            plain = model(clip(family))
        with bypass_blocks(folded):
            assert torch.allclose(folded(clip(family)), plain, atol=1e-4, rtol=1e-4)


def test_networks_with_blocks_export_without_hooks():
    """torch.export (dynamo) traces a network whose blocks sit on module outputs (S3D, after_add)."""
    from torchvision.models.video import r3d_18

    torch.manual_seed(0)
    model = r3d_18(num_classes=3)
    insert_blocks(model, "gc", where=["c5"], position="after_add")
    for m in model.modules():
        if hasattr(m, "context"):
            perturb(m.context)
            assert not m._forward_hooks
    model.eval()
    x = torch.randn(1, 3, 4, 32, 32)
    exported = torch.export.export(model, (x,))
    with torch.no_grad():
        assert torch.allclose(exported.module()(x), model(x), atol=1e-5)


def test_registered_slowfast_takes_one_clip_and_pytorchvideo_weights(tmp_path):
    """slowfast_r50_gc is pytorchvideo's slowfast_r50 with GC in both pathways; the
    plain network's weights load from a local file with exactly the new keys missing."""
    from pytorchvideo.models.hub import slowfast_r50

    from gcvideo import create_model

    torch.manual_seed(0)
    theirs = randomize_norms(adaptive_heads(slowfast_r50(pretrained=False))).eval()
    torch.save(theirs.state_dict(), tmp_path / "slowfast_r50.pyth")
    ours = create_model("slowfast_r50_gc", pretrained=str(tmp_path / "slowfast_r50.pyth")).eval()
    x = torch.randn(1, 3, 16, 64, 64)
    with torch.no_grad():
        assert torch.equal(ours(x), theirs([x[:, :, ::4], x]))       # one clip in; GC is the identity at init
    new = set(ours.state_dict()) - set(theirs.state_dict())
    assert new and all(".context." in k for k in new) and set(theirs.state_dict()) <= set(ours.state_dict())


@pytest.mark.parametrize("name, hub_name", [("x3d_m_gc", "x3d_m"), ("i3d_r50_gc", "i3d_r50")])
def test_registered_x3d_and_i3d_load_pytorchvideo_weights(tmp_path, name, hub_name):
    from pytorchvideo.models import hub

    from gcvideo import create_model

    torch.manual_seed(0)
    theirs = randomize_norms(adaptive_heads(getattr(hub, hub_name)(pretrained=False))).eval()
    if hub_name == "x3d_m":
        theirs.blocks[-1].activation = None                 # gcvideo's heads give logits
    path = tmp_path / f"{hub_name}.pyth"
    torch.save({"model_state": theirs.state_dict()}, path)   # SlowFast's checkpoint layout
    ours = create_model(name, pretrained=str(path)).eval()
    x = torch.randn(1, 3, 8, 64, 64)
    with torch.no_grad():
        assert torch.allclose(ours(x), theirs(x), atol=1e-6)


def test_weights_of_another_network_are_refused_naming_a_key(tmp_path):
    from pytorchvideo.models.hub import i3d_r50

    from gcvideo import create_model

    torch.save(i3d_r50(pretrained=False).state_dict(), tmp_path / "i3d.pyth")
    with pytest.raises(ValueError, match=r"blocks\.\d"):
        create_model("slowfast_r50_gc", pretrained=str(tmp_path / "i3d.pyth"))
