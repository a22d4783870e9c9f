"""Proof by training that the relation task needs global context: tiny networks
on rendered clips. Units of a network without context see one frame (cues are never in the
same frame) and a few pixels, and global average pooling + a linear head only adds up their
evidence, so it stays at chance; a single frame holds at most one cue, so any network on it
stays at chance; the same tiny network with one GC block learns the relation."""
import numpy as np
import pytest
import torch
from torch import nn

from gcvideo.data.synth import render_relation
from gcvideo.layers import GlobalContext3d


def clips(n: int, seed: int, frames: int = 8):
    """``n`` relation clips (N, 3, frames, 32, 32), normalised, and their labels (1 = same)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(2, size=n)
    video = np.stack([render_relation(bool(s), rng)[0][:: 16 // frames] for s in labels])   # 8 of 16 frames
    x = torch.from_numpy(video).permute(0, 4, 1, 2, 3).float().div(255).sub(0.45).div(0.225)
    return x.contiguous(), torch.from_numpy(labels)


class TinyVideoNet(nn.Module):
    """Two per-frame 3x3 convs (receptive field 7x7 pixels, one frame), optionally a GC block,
    a 1x1x1 conv, global average pooling and a linear head."""

    def __init__(self, context: bool, width: int = 32) -> None:
        super().__init__()

        def conv(cin, cout, k, stride):
            return [nn.Conv3d(cin, cout, (1, k, k), (1, stride, stride), (0, k // 2, k // 2), bias=False),
                    nn.BatchNorm3d(cout), nn.ReLU()]

        self.local = nn.Sequential(*conv(3, width // 2, 3, 2), *conv(width // 2, width, 3, 2))
        self.context = GlobalContext3d(width, reduction=4) if context else nn.Identity()
        self.mix = nn.Sequential(*conv(width, width, 1, 1))
        self.head = nn.Linear(width, 2)

    def forward(self, x):
        return self.head(self.mix(self.context(self.local(x))).mean((2, 3, 4)))


def shuffle_frames(x: torch.Tensor, seed: int) -> torch.Tensor:
    """Each clip's frames in its own random order."""
    g = torch.Generator().manual_seed(seed)
    order = torch.stack([torch.randperm(x.shape[2], generator=g) for _ in range(len(x))])
    return x[torch.arange(len(x))[:, None], :, order].permute(0, 2, 1, 3, 4)


def train_and_test(context: bool, frames: slice = slice(None), steps: int = 300, seed: int = 0,
                   shuffle: bool = False) -> float:
    torch.manual_seed(seed)
    (x, y), (tx, ty) = clips(1024, seed), clips(512, 10 ** 6)
    x, tx = x[:, :, frames], tx[:, :, frames]
    if shuffle:
        x, tx = shuffle_frames(x, seed), shuffle_frames(tx, seed + 1)
    model = TinyVideoNet(context)
    opt = torch.optim.AdamW(model.parameters(), lr=4e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 4e-3, total_steps=steps)
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        idx = torch.randint(len(x), (32,), generator=g)
        loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    model.eval()
    with torch.no_grad():
        return (model(tx).argmax(1) == ty).float().mean().item()


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_tiny_gc_network_learns_the_relation():
    assert train_and_test(context=True) >= 0.9


def test_bag_of_local_features_stays_at_chance():
    assert train_and_test(context=False) <= 0.6


def test_shuffled_frames_keep_the_relation_but_not_for_local_features():
    """The label is a relation between the cues, not their order: GC learns it from clips with
    shuffled frames too, and local features still cannot (a shuffle never puts both cues in
    one frame)."""
    assert train_and_test(context=True, shuffle=True) >= 0.9
    assert train_and_test(context=False, shuffle=True) <= 0.6


@pytest.mark.parametrize("frame", [0, 7])
def test_one_frame_stays_at_chance_even_with_global_context(frame):
    assert train_and_test(context=True, frames=slice(frame, frame + 1)) <= 0.6
