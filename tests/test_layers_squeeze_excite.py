import torch

from gcvideo import SqueezeExcite3d


def test_matches_formula_and_is_a_rescaling(clip):
    block = SqueezeExcite3d(16, reduction=4)
    n, c = clip.shape[:2]
    conv1, _, conv2 = block.transform
    hid = (clip.mean(dim=(2, 3, 4)) @ conv1.weight.flatten(1).T + conv1.bias).relu()
    scale = torch.sigmoid(hid @ conv2.weight.flatten(1).T + conv2.bias).view(n, c, 1, 1, 1)
    out = block(clip)
    torch.testing.assert_close(out, clip * scale)
    assert ((out / clip - scale).abs() < 1e-4).all()   # one scale per (sample, channel)


def test_shapes_and_precision():
    block = SqueezeExcite3d(32)
    for shape in [(1, 32, 1, 1, 1), (3, 32, 2, 7, 5)]:
        assert block(torch.randn(shape)).shape == shape
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.isfinite(block(torch.randn(2, 32, 2, 3, 3))).all()
