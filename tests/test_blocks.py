import pytest

from gcvideo import GlobalContext3d, NonLocal3d, SimplifiedNonLocal3d, SqueezeExcite3d, make_block
from gcvideo.blocks import block_options


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
    from gcvideo.blocks import make_block

    block = make_block(kind, 16, **options).eval()
    with torch.no_grad():
        for p in block.parameters():
            p.add_(torch.randn_like(p) * 0.1)              # not the identity: outputs must match
    x = torch.randn(2, 16, 3, 5, 4)
    expected = block(x)
    torch.testing.assert_close(torch.jit.script(block)(x), expected)
    torch.testing.assert_close(torch.jit.trace(block, x)(x), expected)
    torch.testing.assert_close(torch.compile(block, backend="eager")(x), expected)
