"""Activation checkpointing: the same gradients, statistics and checkpoints as without, in every
registered family (context blocks included), compiled or not."""
import copy

import pytest
import torch
import torch.nn.functional as F

from gcvideo import create_model
from gcvideo.models.checkpointing import Checkpointed, checkpoint_blocks
from helpers import TINY, perturb

FAMILIES = {"slow_r50_gc": (TINY, 8), "slow_r50_nl5": (TINY, 8), "slowfast_r50_gc": ({}, 16),
            "x3d_m_gc": ({}, 8), "i3d_r50_gc": ({}, 8)}


def trained_like(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    model = create_model(name, num_classes=3, **FAMILIES[name][0])
    for m in model.modules():
        if isinstance(getattr(m, "context", None), torch.nn.Module):
            perturb(m.context)                          # blocks that act (not the identity of init)
    return model


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_same_gradients_statistics_and_keys(name):
    plain = trained_like(name)
    held = copy.deepcopy(plain)
    names = checkpoint_blocks(held)
    assert names and all(isinstance(held.get_submodule(n), Checkpointed) for n in names)
    assert list(held.state_dict()) == list(plain.state_dict())        # same keys, same order
    clip, labels = torch.randn(2, 3, FAMILIES[name][1], 32, 32), torch.tensor([0, 2])
    for model in (plain, held):
        torch.manual_seed(1)                             # the same dropout draws
        F.cross_entropy(model(clip), labels).backward()
    grads = {k.replace(".body", ""): p.grad for k, p in held.named_parameters()}
    for key, p in plain.named_parameters():
        assert torch.equal(p.grad, grads[key]), key
    after = held.state_dict()
    for key, value in plain.state_dict().items():       # BN statistics updated once, not twice
        assert torch.equal(value, after[key]), key
    held.eval()
    with torch.no_grad():
        assert torch.equal(held(clip), plain.eval()(clip))


def test_stages_are_chosen_and_plain_weights_load():
    model = create_model("slow_r50_gc", num_classes=3, **TINY)
    names = checkpoint_blocks(model, ["c4", "c5"])
    assert names == [f"blocks.3.res_blocks.{i}" for i in range(6)] + ["blocks.4.res_blocks.0"]
    model.load_state_dict(create_model("slow_r50_gc", num_classes=3, **TINY).state_dict())   # strict


def test_compiles_as_one_graph():
    model = trained_like("slow_r50_gc")
    checkpoint_blocks(model)
    labels = torch.tensor([0, 2])
    step = torch.compile(lambda clip: F.cross_entropy(model(clip), labels), fullgraph=True, backend="aot_eager")
    step(torch.randn(2, 3, 8, 32, 32)).backward()
    assert all(p.grad is not None for p in model.parameters())
