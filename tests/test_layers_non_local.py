import pytest
import torch
from pytorchvideo.models import init_net_weights

from gcvideo import NonLocal3d
from helpers import assert_every_parameter_learns, perturb


def slow_nl(block: NonLocal3d, x: torch.Tensor) -> torch.Tensor:
    """The NL formula one query position at a time (no subsampling)."""
    n, c, t, h, w = x.shape
    conv = lambda layer, v: torch.einsum("oc,ncp->nop", layer.weight.flatten(1), v) + layer.bias[:, None]  # noqa: E731
    flat = x.reshape(n, c, -1)
    theta, phi, g = conv(block.theta, flat), conv(block.phi, flat), conv(block.g, flat)
    out = torch.empty_like(theta)
    for i in range(flat.shape[-1]):
        scores = torch.einsum("nc,ncp->np", theta[..., i], phi)
        if block.instantiation == "softmax":
            weights = torch.softmax(scores * block.inner_channels ** -0.5, dim=1)
        else:
            weights = scores / scores.shape[1]
        out[..., i] = (g * weights[:, None]).sum(-1)
    z = conv(block.out, out).view(n, c, t, h, w)
    return x + block.norm(z)


def test_identity_at_init(clip):
    assert torch.equal(NonLocal3d(16)(clip), clip)


def test_identity_after_init_net_weights(clip):
    block = perturb(NonLocal3d(16))
    init_net_weights(block)          # keeps the output BN at zero (block_final_bn)
    assert torch.equal(block(clip), clip)
    perturb(block).reset_parameters()
    assert torch.equal(block(clip), clip)


@pytest.mark.parametrize("instantiation", ["softmax", "dot_product"])
def test_matches_per_query_computation(clip, instantiation):
    block = perturb(NonLocal3d(16, instantiation=instantiation, subsample=None)).eval()
    torch.testing.assert_close(block(clip), slow_nl(block, clip), rtol=1e-4, atol=1e-4)


def test_equivariant_without_subsampling(clip):
    block = perturb(NonLocal3d(16, subsample=None)).eval()
    perm = torch.randperm(clip[0, 0].numel(), generator=torch.Generator().manual_seed(0))
    shuffle = lambda v: v.flatten(2)[..., perm].view_as(v)     # noqa: E731
    torch.testing.assert_close(block(shuffle(clip)), shuffle(block(clip)), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("shape", [(1, 16, 1, 1, 1), (2, 16, 1, 3, 1), (3, 16, 2, 5, 6)])
def test_subsampling_handles_small_inputs(shape):
    block = perturb(NonLocal3d(16, inner_channels=4)).eval()
    x = torch.randn(shape)
    assert block(x).shape == x.shape
    block.capture = True
    block(x)
    keys = max(1, shape[3] // 2) * max(1, shape[4] // 2) * shape[2]
    assert block.attention.shape == (shape[0], shape[2] * shape[3] * shape[4], keys)
    torch.testing.assert_close(block.attention.sum(-1), torch.ones(block.attention.shape[:2]))


def test_gradient_reaches_every_parameter(clip):
    assert_every_parameter_learns(NonLocal3d(16), clip)


def test_low_precision_and_channels_last(clip):
    block = perturb(NonLocal3d(16)).eval()
    ref = block(clip)
    torch.testing.assert_close(block(clip.to(memory_format=torch.channels_last_3d)), ref,
                               rtol=1e-4, atol=1e-4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = block(clip)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out.float(), ref, rtol=0.1, atol=0.5)
