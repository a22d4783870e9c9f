"""mmaction2's networks and checkpoints, proved with mmaction2 1.2.0's own code: its backbones and
heads built by their own classes, saved in its checkpoint format, converted and compared output for
output; GC inserted into its own backbones by rule.

mmaction2's package cannot be imported as a whole here (its ``__init__`` asserts mmcv < 2.2 and
``mmaction.models`` imports a missing ``localizers.drn``): ``helpers.mmaction_modules`` registers the
parent packages without running their ``__init__`` and imports the backbone, head and loss modules."""
import types

import pytest
import torch

from gcvideo import create_model
from gcvideo.cli import main
from gcvideo.models import bypass_blocks, insert_blocks
from gcvideo.models.weights import read_weights
from helpers import mmaction_modules, randomize_norms

CROP, CLASSES = 64, 5


@pytest.fixture(scope="module")
def mmaction():
    modules = ("backbones.resnet3d", "backbones.resnet3d_slowonly", "backbones.resnet3d_slowfast", "backbones.x3d",
               "heads.i3d_head", "losses.cross_entropy_loss")
    found = mmaction_modules(*(f"models.{m}" for m in modules))
    return types.SimpleNamespace(**{m.split(".")[1]: module for m, module in zip(modules, found)})


class Recognizer(torch.nn.Module):
    """A backbone and a head under the attribute names of mmaction2's ``Recognizer3D``, so the
    state_dict has its keys (``backbone.*``, ``cls_head.*``); eval: the head's class scores."""

    def __init__(self, backbone, head) -> None:
        super().__init__()
        self.backbone, self.cls_head = backbone, head

    def forward(self, x):
        return self.cls_head(self.backbone(x))


def slowonly(mm):
    """mmaction2's SlowOnly R50 8x8 (its ``slowonly_r50`` config's backbone)."""
    return mm.resnet3d_slowonly.ResNet3dSlowOnly(depth=50, pretrained=None, lateral=False, conv1_kernel=(1, 7, 7),
                                                 conv1_stride_t=1, pool1_stride_t=1, inflate=(0, 0, 1, 1))


def i3d(mm):
    """mmaction2's ResNet3d as I3D R50 with pytorchvideo's i3d_r50 strides (no temporal stride in the
    stem, the (2, 1, 1) pool after res2)."""
    return mm.resnet3d.ResNet3d(depth=50, pretrained=None, conv1_kernel=(5, 7, 7), conv1_stride_t=1,
                                pool1_stride_t=1, with_pool2=True,
                                inflate=((1, 1, 1), (1, 0, 1, 0), (1, 0, 1, 0, 1, 0), (0, 1, 0)))


def saved(mm, backbone, path):
    """The recognizer (random weights, random BN statistics, eval) written as mmengine's runner
    writes a checkpoint (``meta`` + ``state_dict``)."""
    from mmengine.runner.checkpoint import save_checkpoint

    backbone.init_weights()
    torch.manual_seed(0)
    net = randomize_norms(Recognizer(backbone, mm.i3d_head.I3DHead(num_classes=CLASSES, in_channels=2048))).eval()
    save_checkpoint({"meta": {"epoch": 256, "mmengine_version": "0.10.7"}, "state_dict": net.state_dict()}, str(path))
    return net


@pytest.mark.parametrize("build, model", [(slowonly, "slow_r50"), (i3d, "i3d_r50"), (slowonly, "slow_r50_gc")])
def test_an_mmaction2_checkpoint_computes_the_same_function(mmaction, tmp_path, build, model):
    net = saved(mmaction, build(mmaction), tmp_path / "peer.pth")
    fmt, state = read_weights(tmp_path / "peer.pth")
    assert fmt == "mmaction2" and len(state) == len(net.state_dict())
    ours = create_model(model, num_classes=CLASSES, pretrained=str(tmp_path / "peer.pth")).eval()
    clip = torch.randn(2, 3, 8, CROP, CROP, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        theirs, mine = net(clip), ours(clip)
    assert torch.allclose(mine, theirs, rtol=1e-5, atol=1e-5 * theirs.abs().max()), (mine - theirs).abs().max()


def test_mmaction2_networks_gcvideo_does_not_compute_are_refused_in_one_line(mmaction, tmp_path, capsys):
    """X3D (a BatchNorm on the first stage's shortcut that pytorchvideo's X3D lacks) and SlowFast
    (bare-conv laterals, fast-before-slow head): refused, nothing written."""
    cases = {"x3d_m": (mmaction.x3d.X3D(gamma_w=1, gamma_b=2.25, gamma_d=2.2), "X3D"),
             "slowfast_r50": (mmaction.resnet3d_slowfast.ResNet3dSlowFast(pretrained=None), "ResNet3dSlowFast")}
    for model, (backbone, said) in cases.items():
        path = tmp_path / f"{model}.pth"
        torch.save({"state_dict": {f"backbone.{k}": v for k, v in backbone.state_dict().items()}}, path)
        assert main(["convert", str(path), str(tmp_path / "out.pt"), "--model", model]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and said in err[0] and "not convertible" in err[0], err
    assert not (tmp_path / "out.pt").exists()


@pytest.mark.parametrize("backbone, frames, count", [
    (slowonly, 8, 13),
    (lambda mm: mm.x3d.X3D(gamma_w=1, gamma_b=2.25, gamma_d=2.2), 8, 23),
    (lambda mm: mm.resnet3d_slowfast.ResNet3dSlowFast(pretrained=None), 32, 26)])
def test_gc_goes_into_mmaction2s_own_backbones_by_rule(mmaction, backbone, frames, count):
    """insert_blocks on mmaction2's ResNet3dSlowOnly, X3D and ResNet3dSlowFast: a block after conv3
    (conv + BN) of every residual block of c3-c5 (both pathways), keys only added, the same outputs,
    still the identity after mmaction2's own ``init_weights`` (which re-initialises every Conv3d and
    zeroes ``conv3.bn`` through the holder), and gradients reach the blocks."""
    net = backbone(mmaction)
    net.init_weights()
    randomize_norms(net).eval()
    clip = torch.randn(1, 3, frames, CROP, CROP, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        plain = net(clip)
    before = net.state_dict()
    added = insert_blocks(net, "gc")
    assert len(added) == count and all(name.endswith(".conv3.context") for name in added)
    assert set(before) <= set(net.state_dict())
    assert all(".conv3.context." in k for k in set(net.state_dict()) - set(before))
    with torch.no_grad():
        out = net(clip)
    assert all(torch.equal(a, b) for a, b in zip(out, plain)) if isinstance(out, tuple) else torch.equal(out, plain)
    net.init_weights()                                                  # mmaction2's own init, again
    randomize_norms(net).eval()
    with torch.no_grad(), bypass_blocks(net):
        bypassed = net(clip)
    with torch.no_grad():
        out = net(clip)
    assert all(torch.equal(a, b) for a, b in zip(out, bypassed)) if isinstance(out, tuple) else torch.equal(out, bypassed)
    net.train()
    outputs = net(clip)
    loss = sum(o.square().mean() for o in (outputs if isinstance(outputs, tuple) else (outputs,)))
    loss.backward()
    last = [p for n, p in net.named_parameters() if ".context." in n and n.endswith("transform.3.weight")]
    assert len(last) == count and all(p.grad is not None and p.grad.abs().sum() > 0 for p in last)
