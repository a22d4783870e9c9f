import pytest
import torch
from pytorchvideo.models.hub.resnet import slow_r50 as ptv_slow_r50

from gcvideo import create_model, list_models
from gcvideo.models import MODELS, channels_last_3d
from gcvideo.models.catalog import RECIPE_COSTS
from gcvideo.models.cost import count_flops, count_params
from helpers import TINY, randomize_norms

EXPECTED_BLOCKS = {"slow_r50": (None, 0), "slow_r50_gc": ("GlobalContext3d", 13),
                   "slow_r50_gc5": ("GlobalContext3d", 5), "slow_r50_snl5": ("SimplifiedNonLocal3d", 5),
                   "slow_r50_nl5": ("NonLocal3d", 5), "slow_r50_se": ("SqueezeExcite3d", 13),
                   "slowfast_r50": (None, 0), "slowfast_r50_gc": ("GlobalContext3d", 26),
                   "x3d_m": (None, 0), "x3d_m_gc": ("GlobalContext3d", 5 + 11 + 7),
                   "i3d_r50": (None, 0), "i3d_r50_gc": ("GlobalContext3d", 13),
                   **{arch: (None, 0) for arch in ("r3d_18", "mc3_18", "r2plus1d_18", "s3d")},
                   **{f"{arch}_gc": ("GlobalContext3d", 6) for arch in ("r3d_18", "mc3_18", "r2plus1d_18")},
                   "s3d_gc": ("GlobalContext3d", 2 + 5 + 2)}


def test_every_registered_model_has_its_recorded_cost():
    assert set(RECIPE_COSTS) == set(MODELS)
    assert all((MODELS[n].params, MODELS[n].flops) == cost for n, cost in RECIPE_COSTS.items())


def context_blocks(model):
    return {n: type(m).__name__ for n, m in model.named_modules() if n.endswith(".context")}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_registered_model_builds_and_runs(name):
    assert name in list_models()
    full = create_model(name)
    kind, count = EXPECTED_BLOCKS[name]
    blocks = context_blocks(full)
    assert len(blocks) == count and set(blocks.values()) <= {kind}
    # the cost the catalog records for `gcvideo info` is this network's, counted at its recipe clip
    assert (count_params(full), count_flops(full, *MODELS[name].clip)) == RECIPE_COSTS[name]
    if MODELS[name].family == "slow":
        tiny = create_model(name, num_classes=7, **TINY).eval()
        assert tiny(torch.randn(2, 3, 4, 48, 64)).shape == (2, 7)
    elif name.startswith("s3d"):  # torchvision's own head pools 2x7x7: its clip (16x224)
        with torch.no_grad():
            assert full.eval()(torch.randn(1, 3, *MODELS[name].clip[:1], 224, 224)).shape == (1, 400)
    else:                       # one clip tensor in, any size (adaptive heads), logits out
        with torch.no_grad():
            assert full.eval()(torch.randn(2, 3, 8, 64, 64)).shape == (2, 400)


def test_block_positions():
    nl5 = context_blocks(create_model("slow_r50_nl5"))
    assert sorted(nl5) == ["blocks.2.res_blocks.1.context", "blocks.2.res_blocks.3.context",
                           "blocks.3.res_blocks.1.context", "blocks.3.res_blocks.3.context",
                           "blocks.3.res_blocks.5.context"]
    gc = context_blocks(create_model("slow_r50_gc"))
    assert all(n.endswith("branch2.context") for n in gc)
    assert {n.split(".")[1] for n in gc} == {"2", "3", "4"}


def test_overrides_express_the_ablations():
    m = create_model("slow_r50_gc", reduction=4, pooling="avg", fusion="mul", layer_norm=False,
                     where=("c4", "c5"), position="after_add", **TINY)
    gc = [b for n, b in m.named_modules() if n.endswith(".context")]
    assert len(gc) == 6 + 1 and all(b.pooling == "avg" and b.fusion == "mul" and b.reduction == 4 for b in gc)
    assert context_blocks(create_model("slow_r50", block="gc", where=("c2",), **TINY))
    assert not context_blocks(create_model("slow_r50_gc", block=None, **TINY))


def test_bad_names_and_options_fail_clearly():
    with pytest.raises(ValueError, match="unknown model 'slow_r51'"):
        create_model("slow_r51")
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['reduction'\] for model 'slow_r50'"):
        create_model("slow_r50", reduction=4)
    with pytest.raises(ValueError, match="'nl' takes"):
        create_model("slow_r50_nl5", pooling="avg")


def test_same_network_as_pytorchvideo_slow_r50():
    ours, theirs = create_model("slow_r50").eval(), randomize_norms(ptv_slow_r50()).eval()
    assert {k: v.shape for k, v in ours.state_dict().items()} == \
        {k: v.shape for k, v in theirs.state_dict().items()}
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(1, 3, 8, 224, 224)   # pytorchvideo's head pools a fixed 8x7x7
    with torch.no_grad():
        # adaptive vs fixed 8x7x7 average pooling: same numbers up to summation order
        torch.testing.assert_close(ours(x), theirs(x), rtol=1e-3, atol=1e-3)


def test_channels_last_3d_converts_conv_weights_only():
    net = channels_last_3d(create_model("slow_r50_gc", depths=(1, 1, 1, 1), width=8))
    for name, p in net.named_parameters():
        if p.dim() == 5:                                             # conv weights (and GC's key)
            assert p.is_contiguous(memory_format=torch.channels_last_3d), name
        elif p.dim() == 4:                                           # GC's LayerNorm weights, untouched
            assert p.is_contiguous(), name


def test_typed_options_name_exactly_the_options_the_registry_accepts():
    """BackboneOptions / BlockOptions (what configs take) are the union of the builders' keyword
    parameters and the blocks' constructor options; neither may drift from the other."""
    from dataclasses import fields

    from gcvideo.layers.factory import BLOCKS, block_options
    from gcvideo.models.families import BUILDERS
    from gcvideo.models.options import BackboneOptions, BlockOptions
    from gcvideo.models.registry import INSERT_OPTIONS, backbone_options

    assert backbone_options("slow") == ("depths", "width", "dropout", "in_channels", "temporal_kernels")
    assert backbone_options("slowfast") == ("depth", "alpha", "dropout")
    assert {f.name for f in fields(BackboneOptions)} == set().union(*map(backbone_options, ["slow", *BUILDERS]))
    assert {f.name for f in fields(BlockOptions)} == set(INSERT_OPTIONS).union(*(block_options(k) for k in BLOCKS))


def test_options_are_declared_once_by_the_builders_and_blocks_signatures():
    """A builder's or a block's new keyword parameter is a config option, typed from its
    annotation (``None`` allowed, sequences as lists) and refused without its help."""
    from collections.abc import Sequence
    from dataclasses import fields
    from typing import Literal, Optional, Union

    from gcvideo.models.options import BackboneOptions, BlockOptions, options_class

    types = {f.name: f.type for c in (BackboneOptions, BlockOptions) for f in fields(c)}
    assert types["size"] == Optional[Literal["s", "m", "l"]] and types["depths"] == Optional[list[int]]
    assert types["subsample"] == Optional[list[int]] and types["fusion"] == Optional[Literal["add", "mul"]]
    assert types["where"] == Optional[Union[list[str], dict[str, Optional[list[int]]]]]
    assert "fusion: GC fusion" in BlockOptions.__doc__          # what the configs' --help shows

    def builder(*, num_classes: int = 400, frames: Sequence[int] = (8,), mode: Literal["a", "b"] = "a"):
        return None

    with pytest.raises(RuntimeError, match=r"differ in \['mode'\]"):
        options_class("Made", "doc", [(builder, lambda name: True)], {"frames": "clip frames"})
    made = options_class("Made", "doc", [(builder, lambda name: True)], {"frames": "clip frames", "mode": "a or b"})
    assert {f.name: f.type for f in fields(made)} == {"frames": Optional[list[int]], "mode": Optional[Literal["a", "b"]]}
    assert made.of({"frames": [4]}).overrides() == {"frames": [4]}
