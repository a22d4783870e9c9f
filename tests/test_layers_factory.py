import pytest

from gcvideo import GlobalContext3d, NonLocal3d, SimplifiedNonLocal3d, SqueezeExcite3d, make_block
from gcvideo.layers.factory import block_options


def test_factory_builds_each_kind_with_paper_defaults():
    gc = make_block("gc", 64)
    assert isinstance(gc, GlobalContext3d)
    assert (gc.reduction, gc.pooling, gc.fusion) == (16, "att", "add")
    assert isinstance(gc.transform[1], __import__("torch").nn.LayerNorm)
    assert isinstance(make_block("snl", 64), SimplifiedNonLocal3d)
    assert make_block("nl", 64).inner_channels == 32
    assert isinstance(make_block("se", 64, reduction=4), SqueezeExcite3d)
    assert make_block("gc", 64, reduction=4).transform[0].out_channels == 16
    assert isinstance(make_block("nl", 64, subsample=None), NonLocal3d)


def test_factory_errors_name_the_problem():
    with pytest.raises(ValueError, match="unknown block kind 'xx'"):
        make_block("xx", 8)
    with pytest.raises(ValueError, match=r"\['reduction'\] do not apply to block 'nl'"):
        make_block("nl", 8, reduction=4)
    assert set(block_options("gc")) == {"reduction", "pooling", "fusion", "layer_norm"}


@pytest.mark.parametrize("kind, options", [("gc", {}), ("gc", {"pooling": "avg", "fusion": "mul"}),
                                           ("snl", {}), ("nl", {}), ("nl", {"subsample": None}), ("se", {})])
def test_blocks_script_trace_and_compile(kind, options):
    import torch
    from gcvideo.layers.factory import make_block

    block = make_block(kind, 16, **options).eval()
    with torch.no_grad():
        for p in block.parameters():
            p.add_(torch.randn_like(p) * 0.1)              # not the identity: outputs must match
    x = torch.randn(2, 16, 3, 5, 4)
    expected = block(x)
    torch.testing.assert_close(torch.jit.script(block)(x), expected)
    torch.testing.assert_close(torch.jit.trace(block, x)(x), expected)
    torch.testing.assert_close(torch.compile(block, backend="eager")(x), expected)


@pytest.mark.parametrize("kind", ["gc", "snl", "nl", "se"])
def test_low_precision_activation_stays_low_precision_when_a_layer_runs_in_fp32(kind):
    """CUDA autocast runs LayerNorm (and softmax) in fp32. A block whose fp32 intermediate
    reached its output would promote the activation - and every later one - to fp32 (twice
    the memory and traffic; measured on an H200: GC training at 0.73x of slow_r50). Here
    every inner layer hands on fp32, as the worst case of any autocast policy."""
    import torch

    block = make_block(kind, 32)
    for layer in block.modules():
        if layer is not block and not list(layer.children()):
            layer.register_forward_hook(lambda mod, inp, out: out.float())
    x = torch.randn(2, 32, 2, 5, 5, dtype=torch.bfloat16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert block(x).dtype == torch.bfloat16


def test_pointwise_bias_keeps_the_autocast_dtype():
    import torch

    from gcvideo.layers.pointwise import Pointwise3d

    layer = Pointwise3d(8, 4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = layer(torch.randn(2, 8, 1, 1, 1))      # fp32 in (a LayerNorm's output), matmul in bf16
    assert out.dtype == torch.bfloat16
