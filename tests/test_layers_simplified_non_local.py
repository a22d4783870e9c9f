import torch
from pytorchvideo.models import init_net_weights

from gcvideo import SimplifiedNonLocal3d
from helpers import assert_every_parameter_learns, perturb


def test_identity_at_init_and_after_model_init(clip):
    block = SimplifiedNonLocal3d(16)
    assert torch.equal(block(clip), clip)
    init_net_weights(block)
    assert torch.equal(block(clip), clip)


def test_matches_formula(clip):
    block = perturb(SimplifiedNonLocal3d(16))
    n, c = clip.shape[:2]
    flat = clip.flatten(2)                                                    # (N, C, P)
    logits = torch.einsum("c,ncp->np", block.pool.weight.flatten(), flat)
    ctx = (flat * logits.softmax(1)[:, None]).sum(-1)                        # (N, C)
    delta = ctx @ block.value.weight.flatten(1).T + block.value.bias
    torch.testing.assert_close(block(clip), clip + delta.view(n, c, 1, 1, 1), rtol=1e-5, atol=1e-5)


def test_equivariant_and_degenerate_shapes(clip):
    block = perturb(SimplifiedNonLocal3d(16))
    perm = torch.randperm(clip[0, 0].numel())
    shuffle = lambda v: v.flatten(2)[..., perm].view_as(v)     # noqa: E731
    torch.testing.assert_close(block(shuffle(clip)), shuffle(block(clip)), rtol=1e-5, atol=1e-5)
    assert block(torch.randn(1, 16, 1, 1, 1)).shape == (1, 16, 1, 1, 1)


def test_gradient_reaches_every_parameter(clip):
    assert_every_parameter_learns(SimplifiedNonLocal3d(16), clip)
