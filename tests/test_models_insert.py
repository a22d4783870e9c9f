import copy

import pytest
import torch
from torch import nn
from torchvision.models.video import mc3_18, r2plus1d_18, r3d_18

from gcvideo import insert_blocks
from gcvideo.layers import FoldedGlobalContext3d
from gcvideo.models import fold_context_blocks
from gcvideo.models.bottleneck import ContextBottleneckBlock
from gcvideo.layers.global_context import GlobalContext3d
from gcvideo.models.insert import bypass_blocks, network_layout, select_targets, stage_name
from gcvideo.models import NL5_POSITIONS, slow_resnet
from helpers import TINY, perturb, randomize_norms

TORCHVISION = {"r3d_18": r3d_18, "mc3_18": mc3_18, "r2plus1d_18": r2plus1d_18}


def tiny_slow():
    return slow_resnet(num_classes=5, **TINY)


def check_insert_dont_rename(plain: nn.Module, modified: nn.Module, added):
    plain_keys, new_keys = set(plain.state_dict()), set(modified.state_dict())
    assert plain_keys <= new_keys
    assert new_keys - plain_keys == {k for k in new_keys if any(k.startswith(p + ".") for p in added)}
    result = modified.load_state_dict(plain.state_dict(), strict=False)
    assert not result.unexpected_keys
    # BN's num_batches_tracked is optional in load_state_dict, so never reported missing
    assert set(result.missing_keys) == {k for k in new_keys - plain_keys
                                        if not k.endswith("num_batches_tracked")}


@pytest.mark.parametrize("kind", ["gc", "snl", "nl", "se"])
@pytest.mark.parametrize("position", ["after_1x1", "after_add"])
def test_pytorchvideo_resnet_insert_dont_rename(kind, position):
    plain = randomize_norms(tiny_slow()).eval()
    modified = tiny_slow()
    added = insert_blocks(modified, kind, position=position)
    assert len(added) == 4 + 6 + 1                       # every block of c3, c4, c5
    check_insert_dont_rename(plain, modified, added)
    modified.eval()
    x = torch.randn(2, 3, 4, 32, 32)
    same = torch.equal(modified(x), plain(x))
    assert same == (kind != "se"), "GC/SNL/NL are the identity at init; SE rescales"


@pytest.mark.parametrize("arch", sorted(TORCHVISION))
@pytest.mark.parametrize("kind", ["gc", "nl"])
def test_torchvision_video_resnets(arch, kind):
    torch.manual_seed(0)
    plain = randomize_norms(TORCHVISION[arch](num_classes=5)).eval()
    modified = TORCHVISION[arch](num_classes=5)
    added = insert_blocks(modified, kind, where=("c4", "c5"))
    assert added == ["layer3.0.conv2.context", "layer3.1.conv2.context",
                     "layer4.0.conv2.context", "layer4.1.conv2.context"]
    check_insert_dont_rename(plain, modified, added)
    x = torch.randn(1, 3, 4, 32, 32)
    assert torch.equal(modified.eval()(x), plain(x))


def test_inserted_blocks_actually_run():
    model = tiny_slow().eval()
    added = insert_blocks(model, "gc", where={"c3": [1]}, position="after_add")
    assert added == ["blocks.2.res_blocks.1.context"]
    calls = []
    model.blocks[2].res_blocks[1].context.register_forward_hook(lambda m, i, o: calls.append(o.shape))
    model(torch.randn(1, 3, 4, 32, 32))
    assert calls == [torch.Size([1, 64, 4, 4, 4])]
    tv = r3d_18(num_classes=5).eval()
    insert_blocks(tv, "se", where={"layer1": [0]})
    calls.clear()
    tv.layer1[0].conv2.context.register_forward_hook(lambda m, i, o: calls.append(o.shape))
    tv(torch.randn(1, 3, 4, 32, 32))
    assert calls == [torch.Size([1, 64, 4, 16, 16])]


def test_nl5_positions_and_stage_names():
    model = tiny_slow()
    targets = select_targets(model, NL5_POSITIONS, "after_add")
    assert targets == ["blocks.2.res_blocks.1", "blocks.2.res_blocks.3", "blocks.3.res_blocks.1",
                       "blocks.3.res_blocks.3", "blocks.3.res_blocks.5"]
    assert stage_name("res4") == stage_name("layer3") == stage_name("C4") == "c4"


def test_wrapped_models_and_generic_modules():
    wrapper = nn.Sequential(nn.Identity(), tiny_slow())
    assert network_layout(wrapper).stages["c2"][0] == ("1.blocks.1.res_blocks.0", "1.blocks.1.res_blocks.0.branch2")
    custom = nn.Sequential(nn.Conv3d(3, 8, 3, padding=1), nn.BatchNorm3d(8), nn.ReLU())
    added = insert_blocks(custom, "gc", modules=["1"], reduction=2)
    assert added == ["1.context"] and custom[1].context.channels == 8
    assert custom(torch.randn(1, 3, 2, 4, 4)).shape == (1, 8, 2, 4, 4)


def test_errors_name_the_problem():
    model = tiny_slow()
    with pytest.raises(ValueError, match="unknown stage 'c7'"):
        insert_blocks(model, "gc", where=("c7",))
    with pytest.raises(ValueError, match="stage c3 has 4 residual blocks; index 4"):
        insert_blocks(model, "gc", where={"c3": [4]})
    with pytest.raises(ValueError, match="position"):
        insert_blocks(model, "gc", position="before")
    with pytest.raises(TypeError, match="modules="):
        insert_blocks(nn.Sequential(nn.Conv3d(3, 3, 1)), "gc")
    with pytest.raises(ValueError, match="no module"):
        insert_blocks(model, "gc", modules=["blocks.9"])
    insert_blocks(model, "gc", where=("c5",))
    with pytest.raises(ValueError, match="already has a context block"):
        insert_blocks(model, "snl", where=("c5",))


@pytest.mark.parametrize("options", [{}, {"pooling": "avg", "fusion": "mul"}])
def test_gc_after_1x1_folds_explicitly_with_the_same_outputs(options):
    model = randomize_norms(tiny_slow())
    plain_keys = set(model.state_dict())
    added = insert_blocks(model, "gc", **options)
    branch = model.blocks[2].res_blocks[0].branch2
    assert type(branch) is ContextBottleneckBlock and not branch._forward_hooks   # replaced, not patched
    assert set(model.state_dict()) - plain_keys == {k for k in model.state_dict()
                                                    if any(k.startswith(p + ".") for p in added)}
    for name, m in model.named_modules():
        if ".context." in name and hasattr(m, "weight"):
            perturb(m, seed=len(name))
    blocks = [m for m in model.modules() if isinstance(m, GlobalContext3d)]
    model.eval()
    x = torch.randn(2, 3, 4, 32, 32)
    calls = []
    blocks[0].pool.register_forward_hook(lambda *a: calls.append(1))   # the plain path pools
    with torch.no_grad():
        plain = model(x)                            # eval mode alone: the paper's block
        assert calls == [1]
        fast = fold_context_blocks(model)
        assert sum(isinstance(m, FoldedGlobalContext3d) for m in fast.modules()) == len(blocks)
        folded = fast(x)
        assert calls == [1]                         # folded: no pooling of the block's input
        with bypass_blocks(model):
            assert folded.sub(model(x)).abs().max() > 1e-3                 # the blocks do work
            without = model(x)
        with bypass_blocks(fast):                   # a folded block gives way to its conv + BN
            torch.testing.assert_close(fast(x), without)
        torch.testing.assert_close(folded, plain, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(copy.deepcopy(fast)(x), folded)
    assert all(isinstance(m, GlobalContext3d) for m in blocks) and model.blocks[2].res_blocks[0].branch2.conv_c is not None
    model.train()
    model(x).sum().backward()                       # the original still trains
    assert all(p.grad.abs().sum() > 0 for p in blocks[0].parameters())


def test_bypass_blocks_runs_the_same_network_without_them():
    models = {"after_1x1": tiny_slow(), "after_add": tiny_slow()}
    tv = r3d_18(num_classes=5)
    x = torch.randn(1, 3, 4, 32, 32)
    for position, model in models.items():
        plain = copy.deepcopy(randomize_norms(model)).eval()
        insert_blocks(model, "gc", position=position)
        insert_blocks(model, "se", where=("c2",), position=position)
        perturb_blocks(model)
        model.eval()
        with torch.no_grad():
            with_blocks = model(x)
            assert not torch.equal(with_blocks, plain(x))
            with bypass_blocks(model):
                assert torch.equal(model(x), plain(x))
            assert torch.equal(model(x), with_blocks)                 # blocks are back
    plain = copy.deepcopy(tv).eval()
    insert_blocks(tv, "gc")                                           # Sequential targets
    perturb_blocks(tv)
    with torch.no_grad(), bypass_blocks(tv.eval()):
        assert torch.equal(tv(x), plain(x))
    assert tv.layer2[0].conv2[-1] is tv.layer2[0].conv2.context       # order kept


def perturb_blocks(model):
    for name, m in model.named_modules():
        if name.endswith(".context"):
            perturb(m, seed=len(name))


def test_blocks_on_module_outputs_keep_keys_and_script():
    """A block on a torchvision residual block's output (``after_add``) sits in an
    ``OutputThroughContext`` at import-time class: the state_dict only gains ``.context`` keys
    and round-trips, the plain network's weights load with exactly those missing, and the
    network scripts as the plain one does."""
    from gcvideo.models.insert import OutputThroughContext

    torch.manual_seed(0)
    plain = randomize_norms(r3d_18(num_classes=5)).eval()
    modified = r3d_18(num_classes=5).eval()
    added = insert_blocks(modified, "gc", where=("c5",), position="after_add")
    assert added == ["layer4.0.context", "layer4.1.context"]
    assert isinstance(modified.layer4[0], OutputThroughContext) and not modified.layer4[0]._forward_hooks
    keys = list(modified.state_dict())
    assert [k for k in keys if ".context." not in k] == list(plain.state_dict())      # same keys, same order
    missing, unexpected = modified.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and missing and all(".context." in k for k in missing)
    clone = r3d_18(num_classes=5).eval()
    insert_blocks(clone, "gc", where=("c5",), position="after_add")
    for block in (m.context for m in modified.modules() if isinstance(m, OutputThroughContext)):
        nn.init.normal_(block.transform[-1].weight)             # a trained block: not the identity
    clone.load_state_dict(modified.state_dict())                 # strict round trip
    x = torch.randn(1, 3, 4, 32, 32)
    assert torch.equal(clone(x), modified(x)) and not torch.equal(modified(x), plain(x))
    assert torch.allclose(torch.jit.script(modified)(x), modified(x), atol=1e-5)


def test_a_block_on_the_whole_network_is_refused_with_the_alternative():
    with pytest.raises(ValueError, match="nn.Sequential"):
        insert_blocks(r3d_18(num_classes=5), "gc", modules=[""])
