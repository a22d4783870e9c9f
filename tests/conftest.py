import pytest
import torch
from torch import nn

TINY = dict(depths=(1, 4, 6, 1), width=8)  # small, but deep enough for the 5 NL positions


def randomize_norms(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every BN non-trivial statistics and affine parameters, as in a trained net
    (fresh ResNets zero the last BN of each branch, which would hide real bugs).
    Context blocks keep their own init."""
    g = torch.Generator().manual_seed(seed)
    for name, m in model.named_modules():
        if isinstance(m, nn.modules.batchnorm._NormBase) and ".context" not in name:
            with torch.no_grad():
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
    return model


def perturb(module: nn.Module, seed: int = 0) -> nn.Module:
    """Random values in every parameter (a block 'after training')."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    return module


def assert_every_parameter_learns(block: nn.Module, clip: torch.Tensor) -> None:
    """Two SGD steps (the first moves zero-initialised layers), then every parameter has a
    non-zero gradient: no parameter is dead or detached."""
    opt = torch.optim.SGD(block.parameters(), lr=0.1)
    target = torch.randn(clip.shape, generator=torch.Generator().manual_seed(2))
    for _ in range(2):
        opt.zero_grad()
        (block(clip) - target).pow(2).mean().backward()
        opt.step()
    for name, p in block.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


@pytest.fixture
def clip():
    return torch.randn(2, 16, 3, 5, 4, generator=torch.Generator().manual_seed(1))


@pytest.fixture(scope="session")
def bad_videos(tmp_path_factory):
    from videos import make_bad_videos
    return make_bad_videos(str(tmp_path_factory.mktemp("bad_videos")))


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory):
    """A small generated Kinetics-format dataset: 4 classes x 5 videos (3 train, 1 val, 1 test)."""
    from gcvideo.data.synth import synthesize
    root = str(tmp_path_factory.mktemp("synth"))
    synthesize(root, num_classes=4, videos_per_class=5, seconds=1.5, size=(64, 48), event_frames=4,
               seed=0, progress=False)
    return root
