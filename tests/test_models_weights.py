import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import resnet50

from gcvideo import create_model
from gcvideo.models.weights import _rename_2d, inflate_resnet2d, load_inflated, load_pretrained, read_state_dict
from helpers import TINY, randomize_norms


@pytest.fixture
def plain_file(tmp_path):
    plain = randomize_norms(create_model("slow_r50", num_classes=5, **TINY)).eval()
    path = tmp_path / "slow.pt"
    torch.save(plain.state_dict(), path)
    return plain, path


@pytest.mark.parametrize("name", ["slow_r50_gc", "slow_r50_snl5", "slow_r50_se"])
def test_plain_checkpoint_loads_into_variants(plain_file, name):
    plain, path = plain_file
    model = create_model(name, num_classes=5, **TINY)
    kept = load_pretrained(model, path)
    assert kept and all(".context." in k for k in kept)
    assert set(kept) == {k for k in model.state_dict() if ".context." in k and "num_batches" not in k}
    x = torch.randn(1, 3, 4, 32, 32)
    assert torch.equal(model.eval()(x), plain(x)) == (name != "slow_r50_se")


def test_lightning_and_ddp_checkpoints(plain_file, tmp_path):
    plain, _ = plain_file
    for prefix, wrap in [("model.", "state_dict"), ("module.", None)]:
        state = {prefix + k: v for k, v in plain.state_dict().items()}
        path = tmp_path / f"{prefix}ckpt"
        torch.save({wrap: state, "epoch": 3} if wrap else state, path)
        assert read_state_dict(path).keys() == plain.state_dict().keys()
    model = create_model("slow_r50_gc", num_classes=5, pretrained=str(path), **TINY).eval()
    x = torch.randn(1, 3, 2, 32, 32)
    assert torch.equal(model(x), plain(x))


def test_head_of_another_size_is_left_for_fine_tuning(plain_file):
    _, path = plain_file
    model = create_model("slow_r50_gc", num_classes=9, **TINY)
    kept = load_pretrained(model, path)
    assert {"blocks.5.proj.weight", "blocks.5.proj.bias"} <= set(kept)


def test_errors_name_the_file_and_key(plain_file, tmp_path):
    _, path = plain_file
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        load_pretrained(create_model("slow_r50", **TINY), tmp_path / "nope.pt")
    with pytest.raises(ValueError, match=r"shape mismatch for blocks.0.conv.weight"):
        load_pretrained(create_model("slow_r50", num_classes=5, depths=TINY["depths"], width=16), path)
    state = torch.load(path)
    state["extra.weight"] = torch.zeros(1)
    with pytest.raises(ValueError, match="extra.weight"):
        load_pretrained(create_model("slow_r50", num_classes=5, **TINY), state)
    del state["extra.weight"], state["blocks.1.res_blocks.0.branch2.norm_a.weight"]
    with pytest.raises(ValueError, match="missing from the file.*norm_a.weight"):
        load_pretrained(create_model("slow_r50", num_classes=5, **TINY), state)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="junk.pt"):
        read_state_dict(tmp_path / "junk.pt")


@pytest.fixture(scope="module")
def resnet2d():
    torch.manual_seed(0)
    return randomize_norms(resnet50()).eval()


def test_mean_inflation_each_conv_matches_its_2d_source(resnet2d):
    model = create_model("slow_r50")
    state_3d = inflate_resnet2d(resnet2d.state_dict(), model, mode="mean")
    model.load_state_dict(state_3d, strict=False)
    state_2d, checked = resnet2d.state_dict(), 0
    convs_2d = {n: m for n, m in resnet2d.named_modules() if isinstance(m, nn.Conv2d)}
    for name2d, conv2d in convs_2d.items():
        conv3d = dict(model.named_modules())[_rename_2d(name2d + ".weight").rsplit(".", 1)[0]]
        frame = torch.randn(1, conv3d.in_channels, 9, 9)
        time = 5
        clip = frame.unsqueeze(2).expand(-1, -1, time, -1, -1)              # identical frames
        out3d = conv3d(clip)
        out2d = F.conv2d(frame, state_2d[name2d + ".weight"], None, conv2d.stride, conv2d.padding)
        pad = conv3d.padding[0]
        for t in range(pad, time - pad):                                   # frames padding can't touch
            torch.testing.assert_close(out3d[:, :, t], out2d, rtol=1e-4, atol=1e-4)
        if pad:                                                            # and padding does matter
            assert not torch.allclose(out3d[:, :, 0], out2d, rtol=1e-4, atol=1e-4)
        checked += 1
    assert checked == 53


def test_center_inflation_reproduces_the_2d_network_per_frame(resnet2d, tmp_path):
    path = tmp_path / "resnet50.pth"
    torch.save(resnet2d.state_dict(), path)
    model = create_model("slow_r50_gc").eval()
    kept = load_inflated(model, path, mode="center")
    assert all(".context." in k or k.startswith("blocks.5.") for k in kept)
    frame = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        feats2d = nn.Sequential(*list(resnet2d.children())[:-2])(frame)     # (1, 2048, 2, 2)
        feats3d = nn.Sequential(*model.blocks[:-1])(frame.unsqueeze(2).repeat(1, 1, 3, 1, 1))
    for t in range(3):
        torch.testing.assert_close(feats3d[:, :, t], feats2d, rtol=1e-3, atol=1e-3)
